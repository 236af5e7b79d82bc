"""Batch normalisation (Ioffe and Szegedy, 2015) with PyTorch's semantics.

The NumPy line and the kernel call (``kernels/norm.cu``) stand side by side in each step.
Both see the input as an (N, C, L) array: the statistics of channel c are over its
m = N·L elements (L = H·W for images, 1 for (N, C) inputs).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor
from ..backend import Array, get_array_module, kernel_backend
from ..kernels import launch, output
from . import norm_fast

# The public names (lessons and users import these; the rest may move).
__all__ = ["batch_norm", "BatchNorm", "NORM_THREADS", "reduction_threads", "batch_statistics"]

NORM_THREADS = 512  # threads per block of the per-channel reductions, as in norm.cu


class BatchNorm(Function):
    """y = γ·x̂ + β with x̂ = (x − μ)/σ and σ = √(v + ε), per channel.

    Training: μ and v are the batch mean and biased variance of the channel's m elements,
    and the running buffers move towards the batch: r ← (1 − momentum)·r + momentum·s, with
    the unbiased variance v·m/(m − 1) for ``running_var``. Evaluation: μ and v are the
    running buffers.

    Backward. dγ = Σ gy·x̂ and dβ = Σ gy (sums over the channel's elements). In evaluation
    μ and σ are constants, so dx = γ/σ·gy. In training they depend on every x of the
    channel: with ∂μ/∂x_j = 1/m and ∂x̂_i/∂x_j = (δ_ij − 1/m − x̂_i·x̂_j/m)/σ, the chain rule
    collapses to dx = (1/m)·γ/σ·(m·gy − Σ gy − x̂·Σ(gy·x̂)).
    """

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight, bias):
        self.shape = x.shape
        x = x.reshape(x.shape[0], x.shape[1], -1)    # (N, C, L), a view
        self.count = x.shape[0] * x.shape[2]          # m, the elements per channel
        if norm_fast.applies(self, x):
            return norm_fast.forward_saving_xhat(self, x, weight, bias).reshape(self.shape)
        if self.training:
            mean, var = batch_statistics(x)
            self.update_running_statistics(mean, var)
        else:
            mean, var = self.running_mean, self.running_var
        xp = get_array_module(x)
        self.mean = xp.array(mean, dtype=x.dtype)  # a copy: the running buffers change later
        self.inv_std = 1 / xp.sqrt(xp.asarray(var, dtype=x.dtype) + x.dtype.type(self.eps))
        self.x, self.weight = x, weight
        if kernel_backend(x) != "numpy":
            y = run_channelwise("batch_norm_normalize", x, self.mean, self.inv_std, weight, bias)
        else:  # γ·(x − μ)/σ + β as one multiply-add per element: x·(γ/σ) + (β − μ·γ/σ)
            scale = weight * self.inv_std
            y = x * scale[:, None]
            y += (bias - self.mean * scale)[:, None]
        return y.reshape(self.shape)

    def update_running_statistics(self, mean, var):
        """r ← (1 − momentum)·r + momentum·s, in place, on the raw buffers."""
        momentum = self.momentum
        if self.running_mean is not None:
            self.running_mean *= 1 - momentum
            self.running_mean += momentum * mean
        if self.running_var is not None:
            self.running_var *= 1 - momentum
            self.running_var += momentum * var * (self.count / (self.count - 1))

    def backward(self, gy):
        if hasattr(self, "xhat"):
            return norm_fast.backward_from_xhat(self, gy)
        gy = gy.reshape(self.x.shape)
        need_dx, need_dweight, need_dbias = self.needs_input_grad
        sum_gy = sum_gy_xhat = None
        if need_dweight or need_dbias or (need_dx and self.training):
            sum_gy, sum_gy_xhat = backward_sums(gy, self.x, self.mean, self.inv_std)
        dx = self.input_grad(gy, sum_gy, sum_gy_xhat) if need_dx else None
        return dx, sum_gy_xhat, sum_gy

    def input_grad(self, gy, sum_gy, sum_gy_xhat):
        """dx = γ/σ·(gy − Σgy/m − x̂·Σ(gy·x̂)/m) in training, γ/σ·gy in evaluation."""
        if self.training:
            mean_gy, mean_gy_xhat = sum_gy / self.count, sum_gy_xhat / self.count
        else:  # the statistics are constants: the two terms from differentiating them vanish
            mean_gy = mean_gy_xhat = get_array_module(gy).zeros_like(self.mean)
        if kernel_backend(gy) != "numpy":
            dx = run_channelwise("batch_norm_backward_input", gy, self.x, self.mean,
                                 self.inv_std, self.weight, mean_gy, mean_gy_xhat)
        else:  # the same, built in one buffer: x − μ, ·(−mgx/σ), + gy, − mean gy, ·γ/σ
            dx = self.x - self.mean[:, None]
            dx *= (-self.inv_std * mean_gy_xhat)[:, None]
            dx += gy
            dx -= mean_gy[:, None]
            dx *= (self.weight * self.inv_std)[:, None]
        return dx.reshape(self.shape)


def batch_statistics(x):
    """The mean and the biased variance (1/m)·Σ(x − μ)² of each channel of x (N, C, L)."""
    if kernel_backend(x) != "numpy":
        return run_per_channel("batch_norm_statistics", x)
    mean = x.mean(axis=(0, 2))
    centered = x - mean[:, None]
    var = np.einsum("ncl,ncl->c", centered, centered) / (x.shape[0] * x.shape[2])
    return mean, var


def backward_sums(gy, x, mean, inv_std):
    """Σ gy and Σ gy·x̂ over each channel of (N, C, L) arrays, with x̂ = (x − μ)·inv_std."""
    if kernel_backend(x) != "numpy":
        return run_per_channel("batch_norm_backward_sums", gy, x, mean, inv_std)
    centered = x - mean[:, None]
    return gy.sum(axis=(0, 2)), np.einsum("ncl,ncl->c", gy, centered) * inv_std


def run_per_channel(name, *arrays):
    """Launch reduction kernel ``name`` with one block per channel; it writes two (C,)
    arrays, returned. The first array gives the shape (N, C, L)."""
    n, c, l = arrays[0].shape
    first, second = output(arrays[0], (c,)), output(arrays[0], (c,))
    launch("norm", name, (*arrays, first, second, np.int32(n), np.int32(c), np.int32(l)),
           grid=(c,), block=reduction_threads(n * l))
    return first, second


def reduction_threads(m):
    """Threads per block for a channel of m elements: a power of two, at most NORM_THREADS,
    and no more than m needs (a small channel would leave most of them idle)."""
    threads = 1
    while threads < min(m, NORM_THREADS):
        threads *= 2
    return threads


def run_channelwise(name, *arrays):
    """Launch element-wise kernel ``name(arrays..., out, C, L, n)``; the first array is the
    (N, C, L) input that gives the output's shape, the others are (N, C, L) or (C,)."""
    _, c, l = arrays[0].shape
    out = output(arrays[0], arrays[0].shape)
    launch("norm", name, (*arrays, out, np.int32(c), np.int32(l), np.int32(out.size)),
           n=out.size)
    return out


def batch_norm(x: Tensor, running_mean: Array | Tensor | None, running_var: Array | Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm for x of shape (N, C) or (N, C, H, W) (any (N, C, ...)).

    ``running_mean`` and ``running_var`` are raw (C,) arrays (or Tensors, whose ``.data`` is
    used), updated in place in training; either may be None in training, as with PyTorch's
    ``track_running_stats=False``. ``weight`` (γ) and ``bias`` (β) are (C,) Tensors or None
    (γ = 1, β = 0).
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects an input of shape (N, C, ...), got {x.shape}")
    channels, count = x.shape[1], math.prod(x.shape) // max(x.shape[1], 1)
    running_mean, running_var = raw_buffer(running_mean), raw_buffer(running_var)
    if training and not isinstance(momentum, (int, float)):
        raise TypeError(f"batch_norm: momentum must be a number, got {momentum!r} (for "
                        "PyTorch's momentum=None, pass 1 / batches seen, as nn.BatchNorm2d does)")
    if training and count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm in evaluation mode (training=False) needs running_mean "
                         "and running_var")
    for name, a in [("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)]:
        if a is not None and tuple(a.shape) != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(a.shape)}, expected "
                             f"({channels},) for an input of shape {x.shape}")
    xp = get_array_module(x.data)
    weight = xp.ones(channels, x.dtype) if weight is None else weight
    bias = xp.zeros(channels, x.dtype) if bias is None else bias
    return BatchNorm(running_mean, running_var, training, momentum, eps)(x, weight, bias)


def raw_buffer(buffer):
    return buffer.data if isinstance(buffer, Tensor) else buffer
