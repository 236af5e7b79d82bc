"""Neural-network building blocks: ``Module``, ``Parameter``, layers and initialisers.

    from minifaceattr import nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.state_dict()          # {"0.weight": ..., "0.bias": ..., "2.weight": ..., ...}
"""
from . import init
from .containers import ModuleList, Sequential
from .layers import Conv2d, Dropout, Flatten, Identity, Linear, ReLU
from .module import IncompatibleKeys, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d

__all__ = ["Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "Linear",
           "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "Dropout", "Identity", "Flatten",
           "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "GlobalAvgPool2d", "init"]
