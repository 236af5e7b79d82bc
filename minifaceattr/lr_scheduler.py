"""Learning-rate schedules, reached as ``optim.lr_scheduler`` (PyTorch's place for them).

Each computes lr from the group's initial lr and the epoch count in closed form, so a saved
``state_dict()`` resumes exactly. Call ``scheduler.step()`` once per epoch, after that epoch's
``optimizer.step()`` calls.
"""
import math

from .optim import LRScheduler, MultiStepLR, StepLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LambdaLR"]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^epoch."""

    def __init__(self, optimizer, gamma):
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2: half a cosine
    from base_lr down to eta_min over T_max epochs (SGDR without restarts)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's argument name)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(epoch) (the function itself is not saved in ``state_dict``)."""

    def __init__(self, optimizer, lr_lambda):
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.lr_lambda(epoch)
