"""VGG16 and AlexNet with torchvision's layer names, as MGG-Net backbones (Table 4).

Both are a ``features`` stack of convolutions, ReLUs and max pools, then a ``classifier``.
Named stages are the outputs of particular layers of ``features``; at 224×224 input the two
default GAL/GCL blocks give 28×28 and 14×14 maps for VGG16 (as ResNet's layer2 and layer3).
"""
from .. import functional as F
from .. import nn
from ..serialization import load_pretrained

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


class StagedNet(nn.Module):
    """``features`` (an nn.Sequential) whose layer outputs are named stages, then a
    ``classifier`` on the flattened last map."""

    def __init__(self, features, classifier, stages, default_blocks, last_stage):
        super().__init__()
        self.features, self.classifier = features, classifier
        self.stages = dict(stages)  # {stage: (index of the layer that outputs it, channels)}
        self.default_blocks, self.last_stage = tuple(default_blocks), last_stage

    @property
    def stage_channels(self):
        return {name: channels for name, (_, channels) in self.stages.items()}

    def forward_features(self, x, return_stages):
        """``{stage: output}`` for the stages asked, running ``features`` only as far as needed."""
        unknown = [s for s in return_stages if s not in self.stages]
        if unknown or not return_stages:
            raise ValueError(f"return_stages must name some of {tuple(self.stages)}, "
                             f"got {tuple(return_stages)}")
        wanted = {self.stages[s][0]: s for s in return_stages}
        outputs = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                outputs[wanted[i]] = x
            if len(outputs) == len(wanted):
                break
        return {s: outputs[s] for s in return_stages}

    def forward(self, x):
        """Logits; the classifier expects 224×224 input (a 7×7 or 6×6 last map)."""
        return self.classifier(F.flatten(self.features(x), 1))


def vgg16(num_classes=1000, weights=None, classifier=True):
    """VGG16 (configuration D) without batch norm; torchvision's names and shapes.
    ``classifier=False`` leaves out the 120 M-parameter head (for use as a backbone)."""
    layers, stages, channels, pools = [], {}, 3, 0
    for v in VGG16_CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            pools += 1
            stages[f"pool{pools}"] = (len(layers) - 1, channels)
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    head = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(4096, num_classes)) if classifier else None
    model = StagedNet(nn.Sequential(*layers), head, stages, ("pool3", "pool4"), "pool5")
    return _load(model, weights)


def alexnet(num_classes=1000, weights=None, classifier=True):
    """AlexNet as in torchvision (one-GPU variant). Stages: pool1 (64 ch, 27×27 at 224),
    pool2 (192, 13×13), relu5 (256, 13×13), pool5 (256, 6×6); GAL/GCL on pool2 and relu5."""
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
    head = nn.Sequential(nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(True),
                         nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True),
                         nn.Linear(4096, num_classes)) if classifier else None
    stages = {"pool1": (2, 64), "pool2": (5, 192), "relu5": (11, 256), "pool5": (12, 256)}
    model = StagedNet(features, head, stages, ("pool2", "relu5"), "pool5")
    return _load(model, weights)


def _load(model, weights):
    if weights is not None:
        if model.classifier is None:
            raise ValueError("loading weights needs the classifier (classifier=True)")
        load_pretrained(model, weights, replaceable=("classifier.6.",))
    return model
