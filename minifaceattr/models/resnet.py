"""ResNet18 and ResNet34 (He et al., 2016), built as torchvision builds them.

Same modules, same names, same shapes, so weights move both ways with torchvision:
``conv1.weight``, ``bn1.running_var``, ``layer2.0.downsample.0.weight``, ``fc.bias``...

    (N, 3, 224, 224) → conv1 7×7/2 → bn1 → relu → maxpool 3×3/2   "stem"    (N,  64, 56, 56)
                     → layer1 (64 channels)                         "layer1"  (N,  64, 56, 56)
                     → layer2 (128, first block stride 2)           "layer2"  (N, 128, 28, 28)
                     → layer3 (256, first block stride 2)           "layer3"  (N, 256, 14, 14)
                     → layer4 (512, first block stride 2)           "layer4"  (N, 512,  7,  7)
                     → avgpool → flatten → fc                       logits    (N, num_classes)

MGG-Net needs the stage outputs, not only the logits::

    feats = model.forward_features(x, return_stages=("layer2", "layer3", "layer4"))
    feats["layer2"].shape     # (N, 128, 28, 28) at 224×224 input

Pretrained weights: ``resnet18(num_classes=40, weights="resnet18-f37072fd.pth")`` reads
torchvision's ImageNet file (no PyTorch needed) or a ``.npz`` of this project, and keeps
a new classifier when the number of classes differs.
"""
import numbers

from .. import functional as F
from .. import nn
from ..serialization import load_pretrained

# The public names (lessons and users import these; the rest may move).
__all__ = ["ResNet", "BasicBlock", "resnet18", "resnet34", "conv3x3", "conv1x1", "STAGES"]

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")


def conv3x3(in_channels, out_channels, stride=1):
    """3×3 convolution with padding 1 and no bias (the batch norm after it has one)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    """1×1 convolution: changes the channel count (and, with stride 2, halves H and W)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: y = relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x)),
    where the shortcut s is the identity, or a strided 1×1 conv + batch norm
    (``downsample``) when the block changes the shape."""

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks; ``blocks`` gives the number per stage ((2, 2, 2, 2) for 18
    layers). ``width`` is the first stage's channel count (64 in the paper; small values
    make tiny networks for tests). ``zero_init_residual`` starts every block's last batch
    norm at 0, so each block starts as the identity (torchvision's option)."""

    stage_strides = {"stem": 4, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}

    def __init__(self, blocks, num_classes=1000, width=64, zero_init_residual=False):
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"ResNet width must be a whole number >= 1 (64 in the paper), got "
                             f"{width!r}")
        self.blocks, self.width = tuple(blocks), width
        self.in_channels = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_stage(width, blocks[0])
        self.layer2 = self._make_stage(width * 2, blocks[1], stride=2)
        self.layer3 = self._make_stage(width * 4, blocks[2], stride=2)
        self.layer4 = self._make_stage(width * 8, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * BasicBlock.expansion, num_classes)
        self._initialise(zero_init_residual)

    def _make_stage(self, channels, n_blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != channels * BasicBlock.expansion:
            out_channels = channels * BasicBlock.expansion
            downsample = nn.Sequential(conv1x1(self.in_channels, out_channels, stride),
                                       nn.BatchNorm2d(out_channels))
        layers = [BasicBlock(self.in_channels, channels, stride, downsample)]
        self.in_channels = channels * BasicBlock.expansion
        layers += [BasicBlock(self.in_channels, channels) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def _initialise(self, zero_init_residual):
        """torchvision's initialisation: He normal (fan out) for every conv, batch norm
        weight 1 and bias 0; the classifier keeps Linear's default."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    @property
    def arch(self):
        """The architecture's name, e.g. "resnet18" (checked when loading a checkpoint)."""
        depth = 2 * sum(self.blocks) + 2
        return f"resnet{depth}" + ("" if self.width == 64 else f"-width{self.width}")

    def forward_features(self, x, return_stages=("layer4",)):
        """``{stage: output}`` for the stages named in ``return_stages`` (any of "stem",
        "layer1" ... "layer4", see ``STAGES``), in the order asked. Stops after the
        deepest one asked for; the pooled head (avgpool, fc) is not run."""
        unknown = [s for s in return_stages if s not in STAGES]
        if unknown or not return_stages:
            raise ValueError(f"return_stages must name some of {STAGES}, "
                             f"got {tuple(return_stages)}")
        last = max(STAGES.index(s) for s in return_stages)
        outputs = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs["stem"] = x
        for name in STAGES[1:last + 1]:
            x = getattr(self, name)(x)
            outputs[name] = x
        return {s: outputs[s] for s in return_stages}

    def forward(self, x):
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        x = self.forward_features(x, ("layer4",))["layer4"]
        return self.fc(F.flatten(self.avgpool(x), 1))


def _resnet(blocks, num_classes, weights, **kwargs):
    model = ResNet(blocks, num_classes=num_classes, **kwargs)
    if weights is not None:
        load_pretrained(model, weights)
    return model


def resnet18(num_classes=1000, weights=None, **kwargs):
    """ResNet18: BasicBlocks (2, 2, 2, 2); 11,689,512 parameters with 1000 classes.
    ``weights``: path to a ``.pth`` (torchvision) or ``.npz`` file, or None (random init).
    Other keyword arguments go to ``ResNet`` (``width``, ``zero_init_residual``)."""
    return _resnet((2, 2, 2, 2), num_classes, weights, **kwargs)


def resnet34(num_classes=1000, weights=None, **kwargs):
    """ResNet34: BasicBlocks (3, 4, 6, 3); 21,797,672 parameters with 1000 classes."""
    return _resnet((3, 4, 6, 3), num_classes, weights, **kwargs)
