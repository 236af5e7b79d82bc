// pooling.cu: max pooling, average pooling and global average pooling, forward and backward.
//
// Their NumPy twins are in minifaceattr/functional/pooling.py. A pooling layer treats each
// (n, c) image plane on its own, so the kernels see `planes` = N*C planes of H x W pixels.
// Output pixel (oh, ow) of a plane pools the window of rows oh*SH - PH .. oh*SH - PH + KH - 1
// and columns ow*SW - PW .. ow*SW - PW + KW - 1; rows and columns outside the plane are
// padding (-infinity for max pooling, 0 for average pooling). Max pooling's ceil mode only
// changes OH and OW (pooling.py): its last window may reach past the padding, and the
// kernels, which clip every window to the plane, need no change for it.
//
// Forward kernels: one thread per output pixel. Backward kernels: one thread per INPUT pixel,
// which gathers the gradient of every window that contains it. The alternative, one thread
// per output pixel adding its gradient into the input with atomicAdd, needs a zeroed input
// gradient first (an extra pass), and windows that overlap (ResNet's 3x3 stride-2 max pool)
// make threads collide on one address, and the float sum's order (so its last bits) change
// from run to run. Gathering writes each input gradient once, in a fixed order: no atomics,
// no memset, the same bits on every run.

// The first output row (or column) whose window contains input row h. Windows start at
// oh*S - P and hold K rows, so window oh contains h when oh*S - P <= h <= oh*S - P + K - 1.
__device__ int first_window(int h, int K, int S, int P) {
    return h + P < K ? 0 : (h + P - K) / S + 1;
}

// The last output row (or column) whose window contains input row h, at most O - 1.
__device__ int last_window(int h, int S, int P, int O) {
    return min((h + P) / S, O - 1);
}

// Max pooling: y = the largest value of the window, and argmax = its index h*W + w in the
// plane (the first one in row-major order if it appears twice). A NaN wins over any number,
// so y is NaN as in PyTorch, and argmax is the window's first NaN.
// The window's first pixel inside the plane starts as the maximum, so the -infinity padding
// never needs to be written down. (pooling.py's check that padding <= kernel / 2 guarantees
// that every window holds a pixel of the plane.)
extern "C" __global__ void max_pool2d_forward(const real_t* __restrict__ x,
                                              real_t* __restrict__ y, int* __restrict__ argmax,
                                              int planes, int H, int W, int KH, int KW,
                                              int SH, int SW, int PH, int PW, int OH, int OW) {
    int total = planes * OH * OW;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int ow = idx % OW, oh = idx / OW % OH, plane = idx / (OW * OH);
        const real_t* x_plane = x + plane * H * W;
        int h0 = max(oh * SH - PH, 0), h1 = min(oh * SH - PH + KH, H);
        int w0 = max(ow * SW - PW, 0), w1 = min(ow * SW - PW + KW, W);
        int best_index = h0 * W + w0;
        real_t best = x_plane[best_index];
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) {
                real_t v = x_plane[h * W + w];
                if (v > best || (isnan(v) && !isnan(best))) {
                    best = v;
                    best_index = h * W + w;
                }
            }
        y[idx] = best;
        argmax[idx] = best_index;
    }
}

// Max pooling backward: gx[h][w] = the sum of gy over the windows whose argmax is (h, w).
extern "C" __global__ void max_pool2d_backward(const real_t* __restrict__ gy,
                                               const int* __restrict__ argmax,
                                               real_t* __restrict__ gx,
                                               int planes, int H, int W, int KH, int KW,
                                               int SH, int SW, int PH, int PW, int OH, int OW) {
    int total = planes * H * W;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int w = idx % W, h = idx / W % H, plane = idx / (W * H);
        int first = plane * OH * OW;                   // this plane's first output pixel
        real_t sum = 0;
        for (int oh = first_window(h, KH, SH, PH); oh <= last_window(h, SH, PH, OH); oh++)
            for (int ow = first_window(w, KW, SW, PW); ow <= last_window(w, SW, PW, OW); ow++)
                if (argmax[first + oh * OW + ow] == h * W + w)
                    sum += gy[first + oh * OW + ow];
        gx[idx] = sum;
    }
}

// Average pooling with the padding counted (PyTorch's count_include_pad=True): every window
// has KH*KW pixels, the zeros of the padding included.
extern "C" __global__ void avg_pool2d_forward(const real_t* __restrict__ x,
                                              real_t* __restrict__ y,
                                              int planes, int H, int W, int KH, int KW,
                                              int SH, int SW, int PH, int PW, int OH, int OW) {
    int total = planes * OH * OW;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int ow = idx % OW, oh = idx / OW % OH, plane = idx / (OW * OH);
        const real_t* x_plane = x + plane * H * W;
        int h0 = max(oh * SH - PH, 0), h1 = min(oh * SH - PH + KH, H);
        int w0 = max(ow * SW - PW, 0), w1 = min(ow * SW - PW + KW, W);
        real_t sum = 0;                                // the padding adds zeros: skip it
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
                sum += x_plane[h * W + w];
        y[idx] = sum / (KH * KW);
    }
}

// Average pooling backward: each window spreads gy / (KH*KW) over its pixels, so
// gx[h][w] = the sum of gy over the windows that contain (h, w), divided by KH*KW.
extern "C" __global__ void avg_pool2d_backward(const real_t* __restrict__ gy,
                                               real_t* __restrict__ gx,
                                               int planes, int H, int W, int KH, int KW,
                                               int SH, int SW, int PH, int PW, int OH, int OW) {
    int total = planes * H * W;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += blockDim.x * gridDim.x) {
        int w = idx % W, h = idx / W % H, plane = idx / (W * H);
        int first = plane * OH * OW;
        real_t sum = 0;
        for (int oh = first_window(h, KH, SH, PH); oh <= last_window(h, SH, PH, OH); oh++)
            for (int ow = first_window(w, KW, SW, PW); ow <= last_window(w, SW, PW, OW); ow++)
                sum += gy[first + oh * OW + ow];
        gx[idx] = sum / (KH * KW);
    }
}

#include "block_reduce.cuh"

// Global average pooling: y[plane] = the mean of the plane's HW pixels. One block per plane
// (gridDim.x = planes): each thread adds every blockDim.x-th pixel, then block_sum_of (a tree
// in shared memory, block_reduce.cuh) adds the threads' sums. Launch with a power-of-two
// blockDim.x and shared_mem = blockDim.x * sizeof(real_t).
extern "C" __global__ void global_avg_pool_forward(const real_t* __restrict__ x,
                                                   real_t* __restrict__ y, int HW) {
    extern __shared__ real_t partial[];
    const real_t* x_plane = x + (long long)blockIdx.x * HW;
    real_t sum = 0;
    for (int i = threadIdx.x; i < HW; i += blockDim.x)
        sum += x_plane[i];
    real_t total = block_sum_of(sum, partial);
    if (threadIdx.x == 0)
        y[blockIdx.x] = total / HW;
}

// Global average pooling backward: every pixel of a plane gets gy[plane] / HW.
extern "C" __global__ void global_avg_pool_backward(const real_t* __restrict__ gy,
                                                    real_t* __restrict__ gx, int HW, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        gx[i] = gy[i / HW] / HW;
}
