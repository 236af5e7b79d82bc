"""Losses: gradient checks, fused kernels against their NumPy twins, values at known points
(the smooth Huber boundary included), and PyTorch as a reference when it is installed."""
import math

import numpy as np
import pytest
from op_table import check_op, tF, torch

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import use_backend
from minifaceattr.functional import loss as L
from minifaceattr.kernels import get_kernel, launch_1d

KERNEL_BACKENDS = pytest.mark.parametrize(
    "backend", ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)
REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(1,), (3, 5), (2, 1, 3)]
REGRESSION = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": lambda p, t, reduction: F.smooth_l1_loss(p, t, reduction, beta=0.7),
    "smooth_l1_beta0": lambda p, t, reduction: F.smooth_l1_loss(p, t, reduction, beta=0.0),
    "smooth_huber": F.smooth_huber_loss,
}


def relative_error(a, b):
    """max |a − b| / max |b|: one number for a whole array."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def differences(rng, shape, avoid=()):
    """Random d = pred − target in (−2, 2), at least 0.01 from 0 and from each ±a in
    ``avoid`` (where a loss has a kink or a jump, finite differences mean nothing)."""
    d = rng.uniform(-2, 2, shape)
    for a in (0.0, *avoid):
        for point in (a, -a):
            near = np.abs(d - point) < 0.01
            d[near] = point + np.where(d[near] >= point, 0.02, -0.02)
    return d


# --- gradient checks ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_gradcheck(backend, rng, name, shape, reduction):
    """Both pred and target require grad: dtarget = −dpred is supported."""
    target = rng.standard_normal(shape)
    pred = target + differences(rng, shape, avoid=(0.6, 0.7))
    p, t = backend.tensor(pred, True), backend.tensor(target, True)
    assert mfa.gradcheck(lambda p, t: REGRESSION[name](p, t, reduction=reduction), [p, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, weight_shape, pos_weight_shape",
                         [((1,), None, None), ((3, 5), (1, 5), (5,)), ((2, 1, 3), (2, 1, 1), None),
                          ((4, 2), None, (2,))])
def test_bce_gradcheck(backend, rng, shape, weight_shape, pos_weight_shape, reduction):
    x = backend.tensor(rng.standard_normal(shape) * 3, True)
    t = backend.asarray(rng.random(shape))
    w = None if weight_shape is None else backend.asarray(rng.random(weight_shape) + 0.5)
    pw = None if pos_weight_shape is None else backend.asarray(rng.random(pos_weight_shape) * 3)
    assert mfa.gradcheck(lambda x: F.binary_cross_entropy_with_logits(
        x, t, w, pw, reduction=reduction), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (4, 7), (3, 3)])
def test_cross_entropy_gradcheck(backend, rng, shape, reduction):
    x = backend.tensor(rng.standard_normal(shape) * 2, True)
    target = backend.asarray(rng.integers(0, shape[1], shape[0]))
    assert mfa.gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), [x])


def test_large_inputs_along_a_random_direction(backend, rng):
    """Over max_elements, gradcheck tests one random direction (4,500 elements here)."""
    x = backend.tensor(rng.standard_normal((90, 50)) * 3, True)
    t = backend.asarray(rng.random((90, 50)))
    assert mfa.gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, t), [x])
    target = backend.asarray(rng.integers(0, 50, 90))
    assert mfa.gradcheck(lambda x: F.cross_entropy(x, target), [x])
    y = backend.tensor(x.data + backend.asarray(differences(rng, (90, 50), avoid=(0.6,))))
    assert mfa.gradcheck(lambda x: F.smooth_huber_loss(x, y), [x])


# --- values at known points ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_at_known_points(backend, dtype):
    """Logit 0 gives log 2 for any target; logits of ±100 are finite and exact."""
    x = backend.tensor(np.array([0, 0, 0, 100, 100, -100, -100, 1000, -1000], dtype), True)
    t = backend.asarray(np.array([0, 1, 0.5, 1, 0, 1, 0, 1, 1], dtype))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    loss.backward(backend.asarray(np.ones(9, dtype)))
    tiny = float(np.exp(dtype(-100)))  # log1p(e^-100) = e^-100 to the last bit
    expected = [math.log(2)] * 3 + [tiny, 100, 100, tiny, 0, 1000]
    np.testing.assert_allclose(backend.numpy(loss.data), expected, rtol=1e-6, atol=0)
    expected_grad = [0.5, -0.5, 0, -tiny, 1, -1, tiny, 0, -1]   # σ(x) − t
    np.testing.assert_allclose(backend.numpy(x.grad), expected_grad, rtol=1e-6, atol=0)


def test_bce_pos_weight_multiplies_the_positive_term(backend):
    x = backend.tensor(np.array([[0.3, -1.2]]))
    t = backend.asarray(np.array([[1.0, 1.0]]))
    pw = backend.asarray(np.array([2.0, 3.0]))
    loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
    expected = np.array([2.0, 3.0]) * np.log1p(np.exp(-np.array([0.3, -1.2])))
    np.testing.assert_allclose(backend.numpy(loss.data), [expected], rtol=1e-12)


def test_cross_entropy_of_a_uniform_row_is_log_c(backend):
    for c in (1, 2, 7, 40):
        x = backend.tensor(np.full((3, c), 12.5))
        target = backend.asarray(np.arange(3) % c)
        loss = F.cross_entropy(x, target)
        np.testing.assert_allclose(float(backend.numpy(loss.data)), math.log(c), atol=1e-12)


def test_cross_entropy_with_huge_logits_is_finite(backend):
    x = backend.tensor(np.array([[1000.0, 0.0, -1000.0]]), True)
    loss = F.cross_entropy(x, backend.asarray(np.array([1])), reduction="sum")
    loss.backward()
    np.testing.assert_allclose(float(backend.numpy(loss.data)), 1000.0, rtol=1e-12)
    np.testing.assert_allclose(backend.numpy(x.grad), [[1, -1, 0]], atol=1e-12)


# d, loss, gradient. At |d| = 0.6 exactly the log-cosh side holds (the condition is ≤).
HUBER_POINTS = [(0.0, 0.0, 0.0),
                (0.3, math.log(math.cosh(0.3)), math.tanh(0.3)),
                (0.6 - 1e-9, math.log(math.cosh(0.6 - 1e-9)), math.tanh(0.6 - 1e-9)),
                (0.6, math.log(math.cosh(0.6)), math.tanh(0.6)),
                (0.6 + 1e-9, 0.6 + 1e-9, 1.0),
                (2.0, 2.0, 1.0)]


@pytest.mark.parametrize("d, value, grad", HUBER_POINTS)
def test_smooth_huber_at_known_points_and_both_sides_of_delta(backend, d, value, grad):
    pred, target = np.array([d, 0.0]), np.array([0.0, d])   # pred − target = d and −d exactly
    p = backend.tensor(pred, True)
    loss = F.smooth_huber_loss(p, backend.asarray(target), delta=0.6, reduction="none")
    loss.backward(backend.asarray(np.ones(2)))
    np.testing.assert_allclose(backend.numpy(loss.data), [value, value], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(backend.numpy(p.grad), [grad, -grad], rtol=1e-12, atol=1e-300)


def test_smooth_huber_boundary_in_float32(backend):
    """0.6 in float32 is not 0.6 in float64: δ is compared in the inputs' precision."""
    p = backend.tensor(np.array([0.6, 0.6000001], np.float32))
    loss = F.smooth_huber_loss(p, backend.asarray(np.zeros(2, np.float32)), reduction="none")
    np.testing.assert_allclose(backend.numpy(loss.data), [math.log(math.cosh(0.6)), 0.6000001],
                               rtol=1e-6)


