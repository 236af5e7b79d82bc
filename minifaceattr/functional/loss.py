"""Losses: binary cross-entropy on logits, cross-entropy, MSE, L1, smooth L1, smooth Huber.

Each loss is a sum (or mean) of per-element terms ℓ_i. Its forward computes, in one fused
pass, every ℓ_i and its derivative g_i = ∂ℓ_i/∂pred_i (while the inputs are at hand), then
reduces; the backward is one multiply, dpred = gy·g (÷ n for a mean). The NumPy lines and
the fused kernels of ``kernels/loss.cu`` stand side by side.

``reduction``: "mean" (the default: the sum divided by the number of terms), "sum" or
"none" (the terms, in the shape of the input; per row for ``cross_entropy``).

Targets. The regression losses (mse, l1, smooth_l1, smooth_huber) depend on pred − target
only, so a target that requires grad gets dtarget = −dpred, at no cost. For
``binary_cross_entropy_with_logits`` the target (and ``weight``, ``pos_weight``) must not
require grad: it raises a ValueError that names the argument. ``cross_entropy`` takes
integer class indices.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..backend import Array, get_array_module, kernel_backend
from ..kernels import THREADS_PER_BLOCK, grid_1d, launch, output

REDUCTIONS = ("mean", "sum", "none")


class ElementwiseLoss(Function):
    """L = reduce_i ℓ(pred_i, target_i); dpred_i = gy·∂ℓ/∂pred_i (÷ n for the mean).

    A subclass gives ``terms(pred, target) -> (ℓ, g)``, the NumPy twin, and ``kernel``, the
    name of its fused kernel in loss.cu, with ``kernel_scalars`` placed between the inputs
    and the outputs.
    """
    kernel: str  # set by each subclass

    def __init__(self, reduction):
        self.reduction = reduction

    def kernel_scalars(self, dtype):
        return ()

    def kernel_inputs(self, pred, target):
        """The kernel's arguments before the scalars: (pred, target) unless overridden."""
        return pred, target

    def forward(self, pred, target):
        target = target.astype(pred.dtype, copy=False)
        with_grad = self.with_grad()
        if kernel_backend(pred) != "numpy":
            terms, self.grad = fused_terms(self.kernel, pred, self.kernel_inputs(pred, target),
                                           self.kernel_scalars(pred.dtype), with_grad)
        else:
            terms, grad = self.terms(pred, target)
            self.grad = grad if with_grad else None
        self.count = terms.size
        return reduce_terms(terms, self.reduction)

    def with_grad(self):
        """Whether the forward keeps the terms' derivatives (some input needs a gradient)."""
        return any(self.needs_input_grad)

    def backward(self, gy):
        dpred = scale_grad(self.grad, gy, self.reduction, self.count)
        # ℓ depends on d = pred − target only, so ∂ℓ/∂target = −∂ℓ/∂pred.
        return dpred, (-dpred if self.needs_input_grad[1] else None)


class MSELoss(ElementwiseLoss):
    """ℓ = d², g = 2d, with d = pred − target."""
    kernel = "mse_loss_forward"

    def terms(self, pred, target):
        d = pred - target
        return d * d, 2 * d


class L1Loss(ElementwiseLoss):
    """ℓ = |d|, g = sign(d) (0 at d = 0, as in PyTorch)."""
    kernel = "l1_loss_forward"

    def terms(self, pred, target):
        d = pred - target
        return abs(d), get_array_module(d).sign(d)


class SmoothL1Loss(ElementwiseLoss):
    """ℓ = ½d²/β where |d| < β, else |d| − ½β;  g = d/β, else sign(d). β = 0 is L1."""
    kernel = "smooth_l1_loss_forward"

    def __init__(self, reduction, beta):
        super().__init__(reduction)
        self.beta = beta

    def kernel_scalars(self, dtype):
        return (dtype.type(self.beta),)

    def terms(self, pred, target):
        xp, d = get_array_module(pred), pred - target
        beta = d.dtype.type(self.beta)  # compared in the inputs' precision, as in the kernel
        if beta == 0:
            return abs(d), xp.sign(d)
        quadratic = abs(d) < beta
        loss = xp.where(quadratic, 0.5 * d * d / beta, abs(d) - 0.5 * beta)
        return loss.astype(d.dtype, copy=False), xp.where(quadratic, d / beta, xp.sign(d))


