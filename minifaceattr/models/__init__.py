"""Models: ResNet backbones (``resnet18``, ``resnet34``); MGG-Net and HMTNet build on them."""
from .resnet import STAGES, BasicBlock, ResNet, resnet18, resnet34
from .hmtnet import HMTNET_224, HMTNET_SMALL, HMTNet, HMTNetConfig, hmtnet, single_task_net

__all__ = ["ResNet", "BasicBlock", "STAGES", "resnet18", "resnet34"]
