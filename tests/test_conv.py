"""conv2d: the operator table (PyTorch where installed, gradient checks), hand-computed values,
the kernels against their NumPy twins."""
import numpy as np
import pytest
from op_table import check_op, tF

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import get_array_module
from minifaceattr.functional.conv import (ConvGeometry, channel_major_to_nchw_kernel,
                                          channel_major_to_nchw_numpy, col2im_kernel,
                                          col2im_numpy, im2col_kernel, im2col_numpy,
                                          nchw_to_channel_major_kernel,
                                          nchw_to_channel_major_numpy)

on_kernel_backends = pytest.mark.parametrize(
    "backend", ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)

# (x shape, weight shape, stride, padding, dilation, with bias): the awkward cases.
CASES = {
    "batch1-odd-nonsquare": ((1, 2, 7, 5), (3, 2, 3, 3), 1, 1, 1, True),
    "7x7-stride2-pad3-one-channel": ((2, 1, 9, 8), (2, 1, 7, 7), 2, 3, 1, True),
    "1x1-stride2": ((2, 3, 5, 6), (4, 3, 1, 1), 2, 0, 1, True),
    "dilation2-pairs-no-bias": ((1, 2, 9, 7), (2, 2, 3, 2), (2, 1), (2, 1), 2, False),
    "kernel-as-large-as-input": ((2, 2, 3, 4), (1, 2, 3, 4), 1, 0, 1, True),
}


def make_inputs(backend, rng, x_shape, w_shape, with_bias, dtype=np.float64):
    def draw(*shape):
        return rng.standard_normal(shape).astype(dtype)
    x = backend.tensor(draw(*x_shape), requires_grad=True)
    w = backend.tensor(draw(*w_shape), requires_grad=True)
    b = backend.tensor(draw(w_shape[0]), requires_grad=True) if with_bias else None
    return x, w, b


@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_table(backend, case):
    """Against torch.nn.functional.conv2d (or the NumPy path) and by a gradient check."""
    x_shape, w_shape, stride, padding, dilation, with_bias = CASES[case]
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    shapes = [x_shape, w_shape] + ([w_shape[0]] if with_bias else [])
    check_op(backend, shapes, lambda *a: F.conv2d(*a, **kw), lambda *a: tF.conv2d(*a, **kw))


def test_conv2d_gradcheck_random_direction(backend, rng):
    """A larger input (more than gradcheck's max_elements), checked along a random direction."""
    x, w, b = make_inputs(backend, rng, (3, 8, 17, 14), (6, 8, 3, 3), True)
    assert x.numel() + w.numel() > 4096
    assert mfa.gradcheck(lambda *a: F.conv2d(*a, stride=2, padding=1), [x, w, b])


def test_conv2d_only_needed_gradients(backend, rng):
    """An input that does not require grad gets none; the others are unchanged by that."""
    x, w, b = make_inputs(backend, rng, (2, 3, 6, 5), (4, 3, 3, 3), True)
    F.conv2d(x, w, b, padding=1).sum().backward()
    full, full_dx = backend.numpy(w.grad), backend.numpy(x.grad)
    x2 = backend.tensor(backend.numpy(x.data))           # requires_grad=False
    w.grad = None
    F.conv2d(x2, w, b, padding=1).sum().backward()
    assert x2.grad is None
    np.testing.assert_allclose(backend.numpy(w.grad), full, rtol=1e-12)
    x.grad = None                                        # and a frozen weight
    w_frozen = backend.tensor(backend.numpy(w.data))
    F.conv2d(x, w_frozen, b, padding=1).sum().backward()
    assert w_frozen.grad is None
    np.testing.assert_allclose(backend.numpy(x.grad), full_dx, rtol=1e-12)


# --- values computed by hand -------------------------------------------------------------

def conv_values(backend, x, w, b=None, **kw):
    def t(a):
        return backend.tensor(np.asarray(a, dtype=np.float64))
    return backend.numpy(F.conv2d(t(x), t(w), None if b is None else t(b), **kw).data)


def test_conv2d_known_difference_kernel(backend):
    """x[h, w] = 4h + w, kernel [[1, 0], [0, -1]]: every output is x[h, w] − x[h+1, w+1] = −5."""
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.array([[[[1, 0], [0, -1]]]])
    np.testing.assert_array_equal(conv_values(backend, x, w), np.full((1, 1, 3, 3), -5.0))
    np.testing.assert_array_equal(conv_values(backend, x, w, b=[0.5]), np.full((1, 1, 3, 3), -4.5))


