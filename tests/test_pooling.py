"""max_pool2d, avg_pool2d and global_avg_pool2d: the operator table (torch.nn.functional where
installed, gradient checks), hand-computed values, the kernels against their NumPy twins."""
import numpy as np
import pytest
from op_table import check_op, tF

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional.pooling import (PoolGeometry, avg_pool2d_backward_kernel,
                                             avg_pool2d_backward_numpy, avg_pool2d_kernel,
                                             avg_pool2d_numpy, global_avg_pool_backward_kernel,
                                             global_avg_pool_kernel, max_pool2d_backward_kernel,
                                             max_pool2d_backward_numpy, max_pool2d_kernel,
                                             max_pool2d_numpy)

on_kernel_backends = pytest.mark.parametrize(
    "backend", ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)

# (x shape, kernel_size, stride, padding): the awkward cases.
CASES = {
    "batch1-odd-3x3-stride2-pad1": ((1, 2, 7, 5), 3, 2, 1),
    "one-channel-7x7-pad3": ((2, 1, 9, 8), 7, 1, 3),
    "1x1-stride2": ((2, 3, 5, 6), 1, 2, 0),
    "nonsquare-pairs": ((1, 3, 8, 9), (2, 3), (1, 2), (1, 0)),
    "default-stride": ((2, 2, 6, 7), 2, None, 0),
}
POOLS = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}


@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("case", list(CASES))
def test_pool_table(backend, pool, case):
    """Random inputs have no ties, so the max pool's gradient is well defined."""
    shape, kernel, stride, padding = CASES[case]
    check_op(backend, [shape], lambda x: POOLS[pool](x, kernel, stride, padding),
             lambda x: getattr(tF, pool)(x, kernel, stride, padding))


# ceil_mode=True: a last, partial window kept (HMTNet's pool2: 26 -> 13 with a 3/2 window).
CEIL_CASES = {
    "hmtnet-pool2": ((1, 2, 13, 12), 3, 2, 0),
    "pad1-odd": ((2, 1, 8, 9), 3, 2, 1),
    "last-window-would-start-in-padding": ((1, 1, 5, 5), 3, 3, 1),
    "nonsquare-pairs": ((1, 1, 6, 7), (3, 2), (2, 3), (1, 0)),
}


@pytest.mark.parametrize("case", list(CEIL_CASES))
def test_max_pool_ceil_mode_table(backend, case):
    shape, kernel, stride, padding = CEIL_CASES[case]
    check_op(backend, [shape], lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode=True),
             lambda x: tF.max_pool2d(x, kernel, stride, padding, ceil_mode=True))


def test_max_pool_ceil_mode_keeps_the_partial_windows(backend):
    """x[h, w] = 4h + w, 3×3 windows at stride 2: floor mode has one window, ceil mode four;
    the partial ones (past the bottom and right edges) take the largest pixel they hold."""
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(pooled(backend, F.max_pool2d, x, 3, 2)[0], 10)
    y, gx = pooled(backend, lambda t, *a: F.max_pool2d(t, *a, ceil_mode=True), x, 3, 2)
    np.testing.assert_array_equal(y, [[10, 11], [14, 15]])
    np.testing.assert_array_equal(gx, np.isin(x, [10, 11, 14, 15]))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (1, 4, 7, 7), (3, 2, 1, 9)])
def test_global_avg_pool_table(backend, shape):
    check_op(backend, [shape], F.global_avg_pool2d,
             lambda x: tF.adaptive_avg_pool2d(x, 1).flatten(1))


@pytest.mark.parametrize("pool", list(POOLS))
def test_pool_gradcheck_random_direction(backend, rng, pool):
    x = backend.tensor(rng.standard_normal((3, 8, 17, 14)), requires_grad=True)
    assert x.numel() > 4096
    assert mfa.gradcheck(lambda x: POOLS[pool](x, 3, 2, 1), [x])


# --- values computed by hand -------------------------------------------------------------

def pooled(backend, pool, x, *args):
    """Forward value and the gradient of its sum, as NumPy arrays."""
    t = backend.tensor(np.asarray(x, dtype=np.float64).reshape(1, 1, *np.shape(x)),
                       requires_grad=True)
    y = pool(t, *args)
    y.sum().backward()
    return backend.numpy(y.data).squeeze(), backend.numpy(t.grad).squeeze()


X3 = [[1, 5, 2],
      [7, 3, 0],
      [4, 8, 6]]