def test_smooth_huber_log_cosh_is_stable(backend):
    """log cosh 400 overflows cosh in float64; |d| + log1p(e^−2|d|) − log 2 does not."""
    p = backend.tensor(np.array([400.0, -30.0, 1e-4]))
    loss = F.smooth_huber_loss(p, backend.asarray(np.zeros(3)), delta=1e9, reduction="none")
    expected = [400 - math.log(2), 30 - math.log(2) + math.log1p(math.exp(-60)), 0.5e-8]
    np.testing.assert_allclose(backend.numpy(loss.data), expected, rtol=1e-6)


def test_regression_values(backend, rng):
    pred, target = rng.standard_normal(7), rng.standard_normal(7)
    d = pred - target
    p, t = backend.tensor(pred), backend.asarray(target)
    def value(loss):
        return float(backend.numpy(loss.data))
    assert value(F.mse_loss(p, t)) == pytest.approx(np.mean(d * d), rel=1e-12)
    assert value(F.l1_loss(p, t, reduction="sum")) == pytest.approx(np.abs(d).sum(), rel=1e-12)
    beta = 0.8
    smooth = np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)
    assert value(F.smooth_l1_loss(p, t, beta=beta)) == pytest.approx(smooth.mean(), rel=1e-12)


def test_no_grad_needed(backend, rng):
    """Without gradients, the fused kernels skip the gradient and the losses still work."""
    p, t = backend.tensor(rng.standard_normal((4, 3))), backend.asarray(rng.standard_normal((4, 3)))
    with mfa.no_grad():
        for fn in REGRESSION.values():
            assert np.isfinite(float(backend.numpy(fn(p, t, reduction="mean").data)))
        bce = F.binary_cross_entropy_with_logits(p, backend.asarray(np.ones((4, 3))))
        ce = F.cross_entropy(p, backend.asarray(np.array([0, 2, 1, 1])))
    assert not bce.requires_grad and not ce.requires_grad


