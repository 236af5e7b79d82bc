"""``Module``: a layer or a whole network, holding parameters, buffers and submodules.

Assigning an attribute registers it by what it is, as in PyTorch:

    self.fc = nn.Linear(512, 40)                      # a submodule
    self.weight = nn.Parameter(array)                 # a parameter (learned)
    self.register_buffer("running_mean", array)       # a buffer (state, not learned)

Everything else about a module follows from walking that tree: ``parameters()``,
``state_dict()`` (names joined with dots, ``layer2.0.downsample.0.weight``), ``train()``,
``to("cuda")``. Parameters, then buffers, then submodules, each in the order they were
assigned: the order PyTorch uses, so state dicts line up key for key.
"""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..autograd import Tensor
from ..backend import Array, check_device, get_array_module, to_device, to_numpy


class Parameter(Tensor):
    """A Tensor that a Module learns: it always requires grad, and assigning one to a
    module's attribute registers it in ``parameters()``."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model. Subclasses set attributes in ``__init__``
    (after ``super().__init__()``) and define ``forward``; call the module to run it."""

    _buffer_names: list[str]  # set first in __init__, past __setattr__'s registration

    def __init__(self) -> None:
        object.__setattr__(self, "_buffer_names", [])
        self.training = True

    # --- registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_buffer_names" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        if name in self._buffer_names and not _is_array(value) and value is not None:
            raise TypeError(f"buffer {name!r} must be an array, got {type(value).__name__}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._buffer_names:
            self._buffer_names.remove(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: Array | None) -> None:
        """Keep ``array`` (a raw NumPy/CuPy array, e.g. a running mean) as state: saved in
        ``state_dict``, moved by ``to``, but not returned by ``parameters()``."""
        if not _is_array(array):
            raise TypeError(f"buffer {name!r} must be a NumPy or CuPy array, "
                            f"got {type(array).__name__}")
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        object.__setattr__(self, name, array)

    def add_module(self, name: str, module: Module) -> None:
        """``setattr(self, name, module)`` for names that are not identifiers ("0", "1")."""
        if not isinstance(module, Module):
            raise TypeError(f"{name!r}: expected a Module, got {type(module).__name__}")
        object.__setattr__(self, name, module)

    # --- walking the tree -------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct submodule, in assignment order."""
        for name, value in self.__dict__.items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module ("") and every module below it."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` for every parameter, each shared one only once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, value in module.__dict__.items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Array]]:
        """``(dotted name, array)`` for every buffer that is not None."""
        for module_name, module in self.named_modules(prefix):
            for name in module._buffer_names:
                value = module.__dict__[name]
                if value is not None:
                    yield (f"{module_name}.{name}" if module_name else name), value

    def buffers(self) -> Iterator[Array]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Call ``fn(m)`` on every submodule and then on this one (e.g. to initialise)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- running ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> Module:
        """Training mode (batch statistics, dropout on) for this module and all below it."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: batch norm uses its running averages, dropout is the identity."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (PyTorch's default), or to zeros."""
        for p in self.parameters():
            p.grad = None if set_to_none or p.grad is None else p.grad * 0

    # --- moving and converting --------------------------------------------------------
    def to(self, target: str | type | np.dtype) -> Module:
        """``model.to("cuda")``, ``model.to("cpu")`` or ``model.to(np.float64)``, in place.

        Parameters keep their identity (only ``.data`` and ``.grad`` change), so an
        optimiser built before the move still updates them. A dtype applies to floating
        arrays only: ``num_batches_tracked`` stays an integer.
        """
        if isinstance(target, str) and target.split(":")[0].lower() in ("cpu", "cuda"):
            device = check_device(target)
            convert = lambda a: to_device(a, device)                            # noqa: E731
        else:
            dtype = np.dtype(target)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: only floating dtypes are allowed, got {dtype}")
            convert = lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a  # noqa: E731
        for p in self.parameters():
            p.data = convert(p.data)
            if p.grad is not None:
                p.grad = convert(p.grad)
        for module in self.modules():
            for name in module._buffer_names:
                if module.__dict__[name] is not None:
                    object.__setattr__(module, name, convert(module.__dict__[name]))
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # --- saving and loading -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted name: NumPy array}`` for every parameter and buffer: copies, so the
        result stays as it is while training goes on (and comes back from the GPU)."""
        state = {name: to_numpy(p.data).copy() for name, p in self.named_parameters()}
        state.update((name, to_numpy(b).copy()) for name, b in self.named_buffers())
        return _in_torch_order(self, state)

    # Below the methods float() and double(), the type needs its full name: builtins.bool.
    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: builtins.bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values are converted to each target's dtype and device. A key whose shape differs
        is always an error; with ``strict=True`` (the default) so are missing and unexpected
        keys, and one error lists them all. Returns ``(missing_keys, unexpected_keys)``.
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        mis_shaped = [f"{k}: expected {tuple(targets[k][0].shape)}, "
                      f"got {tuple(np.shape(state_dict[k]))}"
                      for k in targets if k in state_dict
                      and tuple(np.shape(state_dict[k])) != tuple(targets[k][0].shape)]
        if mis_shaped or (strict and (missing or unexpected)):
            raise RuntimeError(_load_error(type(self).__name__, missing, unexpected, mis_shaped))
        for name, (current, assign) in targets.items():
            if name in state_dict:
                value = np.asarray(to_numpy(state_dict[name]), dtype=current.dtype)
                assign(to_device(value.copy(), "cuda" if _on_gpu(current) else "cpu"))
        return IncompatibleKeys(missing, unexpected)

    def _state_targets(self):
        """``{dotted name: (current array, function that stores a new array)}``."""
        targets = {}
        for name, p in self.named_parameters():
            targets[name] = (p.data, lambda a, p=p: setattr(p, "data", a))
        for module_name, module in self.named_modules():
            for b in module._buffer_names:
                if module.__dict__[b] is not None:
                    key = f"{module_name}.{b}" if module_name else b
                    targets[key] = (module.__dict__[b],
                                    lambda a, m=module, b=b: object.__setattr__(m, b, a))
        return targets

    # --- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(m).replace("\n", "\n  ")
                    for name, m in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _is_array(x):
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, Tensor)


def _on_gpu(array):
    return get_array_module(array) is not np


def _in_torch_order(module, state, prefix=""):
    """Order keys as PyTorch does: a module's own parameters, its buffers, then each
    child's keys in turn (``named_parameters`` alone would list all parameters first)."""
    ordered = {}
    for name, value in module.__dict__.items():
        if isinstance(value, Parameter) and prefix + name in state:
            ordered[prefix + name] = state[prefix + name]
    for name in module._buffer_names:
        if prefix + name in state:
            ordered[prefix + name] = state[prefix + name]
    for name, child in module.named_children():
        ordered.update(_in_torch_order(child, state, f"{prefix}{name}."))
    return ordered


def _load_error(owner, missing, unexpected, mis_shaped):
    lines = [f"Error(s) in loading state_dict for {owner}:"]
    for title, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                        ("keys with the wrong shape", mis_shaped)):
        if keys:
            lines.append(f"  {len(keys)} {title}: " + ", ".join(keys))
    return "\n".join(lines)
