"""Check a backward pass against finite differences.

For a scalar L(x), the central difference (L(x + ε) − L(x − ε)) / 2ε approximates dL/dx
with error O(ε²). We reduce any output y to a scalar with a fixed random cotangent v,
L = Σ v·y, so that every output element takes part. Small inputs are checked element by
element; large ones along one random direction d: (L(x + εd) − L(x − εd)) / 2ε ≈ Σ g·d.

Only float64 is accurate enough: with ε = 1e-6, float32 rounding (1e-7 relative) would
swamp the derivative.
"""
import numpy as np

from .autograd import Tensor, no_grad
from .backend import get_array_module, to_numpy

# The public names (lessons and users import these; the rest may move).
__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the finite-difference one."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=4096, seed=0):
    """True if ``fn``'s backward agrees with central differences for every input that
    requires grad, else raise ``GradcheckError`` naming the input, element and both values.
    Inputs that require grad must be float64 leaves (their ``.grad`` is what is checked).

    ``fn(*inputs)`` returns a Tensor. Inputs with more than ``max_elements`` elements in
    total are checked along a random direction instead of element by element.
    """
    inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    checked = [k for k, x in enumerate(inputs) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; make one with "
                         "mfa.tensor(array, requires_grad=True) (float64)")
    for k in checked:
        if not inputs[k].is_leaf:
            raise ValueError(f"gradcheck: input {k} is not a leaf (it was computed from another "
                             "tensor, e.g. by .double() of a float32 one), so it keeps no .grad; "
                             "pass a leaf: x.detach().double().requires_grad_() or "
                             "mfa.tensor(array, dtype=np.float64, requires_grad=True)")
    for k in checked:
        if inputs[k].dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} is {inputs[k].dtype}; use float64 "
                            "(finite differences are meaningless in float32)")
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    xp = get_array_module(out.data)
    v = xp.asarray(rng.standard_normal(out.shape))

    def loss():
        with no_grad():
            return float((fn(*inputs).data * v).sum())

    for k in checked:
        inputs[k].grad = None
    (out * Tensor(v)).sum().backward()
    analytic = {k: _grad_or_zeros(inputs[k]) for k in checked}

    if sum(inputs[k].numel() for k in checked) <= max_elements:
        for k in checked:
            _check_elementwise(k, inputs[k], analytic[k], loss, eps, atol, rtol)
    else:
        _check_direction(inputs, checked, analytic, loss, eps, atol, rtol, rng)
    return True


def _grad_or_zeros(x):
    xp = get_array_module(x.data)
    return xp.zeros_like(x.data) if x.grad is None else x.grad


def _central_difference(x, direction, loss, eps):
    """(L(x + ε·d) − L(x − ε·d)) / 2ε, restoring x afterwards."""
    original = x.data.copy()
    x.data[...] = original + eps * direction
    plus = loss()
    x.data[...] = original - eps * direction
    minus = loss()
    x.data[...] = original
    return (plus - minus) / (2 * eps)


def _check_elementwise(k, x, analytic, loss, eps, atol, rtol):
    xp = get_array_module(x.data)
    numeric = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        e = xp.zeros(x.shape)
        e[i] = 1.0
        numeric[i] = _central_difference(x, e, loss, eps)
    analytic = to_numpy(analytic)
    error = np.abs(numeric - analytic) - (atol + rtol * np.abs(numeric))
    if error.size and error.max() > 0:
        i = np.unravel_index(np.argmax(error), error.shape)
        raise GradcheckError(
            f"gradcheck failed for input {k} (shape {x.shape}) at index "
            f"{tuple(int(j) for j in i)}: "
            f"numeric {numeric[i] + 0.0:.8g}, analytic {analytic[i] + 0.0:.8g} "
            "(dL/dx for L = Σ v·y with a fixed random v)")


def _check_direction(inputs, checked, analytic, loss, eps, atol, rtol, rng):
    """One random direction d over all checked inputs: compare Σ g·d with the difference."""
    xp = get_array_module(inputs[checked[0]].data)
    dirs = {k: xp.asarray(rng.standard_normal(inputs[k].shape)) for k in checked}
    predicted = sum(float((analytic[k] * dirs[k]).sum()) for k in checked)
    originals = {k: inputs[k].data.copy() for k in checked}

    def shifted(sign):
        for k in checked:
            inputs[k].data[...] = originals[k] + sign * eps * dirs[k]
        return loss()

    numeric = (shifted(+1) - shifted(-1)) / (2 * eps)
    for k in checked:
        inputs[k].data[...] = originals[k]
    if abs(numeric - predicted) > atol + rtol * abs(numeric):
        names = ", ".join(f"{k} {inputs[k].shape}" for k in checked)
        raise GradcheckError(f"gradcheck failed along a random direction over inputs {names}: "
                             f"numeric {numeric:.10g}, analytic {predicted:.10g}")
