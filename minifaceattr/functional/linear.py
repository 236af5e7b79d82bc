"""Fully connected layer and dropout."""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import device_of, to_device
from ..random import get_rng


class Linear(Function):
    """y = x Wᵀ + b for x of shape (..., in), W (out, in), b (out,).

    dx = gy W,  dW = Σ_rows gyᵀ x,  db = Σ_rows gy  (rows: every leading index of x).
    """
    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = x @ w.T
        return y if b is None else y + b

    def backward(self, gy):
        gx = gy @ self.w if self.needs_input_grad[0] else None
        gy2 = gy.reshape(-1, gy.shape[-1])
        gw = gy2.T @ self.x.reshape(-1, self.x.shape[-1]) if self.needs_input_grad[1] else None
        gb = gy2.sum(axis=0) if len(self.needs_input_grad) > 2 else None
        return gx, gw, gb


class Dropout(Function):
    """Training: y = x · mask / (1 - p), each mask element 1 with probability 1 - p;
    dx = gy · mask / (1 - p). The scaling keeps E[y] = x, so evaluation is the identity."""
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        keep = (get_rng().random(x.shape) >= self.p).astype(x.dtype)
        self.scale = to_device(keep, device_of(x)) / x.dtype.type(1 - self.p)
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """torch.nn.functional.linear: x @ weight.T + bias."""
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p in training (scaling the rest); identity otherwise."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Dropout(p)(x)
