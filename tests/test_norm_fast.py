"""Batch norm's version 1 NumPy path (functional/norm_fast.py) against the reference."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional import norm_fast


def run(x, weight, bias, gy, version):
    """Output, gradients and updated running buffers of one training-mode batch norm."""
    saved, norm_fast.VERSION = norm_fast.VERSION, version
    try:
        xt, wt, bt = (mfa.tensor(a.copy(), requires_grad=True) for a in (x, weight, bias))
        running = [np.zeros(x.shape[1], x.dtype), np.ones(x.shape[1], x.dtype)]
        y = F.batch_norm(xt, *running, wt, bt, training=True)
        y.backward(gy)
        return [y.data, xt.grad, wt.grad, bt.grad, *running]
    finally:
        norm_fast.VERSION = saved


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 2), (3, 5, 1, 1), (2, 4, 6, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_version1_matches_reference(rng, shape, dtype):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    weight, bias = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    gy = rng.standard_normal(shape).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for got, want in zip(run(x, weight, bias, gy, 1), run(x, weight, bias, gy, 0)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_version1_saves_xhat_not_x(rng):
    x = mfa.tensor(rng.standard_normal((3, 2, 4, 4)), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    assert hasattr(y.creator, "xhat") and not hasattr(y.creator, "x")
    np.testing.assert_allclose(y.creator.xhat.reshape(x.shape), y.data, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (5, 2)])
def test_version1_gradcheck(rng, shape):
    x = mfa.tensor(rng.standard_normal(shape), requires_grad=True)
    w = mfa.tensor(rng.standard_normal(shape[1]), requires_grad=True)
    b = mfa.tensor(rng.standard_normal(shape[1]), requires_grad=True)
    assert norm_fast.VERSION == 1
    assert mfa.gradcheck(lambda *a: F.batch_norm(a[0], None, None, a[1], a[2], training=True),
                         [x, w, b])
