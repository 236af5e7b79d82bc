"""Reductions over axes: sum, mean, max.

Axes follow NumPy (``axis``, ``keepdims``); PyTorch's ``dim`` and ``keepdim`` are aliases.
The backward of a reduction spreads ``gy`` back over the reduced axes.
"""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from ..backend import get_array_module

Axes = int | tuple[int, ...] | None  # the axes to reduce: one, several, or None for all


def normalize_axis(axis, ndim):
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim if ndim else a for a in axes))


def expand_reduced(gy, x_shape, axes, keepdims):
    """Re-insert the reduced axes into ``gy`` (as size 1) so it broadcasts against x."""
    if not keepdims:
        shape = list(x_shape)
        for a in axes:
            shape[a] = 1
        gy = gy.reshape(shape)
    return gy


class Sum(Function):
    """y = Σ_axes x;  dx = gy broadcast back over the summed axes."""
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        self.axes = normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        gy = expand_reduced(gy, self.x_shape, self.axes, self.keepdims)
        return get_array_module(gy).broadcast_to(gy, self.x_shape)


class Max(Function):
    """y = max_axes x;  dx = gy where x equals the max (shared equally among ties), else 0."""
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = normalize_axis(self.axis, x.ndim)
        y = x.max(axis=self.axes, keepdims=True)
        self.is_max = x == y
        if self.keepdims:
            return y
        return y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        gy = expand_reduced(gy, self.is_max.shape, self.axes, self.keepdims)
        ties = self.is_max.sum(axis=self.axes, keepdims=True)
        return gy * self.is_max / ties


def _axis(axis, dim, keepdims, keepdim):
    return (dim if axis is None else axis), bool(keepdim if keepdim is not None else keepdims)


def sum(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,  # noqa: A001
        keepdim: bool | None = None) -> Tensor:
    """Σ x over ``axis`` (all axes when None)."""
    return Sum(*_axis(axis, dim, keepdims, keepdim))(x)


def mean(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
         keepdim: bool | None = None) -> Tensor:
    """Mean of x over ``axis``: the sum divided by the number of summed elements."""
    axis, keepdims = _axis(axis, dim, keepdims, keepdim)
    s = sum(x, axis, keepdims)
    count = math.prod(x.shape) // math.prod(s.shape) if math.prod(s.shape) else 0
    return s / count if count else s * float("nan")


def max(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,  # noqa: A001
        keepdim: bool | None = None) -> Tensor:
    """The largest element of x over ``axis`` (values only, like NumPy's ``max``)."""
    return Max(*_axis(axis, dim, keepdims, keepdim))(x)
