"""Loss modules, PyTorch's names for the losses in ``functional``: each forward is one call.

    criterion = nn.BCEWithLogitsLoss(pos_weight=w)
    loss = criterion(logits, targets)          # = F.binary_cross_entropy_with_logits(...)
"""
from .. import functional as F
from ..functional.loss import check_reduction
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, with optional per-element ``weight`` and per-class
    ``pos_weight`` (raw arrays or tensors, broadcast against the logits)."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.weight, self.pos_weight,
                                                  self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (N, C) against integer class indices (N,). PyTorch's
    ``weight``, ``ignore_index`` and ``label_smoothing`` are not implemented."""

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, pred, target):
        return F.mse_loss(pred, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, pred, target):
        return F.l1_loss(pred, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Squared below ``beta``, absolute above (Huber scaled by 1/beta)."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, pred, target):
        return F.smooth_l1_loss(pred, target, self.reduction, self.beta)
