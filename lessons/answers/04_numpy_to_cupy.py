"""Answer key for lessons/04_numpy_to_cupy.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
LEAKY_RELU = '''
extern "C" __global__ void leaky_relu(const real_t* x, real_t* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = x[i] > 0 ? x[i] : (real_t)0.1 * x[i];
}
'''

LEAKY_RELU_GRID_STRIDE = '''
extern "C" __global__ void leaky_relu(const real_t* x, real_t* y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = x[i] > 0 ? x[i] : (real_t)0.1 * x[i];
}
'''

NO_BOUNDS_CHECK = LEAKY_RELU.replace("if (i < n)", "")
THREAD_INDEX_ONLY = LEAKY_RELU.replace("blockIdx.x * blockDim.x + threadIdx.x", "threadIdx.x")
PLAIN_RELU = LEAKY_RELU.replace("(real_t)0.1 * x[i]", "0")

ANSWERS = {
    1: {"right": ["196 352", "196, 352", "(196 352)"],
        "wrong": ["195 0",          # rounded down: the last 160 elements get no thread
                  "196 0",          # the idle threads of the last block not counted
                  "195.3125 352"]}, # blocks come whole
    2: {"right": ["389 901", "389, 901", "3*128+5 3*128+5+4*128"],
        "wrong": ["17 529",         # blockIdx times the number of blocks, not the block size
                  "260 772",        # counted blocks and threads from 1
                  "389 517",        # stepped by one block's threads, not the whole grid's
                  "389 390"]},      # stepped by one
    3: {"right": [f"lambda: {LEAKY_RELU!r}",
                  f"lambda: {LEAKY_RELU_GRID_STRIDE!r}"],
        "wrong": [f"lambda: {NO_BOUNDS_CHECK!r}",     # spare threads write past the end of y
                  f"lambda: {THREAD_INDEX_ONLY!r}",   # every block does elements 0..63 again
                  f"lambda: {PLAIN_RELU!r}",          # the 0.1 slope forgotten
                  "lambda: None"]},
}
