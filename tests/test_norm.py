"""Batch norm: gradient checks, kernels against their NumPy twins, hand-computed cases,
running statistics by formula, and PyTorch as a reference when it is installed."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import use_backend
from minifaceattr.functional.norm import backward_sums, batch_statistics, reduction_threads
from minifaceattr.kernels import get_kernel, launch_1d

KERNEL_BACKENDS = pytest.mark.parametrize(
    "backend", ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)

# Batch 1, one channel, odd and non-square sizes, and (N, C) inputs.
SHAPES = [(2, 3, 5, 4), (1, 1, 3, 3), (3, 2, 1, 5), (1, 3, 2, 1), (5, 3), (2, 1)]


def relative_error(a, b):
    """max |a − b| / max |b|: one number for a whole array."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def buffers(rng, c):
    return rng.standard_normal(c), rng.random(c) + 0.5


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck(backend, rng, shape, training):
    c = shape[1]
    x = backend.tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
    weight = backend.tensor(rng.standard_normal(c), requires_grad=True)
    bias = backend.tensor(rng.standard_normal(c), requires_grad=True)
    mean, var = map(backend.asarray, buffers(rng, c))

    def fn(x, weight, bias):  # fresh copies: every call of the check updates them in training
        return F.batch_norm(x, mean.copy(), var.copy(), weight, bias, training=training)
    assert mfa.gradcheck(fn, [x, weight, bias])


def test_gradcheck_without_affine_or_buffers(backend, rng):
    x = backend.tensor(rng.standard_normal((3, 2, 3, 1)), requires_grad=True)
    assert mfa.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])


def test_gradcheck_large_input_along_a_random_direction(backend, rng):
    """Over max_elements, gradcheck tests one random direction (here 2·8·17·19 elements)."""
    x = backend.tensor(rng.standard_normal((2, 8, 17, 19)), requires_grad=True)
    weight = backend.tensor(rng.standard_normal(8), requires_grad=True)
    assert mfa.gradcheck(lambda x, w: F.batch_norm(x, None, None, w, training=True), [x, weight])


@pytest.mark.parametrize("training", [True, False])
def test_only_the_weight_needs_a_gradient(backend, rng, training):
    x = backend.tensor(rng.standard_normal((4, 3, 2, 2)))
    weight = backend.tensor(rng.standard_normal(3), requires_grad=True)
    mean, var = map(backend.asarray, buffers(rng, 3))
    assert mfa.gradcheck(lambda w: F.batch_norm(x, mean.copy(), var.copy(), w,
                                                training=training), [weight])


def test_constant_channel_gives_bias(backend):
    """σ = 0 within each channel: x̂ = 0 / √ε = 0, so y = β exactly, and no NaN anywhere."""
    x = np.ones((3, 2, 4, 5), np.float32) * np.array([7.0, -2.5], np.float32)[:, None, None]
    x = backend.tensor(x, requires_grad=True)
    weight = backend.tensor(np.array([3.0, 0.5], np.float32), requires_grad=True)
    bias = backend.tensor(np.array([0.25, -1.0], np.float32), requires_grad=True)
    y = F.batch_norm(x, None, None, weight, bias, training=True)
    np.testing.assert_array_equal(backend.numpy(y.data)[:, :, 0, 0], [[0.25, -1.0]] * 3)
    np.testing.assert_array_equal(backend.numpy(y.data), backend.numpy(y.data)[:, :, :1, :1]
                                  * np.ones((1, 1, 4, 5)))
    (y * y).sum().backward()
    for t in (x, weight, bias):
        assert np.isfinite(backend.numpy(t.grad)).all()


