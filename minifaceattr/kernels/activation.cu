// activation.cu: element-wise relu, sigmoid and tanh, forward and backward.
//
// Their NumPy twins are in minifaceattr/functional/activation.py. Every kernel here has the
// same shape: n independent elements, one "for" loop over the elements this thread owns.
//
// A kernel is a function that many GPU threads run at once, each with its own threadIdx
// (its number inside its block) and blockIdx (its block's number in the grid). Thread
// i = blockIdx.x * blockDim.x + threadIdx.x starts at element i and then jumps by the number
// of threads in the whole grid (a "grid-stride loop"), so any grid size covers all n elements.
//
// real_t is float or double: the loader compiles this file once for each, with -Dreal_t=...
// exp and tanh are overloaded, so they compute in real_t's precision in both cases.
// Each forward kernel's comment starts with its twin's name and formula, word for word its
// docstring; each backward kernel's states the twin's dx (tests check it).

// ReLU: y = max(x, 0);  dx = gy · [x > 0].
// The forward half: y = max(x, 0).
extern "C" __global__ void relu_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                        int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = x[i] > 0 ? x[i] : (real_t)0;
}

// ReLU backward: dx = gy · [x > 0] (gy where x > 0, else 0).
extern "C" __global__ void relu_backward(const real_t* __restrict__ x,
                                         const real_t* __restrict__ gy,
                                         real_t* __restrict__ gx, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        gx[i] = x[i] > 0 ? gy[i] : (real_t)0;
}

// Sigmoid: y = 1 / (1 + e^-x);  dx = gy · y (1 - y).
// The forward half. For x < 0 the same value is e^x / (1 + e^x): exp is only ever called on
// a number <= 0, so it can underflow to 0 but never overflow to infinity.
extern "C" __global__ void sigmoid_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t e = exp(-fabs(x[i]));
        y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
    }
}

// Sigmoid backward, from the saved output y: dx = gy · y (1 - y).
extern "C" __global__ void sigmoid_backward(const real_t* __restrict__ y,
                                            const real_t* __restrict__ gy,
                                            real_t* __restrict__ gx, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        gx[i] = gy[i] * y[i] * (1 - y[i]);
}

// Tanh: y = tanh x;  dx = gy · (1 - y²).
// The forward half: y = tanh x.
extern "C" __global__ void tanh_forward(const real_t* __restrict__ x, real_t* __restrict__ y,
                                        int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        y[i] = tanh(x[i]);
}

// Tanh backward, from the saved output y: dx = gy · (1 - y²).
extern "C" __global__ void tanh_backward(const real_t* __restrict__ y,
                                         const real_t* __restrict__ gy,
                                         real_t* __restrict__ gx, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        gx[i] = gy[i] * (1 - y[i] * y[i]);
}
