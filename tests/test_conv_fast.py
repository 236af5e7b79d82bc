"""The faster NumPy convolution paths (functional/conv_fast.py) against the reference
im2col_numpy / col2im_numpy, and the workspace they draw their buffers from."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional import conv_fast
from minifaceattr.functional.conv import ConvGeometry, col2im_numpy, im2col_numpy
from minifaceattr.functional.workspace import Workspace

# (N, C, H, W, KH, KW, stride (h, w), padding (h, w), dilation (h, w)): awkward shapes.
GEOMETRIES = {
    "batch1-3x3-pad1": (1, 2, 7, 5, 3, 3, (1, 1), (1, 1), (1, 1)),
    "3x3-stride2-pad1-odd": (2, 3, 7, 9, 3, 3, (2, 2), (1, 1), (1, 1)),
    "7x7-stride2-pad3": (2, 1, 9, 8, 7, 7, (2, 2), (3, 3), (1, 1)),
    "1x1-stride1": (2, 3, 5, 6, 1, 1, (1, 1), (0, 0), (1, 1)),
    "1x1-stride2": (3, 2, 7, 5, 1, 1, (2, 2), (0, 0), (1, 1)),
    "nonsquare-kernel-stride-pairs": (1, 2, 9, 7, 3, 2, (2, 1), (1, 0), (1, 1)),
    "dilation2": (2, 2, 9, 7, 3, 3, (1, 1), (2, 2), (2, 2)),
    "padding-wider-than-reach": (2, 1, 4, 4, 5, 5, (3, 3), (4, 4), (1, 1)),
    "one-pixel": (1, 1, 1, 1, 3, 3, (1, 1), (1, 1), (1, 1)),
}
VERSIONS = sorted(conv_fast.IM2COL_VERSIONS)


@pytest.fixture(autouse=True)
def threads_even_for_small_arrays(monkeypatch):
    """Version 2 hands small copies to no thread; these tests' arrays are all small."""
    monkeypatch.setattr(conv_fast, "MIN_THREADED_ELEMENTS", 0)


def test_version2_splits_the_channels_between_threads(monkeypatch, rng):
    seen = []
    monkeypatch.setattr(conv_fast, "_im2col_channels", lambda x, cols, g, c: seen.append(c))
    g = geometry("3x3-stride2-pad1-odd")
    conv_fast.im2col_threaded(rng.standard_normal((g.N, g.C, g.H, g.W)), g)
    assert sorted((c.start, c.stop) for c in seen) == [(0, 2), (2, 3)]


def geometry(name):
    n, c, h, w, kh, kw, s, p, d = GEOMETRIES[name]
    return ConvGeometry(n, c, h, w, kh, kw, *s, *p, *d)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_im2col_versions_match_reference(rng, name, version):
    g = geometry(name)
    for _ in range(2):  # the second call reuses the workspace buffer: its zeros must hold
        x = rng.standard_normal((g.N, g.C, g.H, g.W))
        np.testing.assert_array_equal(conv_fast.IM2COL_VERSIONS[version](x, g),
                                      im2col_numpy(x, g))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_col2im_versions_match_reference(rng, name, version):
    g = geometry(name)
    cols = rng.standard_normal(g.cols_shape)
    np.testing.assert_allclose(conv_fast.COL2IM_VERSIONS[version](cols, g),
                               col2im_numpy(cols, g), rtol=1e-12, atol=1e-12)


def test_covers_image_only_for_the_centre_tap_of_same_convolutions():
    g = geometry("batch1-3x3-pad1")
    assert [(i, j) for i in range(3) for j in range(3) if conv_fast.covers_image(i, j, g)] == \
        [(1, 1)]
    assert not any(conv_fast.covers_image(i, j, geometry("3x3-stride2-pad1-odd"))
                   for i in range(3) for j in range(3))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["batch1-3x3-pad1", "3x3-stride2-pad1-odd", "1x1-stride2",
                                  "nonsquare-kernel-stride-pairs", "dilation2"])
