"""2-D convolution as im2col → one GEMM → reshape.

A convolution output is a dot product between a kernel and one window of the input:

    y[n, o, oh, ow] = b[o] + Σ_{c,i,j} W[o, c, i, j] · x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]

(x is zero outside its H × W). ``im2col`` copies every window into one column of a matrix,
so that all the dot products become a single matrix product:

    cols[(c, i, j), (n, oh, ow)] = x[n, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
    y2 = W2 @ cols          W2 = W.reshape(C_out, C·kh·kw),  y2: (C_out, N·OH·OW)
    y  = y2 as (N, C_out, OH, OW) + b

The columns of all N images sit side by side, so the GEMM is one large product that BLAS (or
cuBLAS) runs at full speed. Its result is channel-major, (C_out, N, OH, OW); one transpose
gives NCHW. The backward pass is three more matrix products and the adjoint of im2col:

    gy2 = gy as (C_out, N·OH·OW)
    dW  = gy2 @ colsᵀ                 db = Σ_columns gy2
    dx  = col2im(W2ᵀ @ gy2)           col2im adds each column back where im2col took it from

Each data-movement step has a NumPy twin (``*_numpy``) and a CUDA kernel in
``kernels/conv.cu`` (``*_kernel``, run on the GPU or by the CPU emulator); the GEMMs are
``@`` in both cases: NumPy's BLAS, or cuBLAS through CuPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Function, Tensor
from ..backend import get_array_module, kernel_backend
from ..kernels import launch, output
from . import conv_fast

# The public names (lessons and users import these; the rest may move).
__all__ = ["conv2d", "Conv2d", "ConvGeometry", "output_size", "im2col_numpy", "col2im_numpy",
           "im2col_kernel", "col2im_kernel", "im2col", "col2im"]


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``3`` -> (3, 3); ``(3, 2)`` -> (3, 2): one value per spatial axis (height, width)."""
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(values[0]), int(values[1])


def output_size(size, kernel, stride, padding, dilation=1):
    """How many windows fit along one axis: ⌊(size + 2·padding − dilation·(kernel − 1) − 1)
    / stride⌋ + 1, as in PyTorch."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class ConvGeometry:
    """Every size of one convolution, named as in ``kernels/conv.cu``."""
    N: int   # batch
    C: int   # input channels
    H: int   # input height and width
    W: int
    KH: int  # kernel height and width
    KW: int
    SH: int  # stride
    SW: int
    PH: int  # zero padding on each side
    PW: int
    DH: int  # dilation: the distance between kernel taps
    DW: int

    OH = property(lambda g: output_size(g.H, g.KH, g.SH, g.PH, g.DH))
    OW = property(lambda g: output_size(g.W, g.KW, g.SW, g.PW, g.DW))
    cols_shape = property(lambda g: (g.C * g.KH * g.KW, g.N * g.OH * g.OW))
    padded_shape = property(lambda g: (g.C, g.N, g.H + 2 * g.PH, g.W + 2 * g.PW))

    def kernel_args(self):
        """N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW as the kernels' ``int``s."""
        sizes = (*(getattr(self, f) for f in self.__dataclass_fields__), self.OH, self.OW)
        return tuple(np.int32(s) for s in sizes)


def window(padded, i, j, g):
    """The view of ``padded`` (..., H + 2·PH, W + 2·PW) that kernel tap (i, j) reads:
    window[..., oh, ow] = padded[..., oh·SH + i·DH, ow·SW + j·DW]."""
    top, left = i * g.DH, j * g.DW
    return padded[..., top:top + g.SH * (g.OH - 1) + 1:g.SH,
                  left:left + g.SW * (g.OW - 1) + 1:g.SW]


# --- NumPy twins -----------------------------------------------------------------------------
# Inside the convolution the image is kept channel-major, (C, N, H, W): the rows of cols are
# channels, so every copy below moves whole rows of pixels in their natural order.
# These are the reference; conv_fast.py holds faster versions, tested against them, that
# conv2d runs by default (conv_fast.reference_conv() switches back to these).

