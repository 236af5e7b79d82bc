"""The activation and reduction kernels agree with their NumPy twins, element by element.

Each kernel runs through the emulator ("emu") and, under ``pytest -m gpu``, on the GPU
("cuda"), on fresh random inputs of awkward sizes. Output buffers are filled with NaN before
the launch, so an element the kernel forgets to write fails the test.
"""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import get_array_module
from minifaceattr.kernels import THREADS_PER_BLOCK, get_kernel, grid_1d, launch_1d

SIZES = [1, 31, 257, 4099]
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
on_kernel_backends = pytest.mark.parametrize(
    "backend", ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)


def sigmoid64(x):
    return np.exp(-np.logaddexp(0, -x))


# name: (NumPy twin computed in float64, inputs drawn for it)
TWINS = {
    "relu_forward": (lambda x: np.maximum(x, 0), ["x"]),
    "relu_backward": (lambda x, gy: gy * (x > 0), ["x", "gy"]),
    "sigmoid_forward": (sigmoid64, ["x"]),
    "sigmoid_backward": (lambda y, gy: gy * y * (1 - y), ["sigmoid(x)", "gy"]),
    "tanh_forward": (np.tanh, ["x"]),
    "tanh_backward": (lambda y, gy: gy * (1 - y * y), ["tanh(x)", "gy"]),
}


def draw(what, n, dtype, rng):
    """Random inputs: x spans both signs, with exact zeros and huge values (where a naive
    sigmoid gives inf / inf); a saved output y comes from |x| <= 3, where 1 - y² and
    1 - y are well conditioned."""
    if what == "x":
        x = rng.normal(0, 4, n)
        x[rng.random(n) < 0.1] = 0
        x[rng.random(n) < 0.05] = rng.choice([-1000, -100, 100, 1000])
        return x.astype(dtype)
    if what == "gy":
        return rng.normal(0, 1, n).astype(dtype)
    x = rng.uniform(-3, 3, n)
    return (np.tanh(x) if what == "tanh(x)" else sigmoid64(x)).astype(dtype)


def assert_close(got, expected, rtol, what):
    assert not np.isnan(got).any(), f"{what}: {np.isnan(got).sum()} NaN (unwritten?) elements"
    error = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(got.dtype).tiny)
    worst = int(np.argmax(error))
    assert error[worst] < rtol, (f"{what}: relative error {error[worst]:.2e} at {worst}: "
                                 f"{got[worst]!r} vs {expected[worst]!r}")


@on_kernel_backends
@pytest.mark.parametrize("max_blocks", [None, 2], ids=["grid-covers-n", "grid-stride"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", list(TWINS))
def test_activation_kernel_matches_numpy(backend, name, n, dtype, max_blocks):
    twin, inputs = TWINS[name]
    rng = np.random.default_rng(0)
    host = [draw(what, n, dtype, rng) for what in inputs]
    args = [backend.asarray(a) for a in host]
    out = get_array_module(args[0]).full(n, np.nan, dtype)
    kernel = get_kernel("activation", name, dtype, backend.kernels)
    launch_1d(kernel, n, (*args, out, np.int32(n)), max_blocks=max_blocks)
    expected = twin(*[a.astype(np.float64) for a in host])
    assert_close(backend.numpy(out), expected, RTOL[dtype], f"{name}[n={n}, {dtype.__name__}]")


def block_sum_twin(x, blocks):
    """What block_sum writes: block b adds the elements whose grid-stride owner is in b."""
    owner = np.arange(x.size) % (blocks * THREADS_PER_BLOCK) // THREADS_PER_BLOCK
    return np.bincount(owner, weights=x.astype(np.float64), minlength=blocks)


def block_sum(backend, x, max_blocks):
    """Launch block_sum over x (on the backend); return the partial sums, one per block."""
    xp = get_array_module(x)
    blocks = grid_1d(x.size, max_blocks=max_blocks)
    partial = xp.full(blocks, np.nan, x.dtype)
    kernel = get_kernel("loss_sum", "block_sum", x.dtype, backend.kernels)
    kernel((blocks,), (THREADS_PER_BLOCK,), (x, partial, np.int32(x.size)),
           shared_mem=THREADS_PER_BLOCK * x.itemsize)
    return partial


@on_kernel_backends
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("n, max_blocks", [(1, None), (255, None), (1000, None), (20001, 8)])
def test_block_sum_matches_numpy(backend, n, dtype, max_blocks):
    x_host = np.random.default_rng(0).uniform(0, 1, n).astype(dtype)
    partial = block_sum(backend, backend.asarray(x_host), max_blocks)
    expected = block_sum_twin(x_host, partial.size)
    assert_close(backend.numpy(partial), expected, RTOL[dtype], f"block_sum partials, n={n}")
    total = block_sum(backend, partial, 1)   # second pass: one block adds the partial sums
    assert_close(backend.numpy(total), [x_host.astype(np.float64).sum()], RTOL[dtype],
                 f"block_sum total, n={n}")


# ---- through the operators: F.relu / F.sigmoid / F.tanh on every backend ------------------

OPERATORS = {"relu": (F.relu, lambda x: np.maximum(x, 0), lambda x, y: (x > 0) * 1.0),
             "sigmoid": (F.sigmoid, sigmoid64, lambda x, y: y * (1 - y)),
             "tanh": (F.tanh, np.tanh, lambda x, y: 1 - y * y)}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(OPERATORS))
def test_operator_forward_and_backward(backend, name, dtype):
    op, forward, derivative = OPERATORS[name]
    rng = np.random.default_rng(0)
    x_host = rng.uniform(-3, 3, (3, 5, 7)).astype(dtype)
    gy_host = rng.normal(0, 1, x_host.shape).astype(dtype)
    x = backend.tensor(x_host, requires_grad=True)
    y = op(x)
    y.backward(backend.asarray(gy_host))
    x64 = x_host.astype(np.float64)
    y64 = forward(x64)
    assert y.dtype == x.dtype and x.grad.dtype == x.dtype
    # The gradient is computed from float32 values of y: its error scales like gy, not like gx.
    np.testing.assert_allclose(backend.numpy(y.data), y64, rtol=RTOL[dtype], atol=0)
    np.testing.assert_allclose(backend.numpy(x.grad), gy_host * derivative(x64, y64),
                               rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("name", list(OPERATORS))
def test_operator_gradcheck(backend, name):
    op = OPERATORS[name][0]
    rng = np.random.default_rng(0)
    x_host = rng.uniform(0.1, 2, (2, 3, 5)) * rng.choice([-1, 1], (2, 3, 5))  # no relu kink
    assert mfa.gradcheck(op, [backend.tensor(x_host, requires_grad=True)])