def test_max_pool_known_windows(backend):
    """2 × 2 windows, stride 1: maxima 7, 5 / 8, 8; the 8 is the maximum of two windows."""
    y, grad = pooled(backend, F.max_pool2d, X3, 2, 1)
    np.testing.assert_array_equal(y, [[7, 5], [8, 8]])
    np.testing.assert_array_equal(grad, [[0, 1, 0], [1, 0, 0], [0, 2, 0]])


def test_max_pool_padding_is_minus_infinity(backend):
    """All-negative input, padded: every maximum is a pixel of the input, never a 0 of the
    padding. x = −[[1, 2, 3], [4, 5, 6], [7, 8, 9]]; 3 × 3 windows, stride 2, padding 1 each
    hold a 2 × 2 corner of x, whose largest value is its top-left one."""
    y, grad = pooled(backend, F.max_pool2d, -np.arange(1.0, 10.0).reshape(3, 3), 3, 2, 1)
    np.testing.assert_array_equal(y, [[-1, -2], [-4, -5]])
    np.testing.assert_array_equal(grad, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pool_ties_go_to_the_first_maximum(backend):
    """A constant plane: each window's gradient goes to its first pixel (row-major), as in
    PyTorch; here the four 2 × 2 stride-2 windows start at (0,0), (0,2), (2,0), (2,2)."""
    y, grad = pooled(backend, F.max_pool2d, np.ones((4, 4)), 2)
    np.testing.assert_array_equal(y, np.ones((2, 2)))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(grad, expected)


def test_max_pool_of_minus_infinity_picks_a_pixel_not_the_padding(backend):
    """A plane of −∞ (and padding of −∞): each window's gradient goes to its first pixel
    inside the plane."""
    y, grad = pooled(backend, F.max_pool2d, np.full((3, 3), -np.inf), 3, 2, 1)
    np.testing.assert_array_equal(y, np.full((2, 2), -np.inf))
    np.testing.assert_array_equal(grad, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pool_propagates_nan(backend):
    x = np.arange(16.0).reshape(4, 4)
    x[0, 1] = x[1, 0] = np.nan
    y, grad = pooled(backend, F.max_pool2d, x, 2)
    assert np.isnan(y[0, 0]) and not np.isnan(y[0, 1]) and y[1, 1] == 15
    assert grad[0, 1] == 1 and grad[1, 0] == 0      # the window's first NaN


def test_avg_pool_known_windows(backend):
    y, grad = pooled(backend, F.avg_pool2d, X3, 2, 1)
    np.testing.assert_allclose(y, [[4, 2.5], [5.5, 4.25]], rtol=1e-15)
    np.testing.assert_allclose(grad, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4, rtol=1e-15)


def test_avg_pool_counts_the_padding(backend):
    """count_include_pad=True: a corner window of ones, padded, holds 4 ones of 9 pixels."""
    y, _ = pooled(backend, F.avg_pool2d, np.ones((3, 3)), 3, 1, 1)
    np.testing.assert_allclose(y, np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, rtol=1e-15)


def test_global_avg_pool_known_values(backend):
    x = np.arange(24.0).reshape(2, 3, 2, 2)        # plane k holds 4k, 4k+1, 4k+2, 4k+3
    t = backend.tensor(x, requires_grad=True)
    y = F.global_avg_pool2d(t)
    assert y.shape == (2, 3)
    np.testing.assert_allclose(backend.numpy(y.data), 4 * np.arange(6.0).reshape(2, 3) + 1.5)
    y.backward(backend.asarray(np.arange(6.0).reshape(2, 3)))
    np.testing.assert_allclose(backend.numpy(t.grad),
                               np.broadcast_to(np.arange(6.0).reshape(2, 3, 1, 1) / 4, x.shape))


def test_pool_rejects_bad_arguments(rng):
    x = mfa.tensor(rng.standard_normal((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(x, 3, 1, 2)
    with pytest.raises(ValueError, match="smaller than the window"):
        F.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.global_avg_pool2d(mfa.tensor(rng.standard_normal((2, 3))))


# --- the kernels against their NumPy twins, float32 ----------------------------------------

GEOMETRIES = [  # planes, H, W, KH, KW, SH, SW, PH, PW[, ceil_mode]
    (1, 7, 5, 3, 3, 2, 2, 1, 1),
    (6, 17, 13, 3, 3, 2, 2, 1, 1),
    (4, 9, 8, 7, 7, 1, 1, 3, 3),
    (5, 6, 7, 1, 1, 2, 2, 0, 0),
    (3, 8, 9, 2, 3, 1, 2, 1, 0),
    (2, 12, 13, 3, 3, 2, 2, 0, 0, True),   # max pooling's ceil mode: partial last windows
    (3, 8, 9, 3, 2, 2, 3, 1, 0, True),
]


def max_relative_error(got, expected):
    """max |got − expected| / max |expected| (the ∞-norm relative error); NaN fails."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert not np.isnan(got).any(), f"{np.isnan(got).sum()} NaN elements: left unwritten?"
    return np.abs(got - expected).max() / max(np.abs(expected).max(), np.finfo(np.float32).tiny)


def poisoned(backend, shape, dtype=np.float32):
    """An output buffer the kernel must overwrite completely: NaN (or -1 for indices)."""
    return backend.asarray(np.full(shape, -1 if dtype == np.int32 else np.nan, dtype))


def random_planes(g, rng, kind="distinct"):
    """Normal values; "ties": rounded to integers (many equal maxima); "nan": a few NaN and
    −∞ among them."""
    x = rng.standard_normal((g.planes, g.H, g.W)).astype(np.float32)
    if kind == "ties":
        return np.round(x)
    if kind == "nan":
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.2] = -np.inf
    return x


@on_kernel_backends
@pytest.mark.parametrize("kind", ["distinct", "ties", "nan"])
@pytest.mark.parametrize("sizes", GEOMETRIES, ids=lambda s: "x".join(map(str, s)))
def test_max_pool_kernels_match_numpy(backend, sizes, kind):
    rng = np.random.default_rng(0)
    g = PoolGeometry(*sizes)
    x = random_planes(g, rng, kind)
    out_shape = (g.planes, g.OH, g.OW)
    y, argmax = max_pool2d_kernel(backend.asarray(x), g, out=poisoned(backend, out_shape),
                                  argmax=poisoned(backend, out_shape, np.int32))
    y_numpy, argmax_numpy = max_pool2d_numpy(x, g)
    np.testing.assert_array_equal(backend.numpy(y), y_numpy)
    np.testing.assert_array_equal(backend.numpy(argmax), argmax_numpy)

    gy = rng.standard_normal(out_shape).astype(np.float32)
    gx = max_pool2d_backward_kernel(backend.asarray(gy), argmax, g,
                                    out=poisoned(backend, x.shape))
    expected = max_pool2d_backward_numpy(gy, argmax_numpy, g).reshape(x.shape)
    assert max_relative_error(backend.numpy(gx), expected) < 1e-5


@on_kernel_backends
@pytest.mark.parametrize("sizes", [g for g in GEOMETRIES if len(g) == 9],  # no ceil mode
                         ids=lambda s: "x".join(map(str, s)))
def test_avg_pool_kernels_match_numpy(backend, sizes):
    rng = np.random.default_rng(0)
    g = PoolGeometry(*sizes)
    x = random_planes(g, rng)
    out_shape = (g.planes, g.OH, g.OW)
    y = avg_pool2d_kernel(backend.asarray(x), g, out=poisoned(backend, out_shape))
    assert max_relative_error(backend.numpy(y), avg_pool2d_numpy(x, g)) < 1e-5

    gy = rng.standard_normal(out_shape).astype(np.float32)
    gx = avg_pool2d_backward_kernel(backend.asarray(gy), g, out=poisoned(backend, x.shape))
    assert max_relative_error(backend.numpy(gx), avg_pool2d_backward_numpy(gy, g)) < 1e-5


@on_kernel_backends
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 7, 7), (3, 5, 4, 4), (2, 2, 19, 23)])
def test_global_avg_pool_kernels_match_numpy(backend, shape):
    """Planes of 1 to 437 pixels: fewer pixels than threads, and more (the strided loop)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = global_avg_pool_kernel(backend.asarray(x), out=poisoned(backend, shape[:2]))
    assert max_relative_error(backend.numpy(y), x.mean(axis=(2, 3))) < 1e-5

    gy = rng.standard_normal(shape[:2]).astype(np.float32)
    gx = global_avg_pool_backward_kernel(backend.asarray(gy), shape, out=poisoned(backend, shape))
    expected = np.broadcast_to(gy[:, :, None, None] / np.float32(shape[2] * shape[3]), shape)
    assert max_relative_error(backend.numpy(gx), expected) < 1e-6

