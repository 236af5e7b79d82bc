"""F.graph_attention: MGG-Net's GCL step (Eq. 2), its NumPy twin and its fused kernel."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional.graph_attention import (graph_attention_backward_numpy,
                                                     graph_attention_numpy, run_backward_kernel,
                                                     run_forward_kernel)


def make_inputs(rng, n, k, d, dtype=np.float64):
    """Features f (N, K, D), projections W_g (K, D, D), score vectors w_e (K, D)."""
    f = rng.standard_normal((n, k, d))
    w_g = rng.standard_normal((k, d, d)) / np.sqrt(d)
    w_e = rng.standard_normal((k, d))
    return [a.astype(dtype) for a in (f, w_g, w_e)]


def eq2_by_loops(f, w_g, w_e, alpha):
    """Eq. 2 written out for one sample, receiver and sender at a time."""
    n, k, d = f.shape
    y, e = np.zeros_like(f), np.zeros((n, k, k))
    for s in range(n):
        for i in range(k):
            others = [j for j in range(k) if j != i]
            messages = {j: w_g[i] @ f[s, j] for j in others}
            scores = {j: w_e[i] @ np.maximum(messages[j], 0) for j in others}
            total = sum(np.exp(scores[j]) for j in others)
            mixed = np.zeros(d)
            for j in others:
                e[s, i, j] = np.exp(scores[j]) / total
                mixed += e[s, i, j] * messages[j]
            y[s, i] = np.maximum((1 - alpha) * f[s, i] + alpha * mixed, 0)
    return y, e


def relative_error(a, b):
    """max |a - b| / max |b|: the error relative to the size of the result."""
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# (N, K, D, alpha): batch 1, two groups, MGG-Net's eight, odd D, alpha at both ends.
CASES = [(1, 2, 1, 0.5), (1, 2, 3, 0.0), (2, 8, 5, 0.5), (3, 3, 4, 1.0), (2, 4, 7, 0.3)]


@pytest.mark.parametrize("n, k, d, alpha", CASES)
def test_gradcheck_all_inputs(backend, rng, n, k, d, alpha):
    inputs = [backend.tensor(a, requires_grad=True) for a in make_inputs(rng, n, k, d)]
    assert mfa.gradcheck(lambda f, w_g, w_e: F.graph_attention(f, w_g, w_e, alpha), inputs)


def test_gradcheck_wide_features_random_direction(backend, rng):
    """D = 130 is more than a block's 128 threads: each thread strides over two features."""
    inputs = [backend.tensor(a, requires_grad=True) for a in make_inputs(rng, 2, 3, 130)]
    assert mfa.gradcheck(lambda *a: F.graph_attention(*a, alpha=0.4), inputs, max_elements=0)


