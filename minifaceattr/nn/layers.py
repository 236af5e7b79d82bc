"""Layers with weights (``Linear``, ``Conv2d``) and the small stateless ones (``ReLU``,
``Sigmoid``, ``Tanh``, ``Dropout``, ``Identity``, ``Flatten``). Each forward is one call into
``functional``.

Weights start as float32 (``model.double()`` for gradient checks) and are initialised as
PyTorch does by default: U(-1/√fan_in, 1/√fan_in) for both weight and bias.
"""
import math

import numpy as np

from .. import functional as F
from . import init
from .module import Module, Parameter


def _pair(v):
    """2 -> (2, 2); (2, 3) stays (2, 3)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def _empty(*shape):
    return Parameter(np.empty(shape, dtype=np.float32))


def _default_init(weight, bias):
    """PyTorch's default for Linear and Conv2d: kaiming_uniform_(a=√5) for the weight,
    which is U(-1/√fan_in, 1/√fan_in), and the same bound for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x Wᵀ + b, with W of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        self.bias = _empty(out_features) if bias else None
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework) of an (N, C, H, W) input
    with a weight of shape (out_channels, in_channels, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.dilation = _pair(dilation)
        self.padding = _conv_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.weight = _empty(out_channels, in_channels, *self.kernel_size)
        self.bias = _empty(out_channels) if bias else None
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        return s + ("" if self.bias is not None else ", bias=False")


def _conv_padding(padding, kernel_size, stride, dilation):
    """PyTorch's ``padding="valid"`` (none) and ``"same"`` (output size = input size, for
    stride 1 and an odd dilated kernel) as numbers; ints and pairs pass through."""
    if not isinstance(padding, str):
        return _pair(padding)
    if padding == "valid":
        return (0, 0)
    spans = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    if padding != "same":
        raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    if stride != (1, 1) or any(span % 2 for span in spans):
        raise ValueError(f"Conv2d: padding='same' needs stride 1 and an odd kernel here (got "
                         f"stride={stride}, kernel_size={kernel_size}, dilation={dilation}); "
                         "even kernels would need uneven padding: pass padding as numbers")
    return tuple(span // 2 for span in spans)


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted for PyTorch compatibility; it changes nothing here."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(−x))."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return F.tanh(x)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p);
    in evaluation, the identity."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """Returns its input: a placeholder, e.g. to remove a model's head
    (``model.fc = Identity()``)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge the axes from ``start_dim`` on: (N, C, H, W) -> (N, C·H·W)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"
