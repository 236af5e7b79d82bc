"""Initialisers, as PyTorch defines them. Each fills a Parameter in place and returns it.

Every draw comes from ``minifaceattr.random.get_rng()``, so ``mfa.manual_seed(0)`` makes
a freshly built model the same every time. Values are drawn in float64 on the CPU, then
cast to the parameter's dtype and moved to its device.

For a weight of shape (out, in, kh, kw): fan_in = in·kh·kw (inputs feeding one output),
fan_out = out·kh·kw (outputs fed by one input).
"""
import math

import numpy as np

from ..backend import device_of, to_device
from ..random import get_rng


def calculate_fan_in_and_fan_out(weight):
    """``(fan_in, fan_out)`` of a weight with shape (out, in, *kernel)."""
    if weight.ndim < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {weight.shape}")
    receptive_field = int(np.prod(weight.shape[2:]))
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through a layer followed by
    ``nonlinearity``: √2 for relu, √(2 / (1 + a²)) for leaky relu with slope a, 1 for linear."""
    if nonlinearity in ("linear", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor, values):
    tensor.data = to_device(np.asarray(values, dtype=tensor.dtype), device_of(tensor.data))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, get_rng().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with draws from N(mean, std²)."""
    return _fill(tensor, get_rng().normal(mean, std, size=tensor.shape))


def constant_(tensor, value):
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def _fan(tensor, mode):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): N(0, std²) with std = gain / √fan. ResNet's convs use
    ``mode="fan_out", nonlinearity="relu"``: std = √(2 / (out·kh·kw))."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound) with bound = gain · √(3 / fan), which has the same variance as
    ``kaiming_normal_``. PyTorch's Linear and Conv2d use a = √5: bound = 1 / √fan_in."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot and Bengio (2010): U(-b, b) with b = gain · √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)
