"""One table for operator tests, in the manner of tinygrad's ``helper_test_op``.

``check_op(backend, shapes, ours, reference)`` draws seeded float64 inputs of the given shapes
and, on the backend the ``backend`` fixture gives (numpy, emu, the CuPy stand-in, cuda):

1. compares the forward value and every input's gradient of Σ v·y (v a seeded cotangent) with
   ``reference``, a function of ``torch`` tensors, when PyTorch is installed, and otherwise with
   ``ours`` on the NumPy path (the reference implementation of the library);
2. runs ``mfa.gradcheck`` on ``ours`` in float64, always.

A test module imports ``torch`` and ``tF`` from here (``None`` without PyTorch); they are only
touched inside reference lambdas, which run only when PyTorch is there. Adding an operator's
tests is one row: ``(shapes, ours, reference)``.
"""
import numpy as np

import minifaceattr as mfa
from minifaceattr.backend import use_backend

try:
    import torch
    tF = torch.nn.functional
except ImportError:
    torch = tF = None


class NumpyPath:
    """The reference path, shaped like a ``backend`` fixture value: NumPy arrays in and out
    (used inside ``use_backend("numpy")``)."""
    asarray = numpy = staticmethod(np.asarray)

    @staticmethod
    def tensor(a, requires_grad=False):
        return mfa.tensor(np.asarray(a), requires_grad=requires_grad)

    def __repr__(self):
        return "numpy"


NUMPY = NumpyPath()


def draw(shapes, seed=0, low=-2.0, high=2.0):
    """Seeded float64 inputs: uniform in [low, high) for each shape; an array is taken as is."""
    rng = np.random.default_rng(seed)
    return [np.array(s, dtype=np.float64) if isinstance(s, np.ndarray)
            else rng.uniform(low, high, s) for s in shapes]


def run_ours(fn, arrays, cotangent, where):
    """Forward value and input gradients of ``fn`` on ``where`` (a Backend), as NumPy arrays."""
    inputs = [where.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*inputs)
    y.backward(where.asarray(cotangent(y.shape)))
    return [where.numpy(y.data)] + [where.numpy(t.grad) for t in inputs]


def run_torch(fn, arrays, cotangent):
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*inputs)
    y.backward(torch.tensor(cotangent(tuple(y.shape))))
    return [y.detach().numpy()] + [t.grad.numpy() for t in inputs]


def check_op(backend, shapes, ours, reference=None, *, seed=0, low=-2.0, high=2.0,
             rtol=1e-9, atol=1e-12, gradcheck=True):
    """Check ``ours`` on ``backend`` against ``reference`` (or the NumPy path) and by finite
    differences; return the reference used, "torch" or "numpy"."""
    arrays = draw(shapes, seed, low, high)

    def cotangent(shape):
        return np.random.default_rng(seed + 1).standard_normal(shape)

    got = run_ours(ours, arrays, cotangent, backend)
    if torch is not None and reference is not None:
        used, expected = "torch", run_torch(reference, arrays, cotangent)
    else:
        with use_backend("numpy"):
            used, expected = "numpy", run_ours(ours, arrays, cotangent, NUMPY)
    for k, (g, e) in enumerate(zip(got, expected)):
        what = "forward value" if k == 0 else f"gradient of input {k - 1}"
        assert g.shape == e.shape, f"{what}: shape {g.shape}, {used} gives {e.shape}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol,
                                   err_msg=f"{what} on {backend} against {used}")
    if gradcheck:
        assert mfa.gradcheck(ours, [backend.tensor(a, requires_grad=True) for a in arrays])
    return used
