"""Answer key for lessons/16_matmul_kernels.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
TILED_ANY = r'''
#define TILE 16
extern "C" __global__ void matmul_tiled_any(const real_t* A, const real_t* B, real_t* C,
                                            int M, int N, int K) {
    __shared__ real_t As[TILE][TILE];
    __shared__ real_t Bs[TILE][TILE];
    int x = threadIdx.x, y = threadIdx.y;
    int row = blockIdx.y * TILE + y;
    int col = blockIdx.x * TILE + x;
    real_t sum = 0;
    for (int t = 0; t < K; t += TILE) {
        As[y][x] = (row < M && t + x < K) ? A[row * K + t + x] : (real_t)0;
        Bs[y][x] = (t + y < K && col < N) ? B[(t + y) * N + col] : (real_t)0;
        __syncthreads();
        for (int k = 0; k < TILE; k++)
            sum += As[y][k] * Bs[k][x];
        __syncthreads();
    }
    if (row < M && col < N)
        C[row * N + col] = sum;
}
'''

# The barriers kept, the early exit of the naive kernel added: threads outside C skip the
# barriers, which every thread of a block must reach (the emulator says so).
EARLY_RETURN = TILED_ANY.replace("    real_t sum = 0;\n",
                                 "    if (row >= M || col >= N) return;\n    real_t sum = 0;\n")
NO_STORE_GUARD = TILED_ANY.replace("    if (row < M && col < N)\n", "")
PADDED_WITH_ONES = TILED_ANY.replace(": (real_t)0;", ": (real_t)1;")
ONE_BARRIER = TILED_ANY.replace("            sum += As[y][k] * Bs[k][x];\n        __syncthreads();",
                                "            sum += As[y][k] * Bs[k][x];")

ANSWERS = {
    1: {"right": ["0.125 4", "1/8, 32/8"],
        "wrong": ["0.25 8",     # float32's numbers
                  "0.125 2",    # TILE = 16's
                  "0.5 16"]},   # one number per FLOP, not per two
    2: {"right": [f"lambda: {TILED_ANY!r}"],
        "wrong": [f"lambda: {EARLY_RETURN!r}",
                  f"lambda: {NO_STORE_GUARD!r}",
                  f"lambda: {PADDED_WITH_ONES!r}",
                  f"lambda: {ONE_BARRIER!r}"]},
}