def test_running_statistics_follow_pytorchs_formula(backend, rng):
    """r ← 0.9·r + 0.1·batch statistic, with the unbiased variance, over several steps."""
    mean, var = np.zeros(3), np.ones(3)
    running_mean, running_var = backend.asarray(mean.copy()), backend.asarray(var.copy())
    for step in range(4):
        x = rng.standard_normal((2, 3, 3, 5)) * (step + 1) + step
        F.batch_norm(backend.tensor(x), running_mean, running_var, training=True, momentum=0.1)
        m = x.shape[0] * x.shape[2] * x.shape[3]
        batch_mean = x.mean(axis=(0, 2, 3))
        batch_var = ((x - batch_mean[:, None, None]) ** 2).sum(axis=(0, 2, 3)) / (m - 1)
        mean = 0.9 * mean + 0.1 * batch_mean
        var = 0.9 * var + 0.1 * batch_var
    np.testing.assert_allclose(backend.numpy(running_mean), mean, rtol=1e-12)
    np.testing.assert_allclose(backend.numpy(running_var), var, rtol=1e-12)


def test_training_normalises_with_the_biased_variance(backend, rng):
    x = rng.standard_normal((7, 4)) * 3 + 2
    y = backend.numpy(F.batch_norm(backend.tensor(x), None, None, training=True, eps=0).data)
    np.testing.assert_allclose(y, (x - x.mean(0)) / x.std(0), rtol=1e-10, atol=1e-12)