def test_conv2d_gradcheck_through_fast_path(rng, name, version):
    n, c, h, w, kh, kw, s, p, d = GEOMETRIES[name]
    x = mfa.tensor(rng.standard_normal((n, c, h, w)), requires_grad=True)
    weight = mfa.tensor(rng.standard_normal((3, c, kh, kw)), requires_grad=True)
    bias = mfa.tensor(rng.standard_normal(3), requires_grad=True)
    with conv_fast.conv_versions(version):
        assert mfa.gradcheck(lambda *a: F.conv2d(*a, stride=s, padding=p, dilation=d),
                             [x, weight, bias])


def conv_step(x, weight, stride):
    """Forward and backward of a small two-layer convolution; the output and gradients."""
    xt = mfa.tensor(x, requires_grad=True)
    wt = mfa.tensor(weight, requires_grad=True)
    y = F.conv2d(F.relu(F.conv2d(xt, wt, stride=stride, padding=1)), wt, padding=1)
    (y * y).sum().backward()
    return y.data.copy(), xt.grad, wt.grad


@pytest.mark.parametrize("stride", [1, 2])
def test_fast_and_reference_training_steps_agree_float32(rng, stride):
    x = rng.standard_normal((3, 4, 9, 8)).astype(np.float32)
    weight = rng.standard_normal((4, 4, 3, 3)).astype(np.float32) / 6
    with conv_fast.reference_conv():
        expected = conv_step(x, weight, stride)
    for _ in range(2):  # twice: the second step runs on reused buffers
        for got, want in zip(conv_step(x, weight, stride), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_retain_graph_keeps_its_columns(rng):
    """A graph kept for a second backward keeps its buffers; other convolutions meanwhile
    must not overwrite them (they get new ones from the workspace)."""
    x = rng.standard_normal((2, 3, 6, 6))
    wt = mfa.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    loss = F.conv2d(mfa.tensor(x), wt, padding=1).sum()
    loss.backward(retain_graph=True)
    first = wt.grad.copy()
    F.conv2d(mfa.tensor(-x), wt, padding=1).sum().backward()  # same shapes, other values
    wt.grad = None
    loss.backward()
    np.testing.assert_allclose(wt.grad, first, rtol=1e-12)


def test_workspace_reuses_only_free_buffers():
    pool = Workspace()
    a = pool.get("k", (4,), np.float32, zero=True)
    b = pool.get("k", (4,), np.float32)
    assert a is not b and not a.any()
    view = b[1:]
    del b
    assert pool.get("k", (4,), np.float32) is not view.base  # a view keeps it busy
    del view
    assert len(pool.buffers[("k", (4,), "<f4")]) == 3


def test_workspace_scratch_grows_and_is_shared_between_shapes():
    pool = Workspace()
    small = pool.scratch("s", (2, 3), np.float64)
    small_base = small.base
    del small
    big = pool.scratch("s", (4, 5), np.float64)
    assert big.shape == (4, 5) and big.base is not small_base
    del big
    again = pool.scratch("s", (3, 2), np.float64)
    assert again.base.size == 20  # the grown buffer, reused for a smaller shape
    busy = pool.scratch("s", (2, 2), np.float64)
    del again
    grown = pool.scratch("s", (5, 5), np.float64)  # replaces the free one of 20 among two
    assert grown.base.size == 25 and busy.base.size == 4


def test_workspace_trim_drops_free_buffers_over_the_limit():
    pool = Workspace(limit_bytes=100)
    kept = pool.get("a", (20,), np.float32)  # 80 bytes, in use
    pool.get("b", (20,), np.float32)         # 80 more, free at once
    pool.trim()                              # over the limit: the free one goes
    assert pool.nbytes() == 80 and pool.buffers[("a", (20,), "<f4")][0] is kept
