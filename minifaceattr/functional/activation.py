"""Activations: relu, sigmoid, tanh, softmax, log_softmax.

Element-wise ones have a CUDA kernel in ``kernels/activation.cu``; the NumPy line and the
kernel call stand side by side in each forward and backward.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module, kernel_backend
from ..kernels import elementwise


class ReLU(Function):
    """y = max(x, 0);  dx = gy · [x > 0]."""
    def forward(self, x):
        self.x = x
        if kernel_backend(x) != "numpy":
            return elementwise("activation", "relu_forward", x)
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        if kernel_backend(gy) != "numpy":
            return elementwise("activation", "relu_backward", self.x, gy)
        return gy * (self.x > 0)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dx = gy · y (1 - y).

    The NumPy path computes y as exp(-log(1 + e^-x)) with a stable ``logaddexp`` (no
    overflow for large |x|, full relative precision in the tails)."""
    def forward(self, x):
        if kernel_backend(x) != "numpy":
            self.y = elementwise("activation", "sigmoid_forward", x)
        else:
            xp = get_array_module(x)
            self.y = xp.exp(-xp.logaddexp(0, -x))
        return self.y

    def backward(self, gy):
        if kernel_backend(gy) != "numpy":
            return elementwise("activation", "sigmoid_backward", self.y, gy)
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    """y = tanh x;  dx = gy · (1 - y²)."""
    def forward(self, x):
        if kernel_backend(x) != "numpy":
            self.y = elementwise("activation", "tanh_forward", x)
        else:
            self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        if kernel_backend(gy) != "numpy":
            return elementwise("activation", "tanh_backward", self.y, gy)
        return gy * (1 - self.y * self.y)


class Softmax(Function):
    """y_i = e^(x_i - m) / Σ_j e^(x_j - m) along ``axis`` (m = max x, so e^ never overflows);
    dx = y · (gy - Σ_j gy_j y_j)."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy):
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - m - log Σ_j e^(x_j - m) along ``axis``;  dx = gy - softmax(x) · Σ_j gy_j."""
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


def relu(x: Tensor) -> Tensor: return ReLU()(x)
def sigmoid(x: Tensor) -> Tensor: return Sigmoid()(x)
def tanh(x: Tensor) -> Tensor: return Tanh()(x)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    return Softmax(axis if dim is None else dim)(x)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    return LogSoftmax(axis if dim is None else dim)(x)
