"""HMTNet (Xu, Fan, Xiang): one fully convolutional network for gender, race and facial
attractiveness, on SCUT-FBP5500.

The layout is the authors' code (a VGG-M trunk with batch norm); at 224×224 input:

    conv1 96 7×7/2 ─ bn ─ relu ─ pool1 3/2                                   109 → 54
    conv2 256 5×5/2 pad 1 ─ bn ─ relu ─ pool2 3/2 (ceil mode)                 26 → 13
    conv3 512 3×3 pad 1 ─ bn ─ relu3 ─ conv4 ─ bn ─ relu4 ─ conv5 ─ bn ─ relu5       13

    gender  = Branch(relu3)
    A1      = aggregate(conv3, relu3, relu5)                     (Eq. 1: mean, Eq. 2: concat)
    race    = Branch(A1)
    score:    A1 ─ pool5 3/2 ─ fc6 (6×6 conv, 4096) ─ bn ─ relu6 ─ fc7 (1×1 conv) ─ bn ─ relu7
              A2 = aggregate(fc6, fc7, relu7) ─ fc8 (1×1 conv → 1) ─ global average

How we read "(conv3 + relu3 + relu5) / 3": ``conv3`` is the conv3 layer's own output, before
its batch norm, as in the authors' forward pass (``(x9 + x11 + x17) / 3``, x9 = conv3(x8)).
Likewise the score head's aggregate takes fc6 and fc7 before their batch norms. The race
branch reads A1 at 13×13, before pool5.

Choices where the code and the paper's Table 1 differ, or are silent:

- A branch is Table 1's list: conv 3×3 → 256, conv 3×3 → 128, max pool 3, conv 1×1/2 → 2,
  global average pool. Batch norm and ReLU follow the first two convolutions; the last conv's
  output is the logits as they are (the authors' code also batch-normalises and ReLUs these
  two channels, which keeps logits ≥ 0; we do not).
- Concatenation (Eq. 2) stacks the same three maps that the mean (Eq. 1) averages, so the
  fused map has 3C channels and the layers that read it (race branch, fc6; fc8) are wider.
  The authors' code leaves only a commented-out concatenation of two other maps.
- The single-task networks are the part of HMTNet that one task uses, trained alone (the
  authors' GNet and RNet put a differently shaped head on the same trunk).
- The batch norm after fc6 has no affine parameters (``affine=False``), as in the authors'
  VGG-M import.
- fc6's kernel covers the whole pool5 map at the configured image size (6×6 at 224), and the
  score map is globally averaged: the net stays fully convolutional, and a larger input gives
  a score map whose mean is the score.

For CPU work, ``HMTNET_SMALL`` keeps the topology at 64×64 px: conv1 and conv2 with stride 1
give the same 13×13 trunk map as 224 px does, with fewer channels everywhere.
"""
from collections import namedtuple
from dataclasses import dataclass

from .. import functional as F
from .. import nn
from ..functional.conv import output_size
from ..functional.pooling import pool_output_size

# The public names (lessons and users import these; the rest may move).
__all__ = ["HMTNet", "hmtnet", "HMTNetConfig", "HMTNET_224", "HMTNET_SMALL", "small_config",
           "single_task_net", "Aggregate", "Branch", "ScoreHead", "AGGREGATORS", "TASKS",
           "MIN_TRUNK_SIZE"]

AGGREGATORS = ("avg", "concat")

HMTOutput = namedtuple("HMTOutput", ["gender", "race", "score"])
TASKS = HMTOutput._fields  # ("gender", "race", "score")
HMTOutput.__doc__ = ("gender logits (N, 2), race logits (N, 2), score (N,); None for a task "
                     "that a single-task network does not have.")


@dataclass(frozen=True)
class HMTNetConfig:
    """Sizes of one HMTNet. ``widths``: channels of conv1, conv2 and conv3–5; ``branch_widths``:
    the two branch convolutions; ``head_width``: fc6 and fc7; ``stem_strides``: conv1, conv2."""
    image_size: int = 224
    widths: tuple = (96, 256, 512)
    branch_widths: tuple = (256, 128)
    head_width: int = 4096
    stem_strides: tuple = (2, 2)

    @property
    def trunk_size(self):
        """Side of the conv3–5 maps (13 at 224 px)."""
        s1, s2 = self.stem_strides
        size = output_size(self.image_size, 7, s1, 0)
        size = pool_output_size(size, 3, 2)                      # pool1
        size = output_size(size, 5, s2, 1)
        return pool_output_size(size, 3, 2, ceil_mode=True)      # pool2

    @property
    def head_kernel(self):
        """fc6's kernel: the side of the pool5 map (6 at 224 px)."""
        return pool_output_size(self.trunk_size, 3, 2)


