"""The autograd engine: ``Tensor``, ``Function`` and ``backward`` (``no_grad`` is in grad_mode.py).

A ``Tensor`` wraps a raw NumPy or CuPy array (``.data``). Every operation on tensors is a
``Function``: its ``forward`` maps raw arrays to a raw array and saves what its ``backward``
will need; its ``backward`` maps the gradient of the output, dL/dy, to the gradients of
the inputs, dL/dx_k = dL/dy · ∂y/∂x_k (the chain rule, one step). Calling a Function on
tensors records it as the output's ``creator``: the graph is the chain of creators.

``y.backward()`` walks that graph from ``y`` back to the leaves. The order matters: a
Function may run its backward only once the gradient of its output is complete, i.e.
after every use of that output has sent its share back. A reverse topological order
guarantees exactly that, so we sort the graph once and visit each node once.
"""
from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from .backend import Array, check_device, device_of, get_array_module, to_device, to_numpy
from .grad_mode import is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401 (re-exported)

# The public names (lessons and users import these; the rest may move).
__all__ = ["Tensor", "Function", "tensor", "as_tensor", "sum_to", "topological_order",
           "no_grad", "set_grad_enabled", "is_grad_enabled"]

def sum_to(g: Array, shape: Sequence[int]) -> Array:
    """Sum gradient ``g`` down to ``shape``: undo NumPy broadcasting in the backward pass.

    If x of shape (3, 1) was broadcast to (2, 3, 4), each x element fed several outputs,
    so its gradient is the sum of theirs: over the new leading axis and the stretched axis.
    """
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return g.reshape(shape) if lead else g