@pytest.mark.parametrize("n, k, d, alpha", CASES)
def test_matches_eq2_written_as_loops(backend, rng, n, k, d, alpha):
    f, w_g, w_e = make_inputs(rng, n, k, d)
    y, e = F.graph_attention(*map(backend.tensor, (f, w_g, w_e)), alpha, return_affinity=True)
    y_loop, e_loop = eq2_by_loops(f, w_g, w_e, alpha)
    np.testing.assert_allclose(backend.numpy(y.data), y_loop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(backend.numpy(e.data), e_loop, rtol=1e-12, atol=1e-12)


def test_softmax_leaves_out_the_node_itself(backend, rng):
    f, w_g, w_e = make_inputs(rng, 3, 8, 6)
    _, e = F.graph_attention(*map(backend.tensor, (f, w_g, w_e)), return_affinity=True)
    e = backend.numpy(e.data)
    assert np.all(np.diagonal(e, axis1=1, axis2=2) == 0)
    off_diagonal = e[:, ~np.eye(8, dtype=bool)]
    assert np.all(off_diagonal > 0)
    np.testing.assert_allclose(e.sum(axis=-1), 1, rtol=1e-12)


def test_receiver_ignores_its_own_message(backend, rng):
    """With alpha = 1 (no residual), f_i' and e_i. depend on the other nodes only."""
    f, w_g, w_e = make_inputs(rng, 2, 4, 3)
    changed = f.copy()
    changed[:, 0] = 10 * rng.standard_normal((2, 3))          # a new feature for node 0
    runs = [F.graph_attention(*map(backend.tensor, (x, w_g, w_e)), 1.0, return_affinity=True)
            for x in (f, changed)]
    (y1, e1), (y2, e2) = [(backend.numpy(y.data), backend.numpy(e.data)) for y, e in runs]
    np.testing.assert_allclose(y1[:, 0], y2[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(e1[:, 0], e2[:, 0], rtol=1e-12, atol=1e-12)
    assert np.abs(y1[:, 1:] - y2[:, 1:]).max() > 1e-3        # the others did hear node 0


def test_graph_is_directed(backend, rng):
    f, w_g, w_e = make_inputs(rng, 2, 5, 4)
    _, e = F.graph_attention(*map(backend.tensor, (f, w_g, w_e)), return_affinity=True)
    e = backend.numpy(e.data)
    assert np.abs(e - e.transpose(0, 2, 1)).max() > 1e-3


def test_alpha_ends(rng):
    """alpha = 0 keeps relu(f) (W_g and w_e get no gradient); alpha = 1 keeps only messages."""
    f, w_g, w_e = [mfa.tensor(a, requires_grad=True) for a in make_inputs(rng, 2, 4, 3)]
    y = F.graph_attention(f, w_g, w_e, alpha=0.0)
    np.testing.assert_array_equal(y.data, np.maximum(f.data, 0))
    y.sum().backward()
    assert not w_g.grad.any() and not w_e.grad.any()
    y1, e = F.graph_attention(f, w_g, w_e, alpha=1.0, return_affinity=True)
    messages = np.einsum("iop,njp->nijo", w_g.data, f.data)
    np.testing.assert_allclose(y1.data, np.maximum(np.einsum("nij,nijo->nio", e.data, messages), 0))


def test_affinity_is_outside_the_graph(rng):
    inputs = [mfa.tensor(a, requires_grad=True) for a in make_inputs(rng, 1, 3, 2)]
    y, e = F.graph_attention(*inputs, return_affinity=True)
    assert y.requires_grad and not e.requires_grad
    assert e.shape == (1, 3, 3) and y.shape == (1, 3, 2)


def test_float32_stays_float32(rng):
    y = F.graph_attention(*make_inputs(rng, 2, 3, 4, np.float32))
    assert y.dtype == np.float32


@pytest.mark.parametrize("shapes, message", [
    (((2, 1, 4), (1, 4, 4), (1, 4)), "at least 2 groups"),
    (((2, 3, 4), (3, 5, 4), (3, 5)), "D_out = D"),
    (((2, 3, 4), (3, 4, 4), (4, 3)), "w_e must be"),
    (((3, 4), (3, 4, 4), (3, 4)), "f must be"),
])
def test_bad_shapes_are_named(shapes, message):
    arrays = [np.zeros(s) for s in shapes]
    with pytest.raises(ValueError, match=message):
        F.graph_attention(*arrays)


# --- the kernel against its NumPy twin --------------------------------------------------

def poisoned(backend, shape, dtype):
    """An output array full of NaN: any element the kernel forgets to write shows."""
    return backend.asarray(np.full(shape, np.nan, dtype=dtype))


def run_kernel_and_twin(backend, rng, n, k, d, alpha, dtype):
    """Forward and backward through the kernel (into poisoned outputs) and through NumPy."""
    f, w_g, w_e = make_inputs(rng, n, k, d, dtype)
    m = (f[:, None] @ w_g.transpose(0, 2, 1)[None]).astype(dtype)
    gy = rng.standard_normal((n, k, d)).astype(dtype)
    y_np, e_np = graph_attention_numpy(m, f, w_e, alpha)
    grads_np = graph_attention_backward_numpy(gy, m, w_e, y_np, e_np, alpha)

    dev = [backend.asarray(a) for a in (m, f, w_e, gy, y_np, e_np)]
    y, e = poisoned(backend, (n, k, d), dtype), poisoned(backend, (n, k, k), dtype)
    run_forward_kernel(dev[0], dev[1], dev[2], alpha, y, e)
    gm, gf, gw_rows = (poisoned(backend, s, dtype) for s in ((n, k, k, d), (n, k, d), (n, k, d)))
    # the backward reads the twin's y and e, so that it is tested on its own
    run_backward_kernel(dev[3], dev[0], dev[2], dev[4], dev[5], alpha, gm, gf, gw_rows)
    kernel = [backend.numpy(a) for a in (y, e, gm, gf)] + [backend.numpy(gw_rows).sum(axis=0)]
    return kernel, [y_np, e_np, *grads_np]


KERNEL_BACKENDS = ["emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("backend", KERNEL_BACKENDS, indirect=True)
@pytest.mark.parametrize("n, k, d, alpha", [(4, 8, 64, 0.5), (2, 3, 200, 0.7), (1, 2, 1, 0.2)])
def test_kernel_matches_numpy_twin_float32(backend, rng, n, k, d, alpha):
    kernel, twin = run_kernel_and_twin(backend, rng, n, k, d, alpha, np.float32)
    for name, a, b in zip(["y", "e", "dm", "df", "dw_e"], kernel, twin):
        assert not np.isnan(a).any(), f"{name}: the kernel left elements unwritten"
        assert a.dtype == np.float32
        assert relative_error(a, b) < 1e-5, f"{name}: relative error {relative_error(a, b):.2e}"


@pytest.mark.parametrize("backend", ["emu"], indirect=True)
@pytest.mark.parametrize("order", ["reverse", "shuffle:7"])
def test_emulated_kernel_does_not_depend_on_thread_order(backend, rng, monkeypatch, order):
    """A missing __syncthreads shows when the emulator runs a block's threads in another order."""
    monkeypatch.setenv("MINIFACEATTR_EMU_ORDER", order)
    kernel, twin = run_kernel_and_twin(backend, rng, 2, 4, 37, 0.5, np.float64)
    for a, b in zip(kernel, twin):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
