"""Neural-network building blocks: ``Module``, ``Parameter``, layers and initialisers.

    from minifaceattr import nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.state_dict()          # {"0.weight": ..., "0.bias": ..., "2.weight": ..., ...}
"""
import sys

from .. import functional
from . import init
from .containers import ModuleDict, ModuleList, ParameterList, Sequential
from .layers import Conv2d, Dropout, Flatten, Identity, Linear, ReLU, Sigmoid, Tanh
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, SmoothL1Loss
from .module import IncompatibleKeys, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d

sys.modules[__name__ + ".functional"] = functional  # import minifaceattr.nn.functional as F

__all__ = ["Module", "Parameter", "IncompatibleKeys", "Sequential", "ModuleList", "ModuleDict",
           "ParameterList", "Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "Sigmoid",
           "Tanh", "Dropout", "Identity", "Flatten", "MaxPool2d", "AvgPool2d",
           "AdaptiveAvgPool2d", "GlobalAvgPool2d", "BCEWithLogitsLoss", "CrossEntropyLoss",
           "MSELoss", "L1Loss", "SmoothL1Loss", "init", "functional"]
