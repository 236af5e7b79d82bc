// norm.cu: batch normalisation, forward and backward.
//
// Their NumPy twins are in minifaceattr/functional/norm.py. The input is seen as an
// (N, C, L) array (L = H * W for images, 1 for (N, C) inputs): channel c owns the m = N * L
// elements x[n, c, l], stored at index (n * C + c) * L + l.
//
// Two kinds of kernel:
// - per-channel reductions (batch_norm_statistics, batch_norm_backward_sums): one block per
//   channel. Each thread walks the channel's m elements with a stride of blockDim.x, keeps
//   its own running result, and the block then combines the threads' results with a tree in
//   shared memory: block_sum_of (block_reduce.cuh) for sums, a Welford merge for the
//   statistics (see loss_sum.cu for the tree explained step by step).
// - element-wise kernels (batch_norm_normalize, batch_norm_backward_input): one element per
//   thread in a grid-stride loop; the element at index i belongs to channel (i / L) % C.
//
// Launch the reductions with a power of two threads per block, at most NORM_THREADS (the size
// of their shared arrays).

#ifndef NORM_THREADS
#define NORM_THREADS 512
#endif

#include "block_reduce.cuh"

// Where element (n, c, l) of an (N, C, L) array is stored.
__device__ __forceinline__ long long element_index(int n, int c, int l, int C, int L) {
    return ((long long)n * C + c) * L + l;
}

// A reduction thread visits the channel's elements k = tid, tid + blockDim.x, ... of
// k = n * L + l. Rather than divide k by L at every step (an integer division costs more
// than the rest of the loop), it keeps (n, l) and moves them on like an odometer: a step of
// blockDim.x elements is step_n whole rows (step_n = blockDim.x / L) plus step_l more
// (step_l = blockDim.x % L), carrying into n when l passes the end of a row.
__device__ __forceinline__ void next_element(int* n, int* l, int step_n, int step_l, int L) {
    *n += step_n;
    *l += step_l;
    if (*l >= L) {
        *l -= L;
        *n += 1;
    }
}

// Welford's merge: fold a group of count_b numbers with mean mean_b and sum of squared
// deviations m2_b into the group (count, mean, m2). Exact in real arithmetic, and it never
// subtracts two large sums of squares, so float keeps its precision. A lone number x is the
// group (1, x, 0).
__device__ __forceinline__ void welford_merge(real_t* count, real_t* mean, real_t* m2,
                                              real_t count_b, real_t mean_b, real_t m2_b) {
    real_t total = *count + count_b;
    if (total == 0)
        return;
    real_t delta = mean_b - *mean;
    *mean += delta * (count_b / total);
    *m2 += m2_b + delta * delta * (*count * count_b / total);
    *count = total;
}

// Per channel c: mean[c] = (1/m) Σ x and var[c] = (1/m) Σ (x - mean)^2 (the biased
// variance), in one pass over x with Welford's algorithm. Grid: C blocks.
extern "C" __global__ void batch_norm_statistics(const real_t* __restrict__ x,
                                                 real_t* __restrict__ mean,
                                                 real_t* __restrict__ var,
                                                 int N, int C, int L) {
    __shared__ real_t s_count[NORM_THREADS];
    __shared__ real_t s_mean[NORM_THREADS];
    __shared__ real_t s_m2[NORM_THREADS];
    int c = blockIdx.x, tid = threadIdx.x;
    int step_n = blockDim.x / L, step_l = blockDim.x % L;

    // Step 1: my own group of numbers, one at a time.
    real_t count = 0, mu = 0, m2 = 0;
    for (int n = tid / L, l = tid % L; n < N; next_element(&n, &l, step_n, step_l, L))
        welford_merge(&count, &mu, &m2, 1, x[element_index(n, c, l, C, L)], 0);
    s_count[tid] = count;
    s_mean[tid] = mu;
    s_m2[tid] = m2;
    __syncthreads();

    // Step 2: the tree, merging group tid + half into group tid.
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half)
            welford_merge(&s_count[tid], &s_mean[tid], &s_m2[tid],
                          s_count[tid + half], s_mean[tid + half], s_m2[tid + half]);
        __syncthreads();
    }
    if (tid == 0) {
        mean[c] = s_mean[0];
        var[c] = s_m2[0] / s_count[0];
    }
}

// y = (x - mean[c]) * inv_std[c] * weight[c] + bias[c], for all n elements.
extern "C" __global__ void batch_norm_normalize(const real_t* __restrict__ x,
                                                const real_t* __restrict__ mean,
                                                const real_t* __restrict__ inv_std,
                                                const real_t* __restrict__ weight,
                                                const real_t* __restrict__ bias,
                                                real_t* __restrict__ y, int C, int L, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        int c = (i / L) % C;
        y[i] = (x[i] - mean[c]) * (inv_std[c] * weight[c]) + bias[c];
    }
}

// Per channel c: sum_gy[c] = Σ gy and sum_gy_xhat[c] = Σ gy * xhat, where
// xhat = (x - mean[c]) * inv_std[c] is recomputed rather than stored. Grid: C blocks.
extern "C" __global__ void batch_norm_backward_sums(const real_t* __restrict__ gy,
                                                    const real_t* __restrict__ x,
                                                    const real_t* __restrict__ mean,
                                                    const real_t* __restrict__ inv_std,
                                                    real_t* __restrict__ sum_gy,
                                                    real_t* __restrict__ sum_gy_xhat,
                                                    int N, int C, int L) {
    __shared__ real_t partial[NORM_THREADS];
    int c = blockIdx.x, tid = threadIdx.x;
    int step_n = blockDim.x / L, step_l = blockDim.x % L;
    real_t mu = mean[c], s = inv_std[c];

    real_t a = 0, b = 0;
    for (int n = tid / L, l = tid % L; n < N; next_element(&n, &l, step_n, step_l, L)) {
        long long i = element_index(n, c, l, C, L);
        a += gy[i];
        b += gy[i] * ((x[i] - mu) * s);
    }
    real_t total_gy = block_sum_of(a, partial);
    real_t total_gy_xhat = block_sum_of(b, partial);
    if (tid == 0) {
        sum_gy[c] = total_gy;
        sum_gy_xhat[c] = total_gy_xhat;
    }
}

// dx = weight[c] * inv_std[c] * (gy - mean_gy[c] - xhat * mean_gy_xhat[c]), for all n
// elements, where mean_gy = sum_gy / m and mean_gy_xhat = sum_gy_xhat / m in training. In
// evaluation the statistics are constants, the last two terms do not exist, and the caller
// passes zeros for them: dx = weight * inv_std * gy.
extern "C" __global__ void batch_norm_backward_input(const real_t* __restrict__ gy,
                                                     const real_t* __restrict__ x,
                                                     const real_t* __restrict__ mean,
                                                     const real_t* __restrict__ inv_std,
                                                     const real_t* __restrict__ weight,
                                                     const real_t* __restrict__ mean_gy,
                                                     const real_t* __restrict__ mean_gy_xhat,
                                                     real_t* __restrict__ dx,
                                                     int C, int L, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        int c = (i / L) % C;
        real_t xhat = (x[i] - mean[c]) * inv_std[c];
        dx[i] = weight[c] * inv_std[c] * (gy[i] - mean_gy[c] - xhat * mean_gy_xhat[c]);
    }
}
