"""Batch normalisation layers, with PyTorch's semantics (see ``functional.batch_norm``).

Training: normalise each channel with the batch's mean and biased variance, then
    running_mean ← (1 - momentum)·running_mean + momentum·mean
    running_var  ← (1 - momentum)·running_var  + momentum·unbiased variance.
Evaluation: normalise with the running averages. ``momentum=None`` gives the plain
cumulative average (momentum = 1 / num_batches_tracked), as in PyTorch.
"""
import numpy as np

from .. import functional as F
from .module import Module, Parameter


class _BatchNorm(Module):
    """y = (x - mean) / √(var + eps) · weight + bias, per channel (axis 1)."""

    expected_ndims: tuple[int, ...] = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.momentum, self.affine = momentum, affine
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    def forward(self, x):
        if x.ndim not in self.expected_ndims:
            ndims = " or ".join(map(str, self.expected_ndims))
            raise ValueError(f"{type(self).__name__} expects {ndims}-d input, "
                             f"got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got {x.shape[1]} "
                             f"channels (input shape {x.shape})")
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked += 1  # in place: the array object stays the same
            if momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel, over N, H and W."""
    expected_ndims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per feature, over N (and L)."""
    expected_ndims = (2, 3)
