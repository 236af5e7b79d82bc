"""Faster NumPy twins of ``im2col_numpy`` / ``col2im_numpy`` (conv.py), numbered like
llm.c's kernel versions. Each computes exactly what the reference computes (up to the order
of floating-point additions in col2im) and is tested against it in ``tests/test_conv_fast.py``.

    version 0  conv.im2col_numpy / col2im_numpy: the reference lesson 5 teaches. Pads a
               channel-major copy of x, then one copy per kernel tap; every buffer new.
    version 1  im2col_direct / col2im_direct: no padded copy. Each tap is copied straight
               from the NCHW input into the columns (col2im: added straight into the NCHW
               gradient), clipped to the image. The column buffers come from a workspace
               that keeps them across steps, so their pages are not faulted in again and
               the zeros where a window overhangs the image are written once, not per step.
    version 2  im2col_threaded / col2im_threaded: version 1 with the channels split between
               two threads. NumPy releases the GIL inside large copies and additions, so
               the two halves run on two cores at once.

``conv.Conv2d`` uses ``IM2COL_VERSION`` / ``COL2IM_VERSION`` (version 1 by default: see below);
``reference_conv()`` switches back to version 0, for lessons and tests.
"""
import contextlib
import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backend import kernel_backend
from .workspace import workspace

THREADS = 2
MIN_THREADED_ELEMENTS = 2 ** 20  # smaller copies take less time than handing them to a thread
_pool = None


