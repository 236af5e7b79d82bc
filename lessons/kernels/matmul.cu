// Matrix multiplication kernels for lesson 16: C = A B, with A (M, K), B (K, N), C (M, N),
// all row-major, real_t set at compile time (float or double). Launched with 2-D blocks of
// TILE x TILE threads and a 2-D grid that covers C: thread (x, y) of block (bx, by) owns the
// element C[row, col], row = by * TILE + y, col = bx * TILE + x.

#ifndef TILE
#define TILE 16
#endif

// Naive: C[row, col] = sum over k of A[row, k] * B[k, col], read straight from global memory.
// Each thread reads 2K numbers to do 2K FLOPs.
extern "C" __global__ void matmul_naive(const real_t* A, const real_t* B, real_t* C,
                                        int M, int N, int K) {
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= M || col >= N)
        return;
    real_t sum = 0;
    for (int k = 0; k < K; k++)
        sum += A[row * K + k] * B[k * N + col];
    C[row * N + col] = sum;
}

// Tiled: the same sum, in K / TILE steps. At each step the block copies one TILE x TILE tile
// of A and one of B into shared memory (each thread copies one element of each), waits, then
// every thread reads TILE numbers of each tile from shared memory. Each number brought from
// global memory is used TILE times. Requires M, N and K to be multiples of TILE.
extern "C" __global__ void matmul_tiled(const real_t* A, const real_t* B, real_t* C,
                                        int M, int N, int K) {
    __shared__ real_t As[TILE][TILE];
    __shared__ real_t Bs[TILE][TILE];
    int x = threadIdx.x, y = threadIdx.y;
    int row = blockIdx.y * TILE + y;
    int col = blockIdx.x * TILE + x;
    real_t sum = 0;
    for (int t = 0; t < K; t += TILE) {
        As[y][x] = A[row * K + t + x];     // this thread's share of the two tiles
        Bs[y][x] = B[(t + y) * N + col];
        __syncthreads();                   // the tiles are complete: all copies are done
        for (int k = 0; k < TILE; k++)
            sum += As[y][k] * Bs[k][x];
        __syncthreads();                   // everyone is done with them: they may be overwritten
    }
    C[row * N + col] = sum;
}

// The tiled kernel without its second barrier: a fast thread starts copying the next tiles
// while a slower one still reads the current ones (lesson 16, section 3).
extern "C" __global__ void matmul_tiled_one_barrier(const real_t* A, const real_t* B, real_t* C,
                                                    int M, int N, int K) {
    __shared__ real_t As[TILE][TILE];
    __shared__ real_t Bs[TILE][TILE];
    int x = threadIdx.x, y = threadIdx.y;
    int row = blockIdx.y * TILE + y;
    int col = blockIdx.x * TILE + x;
    real_t sum = 0;
    for (int t = 0; t < K; t += TILE) {
        As[y][x] = A[row * K + t + x];
        Bs[y][x] = B[(t + y) * N + col];
        __syncthreads();
        for (int k = 0; k < TILE; k++)
            sum += As[y][k] * Bs[k][x];
    }
    C[row * N + col] = sum;
}