class Tensor:
    """An n-dimensional array that remembers how it was computed, so it can be differentiated."""

    # ndarray + Tensor calls Tensor.__radd__, for NumPy and CuPy arrays alike: both hand an
    # operator to an operand whose __array_ufunc__ is None (a priority only ties CuPy's 100).
    __array_ufunc__ = None
    __array_priority__ = 100

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):
            data = np.asarray(data)  # a NumPy scalar becomes a 0-d array
        self.data: Array = data
        self.grad: Array | None = None
        self.requires_grad = bool(requires_grad)
        self.creator: Function | None = None
        self.retains_grad = False
        if self.requires_grad and not self.is_floating_point():
            raise TypeError(f"only floating-point tensors can require gradients, got {self.dtype}")

    # --- what it is -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]: return self.data.shape
    @property
    def ndim(self) -> int: return self.data.ndim
    @property
    def dtype(self) -> np.dtype: return self.data.dtype
    @property
    def device(self) -> str: return device_of(self.data)  # "cpu" or "cuda"
    @property
    def is_leaf(self) -> bool: return self.creator is None

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape as a tuple, or the length of axis ``dim`` (PyTorch's meaning; NumPy's
        ``.size``, the element count, is ``numel()`` here)."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def dim(self) -> int:
        """The number of axes (``ndim``)."""
        return self.data.ndim

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous: "
                               "use (a == b).all() or .any()")
        return bool(self.item())

    __hash__ = object.__hash__  # by identity, so tensors stay usable as dict keys and in sets

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = str(to_numpy(self.data)).replace("\n", "\n       ")
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # --- moving and converting -----------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied from the GPU when needed)."""
        return to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape "
                             f"{self.shape}")
        return self.numpy().reshape(()).item()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def to(self, target: str | type | np.dtype) -> Tensor:
        """``t.to("cuda")``, ``t.to("cpu")`` or ``t.to(np.float64)``: a differentiable copy."""
        if isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda"):
            return F.to_device(self, check_device(target))
        return F.cast(self, np.dtype(target))

    def float(self) -> Tensor:
        """float32: the tensor itself when it is already float32, as in PyTorch."""
        return self if self.dtype == np.float32 else self.to(np.float32)

    def double(self) -> Tensor:
        """float64: the tensor itself when it is already float64, as in PyTorch."""
        return self if self.dtype == np.float64 else self.to(np.float64)

    def long(self) -> Tensor:
        """int64 (e.g. class labels for cross_entropy); not differentiable."""
        return Tensor(self.data.astype(np.int64, copy=False))

    def bool(self) -> Tensor:
        return Tensor(self.data.astype(bool, copy=False))

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def cpu(self) -> Tensor:
        return self if self.device == "cpu" else self.to("cpu")

    def cuda(self) -> Tensor:
        return self if self.device == "cuda" else self.to("cuda")

    def clone(self) -> Tensor:
        """A copy that stays in the graph (gradients flow back to ``self``)."""
        return F.cast(self, self.dtype)

    # Below the methods float() and bool(), the types need their full names: builtins.float.
    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set ``requires_grad`` in place on a leaf tensor; returns the tensor."""
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach()")
        if requires_grad and not self.is_floating_point():
            raise TypeError(f"only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor after backward (for inspection)."""
        self.retains_grad = True
        return self

    # --- the backward pass -------------------------------------------------------------
    def backward(self, grad: Operand | None = None, retain_graph: builtins.bool = False,
                 create_graph: builtins.bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into ``leaf.grad`` for every leaf that requires it.

        ``grad`` defaults to 1 for a one-element tensor (the usual loss). The graph's saved
        arrays are freed as they are used unless ``retain_graph=True``, as in PyTorch.
        Higher-order gradients (``create_graph=True``) are left out by design.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): higher-order gradients are "
                                      "left out by design (backward runs on raw arrays; see "
                                      "docs/from_pytorch.md)")
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input required grad, or it was computed under no_grad)")
        xp = get_array_module(self.data)
        if grad is None:
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for a one-element output; "
                                   f"this one has shape {self.shape}: pass backward(grad)")
            grad = xp.ones_like(self.data)
        g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
        if g.shape != self.shape:
            raise ValueError(f"backward(grad): grad has shape {g.shape}, tensor has {self.shape}")

        grads = {self: g}             # gradient of each tensor, complete once all users sent theirs
        for t in topological_order(self):  # outputs first, leaves last
            g = grads.pop(t, None)    # popped: intermediate gradients are freed as we go
            if g is None:             # every path to t was non-differentiable
                continue
            if t.is_leaf or t.retains_grad:
                t.grad = g if t.grad is None else t.grad + g
            fn = t.creator
            if fn is None:            # a leaf: nothing further back
                continue
            for x, gx in zip(fn.inputs, fn.run_backward(g, retain_graph)):
                if gx is None or not x.requires_grad:
                    continue
                gx = sum_to(gx, x.shape).astype(x.dtype, copy=False)
                grads[x] = grads[x] + gx if x in grads else gx

    # --- operators (defined in minifaceattr.functional) ---------------------------------
    # ``o`` is another Tensor, a Python number or a raw array (Operand, below the class).
    def __add__(self, o: Operand) -> Tensor: return F.add(self, o)
    def __radd__(self, o: Operand) -> Tensor: return F.add(o, self)
    def __sub__(self, o: Operand) -> Tensor: return F.sub(self, o)
    def __rsub__(self, o: Operand) -> Tensor: return F.sub(o, self)
    def __mul__(self, o: Operand) -> Tensor: return F.mul(self, o)
    def __rmul__(self, o: Operand) -> Tensor: return F.mul(o, self)
    def __truediv__(self, o: Operand) -> Tensor: return F.div(self, o)
    def __rtruediv__(self, o: Operand) -> Tensor: return F.div(o, self)
    def __neg__(self) -> Tensor: return F.neg(self)
    def __pow__(self, c: builtins.float) -> Tensor: return F.pow(self, c)
    def __rpow__(self, base: builtins.float) -> Tensor: return F.exp(self * float(np.log(base)))
    def __matmul__(self, o: Operand) -> Tensor: return F.matmul(self, o)
    def __rmatmul__(self, o: Operand) -> Tensor: return F.matmul(o, self)
    def __getitem__(self, index: Any) -> Tensor: return F.getitem(self, index)
    def __lt__(self, o: Operand) -> Tensor: return Tensor(self.data < _raw(o))
    def __le__(self, o: Operand) -> Tensor: return Tensor(self.data <= _raw(o))
    def __gt__(self, o: Operand) -> Tensor: return Tensor(self.data > _raw(o))
    def __ge__(self, o: Operand) -> Tensor: return Tensor(self.data >= _raw(o))
    # Elementwise, as in NumPy and PyTorch, so not the bool that object.__eq__ promises.
    def __eq__(self, o: Any) -> Any: return False if o is None else Tensor(self.data == _raw(o))
    def __ne__(self, o: Any) -> Any: return True if o is None else Tensor(self.data != _raw(o))

    # The reductions take F.sum's arguments: (axis=None, keepdims=False, *, dim, keepdim).
    def sum(self, *a: Any, **k: Any) -> Tensor: return F.sum(self, *a, **k)
    def mean(self, *a: Any, **k: Any) -> Tensor: return F.mean(self, *a, **k)
    def max(self, *a: Any, **k: Any) -> Tensor: return F.max(self, *a, **k)
    def min(self, *a: Any, **k: Any) -> Tensor: return -F.max(-self, *a, **k)
    def reshape(self, *shape: Any) -> Tensor: return F.reshape(self, *shape)
    def view(self, *shape: Any) -> Tensor: return F.reshape(self, *shape)
    def flatten(self, start_dim: int = 0) -> Tensor: return F.flatten(self, start_dim)
    def transpose(self, *axes: int) -> Tensor: return F.transpose(self, *axes)
    def permute(self, *axes: int) -> Tensor: return F.permute(self, *axes)
    def broadcast_to(self, shape: Sequence[int]) -> Tensor: return F.broadcast_to(self, shape)
    def exp(self) -> Tensor: return F.exp(self)
    def log(self) -> Tensor: return F.log(self)
    def sqrt(self) -> Tensor: return F.sqrt(self)
    def abs(self) -> Tensor: return F.abs(self)
    def relu(self) -> Tensor: return F.relu(self)
    def sigmoid(self) -> Tensor: return F.sigmoid(self)
    def tanh(self) -> Tensor: return F.tanh(self)
    def softmax(self, axis: int = -1) -> Tensor: return F.softmax(self, axis)
    def unsqueeze(self, dim: int) -> Tensor: return F.unsqueeze(self, dim)
    def squeeze(self, dim: int | None = None) -> Tensor: return F.squeeze(self, dim)

    def argmax(self, axis: int | None = None, keepdims: builtins.bool = False, *,
               dim: int | None = None, keepdim: builtins.bool | None = None) -> Tensor:
        """Index of the largest value (not differentiable): a tensor of integers."""
        axis, keepdims = (axis if dim is None else dim), (keepdims if keepdim is None else keepdim)
        xp = get_array_module(self.data)
        out = xp.argmax(self.data, axis=axis)
        return Tensor(xp.expand_dims(out, axis) if keepdims and axis is not None else out)

    def all(self) -> Tensor: return Tensor(get_array_module(self.data).all(self.data))
    def any(self) -> Tensor: return Tensor(get_array_module(self.data).any(self.data))
    @property
    def T(self) -> Tensor: return F.transpose(self)


