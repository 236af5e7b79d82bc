"""Pooling: max_pool2d, avg_pool2d and global_avg_pool2d, on (N, C, H, W) inputs.

Each (n, c) plane is pooled on its own, so the code sees N·C planes of H × W pixels. Output
pixel (oh, ow) pools the window of rows oh·sh − ph + i and columns ow·sw − pw + j
(0 ≤ i < kh, 0 ≤ j < kw); the padding is −∞ for max pooling and 0 for average pooling
(max pooling's ``ceil_mode`` keeps a last window that reaches past the padding: −∞ there too):

    max:  y[oh, ow] = max_{i,j} x[...]       dx[argmax] += gy[oh, ow]   (argmax saved)
    avg:  y[oh, ow] = Σ_{i,j} x[...] / (kh·kw)   dx[window] += gy[oh, ow] / (kh·kw)
    GAP:  y[n, c] = Σ_{h,w} x[n, c, h, w] / (H·W)   dx[n, c, h, w] = gy[n, c] / (H·W)

As in conv.py, the NumPy twins loop over the kh·kw taps of the window, each step one
vectorised operation on every output pixel at once. The CUDA kernels are in
``kernels/pooling.cu``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Function, Tensor
from ..backend import kernel_backend
from ..kernels import launch, output
from .conv import output_size, pair, window


@dataclass(frozen=True)
class PoolGeometry:
    """Every size of one pooling layer, named as in ``kernels/pooling.cu``."""
    planes: int  # N·C
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    ceil_mode: bool = False  # keep a last window that runs past the bottom or right edge
    DH = DW = 1  # pooling windows have no holes (for conv.window)

    OH = property(lambda g: pool_output_size(g.H, g.KH, g.SH, g.PH, g.ceil_mode))
    OW = property(lambda g: pool_output_size(g.W, g.KW, g.SW, g.PW, g.ceil_mode))
    # Padded so that every window fits: ceil mode's last window may reach past H + 2·PH.
    padded_shape = property(lambda g: (g.planes, max(g.H + 2 * g.PH, (g.OH - 1) * g.SH + g.KH),
                                       max(g.W + 2 * g.PW, (g.OW - 1) * g.SW + g.KW)))

    def kernel_args(self):
        """planes, H, W, KH, KW, SH, SW, PH, PW, OH, OW as the kernels' ``int``s."""
        sizes = (self.planes, self.H, self.W, self.KH, self.KW, self.SH, self.SW, self.PH,
                 self.PW, self.OH, self.OW)
        return tuple(np.int32(s) for s in sizes)


def pool_output_size(size, kernel, stride, padding=0, ceil_mode=False):
    """How many windows fit along one axis: ⌊(size + 2·padding − kernel) / stride⌋ + 1, or
    with ``ceil_mode`` ⌈...⌉ + 1, where a last, partial window is kept if it starts inside
    the input or its left padding (PyTorch's rule)."""
    if not ceil_mode:
        return output_size(size, kernel, stride, padding)
    count = -(-(size + 2 * padding - kernel) // stride) + 1
    if (count - 1) * stride >= size + padding:
        count -= 1
    return count


def pool_geometry(x, kernel_size, stride, padding, name, ceil_mode=False):
    """The geometry of pooling ``x`` (N, C, H, W), with PyTorch's checks and defaults
    (stride = kernel_size; padding at most half the kernel, so no window is all padding)."""
    if x.ndim != 4:
        raise ValueError(f"{name} expects x of shape (N, C, H, W), got {x.shape}")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: kernel_size and stride must be >= 1 and padding >= 0, got "
                         f"{kernel}, {stride}, {padding}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half of kernel_size {kernel}")
    n, c, h, w = x.shape
    g = PoolGeometry(n * c, h, w, *kernel, *stride, *padding, bool(ceil_mode))
    if g.OH < 1 or g.OW < 1:
        raise ValueError(f"{name}: input {x.shape} is smaller than the window {kernel}")
    return g


# --- max pooling -----------------------------------------------------------------------------

def tap_index(i, j, g):
    """Where tap (i, j) of each window lies in its plane, as the flat index h·W + w: (OH, OW)."""
    rows = np.arange(g.OH, dtype=np.int32)[:, None] * g.SH - g.PH + i
    cols = np.arange(g.OW, dtype=np.int32) * g.SW - g.PW + j
    return rows * np.int32(g.W) + cols


def first_inside_index(g):
    """The flat index of each window's first pixel inside the plane (its top-left one)."""
    rows = np.maximum(np.arange(g.OH, dtype=np.int32)[:, None] * g.SH - g.PH, 0)
    cols = np.maximum(np.arange(g.OW, dtype=np.int32) * g.SW - g.PW, 0)
    return rows * np.int32(g.W) + cols