def test_conv2d_known_box_filter_with_padding(backend):
    """A 3 × 3 box of ones over a 3 × 3 image of ones, zero-padded: how many pixels each
    window covers (4 at a corner, 6 on an edge, 9 in the middle)."""
    y = conv_values(backend, np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=1)
    np.testing.assert_array_equal(y[0, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_conv2d_known_stride_and_dilation(backend):
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    # 1 × 1 kernel of 2, stride 2: every other pixel, doubled.
    y = conv_values(backend, x, np.full((1, 1, 1, 1), 2.0), stride=2)
    np.testing.assert_array_equal(y[0, 0], 2 * x[0, 0, ::2, ::2])
    # 2 × 2 ones with dilation 2: x[h, w] + x[h, w+2] + x[h+2, w] + x[h+2, w+2] = 4x[h, w] + 24.
    y = conv_values(backend, x, np.ones((1, 1, 2, 2)), dilation=2)
    np.testing.assert_array_equal(y[0, 0], 4 * x[0, 0, :3, :3] + 24)


def test_conv2d_two_channels_sum(backend):
    """Output channel o sums its input channels: channel 0 weighted 1, channel 1 weighted −1."""
    x = np.stack([np.full((2, 2), 3.0), np.full((2, 2), 1.0)])[None]
    w = np.array([1.0, -1.0]).reshape(1, 2, 1, 1)
    np.testing.assert_array_equal(conv_values(backend, x, w), np.full((1, 1, 2, 2), 2.0))


def test_conv2d_rejects_bad_shapes(rng):
    x = mfa.tensor(rng.standard_normal((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(x, mfa.tensor(rng.standard_normal((2, 4, 3, 3))))
    with pytest.raises(ValueError, match="no output pixel"):
        F.conv2d(x, mfa.tensor(rng.standard_normal((2, 3, 7, 7))))
    with pytest.raises(TypeError, match="dtype"):
        F.conv2d(x, mfa.tensor(rng.standard_normal((2, 3, 3, 3)).astype(np.float32)))
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, mfa.tensor(rng.standard_normal((2, 3, 3, 3))), stride=0)


# --- the kernels against their NumPy twins, float32 ----------------------------------------

GEOMETRIES = [  # N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW
    (1, 1, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1),
    (2, 3, 11, 9, 7, 7, 2, 2, 3, 3, 1, 1),
    (3, 2, 6, 7, 1, 1, 2, 2, 0, 0, 1, 1),
    (2, 4, 13, 10, 3, 2, 2, 1, 2, 1, 2, 2),
    (4, 5, 9, 9, 3, 3, 3, 3, 0, 1, 1, 1),
]


def max_relative_error(got, expected):
    """max |got − expected| / max |expected| (the ∞-norm relative error); NaN fails."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert not np.isnan(got).any(), f"{np.isnan(got).sum()} NaN elements: left unwritten?"
    return np.abs(got - expected).max() / max(np.abs(expected).max(), np.finfo(np.float32).tiny)


def poisoned(backend, shape, dtype=np.float32):
    """An output buffer full of NaN, so that an element the kernel forgets stays NaN."""
    return backend.asarray(np.full(shape, np.nan, dtype))


@on_kernel_backends
@pytest.mark.parametrize("sizes", GEOMETRIES, ids=lambda s: "x".join(map(str, s)))
def test_im2col_and_col2im_kernels_match_numpy(backend, sizes):
    rng = np.random.default_rng(0)
    g = ConvGeometry(*sizes)
    x = rng.standard_normal((g.N, g.C, g.H, g.W)).astype(np.float32)
    cols = im2col_kernel(backend.asarray(x), g, out=poisoned(backend, g.cols_shape))
    np.testing.assert_array_equal(backend.numpy(cols), im2col_numpy(x, g))  # a copy: exact

    d_cols = rng.standard_normal(g.cols_shape).astype(np.float32)
    x_grad = col2im_kernel(backend.asarray(d_cols), g, out=poisoned(backend, x.shape))
    assert max_relative_error(backend.numpy(x_grad), col2im_numpy(d_cols, g)) < 1e-5


@on_kernel_backends
def test_layout_kernels_match_numpy(backend):
    rng = np.random.default_rng(0)
    g = ConvGeometry(3, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1)    # 5 × 4 output pixels
    y2 = rng.standard_normal((6, g.N * g.OH * g.OW)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    for b in (bias, None):
        y = channel_major_to_nchw_kernel(backend.asarray(y2), None if b is None else
                                         backend.asarray(b), g,
                                         out=poisoned(backend, (g.N, 6, g.OH, g.OW)))
        assert max_relative_error(backend.numpy(y), channel_major_to_nchw_numpy(y2, b, g)) < 1e-6
    gy = rng.standard_normal((g.N, 6, g.OH, g.OW)).astype(np.float32)
    gy2 = nchw_to_channel_major_kernel(backend.asarray(gy), g, out=poisoned(backend, y2.shape))
    np.testing.assert_array_equal(backend.numpy(gy2), nchw_to_channel_major_numpy(gy, g))


@on_kernel_backends
@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_kernel_path_matches_numpy_float32(backend, case):
    """The whole operator, forward and backward, through the kernels and through NumPy."""
    x_shape, w_shape, stride, padding, dilation, with_bias = CASES[case]
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(s).astype(np.float32) for s in (x_shape, w_shape)]
    host += [rng.standard_normal(w_shape[0]).astype(np.float32)] if with_bias else []
    kw = dict(stride=stride, padding=padding, dilation=dilation)

    def run(make):
        inputs = [make(a) for a in host]
        y = F.conv2d(*inputs, **kw)
        gy = np.linspace(-1, 1, y.numel(), dtype=np.float32).reshape(y.shape)
        y.backward(get_array_module(y.data).asarray(gy))
        return [backend.numpy(t) for t in [y.data] + [i.grad for i in inputs]]

    got = run(lambda a: backend.tensor(a, requires_grad=True))
    with mfa.use_backend("numpy"):
        expected = run(lambda a: mfa.tensor(a, requires_grad=True))
    for name, g, e in zip(["y", "dx", "dw", "db"], got, expected):
        assert g.dtype == np.float32
        assert max_relative_error(g, e) < 1e-5, name