def im2col_numpy(x, g):
    """cols[(c, i, j), (n, oh, ow)] = x[n, c, oh·SH − PH + i·DH, ow·SW − PW + j·DW], 0 outside.

    One copy per kernel tap (i, j): KH·KW vectorised copies, none per pixel."""
    padded = np.zeros(g.padded_shape, x.dtype)
    padded[:, :, g.PH:g.PH + g.H, g.PW:g.PW + g.W] = x.transpose(1, 0, 2, 3)
    cols = np.empty((g.C, g.KH, g.KW, g.N, g.OH, g.OW), x.dtype)
    for i in range(g.KH):
        for j in range(g.KW):
            cols[:, i, j] = window(padded, i, j, g)
    return cols.reshape(g.cols_shape)


def col2im_numpy(cols, g):
    """The adjoint of im2col: add every column element back to the pixel it was copied from.

    Windows overlap (a pixel feeds up to KH·KW columns), hence ``+=`` and not ``=``."""
    padded = np.zeros(g.padded_shape, cols.dtype)
    cols = cols.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    for i in range(g.KH):
        for j in range(g.KW):
            view = window(padded, i, j, g)
            view += cols[:, i, j]
    inside = padded[:, :, g.PH:g.PH + g.H, g.PW:g.PW + g.W]
    return np.ascontiguousarray(inside.transpose(1, 0, 2, 3))


def channel_major_to_nchw_numpy(y2, bias, g):
    """y[n, o, oh, ow] = y2[o, (n, oh, ow)] + bias[o]."""
    y = np.ascontiguousarray(y2.reshape(-1, g.N, g.OH, g.OW).transpose(1, 0, 2, 3))
    if bias is not None:
        y += bias.reshape(-1, 1, 1)
    return y


def nchw_to_channel_major_numpy(gy, g):
    """gy2[o, (n, oh, ow)] = gy[n, o, oh, ow]."""
    return np.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(gy.shape[1], -1)


# --- CUDA kernels (kernels/conv.cu), on the GPU or through the emulator ----------------------
# Each takes an optional preallocated ``out``, which the kernel must fill completely; the
# loader's ``launch`` makes the inputs contiguous and guards the int indices.

def im2col_kernel(x, g, out=None):
    cols = output(x, g.cols_shape, out)
    launch("conv", "im2col", (x, cols, *g.kernel_args()), n=cols.size)
    return cols


def col2im_kernel(cols, g, out=None):
    x_grad = output(cols, (g.N, g.C, g.H, g.W), out)
    launch("conv", "col2im", (cols, x_grad, *g.kernel_args()), n=x_grad.size)
    return x_grad


def channel_major_to_nchw_kernel(y2, bias, g, out=None):
    c_out = y2.shape[0]
    y = output(y2, (g.N, c_out, g.OH, g.OW), out)
    bias = get_array_module(y2).zeros(c_out, y2.dtype) if bias is None else bias
    sizes = (np.int32(g.N), np.int32(c_out), np.int32(g.OH * g.OW))
    launch("conv", "channel_major_to_nchw", (y2, bias, y, *sizes), n=y.size)
    return y


def nchw_to_channel_major_kernel(gy, g, out=None):
    c_out = gy.shape[1]
    gy2 = output(gy, (c_out, g.N * g.OH * g.OW), out)
    sizes = (np.int32(g.N), np.int32(c_out), np.int32(g.OH * g.OW))
    launch("conv", "nchw_to_channel_major", (gy, gy2, *sizes), n=gy2.size)
    return gy2


# --- each step: the NumPy twin or the kernel, as the backend says ----------------------------

def im2col(x, g):
    """The kernel, or on NumPy the version ``conv_fast.IM2COL_VERSION`` names (0: the twin)."""
    if kernel_backend(x) != "numpy":
        return im2col_kernel(x, g)
    cols = conv_fast.fast_im2col(x, g)
    return im2col_numpy(x, g) if cols is None else cols