class SmoothHuberLoss(ElementwiseLoss):
    """HMTNet's Eq. 5: ℓ = log cosh d where |d| ≤ δ, else |d|;  g = tanh d, else sign(d).

    log cosh d = |d| + log1p(e^−2|d|) − log 2 (exact for every d, and e^ never overflows).
    The loss jumps at |d| = δ (log cosh 0.6 ≈ 0.1701 against 0.6), so it has no derivative
    there; since the condition is ≤, the point |d| = δ belongs to the log-cosh side and gets
    its gradient, tanh d.
    """
    kernel = "smooth_huber_loss_forward"

    def __init__(self, reduction, delta):
        super().__init__(reduction)
        self.delta = delta

    def kernel_scalars(self, dtype):
        return (dtype.type(self.delta),)

    def terms(self, pred, target):
        xp, d = get_array_module(pred), pred - target
        a = abs(d)
        inside = a <= d.dtype.type(self.delta)  # in the inputs' precision, as in the kernel
        log_cosh = a + xp.log1p(xp.exp(-2 * a)) - d.dtype.type(np.log(2))
        return xp.where(inside, log_cosh, a), xp.where(inside, xp.tanh(d), xp.sign(d))


class BCEWithLogits(ElementwiseLoss):
    """ℓ = w·(pw·t·softplus(−x) + (1 − t)·softplus(x)),  softplus(z) = log(1 + e^z);
    g = w·((1 − t)·σ(x) − pw·t·σ(−x)).

    This is PyTorch's −w·(pw·t·log σ(x) + (1 − t)·log(1 − σ(x))): log σ(x) = −softplus(−x)
    and log(1 − σ(x)) = −softplus(x). With w = pw = 1, ℓ = max(x, 0) − x·t + log1p(e^−|x|)
    and g = σ(x) − t. Both softplus come from one e^−|x|: softplus(±x) = max(±x, 0) +
    log1p(e^−|x|), so exp never overflows, and each term stays exact even when tiny (logit
    100 with target 1 gives e^−100, not 0).
    """
    kernel = "bce_with_logits_forward"

    def __init__(self, reduction, weight, pos_weight):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, x, target):
        xp = get_array_module(x)
        self.weight, self.pos_weight = [None if v is None else xp.asarray(v, dtype=x.dtype)
                                        for v in (self.weight, self.pos_weight)]
        return super().forward(x, target)

    def with_grad(self):
        return self.needs_input_grad[0]            # the target never gets a gradient

    def kernel_inputs(self, x, target):
        """x, t, then each weight with its stride: spread to x's shape, or one 1 read by all."""
        return (x, target, *broadcast_or_one(self.weight, x), *broadcast_or_one(self.pos_weight, x))

    def terms(self, x, t):
        xp = get_array_module(x)
        w = 1 if self.weight is None else self.weight
        positive = t if self.pos_weight is None else self.pos_weight * t
        negative = 1 - t
        e = xp.exp(-abs(x))
        softplus_x, softplus_neg_x = xp.maximum(x, 0) + xp.log1p(e), xp.maximum(-x, 0) + xp.log1p(e)
        sigmoid_x = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        sigmoid_neg_x = xp.where(x >= 0, e / (1 + e), 1 / (1 + e))
        loss = w * (positive * softplus_neg_x + negative * softplus_x)
        return loss, w * (negative * sigmoid_x - positive * sigmoid_neg_x)

    def backward(self, gy):
        return scale_grad(self.grad, gy, self.reduction, self.count), None


