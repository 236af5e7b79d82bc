"""Optimisers (``SGD``, ``Adam``, ``AdamW``) and learning-rate schedules (``StepLR``,
``MultiStepLR``; all of them in ``optim.lr_scheduler``, as in PyTorch).

An optimiser holds the parameters to update, in *parameter groups* (each a dict with its
own ``lr`` and other settings), and per-parameter *state* (momentum buffers, Adam's
moments). ``step()`` reads each ``p.grad`` and updates ``p.data`` in place, following
PyTorch's update rules operation for operation, so results agree to rounding.

``state_dict()`` holds only NumPy arrays, numbers and lists (no pickled objects):

    {"state": {0: {"momentum_buffer": array}, ...},          # keyed by parameter index
     "param_groups": [{"lr": 0.01, "momentum": 0.9, ..., "params": [0, 1, ...]}]}

and ``load_state_dict`` puts it back for an exact resume.
"""
from __future__ import annotations

import bisect
import math
import sys
from typing import Any, Iterable, Iterator

import numpy as np

from .autograd import Tensor
from .backend import device_of, get_array_module, to_device, to_numpy


# What an optimiser takes: ``model.parameters()``, or a list of parameter groups, each a dict
# ``{"params": [...], "lr": ...}`` whose settings override the optimiser's own.
Params = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``state_dict`` and ``load_state_dict``."""

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        items = list(params)
        if not items:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.param_groups = [self._make_group(g) for g in groups]
        self.state: dict[int, dict[str, Any]] = {}  # id(parameter) -> {name: array or number}

    def _make_group(self, group):
        group = {**self.defaults, **group, "params": list(group["params"])}
        for p in group["params"]:
            if not getattr(p, "requires_grad", False):
                raise ValueError(f"{type(self).__name__}: every parameter must require grad")
        return group

    def parameters(self) -> Iterator[Tensor]:
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient before the next backward: set it to None
        (PyTorch's default), or to zeros with ``set_to_none=False``."""
        for p in self.parameters():
            p.grad = None if set_to_none or p.grad is None else p.grad * 0

    def step(self) -> None:
        """Update every parameter that has a gradient, group by group."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, group)

    def _update(self, p, g, group):
        """Update ``p.data`` in place from its gradient ``g`` and its group's settings."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Settings and state as plain numbers, lists and NumPy arrays (copies)."""
        index = {id(p): k for k, p in enumerate(self.parameters())}
        state = {index[id(p)]: {name: to_numpy(v).copy() if hasattr(v, "shape") else v
                                for name, v in self.state[id(p)].items()}
                 for p in self.parameters() if id(p) in self.state}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"kind": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings and state saved by ``state_dict()`` from an optimiser built the
        same way (same groups, same parameter shapes, in the same order)."""
        groups = state_dict["param_groups"]
        self._check_kind(state_dict)
        sizes = [len(g["params"]) for g in self.param_groups]
        if [len(g["params"]) for g in groups] != sizes:
            raise ValueError(f"{type(self).__name__}.load_state_dict: saved groups have "
                             f"{[len(g['params']) for g in groups]} parameters, "
                             f"this optimiser {sizes}")
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        params = list(self.parameters())
        self.state = {}
        for key, saved in state_dict["state"].items():
            p = params[int(key)]
            self.state[id(p)] = {name: self._to_param(p, name, v) for name, v in saved.items()}

    def _check_kind(self, state_dict):
        """Refuse another optimiser's state (Adam's moments read as SGD's momentum, and its
        lr put in SGD's place). State saved before "kind" was recorded is told by its
        settings: Adam's groups have betas, SGD's have momentum."""
        kind = state_dict.get("kind")
        own = [cls.__name__ for cls in type(self).__mro__]
        if kind is None:
            keys = {k for g in state_dict["param_groups"] for k in g}
            kind = "Adam" if "betas" in keys else "SGD" if "momentum" in keys else None
            if kind is None or kind in own:
                return
        if kind != own[0]:
            raise ValueError(f"the saved optimizer state is {kind}'s; {own[0]} cannot continue "
                             f"from it (it would misread {kind}'s settings and state). Build "
                             f"{kind} to resume, or start a new run")

    def _to_param(self, p, name, value):
        if not hasattr(value, "shape") or np.ndim(value) == 0:
            return value.item() if hasattr(value, "item") else value
        if tuple(value.shape) != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state {name!r} has shape "
                             f"{tuple(value.shape)}, its parameter {p.shape}")
        return to_device(np.array(to_numpy(value), dtype=p.dtype), device_of(p.data))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for k, g in enumerate(self.param_groups):
            settings = ", ".join(f"{name}={v}" for name, v in g.items() if name != "params")
            lines.append(f"  group {k}: {len(g['params'])} parameters, {settings}")
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as PyTorch defines it:

        g ← ∇ + weight_decay · p
        b ← g at the first step, then momentum · b + (1 - dampening) · g
        g ← g + momentum · b  (nesterov)   or   g ← b  (otherwise)
        p ← p - lr · g

    (PyTorch's momentum differs from Sutskever et al.'s: lr multiplies the buffer, not
    each gradient entering it; it matters when the learning rate changes.)
    """

    def __init__(self, params: Params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if not all(math.isfinite(v) and v >= 0 for v in (lr, momentum, weight_decay)):
            raise ValueError(f"SGD: lr, momentum and weight_decay must be finite numbers >= 0, "
                             f"got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, g, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if weight_decay != 0:  # into a new array: p.grad stays what backward computed
            decayed = p.data * weight_decay
            decayed += g
            g = decayed
        if momentum != 0:
            state = self.state.setdefault(id(p), {})
            if "momentum_buffer" not in state:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += g if group["dampening"] == 0 else (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), as PyTorch computes it. At step t:

        g ← ∇ + weight_decay · p              (L2 penalty added to the gradient)
        m ← m + (1 - β1)(g - m)                (first moment: running mean of g)
        v ← β2 · v + (1 - β2) g²               (second moment: running mean of g²)
        p ← p - lr / (1 - β1ᵗ) · m / (√v / √(1 - β2ᵗ) + eps)

    The (1 - βᵗ) factors undo the bias of m and v towards their zero start.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not (math.isfinite(lr) and lr >= 0 and math.isfinite(eps) and eps >= 0
                and 0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _decay(self, p, g, group):
        """Adam's weight decay: an L2 penalty added to the gradient."""
        return g + group["weight_decay"] * p.data if group["weight_decay"] != 0 else g

    def _update(self, p, g, group):
        (beta1, beta2), eps = group["betas"], group["eps"]
        g = self._decay(p, g, group)
        state = self.state.setdefault(id(p), {})
        if not state:
            xp = get_array_module(p.data)
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * (g * g)
        step_size = group["lr"] / (1 - beta1 ** t)
        denom = v ** 0.5 / math.sqrt(1 - beta2 ** t) + eps
        p.data -= step_size * (m / denom)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["betas"] = tuple(group["betas"])  # JSON turns the tuple into a list


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as PyTorch computes it:
    p ← p · (1 − lr · weight_decay) first, then Adam's update from the gradient alone (so the
    decay is not divided by √v as an L2 penalty would be)."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, p, g, group):
        if group["weight_decay"] != 0:
            p.data *= 1 - group["lr"] * group["weight_decay"]
        return g


class LRScheduler:
    """Base class: sets each group's ``lr`` from its initial value and the epoch count.

    Call ``scheduler.step()`` once per epoch, after that epoch's ``optimizer.step()`` calls.
    The learning rate is computed in closed form from ``last_epoch``, so a saved
    ``state_dict()`` (plain numbers) resumes the schedule exactly.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = base_lr · gamma^⌊epoch / step_size⌋: decay by gamma every step_size epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr · gamma^(number of milestones reached): decay by gamma at each milestone
    epoch (MGG-Net: lr 0.01, then 0.001)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


from . import lr_scheduler  # noqa: E402  (optim.lr_scheduler, PyTorch's place for schedules)

sys.modules[__name__ + ".lr_scheduler"] = lr_scheduler  # import minifaceattr.optim.lr_scheduler
