// loss_sum.cu: the sum of n numbers (what the losses use for reduction="mean" and "sum"),
// your first kernel that makes threads work together.
//
// Words you need:
// - A thread runs the kernel function once. Thousands run at the same time, and each reads
//   its own number: threadIdx.x (0 .. blockDim.x - 1 inside its block).
// - A block is a group of blockDim.x threads that run on the same multiprocessor. They can
//   share a small, fast memory and wait for each other. Threads of different blocks cannot.
// - The grid is all the blocks of one launch (gridDim.x of them); blockIdx.x says which
//   block a thread belongs to.
// - Shared memory (__shared__) is memory that the threads of one block share. Each block has
//   its own copy, alive only while the block runs.
// - A barrier, __syncthreads(), stops each thread of the block until all of them reach it.
//   Everything written before the barrier can then be read safely by any thread after it.
//
// How the sum is computed: each block adds up its part of the input and writes one number,
// partial_sums[blockIdx.x]. Call the kernel a second time on those partial sums, with one
// block, to get the total.
//
// Launch with a power-of-two number of threads per block (the loader uses 256), and
// shared_mem = blockDim.x * sizeof(real_t) bytes for the `partial` array below.
//
// Step 2's tree is also written once as a device function, block_sum_of in
// block_reduce.cuh, which the other kernels that sum over a block include.

extern "C" __global__ void block_sum(const real_t* __restrict__ x,
                                     real_t* __restrict__ partial_sums, int n) {
    // The block's shared array, one slot per thread. "extern" and "[]" mean that its size is
    // not written here: the launch gives it, in bytes, as shared_mem.
    extern __shared__ real_t partial[];

    int tid = threadIdx.x;                           // my number inside my block
    int i = blockIdx.x * blockDim.x + threadIdx.x;   // my number in the whole grid
    int stride = blockDim.x * gridDim.x;             // how many threads the grid has

    // Step 1: on my own, add up every stride-th element, starting at element i. With fewer
    // threads than elements, each thread takes several; with more, some add up nothing.
    real_t sum = 0;
    for (; i < n; i += stride)
        sum += x[i];
    partial[tid] = sum;                              // put my sum in my slot

    // Wait until every thread of the block has filled its slot: in step 2, I read the slot
    // of another thread, which may not have written it yet.
    __syncthreads();

    // Step 2: a tree. With 256 threads: threads 0..127 each add slot tid + 128 into slot tid;
    // then threads 0..63 add slot tid + 64; ... until slot 0 holds the block's sum.
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half)
            partial[tid] += partial[tid + half];
        // Before the next, smaller round reads slot tid + half/2, its owner must have
        // finished this round. Every thread reaches this line (it is outside the "if").
        __syncthreads();
    }

    // Step 3: one thread per block writes the block's result to global memory.
    if (tid == 0)
        partial_sums[blockIdx.x] = partial[0];
}