HMTNET_224 = HMTNetConfig()
MIN_TRUNK_SIZE = 7  # a branch maps 7×7 -> 5×5 -> 3×3 (two 3×3 convs) -> 1×1 (max pool 3)
HMTNET_SMALL = HMTNetConfig(image_size=64, widths=(16, 32, 64), branch_widths=(32, 16),
                            head_width=128, stem_strides=(1, 1))


def small_config(image_size=64):
    """``HMTNET_SMALL``'s widths at another image size, with the stem strides that keep the
    most downsampling while the trunk map stays at least 9×9 (a margin over the branches'
    7×7 minimum, ``MIN_TRUNK_SIZE``):
    (1, 1) at 64 px (a 13×13 map, as at 224), (1, 2) at 96–128 px, (2, 2) at 160 px on."""
    for strides in ((2, 2), (1, 2), (1, 1)):
        config = HMTNetConfig(image_size, HMTNET_SMALL.widths, HMTNET_SMALL.branch_widths,
                              HMTNET_SMALL.head_width, strides)
        if config.trunk_size >= 9:
            return config
    raise ValueError(f"image_size {image_size} is too small for HMTNet: 47 px at least")


class Aggregate(nn.Module):
    """Fuse feature maps of one size: the element-wise mean (Eq. 1, "avg") or the
    depth-wise concatenation (Eq. 2, "concat", channels add up)."""

    def __init__(self, mode="avg"):
        super().__init__()
        if mode not in AGGREGATORS:
            raise ValueError(f"aggregator must be one of {AGGREGATORS}, got {mode!r}")
        self.mode = mode

    def forward(self, *features):
        if self.mode == "concat":
            return F.concat(list(features), axis=1)
        return sum(features[1:], features[0]) / len(features)

    def out_channels(self, channels, count):
        """Channels of the fused map of ``count`` maps of ``channels`` each."""
        return channels * count if self.mode == "concat" else channels

    def extra_repr(self):
        return repr(self.mode)


class ConvBN(nn.Module):
    """A convolution and its batch norm. ``forward`` returns both the convolution's output
    and relu(bn(conv(x))): the aggregations read the former."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, affine=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x):
        z = self.conv(x)
        return z, F.relu(self.bn(z))


class Branch(nn.Module):
    """A classification branch (Table 1): conv 3×3 → c1, bn, relu; conv 3×3 → c2, bn, relu;
    max pool 3; conv 1×1 stride 2 → classes; global average pool → logits (N, classes)."""

    def __init__(self, in_channels, widths=(256, 128), num_classes=2):
        super().__init__()
        self.block1 = ConvBN(in_channels, widths[0], 3)
        self.block2 = ConvBN(widths[0], widths[1], 3)
        self.pool = nn.MaxPool2d(3)
        self.classifier = nn.Conv2d(widths[1], num_classes, 1, stride=2)

    def forward(self, x):
        _, x = self.block1(x)
        _, x = self.block2(x)
        return F.global_avg_pool2d(self.classifier(self.pool(x)))


class ScoreHead(nn.Module):
    """The attractiveness head: pool5, then fc6 / fc7 / fc8 as convolutions, with the second
    aggregation A2 = aggregate(fc6, fc7, relu7) before fc8; the score is the mean of fc8's map."""

    def __init__(self, in_channels, kernel_size, width, aggregator="avg"):
        super().__init__()
        self.fc6 = ConvBN(in_channels, width, kernel_size, affine=False)
        self.fc7 = ConvBN(width, width, 1)
        self.aggregate = Aggregate(aggregator)
        self.fc8 = nn.Conv2d(self.aggregate.out_channels(width, 3), 1, 1)

    def forward(self, x):
        fc6, relu6 = self.fc6(F.max_pool2d(x, 3, 2))
        fc7, relu7 = self.fc7(relu6)
        score_map = self.fc8(self.aggregate(fc6, fc7, relu7))
        return F.global_avg_pool2d(score_map).reshape(-1)


