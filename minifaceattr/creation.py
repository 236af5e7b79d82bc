"""Tensor constructors with PyTorch's names: ``zeros``, ``ones``, ``full``, ``randn``, ``rand``,
``arange``, ``from_numpy``, ``cat`` and ``stack``.

    x = mfa.randn(2, 3)                   # float32, from the library's generator (manual_seed)
    y = mfa.cat([x, mfa.zeros(1, 3)])     # differentiable, like F.concat
"""
import numpy as np

from . import functional as F
from .autograd import Tensor, tensor
from .random import get_rng


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def _make(array, dtype, device, requires_grad):
    return tensor(array.astype(np.dtype(dtype or np.float32), copy=False), device=device,
                  requires_grad=requires_grad)


def zeros(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 unless ``dtype``."""
    return _make(np.zeros(_shape(size)), dtype, device, requires_grad)


def ones(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ones, shaped as for ``zeros``."""
    return _make(np.ones(_shape(size)), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``."""
    return _make(np.full(tuple(size), fill_value), dtype, device, requires_grad)


def randn(*size, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from the library's generator (``mfa.manual_seed`` fixes them)."""
    return _make(get_rng().standard_normal(_shape(size)), dtype, device, requires_grad)


def rand(*size, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples in [0, 1) from the library's generator."""
    return _make(get_rng().random(_shape(size)), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device="cpu"):
    """``arange(5)`` -> 0..4, ``arange(1, 2, 0.25)``: integers stay int64, as in PyTorch."""
    values = np.arange(start, step=step) if end is None else np.arange(start, end, step)
    if dtype is None and values.dtype == np.float64:
        dtype = np.float32
    return tensor(values.astype(dtype or values.dtype, copy=False), device=device)


def from_numpy(array):
    """A tensor sharing ``array``'s memory and dtype (writes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing axis (differentiable): ``F.concat``."""
    return F.concat(tensors, dim if axis is None else axis)


def stack(tensors, dim=0, *, axis=None):
    """Stack tensors along a new axis (differentiable): ``F.stack``."""
    return F.stack(tensors, dim if axis is None else axis)