def max_pool2d_numpy(x, g):
    """y = the window maximum, argmax = its flat index h·W + w in the plane (int32).

    The taps are visited in row-major order with the kernel's rule: a tap replaces the
    maximum so far if it is larger (so the first of tied maxima wins, as in PyTorch), or if
    it is the first NaN (so y is NaN, as in PyTorch). argmax starts at the window's first
    pixel inside the plane, which a window of −∞ keeps: the padding never wins."""
    padded = np.full(g.padded_shape, -np.inf, x.dtype)
    padded[:, g.PH:g.PH + g.H, g.PW:g.PW + g.W] = x.reshape(g.planes, g.H, g.W)
    y = np.full((g.planes, g.OH, g.OW), -np.inf, x.dtype)
    argmax = np.empty(y.shape, np.int32)
    argmax[...] = first_inside_index(g)
    candidate, larger = np.empty_like(y), np.empty(y.shape, bool)
    for i in range(g.KH):
        for j in range(g.KW):
            # One copy of the strided window into a contiguous array: NumPy runs the
            # element-wise steps below many times faster on it than on the window itself.
            np.copyto(candidate, window(padded, i, j, g))
            np.greater(candidate, y, out=larger)
            argmax += larger * (tap_index(i, j, g) - argmax)  # where(larger, tap, argmax)
            np.maximum(y, candidate, out=y)  # NaN wins here; its argmax is set below
    nan_windows = np.isnan(y)
    if nan_windows.any():
        point_argmax_at_first_nan(padded, nan_windows, argmax, g)
    return y, argmax


def point_argmax_at_first_nan(padded, nan_windows, argmax, g):
    """For each window holding a NaN, argmax = the first NaN tap (row-major), as the kernel
    does: the taps are visited last to first, so the first NaN writes last."""
    for i in reversed(range(g.KH)):
        for j in reversed(range(g.KW)):
            is_nan = np.isnan(window(padded, i, j, g)) & nan_windows
            np.copyto(argmax, tap_index(i, j, g), where=is_nan)


def max_pool2d_backward_numpy(gy, argmax, g):
    """gx[plane, argmax[plane, o]] += gy[plane, o] for every output pixel o (a scatter-add:
    ``np.add.at`` adds every occurrence of a repeated index, where ``gx[idx] += v`` would
    keep only one of them)."""
    gx = np.zeros(g.planes * g.H * g.W, gy.dtype)
    plane_start = np.arange(g.planes, dtype=np.int64)[:, None] * (g.H * g.W)
    np.add.at(gx, (plane_start + argmax.reshape(g.planes, -1)).ravel(), gy.ravel())
    return gx


def max_pool2d_kernel(x, g, out=None, argmax=None):
    y = output(x, (g.planes, g.OH, g.OW), out)
    argmax = output(x, y.shape, argmax, dtype=np.int32)
    launch("pooling", "max_pool2d_forward", (x, y, argmax, *g.kernel_args()), n=y.size)
    return y, argmax


def max_pool2d_backward_kernel(gy, argmax, g, out=None):
    gx = output(gy, (g.planes, g.H, g.W), out)
    launch("pooling", "max_pool2d_backward", (gy, argmax, gx, *g.kernel_args()), n=gx.size)
    return gx


class MaxPool2d(Function):
    """y = max over each window; dx gets each gy at the position of its window's maximum."""
    def __init__(self, kernel_size, stride, padding, ceil_mode=False):
        self.args = kernel_size, stride, padding
        self.ceil_mode = ceil_mode

    def forward(self, x):
        g = self.g = pool_geometry(x, *self.args, "max_pool2d", self.ceil_mode)
        self.x_shape = x.shape
        if kernel_backend(x) == "numpy":
            y, self.argmax = max_pool2d_numpy(x, g)
        else:
            y, self.argmax = max_pool2d_kernel(x, g)
        return y.reshape(*x.shape[:2], g.OH, g.OW)

    def backward(self, gy):
        if kernel_backend(gy) == "numpy":
            gx = max_pool2d_backward_numpy(gy, self.argmax, self.g)
        else:
            gx = max_pool2d_backward_kernel(gy, self.argmax, self.g)
        return gx.reshape(self.x_shape)


# --- average pooling -------------------------------------------------------------------------

def avg_pool2d_numpy(x, g):
    """y = the window sum / (KH·KW), the zero padding counted (count_include_pad=True)."""
    padded = np.zeros(g.padded_shape, x.dtype)
    padded[:, g.PH:g.PH + g.H, g.PW:g.PW + g.W] = x.reshape(g.planes, g.H, g.W)
    total = np.zeros((g.planes, g.OH, g.OW), x.dtype)
    for i in range(g.KH):
        for j in range(g.KW):
            total += window(padded, i, j, g)
    return total / x.dtype.type(g.KH * g.KW)


def avg_pool2d_backward_numpy(gy, g):
    """Each window spreads gy / (KH·KW) evenly over its pixels (padding's share is dropped)."""
    share = gy.reshape(g.planes, g.OH, g.OW) / gy.dtype.type(g.KH * g.KW)
    padded = np.zeros(g.padded_shape, gy.dtype)
    for i in range(g.KH):
        for j in range(g.KW):
            view = window(padded, i, j, g)
            view += share
    return np.ascontiguousarray(padded[:, g.PH:g.PH + g.H, g.PW:g.PW + g.W])


