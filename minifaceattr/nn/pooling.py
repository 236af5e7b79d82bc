"""Pooling layers: each forward is one call into ``functional.pooling``."""
from .. import functional as F
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride  # PyTorch's default
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The largest value in each kernel_size window, stepping by stride (default: kernel_size);
    ``ceil_mode=True`` keeps a last window that runs past the edge, as in PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return super().extra_repr() + (", ceil_mode=True" if self.ceil_mode else "")


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window, stepping by stride (default: kernel_size)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size that divides the input's (1 = the global
    average ResNet uses before its classifier): see ``F.adaptive_avg_pool2d``."""

    def __init__(self, output_size=(1, 1)):
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) \
            else tuple(output_size)

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class GlobalAvgPool2d(Module):
    """The mean over H and W: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return F.global_avg_pool2d(x)