Operand = Tensor | float | Array  # what an operator takes: a Tensor, a Python number, an array


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def topological_order(root: Tensor) -> list[Tensor]:
    """The tensors of ``root``'s graph, each after every tensor computed from it.

    An iterative depth-first search (no recursion, so a 10,000-op chain is fine): a tensor
    is emitted once all its inputs are, then the list is reversed to put ``root`` first.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if t in visited:
            continue
        visited.add(t)
        stack.append((t, True))
        if t.creator is not None:
            stack.extend((x, False) for x in t.creator.inputs
                         if x.requires_grad and x not in visited)
    return order[::-1]


def as_tensor(x: Operand, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; a Python number takes the dtype and device of ``like``."""
    if isinstance(x, Tensor):
        return x
    if like is not None and np.isscalar(x):
        xp = get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype if like.is_floating_point() else None))
    return Tensor(x)


class Function:
    """One differentiable operation. Subclasses define ``forward`` and ``backward``.

    ``forward(*arrays) -> array`` computes the output from raw arrays and stores on ``self``
    only what ``backward`` needs. ``backward(gy) -> tuple`` returns one gradient per input
    (``None`` for an input that has none), each the shape of the output or broadcastable
    back to its input; the engine sums broadcast gradients down with ``sum_to``.
    """

    inputs: list[Tensor]              # set by __call__ when the output joins a graph
    needs_input_grad: tuple[bool, ...]  # which inputs want a gradient, one bool each

    def __call__(self, *args: Operand) -> Tensor:
        like = next((x for x in args if isinstance(x, Tensor)), None)
        inputs = [as_tensor(x, like) for x in args]
        devices = {x.device for x in inputs}
        if len(devices) > 1:
            raise RuntimeError(f"{type(self).__name__}: inputs are on different devices "
                               f"{sorted(devices)}")
        needs_grad = is_grad_enabled() and any(x.requires_grad for x in inputs)
        self.needs_input_grad = tuple(needs_grad and x.requires_grad for x in inputs)
        y = self.forward(*[x.data for x in inputs])
        y = Tensor(y)
        if needs_grad:
            y.requires_grad = True
            y.creator = self
            self.inputs = inputs
        return y

    def run_backward(self, gy: Array, retain_graph: bool) -> tuple[Array | None, ...]:
        if getattr(self, "released", False):
            raise RuntimeError(f"backward through {type(self).__name__} a second time: its saved "
                               "arrays were freed; call backward(retain_graph=True) the first time")
        grads = self.backward(gy)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if not retain_graph:
            inputs = self.inputs
            self.__dict__.clear()  # drop the saved arrays; keep only the graph's edges
            self.inputs, self.released = inputs, True
        return grads

    def forward(self, *xs: Array) -> Array:
        raise NotImplementedError

    def backward(self, gy: Array) -> Array | tuple[Array | None, ...]:
        raise NotImplementedError


def tensor(data: Any, requires_grad: bool = False, device: str | None = None,
           dtype: Any = None) -> Tensor:
    """Make a leaf Tensor. NumPy arrays keep their dtype; Python floats become float32.

    ``device``: "cpu" or "cuda"; None keeps an array where it is (a CuPy array stays on the
    GPU, anything else is on the CPU)."""
    if isinstance(data, Tensor):
        data = data.data
    if device is None:
        device = device_of(data)
    if dtype is not None:
        data = np.asarray(to_numpy(data), dtype=dtype)
    elif isinstance(data, np.generic):
        data = np.asarray(data)
    elif not hasattr(data, "dtype"):
        data = np.asarray(data)
        if data.dtype == np.float64:
            data = data.astype(np.float32)  # PyTorch's default for Python floats
    return Tensor(to_device(data, device), requires_grad=requires_grad)


from . import functional as F  # noqa: E402  (functional builds on Tensor and Function above)
