"""Learning-rate schedules, reached as ``optim.lr_scheduler`` (PyTorch's place for them).

Each computes lr from the group's initial lr and the epoch count in closed form, so a saved
``state_dict()`` resumes exactly. Call ``scheduler.step()`` once per epoch, after that epoch's
``optimizer.step()`` calls.
"""
from __future__ import annotations

import math
from typing import Callable

from .optim import LRScheduler, MultiStepLR, Optimizer, StepLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LambdaLR"]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2: half a cosine
    from base_lr down to eta_min over T_max epochs (SGDR without restarts)."""

    def __init__(self, optimizer: Optimizer, T_max: int,  # noqa: N803 (PyTorch's argument name)
                 eta_min: float = 0.0) -> None:
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(epoch) (the function itself is not saved in ``state_dict``)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.lr_lambda(epoch)