def avg_pool2d_kernel(x, g, out=None):
    y = output(x, (g.planes, g.OH, g.OW), out)
    launch("pooling", "avg_pool2d_forward", (x, y, *g.kernel_args()), n=y.size)
    return y


def avg_pool2d_backward_kernel(gy, g, out=None):
    gx = output(gy, (g.planes, g.H, g.W), out)
    launch("pooling", "avg_pool2d_backward", (gy, gx, *g.kernel_args()), n=gx.size)
    return gx


class AvgPool2d(Function):
    """y = mean over each window (padding counted as zeros); dx = Σ_windows gy / (kh·kw)."""
    def __init__(self, kernel_size, stride, padding):
        self.args = kernel_size, stride, padding

    def forward(self, x):
        g = self.g = pool_geometry(x, *self.args, "avg_pool2d")
        self.x_shape = x.shape
        y = avg_pool2d_numpy(x, g) if kernel_backend(x) == "numpy" else avg_pool2d_kernel(x, g)
        return y.reshape(*x.shape[:2], g.OH, g.OW)

    def backward(self, gy):
        if kernel_backend(gy) == "numpy":
            gx = avg_pool2d_backward_numpy(gy, self.g)
        else:
            gx = avg_pool2d_backward_kernel(gy, self.g)
        return gx.reshape(self.x_shape)


# --- global average pooling ------------------------------------------------------------------

def gap_threads(hw):
    """Threads per block for the per-plane reduction: a power of two from 32 to 256, no more
    than the plane needs (a 7 × 7 plane gets 64 threads, not 256 mostly idle ones)."""
    return int(min(256, max(32, 1 << (hw - 1).bit_length())))


def global_avg_pool_kernel(x, out=None):
    """y[plane] = mean of the plane: one block per plane, a shared-memory tree reduction."""
    n, c, h, w = x.shape
    y = output(x, (n, c), out)
    threads = gap_threads(h * w)
    launch("pooling", "global_avg_pool_forward", (x, y, np.int32(h * w)), grid=(n * c,),
           block=threads, shared_mem=threads * x.dtype.itemsize)
    return y


def global_avg_pool_backward_kernel(gy, x_shape, out=None):
    gx = output(gy, x_shape, out)
    hw = x_shape[2] * x_shape[3]
    launch("pooling", "global_avg_pool_backward", (gy, gx, np.int32(hw), np.int32(gx.size)),
           n=gx.size)
    return gx


class GlobalAvgPool2d(Function):
    """y[n, c] = mean over (h, w) of x[n, c];  dx[n, c, h, w] = gy[n, c] / (H·W)."""
    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"global_avg_pool2d expects x of shape (N, C, H, W), got {x.shape}")
        self.x_shape = x.shape
        if kernel_backend(x) == "numpy":
            return x.mean(axis=(2, 3))
        return global_avg_pool_kernel(x)

    def backward(self, gy):
        if kernel_backend(gy) != "numpy":
            return global_avg_pool_backward_kernel(gy, self.x_shape)
        gx = np.empty(self.x_shape, gy.dtype)
        gx[...] = gy[:, :, None, None] / gy.dtype.type(self.x_shape[2] * self.x_shape[3])
        return gx


def max_pool2d(x: Tensor, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None, padding: int | tuple[int, int] = 0,
               ceil_mode: bool = False) -> Tensor:
    """torch.nn.functional.max_pool2d: the maximum of each kh × kw window (padding is −∞);
    stride defaults to kernel_size. int or (h, w) pair arguments. ``ceil_mode=True`` keeps a
    last window that runs past the bottom or right edge (its outside taps are −∞ too)."""
    return MaxPool2d(kernel_size, stride, padding, ceil_mode)(x)


def avg_pool2d(x: Tensor, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0) -> Tensor:
    """torch.nn.functional.avg_pool2d with count_include_pad=True: the mean of each window,
    zero padding counted; stride defaults to kernel_size."""
    return AvgPool2d(kernel_size, stride, padding)(x)


def global_avg_pool2d(x: Tensor) -> Tensor:
    """The mean of each (n, c) plane: (N, C, H, W) -> (N, C)."""
    return GlobalAvgPool2d()(x)


def adaptive_avg_pool2d(x: Tensor,
                        output_size: int | tuple[int | None, int | None]) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool2d for output sizes that divide the input's
    (1 is the global average): the mean of (H/oh) × (W/ow) tiles, (N, C, H, W) -> (N, C, oh, ow).
    """
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    h, w = x.shape[2:]
    oh, ow = oh or h, ow or w  # None keeps that axis, as in PyTorch
    if (oh, ow) == (1, 1):
        return global_avg_pool2d(x).reshape(x.shape[0], x.shape[1], 1, 1)
    if h % oh or w % ow:
        raise ValueError(f"adaptive_avg_pool2d: output size {(oh, ow)} must divide the input's "
                         f"{(h, w)} here (PyTorch's overlapping tiles for other sizes are not "
                         "implemented); use avg_pool2d with your own kernel and stride")
    return avg_pool2d(x, (h // oh, w // ow))
