// graph_attention.cu: the fused GCL step of MGG-Net (Eq. 2), forward and backward.
// The NumPy twin, and the equations, are in minifaceattr/functional/graph_attention.py.
//
// Layout (C order): m (N, K, K, D) with m[n][i][j] = W_gi f_j, the message from j to i;
// f, y (N, K, D); w_e (K, D); e (N, K, K). The messages come from a batched GEMM before
// the kernel; the kernel does the rest.
//
// One block per receiving row r = n*K + i; its threads stride over the D features. A
// score (a dot product over D) is a block-wide sum: each thread adds its strided share,
// then a tree reduction in shared memory adds the shares. The K per-neighbour numbers of
// the row (scores, then their gradients) live in dynamic shared memory: launch with
// shared_mem = K * sizeof(real_t) and a power-of-two block of at most MAX_THREADS threads.

#define MAX_THREADS 128

#include "block_reduce.cuh"

__device__ real_t relu_of(real_t x) { return x > 0 ? x : (real_t)0; }

// y = relu((1 - alpha) f_i + alpha sum_{j != i} e_ij m_ij), e_ij = softmax_{j != i}(w_ei . relu(m_ij)).
extern "C" __global__ void graph_attention_forward(
        const real_t* m, const real_t* f, const real_t* w_e, real_t* y, real_t* e,
        int K, int D, real_t alpha) {
    __shared__ real_t partial[MAX_THREADS];
    extern __shared__ real_t neighbour[];      // K values: the scores, then the affinities
    int row = blockIdx.x;                      // n*K + i
    int i = row % K;
    const real_t* messages = m + (size_t)row * K * D;  // m[n][i][0..K-1][0..D-1]

    for (int j = 0; j < K; j++) {              // scores s_ij; j = i is skipped by every thread
        if (j == i) continue;
        real_t share = 0;
        for (int d = threadIdx.x; d < D; d += blockDim.x)
            share += w_e[i * D + d] * relu_of(messages[j * D + d]);
        real_t s = block_sum_of(share, partial);
        if (threadIdx.x == 0) neighbour[j] = s;
    }
    // Thread 0 wrote the scores and is the one to read them next: no barrier needed here.

    if (threadIdx.x == 0) {                    // softmax over j != i, by one thread (K is small)
        real_t largest = neighbour[i == 0 ? 1 : 0];
        for (int j = 0; j < K; j++)
            if (j != i) largest = max(largest, neighbour[j]);
        real_t total = 0;
        for (int j = 0; j < K; j++) {
            neighbour[j] = j == i ? (real_t)0 : exp(neighbour[j] - largest);
            total += neighbour[j];
        }
        for (int j = 0; j < K; j++) {
            neighbour[j] /= total;
            e[(size_t)row * K + j] = neighbour[j];
        }
    }
    __syncthreads();

    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        real_t mixed = 0;
        for (int j = 0; j < K; j++)
            if (j != i) mixed += neighbour[j] * messages[j * D + d];
        real_t z = (1 - alpha) * f[(size_t)row * D + d] + alpha * mixed;
        y[(size_t)row * D + d] = relu_of(z);
    }
}

// From gy = dL/dy: gm = dL/dm, gf = dL/df (the residual path only; the messages' share of
// df comes from the GEMM's backward), and gw_e_rows[n][i] = row (n, i)'s share of dL/dw_ei
// (the caller sums over n). y and e are the forward's outputs.
extern "C" __global__ void graph_attention_backward(
        const real_t* gy, const real_t* m, const real_t* w_e, const real_t* y, const real_t* e,
        real_t* gm, real_t* gf, real_t* gw_e_rows, int K, int D, real_t alpha) {
    __shared__ real_t partial[MAX_THREADS];
    extern __shared__ real_t neighbour[];      // K values: de_ij, then ds_ij
    int row = blockIdx.x;
    int i = row % K;
    const real_t* messages = m + (size_t)row * K * D;
    const real_t* affinity = e + (size_t)row * K;

    for (int j = 0; j < K; j++) {              // de_ij = da_i . m_ij, da_i = alpha gy_i [y_i > 0]
        if (j == i) continue;
        real_t share = 0;
        for (int d = threadIdx.x; d < D; d += blockDim.x) {
            real_t g = y[(size_t)row * D + d] > 0 ? gy[(size_t)row * D + d] : (real_t)0;
            share += alpha * g * messages[j * D + d];
        }
        real_t de = block_sum_of(share, partial);
        if (threadIdx.x == 0) neighbour[j] = de;
    }

    if (threadIdx.x == 0) {                    // ds_ij = e_ij (de_ij - sum_k e_ik de_ik)
        real_t expected = 0;
        for (int j = 0; j < K; j++)
            if (j != i) expected += affinity[j] * neighbour[j];
        for (int j = 0; j < K; j++)
            neighbour[j] = j == i ? (real_t)0 : affinity[j] * (neighbour[j] - expected);
    }
    __syncthreads();

    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        real_t gz = y[(size_t)row * D + d] > 0 ? gy[(size_t)row * D + d] : (real_t)0;
        real_t gw = 0;
        for (int j = 0; j < K; j++) {          // the diagonal gets 0: e_ii = ds_ii = 0
            real_t mij = messages[j * D + d];
            real_t g = affinity[j] * alpha * gz;
            if (mij > 0) g += neighbour[j] * w_e[i * D + d];
            gm[((size_t)row * K + j) * D + d] = g;
            gw += neighbour[j] * relu_of(mij);
        }
        gf[(size_t)row * D + d] = (1 - alpha) * gz;
        gw_e_rows[(size_t)row * D + d] = gw;
    }
}
