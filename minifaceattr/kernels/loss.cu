// loss.cu: the losses, each in one fused pass over its elements.
//
// Their NumPy twins are in minifaceattr/functional/loss.py. A loss is a sum (or mean) of
// per-element terms loss_i(pred_i, target_i). Each kernel here computes, for every element,
// the term loss[i] and, when with_grad is 1, its derivative grad[i] = d loss_i / d pred_i,
// while the inputs are in registers anyway. The backward pass is then one multiply,
// d pred = gy * grad (divided by n for a mean), and never reads the inputs again. The sum of
// loss[] for reduction="mean" or "sum" is loss_sum.cu's block_sum.
//
// Element-wise kernels use a grid-stride loop (see activation.cu). When with_grad is 0,
// grad is not touched (the caller may pass a one-element dummy). Each kernel's comment
// starts with its twin's name and formula, word for word its docstring (tests check it).

// The natural logarithm of 2, to the last digit of a double.
#define LOG_2 ((real_t)0.693147180559945309417)

// sign(d): -1, 0 or 1 (0 at 0, as PyTorch's gradient of |d| at 0).
__device__ __forceinline__ real_t sign_of(real_t d) {
    return (real_t)((d > 0) - (d < 0));
}

// BCEWithLogits: ℓ = w·(pw·t·softplus(−x) + (1 − t)·softplus(x)),  softplus(z) = log(1 + e^z);
// g = w·((1 − t)·σ(x) − pw·t·σ(−x)).
// That is binary cross-entropy on logits x with targets t in [0, 1], PyTorch's
// -w * (pw * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x))); g is sigmoid(x) - t when
// w = pw = 1. Both softplus are computed from one e^-|x|: softplus(x) = max(x, 0) +
// log1p(e^-|x|), so exp never overflows, and both terms are exact even when tiny (x = 100,
// t = 1 gives e^-100, not 0).
// weight and pos_weight are read at i * stride: stride 1 for a full array, 0 for a single
// value shared by every element.
extern "C" __global__ void bce_with_logits_forward(const real_t* __restrict__ x,
                                                   const real_t* __restrict__ t,
                                                   const real_t* __restrict__ weight,
                                                   int weight_stride,
                                                   const real_t* __restrict__ pos_weight,
                                                   int pos_weight_stride,
                                                   real_t* __restrict__ loss,
                                                   real_t* __restrict__ grad,
                                                   int with_grad, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t xi = x[i], ti = t[i], w = weight[i * weight_stride];
        real_t positive = pos_weight[i * pos_weight_stride] * ti, negative = 1 - ti;
        real_t e = exp(-fabs(xi));                                 // e^-|x|, in (0, 1]
        real_t log1p_e = log1p(e);
        real_t softplus_x = (xi > 0 ? xi : (real_t)0) + log1p_e;
        real_t softplus_neg_x = (xi < 0 ? -xi : (real_t)0) + log1p_e;
        loss[i] = w * (positive * softplus_neg_x + negative * softplus_x);
        if (with_grad) {
            real_t sigmoid_x = xi >= 0 ? 1 / (1 + e) : e / (1 + e);
            real_t sigmoid_neg_x = xi >= 0 ? e / (1 + e) : 1 / (1 + e);
            grad[i] = w * (negative * sigmoid_x - positive * sigmoid_neg_x);
        }
    }
}

// CrossEntropy: ℓ_r = −log softmax(x_r)_{t_r} = lse(x_r) − x_{r,t_r} for logits (N, C) and
// integer targets t (N,), with lse(x) = m + log Σ_j e^(x_j − m), m = max_j x_j;
// dx_r = gy_r·(softmax(x_r) − onehot(t_r)) (÷ N for the mean).
// One thread per row, through a fused log-softmax: loss[r] = lse - x[target], and
// grad[r, j] = e^(x_j - lse) - [j == target] (the caller multiplies by gy). The largest
// logit is subtracted before exp, so exp never overflows.
extern "C" __global__ void cross_entropy_forward(const real_t* __restrict__ logits,
                                                 const long long* __restrict__ target,
                                                 real_t* __restrict__ loss,
                                                 real_t* __restrict__ grad,
                                                 int with_grad, int N, int C) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < N; r += blockDim.x * gridDim.x) {
        const real_t* x = logits + (long long)r * C;
        real_t largest = x[0];
        for (int j = 1; j < C; j++)
            largest = x[j] > largest ? x[j] : largest;
        real_t sum = 0;
        for (int j = 0; j < C; j++)
            sum += exp(x[j] - largest);
        real_t lse = largest + log(sum);
        int k = (int)target[r];
        loss[r] = lse - x[k];
        if (with_grad)
            for (int j = 0; j < C; j++)
                grad[(long long)r * C + j] = exp(x[j] - lse) - (j == k ? (real_t)1 : (real_t)0);
    }
}

// MSELoss: ℓ = d², g = 2d, with d = pred − target.
extern "C" __global__ void mse_loss_forward(const real_t* __restrict__ pred,
                                            const real_t* __restrict__ target,
                                            real_t* __restrict__ loss,
                                            real_t* __restrict__ grad, int with_grad, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t d = pred[i] - target[i];
        loss[i] = d * d;
        if (with_grad)
            grad[i] = 2 * d;
    }
}

// L1Loss: ℓ = |d|, g = sign(d) (0 at d = 0, as in PyTorch).
extern "C" __global__ void l1_loss_forward(const real_t* __restrict__ pred,
                                           const real_t* __restrict__ target,
                                           real_t* __restrict__ loss,
                                           real_t* __restrict__ grad, int with_grad, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t d = pred[i] - target[i];
        loss[i] = fabs(d);
        if (with_grad)
            grad[i] = sign_of(d);
    }
}

// SmoothL1Loss: ℓ = ½d²/β where |d| < β, else |d| − ½β;  g = d/β, else sign(d).
// β = 0 is L1.
// (PyTorch's smooth L1; with beta = 0 the first branch never runs.)
extern "C" __global__ void smooth_l1_loss_forward(const real_t* __restrict__ pred,
                                                  const real_t* __restrict__ target,
                                                  real_t beta,
                                                  real_t* __restrict__ loss,
                                                  real_t* __restrict__ grad,
                                                  int with_grad, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t d = pred[i] - target[i], a = fabs(d);
        bool quadratic = a < beta;
        loss[i] = quadratic ? (real_t)0.5 * d * d / beta : a - (real_t)0.5 * beta;
        if (with_grad)
            grad[i] = quadratic ? d / beta : sign_of(d);
    }
}

// SmoothHuberLoss: HMTNet's Eq. 5: ℓ = log cosh d where |d| ≤ δ, else |d|;
// g = tanh d, else sign(d).
// log cosh d = |d| + log1p(e^−2|d|) − log 2 (exact for every d, and e^ never overflows).
// The loss jumps at |d| = δ (log cosh 0.6 ≈ 0.1701 against 0.6), so it has no derivative
// there; since the condition is ≤, the point |d| = δ belongs to the log-cosh side and gets
// its gradient, tanh d.
extern "C" __global__ void smooth_huber_loss_forward(const real_t* __restrict__ pred,
                                                     const real_t* __restrict__ target,
                                                     real_t delta,
                                                     real_t* __restrict__ loss,
                                                     real_t* __restrict__ grad,
                                                     int with_grad, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        real_t d = pred[i] - target[i], a = fabs(d);
        bool inside = a <= delta;
        loss[i] = inside ? a + log1p(exp(-2 * a)) - LOG_2 : a;
        if (with_grad)
            grad[i] = inside ? tanh(d) : sign_of(d);
    }
}
