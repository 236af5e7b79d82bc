"""Element-wise arithmetic and matrix products.

Each backward is the local derivative times the incoming gradient ``gy``. Inputs may have
been broadcast; the engine sums each gradient back to its input's shape (``sum_to``).
"""
from __future__ import annotations

from ..autograd import Function, Operand, Tensor
from ..backend import get_array_module


class Add(Function):
    """y = a + b;  da = gy, db = gy."""
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    """y = a - b;  da = gy, db = -gy."""
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    """y = a * b;  da = gy * b, db = gy * a."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        da = gy * self.b if self.needs_input_grad[0] else None
        db = gy * self.a if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """y = a / b;  da = gy / b, db = -gy * a / b²."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        da = gy / self.b if self.needs_input_grad[0] else None
        db = -gy * self.a / (self.b * self.b) if self.needs_input_grad[1] else None
        return da, db


class Neg(Function):
    """y = -x;  dx = -gy."""
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = x^c for a constant c;  dx = gy * c * x^(c-1)."""
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.x = x
        return x ** self.c

    def backward(self, gy):
        return gy * self.c * self.x ** (self.c - 1)


class Exp(Function):
    """y = e^x;  dx = gy * y."""
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """y = ln x;  dx = gy / x."""
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x


class Sqrt(Function):
    """y = √x;  dx = gy / (2y)."""
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


class Abs(Function):
    """y = |x|;  dx = gy * sign(x) (0 at x = 0, as in PyTorch)."""
    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * get_array_module(gy).sign(self.x)


class MatMul(Function):
    """y = a @ b with NumPy's rules (batched, broadcast batch axes, 1-D vectors).

    For matrices, da = gy @ bᵀ and db = aᵀ @ gy. A 1-D operand is treated as a row (a) or a
    column (b) matrix, as NumPy does, and the added axis is removed again.
    """
    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        xp = get_array_module(gy)
        a = self.a[None, :] if self.a.ndim == 1 else self.a
        b = self.b[:, None] if self.b.ndim == 1 else self.b
        if self.a.ndim == 1 and self.b.ndim == 1:
            gy = gy.reshape(1, 1)
        elif self.a.ndim == 1:
            gy = xp.expand_dims(gy, -2)
        elif self.b.ndim == 1:
            gy = xp.expand_dims(gy, -1)
        da = gy @ xp.swapaxes(b, -1, -2) if self.needs_input_grad[0] else None
        db = xp.swapaxes(a, -1, -2) @ gy if self.needs_input_grad[1] else None
        if da is not None and self.a.ndim == 1:
            da = da.sum(axis=tuple(range(da.ndim - 2))).reshape(self.a.shape)
        if db is not None and self.b.ndim == 1:
            db = db.sum(axis=tuple(range(db.ndim - 2))).reshape(self.b.shape)
        return da, db


# a, b: Tensors, Python numbers or raw arrays (at least one a Tensor, to give the result's kind).
def add(a: Operand, b: Operand) -> Tensor: return Add()(a, b)
def sub(a: Operand, b: Operand) -> Tensor: return Sub()(a, b)
def mul(a: Operand, b: Operand) -> Tensor: return Mul()(a, b)
def div(a: Operand, b: Operand) -> Tensor: return Div()(a, b)
def neg(x: Tensor) -> Tensor: return Neg()(x)
def exp(x: Tensor) -> Tensor: return Exp()(x)
def log(x: Tensor) -> Tensor: return Log()(x)
def sqrt(x: Tensor) -> Tensor: return Sqrt()(x)
def abs(x: Tensor) -> Tensor: return Abs()(x)  # noqa: A001  (the name torch uses)
def matmul(a: Operand, b: Operand) -> Tensor: return MatMul()(a, b)


def pow(x: Tensor, c: float) -> Tensor:  # noqa: A001
    """x ** c for a constant exponent c (a Python number)."""
    if not isinstance(c, (int, float)):
        raise TypeError(f"pow supports a constant (Python number) exponent, got {type(c).__name__}")
    return Pow(c)(x)
