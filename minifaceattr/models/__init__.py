"""Models: ResNet backbones (``resnet18``, ``resnet34``); MGG-Net and HMTNet build on them."""
from .resnet import STAGES, BasicBlock, ResNet, resnet18, resnet34
from .mggnet import VARIANTS, MGGNet, mggnet, mggnet_loss, positive_weights
from .hmtnet import HMTNET_224, HMTNET_SMALL, HMTNet, HMTNetConfig, hmtnet, single_task_net

__all__ = ["ResNet", "BasicBlock", "STAGES", "resnet18", "resnet34",
           "MGGNet", "mggnet", "mggnet_loss", "positive_weights", "VARIANTS",
           "HMTNet", "HMTNetConfig", "HMTNET_224", "HMTNET_SMALL", "hmtnet", "single_task_net"]
