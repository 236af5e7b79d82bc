"""Models: ResNet backbones (``resnet18``, ``resnet34``); MGG-Net and HMTNet build on them."""
from .resnet import STAGES, BasicBlock, ResNet, resnet18, resnet34

__all__ = ["ResNet", "BasicBlock", "STAGES", "resnet18", "resnet34"]