def test_evaluation_uses_the_running_statistics(backend, rng):
    x = rng.standard_normal((2, 3, 4, 3))
    mean, var = buffers(rng, 3)
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    running_mean, running_var = backend.asarray(mean.copy()), backend.asarray(var.copy())
    y = F.batch_norm(backend.tensor(x), running_mean, running_var, backend.tensor(weight),
                     backend.tensor(bias), training=False)
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) \
        * weight[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(backend.numpy(y.data), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(backend.numpy(running_mean), mean)  # untouched
    np.testing.assert_array_equal(backend.numpy(running_var), var)


def test_clear_errors(rng):
    x = mfa.tensor(rng.standard_normal((1, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError, match="needs running_mean"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(TypeError, match="momentum must be a number"):
        F.batch_norm(mfa.tensor(rng.standard_normal((2, 3))), None, None, training=True,
                     momentum=None)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\)"):
        F.batch_norm(x, np.zeros(3), np.ones(3), mfa.tensor(np.ones(4)))


# --- the kernels against their NumPy twins, in float32 -------------------------------------
def float32_input(rng, shape):
    return (rng.standard_normal(shape) * 1.5 + 0.7).astype(np.float32)


# The reductions with more elements per channel than threads (6·9·11 > 512; a step of 512
# is 5 rows of L = 99 plus 17: the odometer carries), rows longer than the block (L = 1200),
# (N, C) inputs (L = 1), and a block larger than the channel (3 elements, 4 threads).
@KERNEL_BACKENDS
@pytest.mark.parametrize("shape", [(6, 5, 9, 11), (2, 3, 40, 30), (33, 7), (1, 2, 1, 3)])
def test_statistics_kernels_match_numpy(backend, rng, shape):
    n, c = shape[:2]
    x3 = float32_input(rng, shape).reshape(n, c, -1)
    gy3 = float32_input(rng, x3.shape)
    with use_backend("numpy"):
        mean, var = batch_statistics(x3)
        inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
        sum_gy, sum_gy_xhat = backward_sums(gy3, x3, mean, inv_std)

    def run(name, *inputs):
        outputs = [backend.asarray(np.full(c, np.nan, np.float32)) for _ in range(2)]
        kernel = get_kernel("norm", name, np.float32, backend.kernels)
        sizes = (np.int32(n), np.int32(c), np.int32(x3.shape[2]))
        threads = (reduction_threads(x3.shape[0] * x3.shape[2]),)
        kernel((c,), threads, (*map(backend.asarray, inputs), *outputs, *sizes))
        return [backend.numpy(o) for o in outputs]

    got_mean, got_var = run("batch_norm_statistics", x3)
    assert relative_error(got_mean, mean) < 1e-5
    assert relative_error(got_var, var) < 1e-5
    got_sum_gy, got_sum_gy_xhat = run("batch_norm_backward_sums", gy3, x3, mean, inv_std)
    assert relative_error(got_sum_gy, sum_gy) < 1e-5
    assert relative_error(got_sum_gy_xhat, sum_gy_xhat) < 1e-5


@KERNEL_BACKENDS
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (17, 6)])
def test_elementwise_kernels_match_numpy(backend, rng, shape):
    n, c = shape[:2]
    x3 = float32_input(rng, shape).reshape(n, c, -1)
    gy3 = float32_input(rng, x3.shape)
    mean, weight, bias, mean_gy, mean_gy_xhat = (float32_input(rng, c) for _ in range(5))
    inv_std = (rng.random(c) + 0.5).astype(np.float32)
    xhat = (x3 - mean[:, None]) * inv_std[:, None]
    expected_y = xhat * weight[:, None] + bias[:, None]
    expected_dx = ((weight * inv_std)[:, None]
                   * (gy3 - mean_gy[:, None] - xhat * mean_gy_xhat[:, None]))

    def run(name, *inputs):
        out = backend.asarray(np.full(x3.shape, np.nan, np.float32))
        kernel = get_kernel("norm", name, np.float32, backend.kernels)
        sizes = (np.int32(c), np.int32(x3.shape[2]), np.int32(x3.size))
        launch_1d(kernel, x3.size, (*map(backend.asarray, inputs), out, *sizes))
        return backend.numpy(out)

    assert relative_error(run("batch_norm_normalize", x3, mean, inv_std, weight, bias),
                          expected_y) < 1e-5
    assert relative_error(run("batch_norm_backward_input", gy3, x3, mean, inv_std, weight,
                              mean_gy, mean_gy_xhat), expected_dx) < 1e-5


@KERNEL_BACKENDS
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_float32_matches_numpy_path(backend, rng, training):
    """The whole operator, forward, backward and running buffers, kernels against NumPy."""
    x, gy = float32_input(rng, (4, 6, 5, 3)), float32_input(rng, (4, 6, 5, 3))
    weight, bias = float32_input(rng, 6), float32_input(rng, 6)
    mean, var = (b.astype(np.float32) for b in buffers(rng, 6))

    def run(asarray):
        xs = [mfa.tensor(asarray(a), requires_grad=True) for a in (x, weight, bias)]
        running = [asarray(mean.copy()), asarray(var.copy())]
        y = F.batch_norm(xs[0], *running, xs[1], xs[2], training=training)
        y.backward(asarray(gy))
        return [backend.numpy(a) for a in [y.data, *running, *(t.grad for t in xs)]]

    with use_backend("numpy"):
        expected = run(np.array)
    for got, want in zip(run(backend.asarray), expected):
        assert relative_error(got, want) < 1e-5


# --- PyTorch as a reference ------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (9, 4)])
def test_matches_pytorch(backend, rng, shape, training):
    torch = pytest.importorskip("torch")
    c = shape[1]
    x, gy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    weight, bias = rng.standard_normal(c), rng.standard_normal(c)
    mean, var = buffers(rng, c)

    ours = [backend.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    running = [backend.asarray(mean.copy()), backend.asarray(var.copy())]
    y = F.batch_norm(ours[0], *running, ours[1], ours[2], training=training, momentum=0.3)
    y.backward(backend.asarray(gy))

    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    t_running = [torch.tensor(mean), torch.tensor(var)]
    t_y = torch.nn.functional.batch_norm(theirs[0], *t_running, theirs[1], theirs[2],
                                         training=training, momentum=0.3)
    t_y.backward(torch.tensor(gy))

    np.testing.assert_allclose(backend.numpy(y.data), t_y.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(running, t_running):
        np.testing.assert_allclose(backend.numpy(a), b.numpy(), rtol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(backend.numpy(a.grad), b.grad.numpy(), rtol=1e-9, atol=1e-12)