def col2im(cols, g):
    """The kernel, or on NumPy the version ``conv_fast.COL2IM_VERSION`` names (0: the twin)."""
    if kernel_backend(cols) != "numpy":
        return col2im_kernel(cols, g)
    gx = conv_fast.fast_col2im(cols, g)
    return col2im_numpy(cols, g) if gx is None else gx


def channel_major_to_nchw(y2, bias, g):
    if kernel_backend(y2) == "numpy":
        return channel_major_to_nchw_numpy(y2, bias, g)
    return channel_major_to_nchw_kernel(y2, bias, g)


def nchw_to_channel_major(gy, g):
    if kernel_backend(gy) == "numpy":
        return nchw_to_channel_major_numpy(gy, g)
    return nchw_to_channel_major_kernel(gy, g)


class Conv2d(Function):
    """y = W2 @ im2col(x) + b, reshaped to NCHW (see the module docstring);
    dW = gy2 @ colsᵀ,  db = Σ gy2,  dx = col2im(W2ᵀ @ gy2).

    The columns are kept for dW (memory: C·kh·kw·N·OH·OW elements per layer), when the
    weight needs a gradient.
    """
    def __init__(self, stride, padding, dilation):
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, w, b=None):
        check_conv_inputs(x, w, b)
        g = ConvGeometry(*x.shape, *w.shape[2:], *self.stride, *self.padding, *self.dilation)
        if g.OH < 1 or g.OW < 1:
            raise ValueError(f"conv2d: input {x.shape} with kernel {w.shape[2:]}, padding "
                             f"{self.padding} and dilation {self.dilation} leaves no output pixel")
        self.g, self.w2 = g, w.reshape(w.shape[0], -1)
        cols = im2col(x, g)
        if self.needs_input_grad[1]:
            self.cols = cols
        y2 = conv_fast.matmul(self.w2, cols, "y2")  # the GEMM: BLAS, or cuBLAS on the GPU
        return channel_major_to_nchw(y2, b, g)

    def backward(self, gy):
        g, need = self.g, self.needs_input_grad
        gy2 = nchw_to_channel_major(gy, g)
        # dW = gy2 @ colsᵀ, computed as (cols @ gy2ᵀ)ᵀ: the same numbers, but OpenBLAS
        # splits this orientation's work between threads far better when C_out·C·kh·kw is
        # small next to N·OH·OW (conv1: up to 10× faster on a busy 2-core machine).
        gw = (self.cols @ gy2.T).T.reshape(-1, g.C, g.KH, g.KW) if need[1] else None
        gb = gy2.sum(axis=1) if len(need) > 2 and need[2] else None
        gx = col2im(conv_fast.matmul(self.w2.T, gy2, "dcols"), g) if need[0] else None
        return gx, gw, gb


def check_conv_inputs(x, w, b):
    """Clear errors for the mistakes the matrix shapes would only report obscurely."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d expects x (N, C, H, W) and weight (C_out, C_in, kh, kw), "
                         f"got {x.shape} and {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x has {x.shape[1]} channels but weight {w.shape} expects "
                         f"{w.shape[1]}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w.shape[0]},), got {b.shape}")
    dtypes = {a.dtype for a in (x, w, b) if a is not None}
    if len(dtypes) > 1:
        raise TypeError(f"conv2d: x, weight and bias must share one dtype, got "
                        f"{sorted(str(d) for d in dtypes)}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
           dilation: int | tuple[int, int] = 1) -> Tensor:
    """torch.nn.functional.conv2d (without groups): x (N, C_in, H, W), weight
    (C_out, C_in, kh, kw), bias (C_out,) or None -> (N, C_out, OH, OW).

    stride, padding (zeros on each side) and dilation are an int or an (h, w) pair.
    """
    strides, pads, dilations = (pair(stride, "stride"), pair(padding, "padding"),
                                pair(dilation, "dilation"))
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise ValueError(f"conv2d: stride and dilation must be >= 1 and padding >= 0, got "
                         f"stride={strides}, padding={pads}, dilation={dilations}")
    fn = Conv2d(strides, pads, dilations)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
