"""Operations that move elements around without changing them.

Their backward moves the gradient back the same way: reshape it back, transpose it back,
scatter it back into the positions that were read.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Function, Tensor
from ..backend import get_array_module, to_device as _to_device


class Reshape(Function):
    """y = x with a new shape;  dx = gy reshaped to x's shape."""
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Function):
    """y = x with axes permuted;  dx = gy with the inverse permutation."""
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        self.axes = (tuple(reversed(range(x.ndim))) if self.axes is None
                     else tuple(a % x.ndim for a in self.axes))
        return x.transpose(self.axes)

    def backward(self, gy):
        return gy.transpose(np.argsort(self.axes).tolist())


class BroadcastTo(Function):
    """y = x broadcast to ``shape``;  dx = gy summed back (the engine's ``sum_to`` does it)."""
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return gy


class GetItem(Function):
    """y = x[index] (slices, integers, integer or boolean arrays);  dx = gy scattered back.

    An element read twice receives both gradients: ``np.add.at`` on NumPy (not
    ``dx[index] = gy``, which keeps one of them). On CuPy, without atomics (whose order, so
    whose last bits, change from run to run): plain assignment when the index is basic (each
    element is read at most once), else ``scatter_add_in_order``.
    """
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        if xp is np:
            np.add.at(gx, self.index, gy)
        elif is_basic_index(self.index):
            gx[self.index] = gy
        else:
            scatter_add_in_order(gx, self.index, gy)
        return gx


def is_basic_index(index):
    """True for integers, slices, None and ``...`` only: each element is read at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis)))
               and not isinstance(i, bool) for i in parts)


def scatter_add_in_order(gx, index, gy):
    """gx[index] += gy, in place, adding repeated positions in the order of gy's elements
    (as ``np.add.at`` does), with no atomics, so the same bits on every run.

    The flat position that each element of gy came from is found by indexing an arange with
    the same index; a stable sort groups equal positions, and an element's rank within its
    group says in which round it is added. Within a round the positions are distinct, so an
    indexed ``+=`` adds them all; the rounds number the largest repeat count (MGG-Net's
    attribute-to-group index: the largest group).
    """
    xp = get_array_module(gx)
    flat = xp.arange(gx.size).reshape(gx.shape)[index].reshape(-1)
    order = xp.argsort(flat, kind="stable")
    positions, values = flat[order], gy.reshape(-1)[order]
    rank = xp.arange(positions.size) - xp.searchsorted(positions, positions)
    out = gx.reshape(-1)                          # a view: the rounds write into gx
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        chosen = rank == r
        out[positions[chosen]] += values[chosen]


class Concat(Function):
    """y = [x_1, x_2, ...] joined along ``axis``;  dx_k = the slice of gy that x_k filled."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        return tuple(xp.split(gy, np.cumsum(self.sizes)[:-1].tolist(), axis=self.axis))


class Stack(Function):
    """y = x_1, x_2, ... stacked along a new ``axis``;  dx_k = gy taken at position k."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(xs[0]).stack(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        return tuple(xp.take(gy, k, axis=self.axis) for k in range(gy.shape[self.axis]))


class Cast(Function):
    """y = x converted to ``dtype``;  dx = gy converted back."""
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.x_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.x_dtype)


class ToDevice(Function):
    """y = x copied to ``device``;  dx = gy copied back."""
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.x_device = "cuda" if type(x).__module__.startswith("cupy") else "cpu"
        return _to_device(x, self.device)

    def backward(self, gy):
        return _to_device(gy, self.x_device)


def _shape_args(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def reshape(x: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """``reshape(x, 2, -1)`` or ``reshape(x, (2, -1))``."""
    return Reshape(_shape_args(shape))(x)


def flatten(x: Tensor, start_dim: int = 0) -> Tensor:
    """Merge the axes from ``start_dim`` on into one: (N, C, H, W) -> (N, C·H·W) for start_dim=1."""
    return reshape(x, *x.shape[:start_dim], -1)


def transpose(x: Tensor, *axes: int | Sequence[int]) -> Tensor:
    """Reverse the axes, or permute them as given (``transpose(x, 0, 2, 1)``)."""
    return Transpose(_shape_args(axes) or None)(x)


def permute(x: Tensor, *axes: int | Sequence[int]) -> Tensor:
    return Transpose(_shape_args(axes))(x)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    return BroadcastTo(shape)(x)


def getitem(x: Tensor, index: Any) -> Tensor:
    index = tuple(_raw_index(i) for i in index) if isinstance(index, tuple) else _raw_index(index)
    return GetItem(index)(x)


def _raw_index(i):
    return i.data if hasattr(i, "creator") else i  # a Tensor used as an index


def concat(xs: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    return Concat(axis if dim is None else dim)(*xs)


def stack(xs: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    return Stack(axis if dim is None else dim)(*xs)


def cast(x: Tensor, dtype: Any) -> Tensor:
    return Cast(np.dtype(dtype))(x)


def to_device(x: Tensor, device: str) -> Tensor:
    return ToDevice(device)(x)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A new axis of length 1 at ``dim`` (negative counts from the end of the result)."""
    dim = dim + x.ndim + 1 if dim < 0 else dim
    return reshape(x, *x.shape[:dim], 1, *x.shape[dim:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    """Drop axes of length 1: all of them, or only ``dim`` (left alone if its length is not 1)."""
    if dim is None:
        return reshape(x, *[n for n in x.shape if n != 1])
    dim = dim + x.ndim if dim < 0 else dim
    return x if x.shape[dim] != 1 else reshape(x, *x.shape[:dim], *x.shape[dim + 1:])