class CrossEntropy(Function):
    """ℓ_r = −log softmax(x_r)_{t_r} = lse(x_r) − x_{r,t_r} for logits (N, C) and integer
    targets t (N,), with lse(x) = m + log Σ_j e^(x_j − m), m = max_j x_j;
    dx_r = gy_r·(softmax(x_r) − onehot(t_r)) (÷ N for the mean)."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, target):
        xp, (n, c) = get_array_module(x), x.shape
        with_grad = self.needs_input_grad[0]
        if kernel_backend(x) != "numpy":
            terms, self.grad = output(x, (n,)), output(x, x.shape if with_grad else (1,))
            launch("loss", "cross_entropy_forward", (x, target.astype(np.int64, copy=False), terms,
                   self.grad, np.int32(with_grad), np.int32(n), np.int32(c)), n=n)
        else:
            shifted = x - x.max(axis=1, keepdims=True)
            log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
            rows = xp.arange(n)
            terms = -log_p[rows, target]
            self.grad = xp.exp(log_p)
            self.grad[rows, target] -= 1
        self.count = terms.size
        return reduce_terms(terms, self.reduction)

    def backward(self, gy):
        gy = gy[:, None] if self.reduction == "none" else gy
        return scale_grad(self.grad, gy, self.reduction, self.count), None


def fused_terms(name, like, args, scalars, with_grad):
    """Run fused kernel ``name(args..., scalars..., loss, grad, with_grad, n)`` over the
    elements of ``like``; return the terms and (when with_grad) their derivatives."""
    loss = output(like, like.shape)
    grad = output(like, like.shape if with_grad else (1,))
    launch("loss", name, (*args, *scalars, loss, grad, np.int32(with_grad), np.int32(like.size)),
           n=like.size)
    return loss, (grad if with_grad else None)


def broadcast_or_one(value, like):
    """A weight for the kernel: ``value`` spread to ``like``'s shape with stride 1, or, when
    None, a single 1 with stride 0 (every element reads it)."""
    xp = get_array_module(like)
    if value is None:
        return xp.ones(1, like.dtype), np.int32(0)
    return xp.ascontiguousarray(xp.broadcast_to(value, like.shape), like.dtype), np.int32(1)


def reduce_terms(terms, reduction):
    """The terms themselves, their sum, or their mean (a 0-d array)."""
    if reduction == "none":
        return terms
    xp = get_array_module(terms)
    total = kernel_sum(terms) if kernel_backend(terms) != "numpy" else xp.asarray(terms.sum())
    return total / terms.size if reduction == "mean" else total


def kernel_sum(x):
    """Σ x with loss_sum.cu's ``block_sum``: once over x (a partial sum per block), then
    once over the partial sums with a single block. Returns a 0-d array."""
    x = x.reshape(-1)
    blocks = grid_1d(x.size, max_blocks=THREADS_PER_BLOCK)
    partial, total = output(x, (blocks,)), output(x, (1,))
    shared = THREADS_PER_BLOCK * x.dtype.itemsize
    launch("loss_sum", "block_sum", (x, partial, np.int32(x.size)), grid=(blocks,),
           shared_mem=shared)
    launch("loss_sum", "block_sum", (partial, total, np.int32(blocks)), grid=(1,),
           shared_mem=shared)
    return total.reshape(())


def scale_grad(grad, gy, reduction, count):
    """dpred = gy·g, and ÷ count (the number of terms) for the mean."""
    return grad * (gy / count if reduction == "mean" else gy)


# --- the functions ------------------------------------------------------------------------
# Targets and weights are Tensors or raw arrays (neither may require grad); reduction is
# "mean", "sum" or "none".
def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor | Array,
                                     weight: Tensor | Array | None = None,
                                     pos_weight: Tensor | Array | None = None,
                                     reduction: str = "mean") -> Tensor:
    """torch.nn.functional.binary_cross_entropy_with_logits: the mean (or sum, or terms) of
    −w·(pos_weight·t·log σ(x) + (1 − t)·log(1 − σ(x))) for logits x and targets t in [0, 1]
    of one shape. ``weight`` and ``pos_weight`` broadcast against the logits
    (``pos_weight`` is usually one value per class, shape (C,)). The mean divides by the
    number of elements, not by the sum of the weights, as in PyTorch."""
    name = "binary_cross_entropy_with_logits"
    check_reduction(name, reduction)
    check_same_shape(name, logits, target)
    for arg, value in [("target", target), ("weight", weight), ("pos_weight", pos_weight)]:
        refuse_grad(name, arg, value)
    weight, pos_weight, target = raw(weight), raw(pos_weight), raw(target)
    check_target_range(name, target)
    return BCEWithLogits(reduction, weight, pos_weight)(logits, target)


def check_target_range(name: str, target: Array) -> None:
    """Refuse BCE targets outside [0, 1] (NaN included). Only host (NumPy) arrays are read:
    on the GPU the min and max would make the host wait for the device at every call (MGG-Net
    calls BCE six times a step), so there the data readers' label checks have to do."""
    if not isinstance(target, np.ndarray) or not target.size:
        return
    low, high = float(target.min()), float(target.max())
    if not (low >= 0 and high <= 1):                       # NaN fails both
        raise ValueError(f"{name}: targets must lie in [0, 1] (0/1 labels or probabilities); "
                         f"got values from {low:g} to {high:g} (for -1/+1 labels use "
                         "(t + 1) / 2)")


