"""MGG-Net: facial attributes by group and graph learning (Chen et al.).

A ResNet18 backbone sees the face. At two of its stages (``layer2`` and ``layer3``, the
paper's conv3_x and conv4_x; 28×28 and 14×14 at 224×224 input) the network learns:

- Group Attention (GAL): for each of the G part-based attribute groups (eyes, mouth, hair,
  ...) a spatial mask in [0, 1]; the group's feature f_g is the masked average of the map.
- Graph Correlation (GCL, Eq. 2): the G group features exchange directed messages
  (``F.graph_attention``), so that e.g. "wearing lipstick" can borrow from "necklace".

Every attribute a is predicted by a linear classifier θ_a^b at block b that reads its
group's feature; GAL and GCL predictions at a block share that classifier. The last stage
(``layer4``) gives the base prediction Y^B through global average pooling and a linear
layer. The final prediction (Eq. 4) averages Y^B and the GCL predictions; the loss
(Eq. 5) sums the BCE of all 2B + 2 heads (base, final, GAL and GCL per block).

We average logits, not probabilities, for the final head: σ(mean of logits) keeps the final
BCE in its stable with-logits form. The paper does not say which; for the accuracy at a 0.5
threshold the two agree whenever the heads agree in sign.
"""
import numpy as np

from .. import functional as F
from .. import nn
from ..data.attributes import ATTRIBUTES, GROUPS, group_of, validate_groups
from .backbones import build_backbone

# The public names (lessons and users import these; the rest may move).
__all__ = ["MGGNet", "mggnet", "mggnet_loss", "positive_weights", "GroupAttention",
           "GraphCorrelation", "AttributeClassifiers", "MGGOutput", "VARIANTS"]

VARIANTS = ("full", "no_gcl", "independent", "baseline")


def uniform_parameter(shape, bound):
    """A float32 Parameter drawn from U(-bound, bound) (PyTorch's default for linear layers)."""
    return nn.init.uniform_(nn.Parameter(np.zeros(shape, dtype=np.float32)), -bound, bound)


