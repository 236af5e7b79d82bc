"""Backbones for MGG-Net: a network cut into named stages whose outputs GAL and GCL read.

``build_backbone(name)`` returns ``(backbone, channels)``: a Module with
``forward_features(x, stages) -> {stage: map}``, ``last_stage`` (the stage the base
prediction pools) and ``default_blocks`` (the two stages that carry GAL and GCL, with 28×28
and 14×14 maps at 224×224 input), and ``channels`` {stage: number of channels}.
"""
from .resnet import resnet18, resnet34
from .vgg import alexnet, vgg16

RESNETS = {"resnet18": resnet18, "resnet34": resnet34}
BACKBONES = ("resnet18", "resnet34", "vgg16", "alexnet")


def build_backbone(name, weights=None, width=64):
    """The backbone ``name`` (one of BACKBONES), its classifier head removed.

    ``weights``: a torchvision ``.pth`` or this project's ``.npz`` for the full network
    (ImageNet weights, as the paper starts from); ``width`` shrinks a ResNet for CPU work.
    """
    if name in RESNETS:
        model = RESNETS[name](num_classes=1000, weights=weights, width=width)
        del model.fc, model.avgpool  # MGG-Net has its own heads
        model.last_stage, model.default_blocks = "layer4", ("layer2", "layer3")
        channels = {f"layer{k + 1}": width * 2 ** k for k in range(4)}
        return model, channels
    if name in ("vgg16", "alexnet"):
        build = vgg16 if name == "vgg16" else alexnet  # (width applies to ResNets only)
        model = build(weights=weights, classifier=weights is not None)
        model.classifier = None  # MGG-Net has its own heads
        return model, dict(model.stage_channels)
    raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