def cross_entropy(logits: Tensor, target: Tensor | Array, reduction: str = "mean") -> Tensor:
    """torch.nn.functional.cross_entropy for logits (N, C) and class indices ``target``
    (N,) of an integer type: the mean (or sum, or terms) of −log softmax(logits)_target."""
    check_reduction("cross_entropy", reduction)
    target = raw(target)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    if target.dtype.kind not in "iu" or target.shape != logits.shape[:1]:
        raise ValueError(f"cross_entropy expects integer class indices of shape "
                         f"({logits.shape[0]},), got {target.dtype} of shape {target.shape}")
    if target.size and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
        raise ValueError(f"cross_entropy: a target index is outside [0, {logits.shape[1]}): "
                         f"min {int(target.min())}, max {int(target.max())}")
    return CrossEntropy(reduction)(logits, target)


def mse_loss(pred: Tensor, target: Tensor | Array, reduction: str = "mean") -> Tensor:
    """torch.nn.functional.mse_loss: the mean (or sum, or terms) of (pred − target)²."""
    return regression_loss("mse_loss", MSELoss(reduction), pred, target)


def l1_loss(pred: Tensor, target: Tensor | Array, reduction: str = "mean") -> Tensor:
    """torch.nn.functional.l1_loss: the mean (or sum, or terms) of |pred − target|."""
    return regression_loss("l1_loss", L1Loss(reduction), pred, target)


def smooth_l1_loss(pred: Tensor, target: Tensor | Array, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """torch.nn.functional.smooth_l1_loss: ½d²/β where |d| < β, else |d| − ½β."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return regression_loss("smooth_l1_loss", SmoothL1Loss(reduction, beta), pred, target)


def smooth_huber_loss(pred: Tensor, target: Tensor | Array, delta: float = 0.6,
                      reduction: str = "mean") -> Tensor:
    """HMTNet's smooth Huber loss (Eq. 5): per element log(cosh(d)) where |d| ≤ δ, else |d|,
    for d = pred − target. At |d| = δ the loss jumps; the gradient there is tanh(d), the
    log-cosh side's (see SmoothHuberLoss)."""
    if delta < 0:
        raise ValueError(f"smooth_huber_loss: delta must be >= 0, got {delta}")
    return regression_loss("smooth_huber_loss", SmoothHuberLoss(reduction, delta), pred, target)


def regression_loss(name, fn, pred, target):
    check_reduction(name, fn.reduction)
    check_same_shape(name, pred, target)
    return fn(pred, target)


def check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_same_shape(name, pred, target):
    """One shape for both: a silently broadcast (N, 1) against (N,) is a classic bug."""
    if tuple(pred.shape) != tuple(np.shape(raw(target))):
        raise ValueError(f"{name}: input has shape {tuple(pred.shape)} but target has shape "
                         f"{tuple(np.shape(raw(target)))}; they must match")


def refuse_grad(name, arg, value):
    if isinstance(value, Tensor) and value.requires_grad:
        raise ValueError(f"{name}: '{arg}' requires grad, but gradients with respect to "
                         f"'{arg}' are not supported; pass {arg}.detach()")


def raw(x):
    return x.data if isinstance(x, Tensor) else x