class HMTNet(nn.Module):
    """The hierarchical multi-task network; ``forward(x)`` gives an ``HMTOutput`` (gender
    logits, race logits, score). ``tasks`` picks the heads: a single task builds a standalone
    network with only the part of HMTNet that its task uses (the paper's "without joint
    training" comparison): gender stops after relu3, race and score need the whole trunk."""

    def __init__(self, config=HMTNET_224, aggregator="avg", tasks=TASKS):
        super().__init__()
        unknown = [t for t in tasks if t not in TASKS]
        if unknown or not tasks:
            raise ValueError(f"tasks must be some of {TASKS}, got {tuple(tasks)}")
        sizes = (*config.widths, *config.branch_widths, config.head_width)
        if not all(isinstance(n, int) and n >= 1 for n in sizes):
            raise ValueError(f"HMTNet widths must be whole numbers >= 1, got widths="
                             f"{config.widths}, branch_widths={config.branch_widths}, "
                             f"head_width={config.head_width}")
        if config.trunk_size < MIN_TRUNK_SIZE:
            raise ValueError(f"image_size {config.image_size} with stem strides "
                             f"{config.stem_strides} gives a "
                             f"{config.trunk_size}×{config.trunk_size} trunk map; the branches "
                             f"need at least "
                             f"{MIN_TRUNK_SIZE}×{MIN_TRUNK_SIZE}")
        self.config, self.tasks = config, tuple(t for t in TASKS if t in tasks)
        c1, c2, c3 = config.widths
        s1, s2 = config.stem_strides
        self.conv1 = ConvBN(3, c1, 7, stride=s1)
        self.conv2 = ConvBN(c1, c2, 5, stride=s2, padding=1)
        self.conv3 = ConvBN(c2, c3, 3, padding=1)
        if "gender" in self.tasks:
            self.gender_branch = Branch(c3, config.branch_widths)
        if self.needs_deep_trunk:
            self.conv4 = ConvBN(c3, c3, 3, padding=1)
            self.conv5 = ConvBN(c3, c3, 3, padding=1)
            self.aggregate = Aggregate(aggregator)
            fused = self.aggregate.out_channels(c3, 3)
        if "race" in self.tasks:
            self.race_branch = Branch(fused, config.branch_widths)
        if "score" in self.tasks:
            self.score_head = ScoreHead(fused, config.head_kernel, config.head_width, aggregator)

    @property
    def needs_deep_trunk(self):
        return "race" in self.tasks or "score" in self.tasks

    def features(self, x):
        """The trunk's maps that the heads read: {"conv3", "relu3"} and, when a task needs
        them, {"relu5", "fused"} (A1, the first aggregation)."""
        _, x = self.conv1(x)
        x = F.max_pool2d(x, 3, 2)
        _, x = self.conv2(x)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        conv3, relu3 = self.conv3(x)
        maps = {"conv3": conv3, "relu3": relu3}
        if self.needs_deep_trunk:
            _, relu4 = self.conv4(relu3)
            _, relu5 = self.conv5(relu4)
            maps["relu5"] = relu5
            maps["fused"] = self.aggregate(conv3, relu3, relu5)
        return maps

    def forward(self, x):
        maps = self.features(x)
        gender = self.gender_branch(maps["relu3"]) if "gender" in self.tasks else None
        race = self.race_branch(maps["fused"]) if "race" in self.tasks else None
        score = self.score_head(maps["fused"]) if "score" in self.tasks else None
        return HMTOutput(gender, race, score)

    def relu5_features(self, x):
        """relu5, globally average-pooled: (N, C) features for transfer (Table 5)."""
        if not self.needs_deep_trunk:
            raise ValueError("relu5 features need the whole trunk; this network is gender-only")
        return F.global_avg_pool2d(self.features(x)["relu5"])

    def extra_repr(self):
        return f"tasks={self.tasks}, image_size={self.config.image_size}"


def hmtnet(config=HMTNET_224, aggregator="avg"):
    """The joint network: gender, race and score."""
    return HMTNet(config, aggregator)


def single_task_net(task, config=HMTNET_224, aggregator="avg"):
    """A standalone network for one task ("gender", "race" or "score")."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return HMTNet(config, aggregator, tasks=(task,))