class GroupAttention(nn.Module):
    """GAL at one block: G masks over a (C, H, W) map and G masked-average features.

        hidden  = relu(BN(conv3×3(x)))                C → G·h channels (h per group)
        mask_g  = σ(Σ_k v_gk · hidden_gk + c_g)       a per-group 1×1 conv, (H, W) in [0, 1]
        f_g     = (1 / HW) Σ_hw mask_g(hw) · x(:, hw) one C-vector per group

    The G groups' first convolutions read the same x, so they are one convolution with
    G·h output channels; the masked averages for all groups are one batched matmul.
    """

    def __init__(self, channels, num_groups, hidden_per_group=32):
        super().__init__()
        self.num_groups, self.hidden = num_groups, hidden_per_group
        self.conv = nn.Conv2d(channels, num_groups * hidden_per_group, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(num_groups * hidden_per_group)
        bound = 1 / np.sqrt(hidden_per_group)
        self.mask_weight = uniform_parameter((num_groups, hidden_per_group), bound)
        self.mask_bias = nn.Parameter(np.zeros(num_groups, dtype=np.float32))

    def forward(self, x):
        n, c, h, w = x.shape
        g = self.num_groups
        hidden = F.relu(self.bn(self.conv(x))).reshape(n, g, self.hidden, h * w)
        logits = (hidden * self.mask_weight.reshape(1, g, self.hidden, 1)).sum(axis=2)
        masks = F.sigmoid(logits + self.mask_bias.reshape(1, g, 1))          # (N, G, HW)
        features = masks @ x.reshape(n, c, h * w).transpose(0, 2, 1) / (h * w)  # (N, G, C)
        return features, masks.reshape(n, g, h, w)


class GraphCorrelation(nn.Module):
    """GCL at one block: one directed graph-attention step over the G group features.

    ``score_scale`` c multiplies the score vectors: s_ij = (c·w_ei)ᵀ σ(W_gi f_j). c = 1 is
    Eq. 2 as written. Then, with w_ei ~ U(±1/√C), one receiver's scores differ by about 0.1
    across senders at initialisation (the group features are alike), its e_ij by about 0.015
    around 1/(G−1), and one SGD step changes w_ei by about 1e-5 of itself (W_gi: 4e-4), so
    the affinity stays flat (measured by benchmarks/gcl_affinity.py). c = √C, the
    scaled-dot-product choice, gives c·w_ei entries of unit scale, as an attention query
    has, and multiplies the scores' effective learning rate by C; the function class is
    the same.
    """

    def __init__(self, channels, num_groups, alpha=0.5, score_scale=1.0):
        super().__init__()
        self.alpha, self.score_scale = alpha, float(score_scale)
        bound = 1 / np.sqrt(channels)
        self.weight = uniform_parameter((num_groups, channels, channels), bound)
        self.score = uniform_parameter((num_groups, channels), bound)

    def forward(self, features):
        """(N, G, C) → (refined features (N, G, C), affinity e (N, G, G) outside the graph)."""
        score = self.score if self.score_scale == 1.0 else self.score * self.score_scale
        return F.graph_attention(features, self.weight, score, self.alpha,
                                 return_affinity=True)


class AttributeClassifiers(nn.Module):
    """logit_a = θ_a · f_{g(a)} + b_a: one linear classifier per attribute, reading the
    feature of the group that attribute belongs to."""

    def __init__(self, channels, attribute_group):
        super().__init__()
        self.attribute_group = np.asarray(attribute_group)
        n = len(attribute_group)
        bound = 1 / np.sqrt(channels)
        self.weight = uniform_parameter((n, channels), bound)
        self.bias = uniform_parameter((n,), bound)

    def forward(self, features):
        per_attribute = features[:, self.attribute_group, :]               # (N, A, C)
        return (per_attribute * self.weight).sum(axis=-1) + self.bias      # (N, A)


class MGGOutput:
    """What one forward pass of MGG-Net gives, for the loss, the metrics and the figures.

    ``logits`` (N, A): the final prediction (Eq. 4); ``probabilities`` its sigmoid.
    ``base_logits``: Y^B from the last stage. ``gal_logits`` / ``gcl_logits``: {block: (N, A)}.
    ``masks``: {block: (N, G, H, W)} attention masks; ``affinity``: {block: (N, G, G)} e_ij.
    """

    def __init__(self, logits, base_logits, gal_logits, gcl_logits, masks, affinity):
        self.logits, self.base_logits = logits, base_logits
        self.gal_logits, self.gcl_logits = gal_logits, gcl_logits
        self.masks, self.affinity = masks, affinity

    @property
    def probabilities(self):
        return F.sigmoid(self.logits)

    def heads(self):
        """Every prediction head the loss of Eq. 5 sums over, as (name, logits)."""
        heads = [("base", self.base_logits)]
        heads += [(f"gal.{b}", y) for b, y in self.gal_logits.items()]
        heads += [(f"gcl.{b}", y) for b, y in self.gcl_logits.items()]
        if self.logits is not self.base_logits:
            heads.append(("final", self.logits))
        return heads


class MGGNet(nn.Module):
    """MGG-Net and its ablations.

    ``variant``: "full" (GAL + GCL), "no_gcl" (GAL only; the final head averages Y^B and the
    GAL predictions), "independent" (one attention mask per attribute instead of per group,
    GAL only; its 40 masks share about the 8-group GAL's total hidden channels,
    ⌊8·hidden_per_group / 40⌋ each (exactly the same total when hidden_per_group is a
    multiple of 5), so the comparison isolates grouping, not capacity), "baseline" (the
    backbone with a linear head: Y^B alone).
    ``blocks``: the backbone stages that carry GAL/GCL (default: the backbone's, ``layer2`` and
    ``layer3`` for a ResNet). ``groups``: {name: [attribute names]} (default: the paper's 8).
    ``width``: a ResNet's first-stage channels (64 in the paper; smaller for CPU work).
    ``gcl_score_scale``: the multiplier c of GCL's score vectors (``GraphCorrelation``);
    1.0 (default) is Eq. 2 as written, "sqrt" means √C at each block.
    """

    def __init__(self, num_attributes=40, backbone="resnet18", blocks=None, groups=None,
                 alpha=0.5, variant="full", hidden_per_group=32, attributes=ATTRIBUTES,
                 weights=None, width=64, gcl_score_scale=1.0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if len(attributes) != num_attributes:
            raise ValueError(f"{num_attributes} attributes asked for, "
                             f"{len(attributes)} names given")
        if variant == "independent":  # one mask per attribute, the same hidden channels in all
            hidden_per_group = max(1, hidden_per_group * len(GROUPS) // len(attributes))
            groups = {name: [name] for name in attributes}
        groups = validate_groups(GROUPS if groups is None else groups, attributes)
        self.variant, self.alpha = variant, alpha
        self.backbone, channels = build_backbone(backbone, weights=weights, width=width)
        blocks = self.backbone.default_blocks if blocks is None else tuple(blocks)
        self.blocks = () if variant == "baseline" else blocks
        self.group_names = tuple(groups)
        self.fc = nn.Linear(channels[self.backbone.last_stage], num_attributes)
        attribute_group = group_of(groups, attributes)
        g = len(groups)
        self.gal = nn.ModuleList([GroupAttention(channels[b], g, hidden_per_group)
                                  for b in self.blocks])
        self.classifiers = nn.ModuleList([AttributeClassifiers(channels[b], attribute_group)
                                          for b in self.blocks])
        self.arch = f"mggnet-{variant}-{backbone}" + ("" if width == 64 else f"-width{width}")
        if variant == "full" and gcl_score_scale != 1.0:
            self.arch += f"-gclscale-{gcl_score_scale}"
        use_gcl = variant == "full"
        scale = {b: np.sqrt(channels[b]) if gcl_score_scale == "sqrt" else gcl_score_scale
                 for b in self.blocks}
        self.gcl = nn.ModuleList([GraphCorrelation(channels[b], g, alpha, scale[b])
                                  for b in self.blocks] if use_gcl else [])

    def min_input_size(self):
        """The smallest image side at which every attention block's map is at least 2×2
        (a 1×1 mask attends to nothing): a ResNet's layer3 needs 17 px. None when the
        backbone does not know its strides (its maps are checked in forward)."""
        strides = getattr(self.backbone, "stage_strides", None)
        if not self.blocks:
            return 1
        return None if strides is None else max(strides[b] for b in self.blocks) + 1

    def check_input_size(self, height, width=None):
        """Raise ValueError, before any training, for images too small for this network."""
        width = height if width is None else width
        least = self.min_input_size()
        if least is not None and min(height, width) < least:
            raise ValueError(f"MGG-Net ({self.variant}) needs images of at least {least}×{least} "
                             f"pixels, so that its {', '.join(self.blocks)} attention masks are "
                             f"at least 2×2; got {height}×{width}")

    def forward(self, x):
        self.check_input_size(*x.shape[-2:])
        stages = self.backbone.forward_features(x, self.blocks + (self.backbone.last_stage,))
        small = [b for b in self.blocks if min(stages[b].shape[-2:]) < 2]
        if small:
            raise ValueError(f"MGG-Net ({self.variant}): a {x.shape[-2]}×{x.shape[-1]} image "
                             f"gives {small[0]} maps of {stages[small[0]].shape[-2:]}; the "
                             "attention masks need at least 2×2: use larger images")
        base = self.fc(F.global_avg_pool2d(stages[self.backbone.last_stage]))
        gal_logits, gcl_logits, masks, affinity = {}, {}, {}, {}
        for k, block in enumerate(self.blocks):
            features, masks[block] = self.gal[k](stages[block])
            gal_logits[block] = self.classifiers[k](features)
            if self.gcl:
                refined, affinity[block] = self.gcl[k](features)
                gcl_logits[block] = self.classifiers[k](refined)
        averaged = list(gcl_logits.values()) if self.gcl else list(gal_logits.values())
        final = base if not averaged else sum(averaged, base) / (1 + len(averaged))
        return MGGOutput(final, base, gal_logits, gcl_logits, masks, affinity)


def mggnet_loss(output, targets, pos_weight=None):
    """Eq. 5: the sum over every head of the mean binary cross-entropy with logits.

    ``targets`` (N, A) in {0, 1}. ``pos_weight`` (A,) up-weights the positives of rare
    attributes (weighted BCE, for balanced accuracy): see ``positive_weights``.
    """
    return sum((F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
                for _, logits in output.heads()), start=0.0)


def positive_weights(labels):
    """pos_weight_a = (#negatives / #positives) of attribute a in the training labels, so
    that positives and negatives weigh the same in total; 1 where an attribute has none."""
    labels = np.asarray(labels)
    positives = labels.sum(axis=0)
    negatives = labels.shape[0] - positives
    return np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)


def mggnet(variant="full", **kwargs):
    """``MGGNet(variant=...)`` with the paper's defaults."""
    return MGGNet(variant=variant, **kwargs)
