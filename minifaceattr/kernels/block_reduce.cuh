// block_reduce.cuh: the sum of one number per thread over the whole block, in shared memory.
//
// The kernels that need a block-wide sum include this file (#include "block_reduce.cuh");
// the loader pastes it into their source (kernels/loader.py, kernel_source), so NVRTC, the
// emulator and the launcher's signature parser all read one text. loss_sum.cu explains the
// same tree step by step, as the course's first kernel whose threads work together.
//
// Every thread of the block must call block_sum_of (it has barriers), with the same `partial`:
// a shared array of at least blockDim.x values. blockDim.x must be a power of two.

#ifndef BLOCK_REDUCE_CUH
#define BLOCK_REDUCE_CUH

// The sum of v over the block's threads, returned to every thread.
__device__ real_t block_sum_of(real_t v, real_t* partial) {
    int t = threadIdx.x;
    partial[t] = v;
    __syncthreads();                       // every slot is written before anyone reads one
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half)
            partial[t] += partial[t + half];
        __syncthreads();                   // this round is done before the next one reads
    }
    real_t total = partial[0];
    __syncthreads();                       // all have read partial[0] before a next call writes
    return total;
}

#endif