def test_clear_errors(rng):
    x = mfa.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    t = mfa.tensor(rng.random((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="'target' requires grad"):
        F.binary_cross_entropy_with_logits(x, t)
    with pytest.raises(ValueError, match="'pos_weight' requires grad"):
        F.binary_cross_entropy_with_logits(x, t.detach(), pos_weight=t)
    with pytest.raises(ValueError, match=r"input has shape \(2, 3\) but target has shape \(2, 1\)"):
        F.mse_loss(x, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.l1_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="integer class indices"):
        F.cross_entropy(x, np.array([0.0, 1.0]))


# --- the fused kernels against their NumPy twins, in float32 --------------------------------
def run_fused(backend, name, inputs, scalars=()):
    """The kernel ``name`` into NaN-filled loss and grad buffers; returns both on the CPU."""
    n = inputs[0].size
    loss, grad = (backend.asarray(np.full(inputs[0].shape, np.nan, np.float32)) for _ in range(2))
    kernel = get_kernel("loss", name, np.float32, backend.kernels)
    args = [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in inputs]
    launch_1d(kernel, n, (*args, *scalars, loss, grad, np.int32(1), np.int32(n)))
    return backend.numpy(loss), backend.numpy(grad)


@KERNEL_BACKENDS
@pytest.mark.parametrize("fn, scalar", [(L.MSELoss("none"), None), (L.L1Loss("none"), None),
                                        (L.SmoothL1Loss("none", 0.7), 0.7),
                                        (L.SmoothHuberLoss("none", 0.6), 0.6)],
                         ids=["mse", "l1", "smooth_l1", "smooth_huber"])
def test_regression_kernels_match_numpy(backend, rng, fn, scalar):
    target = rng.standard_normal((37, 29)).astype(np.float32)
    pred = (target + rng.uniform(-2, 2, target.shape)).astype(np.float32)
    scalars = () if scalar is None else (np.float32(scalar),)
    got = run_fused(backend, fn.kernel, [pred, target], scalars)
    for g, want in zip(got, fn.terms(pred, target)):
        assert relative_error(g, want) < 1e-5


@KERNEL_BACKENDS
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_kernel_matches_numpy(backend, rng, weighted):
    x = (rng.standard_normal((23, 40)) * 4).astype(np.float32)
    t = rng.random(x.shape).astype(np.float32)
    w = (rng.random(x.shape) + 0.5).astype(np.float32) if weighted else None
    pw = (rng.random(x.shape) * 3).astype(np.float32) if weighted else None
    weights = [(np.ones(1, np.float32), np.int32(0)) if a is None else (a, np.int32(1))
               for a in (w, pw)]
    got = run_fused(backend, "bce_with_logits_forward", [x, t, *weights[0], *weights[1]])
    for g, want in zip(got, L.BCEWithLogits("none", w, pw).terms(x, t)):
        assert relative_error(g, want) < 1e-5


@KERNEL_BACKENDS
def test_cross_entropy_kernel_matches_numpy(backend, rng):
    x = (rng.standard_normal((31, 13)) * 3).astype(np.float32)
    target = rng.integers(0, 13, 31)
    loss = backend.asarray(np.full(31, np.nan, np.float32))
    grad = backend.asarray(np.full(x.shape, np.nan, np.float32))
    kernel = get_kernel("loss", "cross_entropy_forward", np.float32, backend.kernels)
    launch_1d(kernel, 31, (backend.asarray(x), backend.asarray(target), loss, grad,
                           np.int32(1), np.int32(31), np.int32(13)))
    shifted = x - x.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected_grad = np.exp(log_p)
    expected_grad[np.arange(31), target] -= 1
    assert relative_error(backend.numpy(loss), -log_p[np.arange(31), target]) < 1e-5
    assert relative_error(backend.numpy(grad), expected_grad) < 1e-5


@KERNEL_BACKENDS
@pytest.mark.parametrize("n", [0, 1, 255, 256, 70001])
def test_kernel_sum_matches_numpy(backend, rng, n):
    x = rng.standard_normal(n).astype(np.float32)
    total = float(backend.numpy(L.kernel_sum(backend.asarray(x))))
    assert abs(total - x.astype(np.float64).sum()) <= 1e-5 * max(np.abs(x).sum(), 1e-30)


@KERNEL_BACKENDS
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_float32_match_numpy_path(backend, rng, reduction):
    """The whole operators, value and gradient, kernels against NumPy."""
    pred = rng.standard_normal((16, 40)).astype(np.float32)
    target = rng.random((16, 40)).astype(np.float32)
    classes = rng.integers(0, 40, 16)
    gy = rng.standard_normal(() if reduction != "none" else (16, 40)).astype(np.float32)
    gy_rows = rng.standard_normal(() if reduction != "none" else 16).astype(np.float32)
    r = reduction
    cases = [(lambda p, t, c: F.binary_cross_entropy_with_logits(p, t, reduction=r), gy),
             (lambda p, t, c: F.cross_entropy(p, c, reduction=r), gy_rows),
             *((lambda p, t, c, fn=fn: fn(p, t, reduction=r), gy) for fn in REGRESSION.values())]

    def run(asarray):
        results = []
        for fn, g in cases:
            p = mfa.tensor(asarray(pred), requires_grad=True)
            loss = fn(p, asarray(target), asarray(classes))
            loss.backward(asarray(g).reshape(g.shape))  # ascontiguousarray makes 0-d 1-d
            results += [backend.numpy(loss.data), backend.numpy(p.grad)]
        return results

    with use_backend("numpy"):
        expected = run(np.array)
    for got, want in zip(run(backend.asarray), expected):
        assert relative_error(got, want) < 1e-5


# --- the operator table: PyTorch as a reference where it is installed ---------------------
def loss_pairs(backend, rng, reduction):
    """name: (our loss of the logits, PyTorch's), the other arguments fixed."""
    target, classes = rng.random((6, 5)), rng.integers(0, 5, 6)
    w, pw = rng.random((1, 5)) + 0.5, rng.random(5) * 3
    a, t, r = backend.asarray, (lambda x: torch.tensor(x)), dict(reduction=reduction)
    return {
        "bce": (lambda p: F.binary_cross_entropy_with_logits(p, a(target), a(w), a(pw), **r),
                lambda p: tF.binary_cross_entropy_with_logits(p, t(target), t(w),
                                                              pos_weight=t(pw), **r)),
        "cross_entropy": (lambda p: F.cross_entropy(p, a(classes), **r),
                          lambda p: tF.cross_entropy(p, t(classes), **r)),
        "mse": (lambda p: F.mse_loss(p, a(target), **r), lambda p: tF.mse_loss(p, t(target), **r)),
        "l1": (lambda p: F.l1_loss(p, a(target), **r), lambda p: tF.l1_loss(p, t(target), **r)),
        "smooth_l1": (lambda p: F.smooth_l1_loss(p, a(target), beta=0.5, **r),
                      lambda p: tF.smooth_l1_loss(p, t(target), beta=0.5, **r)),
    }


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["bce", "cross_entropy", "mse", "l1", "smooth_l1"])
def test_loss_table(backend, rng, name, reduction):
    check_op(backend, [(6, 5)], *loss_pairs(backend, rng, reduction)[name], low=-6, high=6)