def _forget_pool_in_child():
    global _pool
    _pool = None  # a forked child has none of the parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def tap_range(i, size, out_size, stride, padding, dilation):
    """Which outputs of tap i read inside the image along one axis: (first output, end,
    first input row): outputs o in [first, end) read input o·stride − padding + i·dilation."""
    offset = i * dilation - padding
    first = max(0, -(offset // stride))  # smallest o with o·stride + offset >= 0
    end = min(out_size, (size - 1 - offset) // stride + 1)
    return first, max(first, end), first * stride + offset


def tap_slices(i, j, g):
    """(the slice of (OH, OW) that tap (i, j) fills, the slice of (H, W) it reads), or None
    if the tap reads only padding."""
    oh0, oh1, h0 = tap_range(i, g.H, g.OH, g.SH, g.PH, g.DH)
    ow0, ow1, w0 = tap_range(j, g.W, g.OW, g.SW, g.PW, g.DW)
    if oh1 == oh0 or ow1 == ow0:
        return None
    out = (slice(oh0, oh1), slice(ow0, ow1))
    inp = (slice(h0, h0 + g.SH * (oh1 - oh0 - 1) + 1, g.SH),
           slice(w0, w0 + g.SW * (ow1 - ow0 - 1) + 1, g.SW))
    return out, inp


@functools.lru_cache(maxsize=512)
def tap_plan(g):
    """[(i, j, tap_slices(i, j, g))] for the taps that read inside the image, and the tap
    that covers it whole (or None): worked out once per geometry, not per call (on small
    layers the Python arithmetic would cost as much as the copies)."""
    taps = [(i, j, tap_slices(i, j, g)) for i in range(g.KH) for j in range(g.KW)]
    first = next(((i, j) for i, j, _ in taps if covers_image(i, j, g)), None)
    return [t for t in taps if t[2] is not None], first


def covers_image(i, j, g):
    """True if tap (i, j) reads every input pixel exactly once (stride 1, no overhang):
    col2im can then start with ``=`` on this tap instead of zeros and ``+=``."""
    s = tap_slices(i, j, g)
    return (s is not None and g.SH == g.SW == 1 and g.OH == g.H and g.OW == g.W
            and s[0] == (slice(0, g.H), slice(0, g.W)))


# --- version 1: direct copies, workspace buffers ----------------------------------------------

def im2col_direct(x, g, channels=None):
    """im2col without the padded copy; the columns live in a reused workspace buffer.

    cols[c, i, j, n, oh, ow] = x[n, c, oh·SH − PH + i·DH, ow·SW − PW + j·DW]: for each tap
    one strided copy of the part of x it reads. The entries where a window overhangs the
    image are zero from the buffer's creation and never written, so reuse keeps them zero
    (the buffer's key is the whole geometry)."""
    cols = workspace.get(("im2col", g), (g.C, g.KH, g.KW, g.N, g.OH, g.OW), x.dtype, zero=True)
    _im2col_channels(x, cols, g, slice(None) if channels is None else channels)
    return cols.reshape(g.cols_shape)


def _im2col_channels(x, cols, g, channels):
    xt = x.transpose(1, 0, 2, 3)[channels]  # (C, N, H, W), a view
    for i, j, (out, inp) in tap_plan(g)[0]:
        cols[channels, i, j, :, out[0], out[1]] = xt[:, :, inp[0], inp[1]]


def col2im_direct(cols, g):
    """col2im without the padded buffer: each tap's columns are added straight into the
    NCHW gradient, clipped to the image. When one tap covers the whole image (3×3, stride 1,
    padding 1: the centre tap), it is assigned first, so gx needs no zeroing."""
    gx = np.empty((g.N, g.C, g.H, g.W), cols.dtype)
    _col2im_channels(cols.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW), gx, g, slice(None))
    return gx


def _col2im_channels(cols, gx, g, channels):
    gxt = gx.transpose(1, 0, 2, 3)[channels]  # (C, N, H, W), a view
    taps, first = tap_plan(g)
    if first is None:
        gxt[...] = 0
    else:
        gxt[...] = cols[channels, first[0], first[1]]
    for i, j, (out, inp) in taps:
        if (i, j) != first:
            gxt[:, :, inp[0], inp[1]] += cols[channels, i, j, :, out[0], out[1]]


# --- version 2: version 1 on two threads --------------------------------------------------------

def channel_halves(c, parts=THREADS):
    """``parts`` contiguous slices that split c channels as evenly as possible."""
    bounds = np.linspace(0, c, parts + 1).round().astype(int)
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def run_in_threads(fn, slices, elements):
    """fn(s) for each slice, on a pool of THREADS threads (the calling thread waits); all in
    the calling thread when the work (``elements`` copied) is small."""
    global _pool
    if len(slices) == 1 or elements < MIN_THREADED_ELEMENTS:
        return fn(slice(None))
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="conv_fast")
    for future in [_pool.submit(fn, s) for s in slices]:
        future.result()


def im2col_threaded(x, g):
    """Version 1, its channels split between THREADS threads."""
    cols = workspace.get(("im2col", g), (g.C, g.KH, g.KW, g.N, g.OH, g.OW), x.dtype, zero=True)
    run_in_threads(lambda c: _im2col_channels(x, cols, g, c), channel_halves(g.C), cols.size)
    return cols.reshape(g.cols_shape)


def col2im_threaded(cols, g):
    """Version 1, its channels split between THREADS threads."""
    gx = np.empty((g.N, g.C, g.H, g.W), cols.dtype)
    cols = cols.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    run_in_threads(lambda c: _col2im_channels(cols, gx, g, c), channel_halves(g.C), cols.size)
    return gx


# --- which version conv.Conv2d runs ----------------------------------------------------------

IM2COL_VERSIONS = {1: im2col_direct, 2: im2col_threaded}
COL2IM_VERSIONS = {1: col2im_direct, 2: col2im_threaded}
IM2COL_VERSION = COL2IM_VERSION = 1  # v2: mixed results (benchmarks/results/*20261202.md)


def fast_im2col(x, g):
    """The im2col that ``conv.im2col`` runs on NumPy arrays (None: the reference)."""
    fn = IM2COL_VERSIONS.get(IM2COL_VERSION)
    return None if fn is None else fn(x, g)


def fast_col2im(cols, g):
    fn = COL2IM_VERSIONS.get(COL2IM_VERSION)
    return None if fn is None else fn(cols, g)


def matmul(a, b, name):
    """a @ b; on NumPy, from version 1 on, into a reused workspace buffer called ``name``
    (the forward's y2 and the backward's dcols are as big as the layer's output and columns,
    and live only until the next copy, so one buffer per name serves every layer)."""
    if kernel_backend(a) != "numpy" or max(IM2COL_VERSION, COL2IM_VERSION) < 1:
        return a @ b
    out = workspace.scratch(name, (a.shape[0], b.shape[1]), np.result_type(a, b))
    return np.matmul(a, b, out=out)


@contextlib.contextmanager
def conv_versions(im2col=0, col2im=None):
    """Run conv2d's NumPy path with the given versions (0 = the reference) inside the block."""
    global IM2COL_VERSION, COL2IM_VERSION
    saved = IM2COL_VERSION, COL2IM_VERSION
    IM2COL_VERSION, COL2IM_VERSION = im2col, im2col if col2im is None else col2im
    try:
        yield
    finally:
        IM2COL_VERSION, COL2IM_VERSION = saved


def reference_conv():
    """``with reference_conv(): ...`` runs conv2d on the reference im2col / col2im."""
    return conv_versions(0, 0)
