"""The engine: graph edge cases, accumulation, dtype and device rules."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr.autograd import Function, topological_order


def t(a, grad=True):
    return mfa.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_square_uses_input_twice():
    x = t([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, -4.0, 6.0])


def test_reused_non_leaf_accumulates_from_every_use():
    x = t(3.0)
    y = x * x          # y = 9, used three times below
    z = y * y + y      # dz/dy = 2y + 1 = 19, dy/dx = 2x = 6
    z.backward()
    assert x.grad == pytest.approx(19 * 6)


def test_diamond():
    x = t(2.0)
    a, b = x * 3, x.exp()
    (a * b).backward()  # d/dx (3x e^x) = 3 e^x + 3x e^x
    assert x.grad == pytest.approx(3 * np.exp(2) * (1 + 2))


def test_tensor_reused_across_branches_with_broadcast():
    x = t(np.arange(3.0))                  # (3,)
    w = t(np.ones((2, 3)))                 # (2, 3)
    y = (x * w).sum() + (x + w).sum()      # x broadcast to (2, 3) in both branches
    y.backward()
    np.testing.assert_allclose(x.grad, [2 + 2] * 3)
    np.testing.assert_allclose(w.grad, np.arange(3.0)[None, :] + 1 + np.zeros((2, 3)))


def test_deep_chain_does_not_recurse():
    x = t(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000)


def test_each_node_is_visited_once_in_topological_order():
    x = t(1.0)
    y = x * 2
    z = y + y * y
    order = topological_order(z)
    assert order[0] is z and order[-1] is x
    assert len(order) == len(set(order))
    assert order.index(y) > order.index(z)


def test_backward_twice_on_fresh_graphs_accumulates():
    x = t([1.0, 2.0])
    for _ in range(2):
        (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


def test_backward_twice_on_same_graph_needs_retain_graph():
    x = t([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * x.data)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_no_grad_builds_no_graph():
    x = t([1.0, 2.0])
    with mfa.no_grad():
        y = x * 2 + 1
    assert y.creator is None and not y.requires_grad
    assert mfa.is_grad_enabled()


def test_intermediate_gradients_are_freed_but_can_be_retained():
    x = t([1.0, 2.0])
    y = x * 2
    z = (y * y).retain_grad()
    z.sum().backward()
    assert y.grad is None
    np.testing.assert_allclose(z.grad, [1.0, 1.0])


def test_backward_needs_scalar_or_explicit_grad():
    x = t([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 20.0])


def test_non_differentiable_path_is_skipped():
    class Detach(Function):
        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            return None

    x = t([1.0, 2.0])
    y = (Detach()(x) + x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_dtype_rules():
    assert mfa.tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert mfa.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert mfa.tensor([1.0, 2.0]).dtype == np.float32
    x32 = mfa.tensor(np.ones(2, np.float32), requires_grad=True)
    assert (x32 * 2.5 + 1).dtype == np.float32
    assert (2.5 / x32).dtype == np.float32
    x64 = mfa.tensor(np.ones(2), requires_grad=True)
    (x32 * x64).sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        mfa.tensor(np.arange(3), requires_grad=True)


def test_reflected_operators_and_conversions():
    x = t([1.0, 2.0])
    y = 1 - x
    z = 2 / x
    w = 2 ** x
    np.testing.assert_allclose(y.data, [0.0, -1.0])
    np.testing.assert_allclose(z.data, [2.0, 1.0])
    np.testing.assert_allclose(w.data, [2.0, 4.0])
    assert (x.sum()).item() == 3.0
    assert isinstance(x.numpy(), np.ndarray)
    assert x.detach().creator is None and not x.detach().requires_grad
    assert x.double().dtype == np.float64 and x.float().dtype == np.float32
    (np.ones(2) * x).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_cast_is_differentiable():
    x = t([1.0, 2.0])
    (x.float() * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_cuda_without_gpu_is_a_clear_error():
    if mfa.has_gpu():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="CuPy|GPU"):
        mfa.tensor([1.0], device="cuda")


def test_backend_switching():
    assert mfa.get_backend() in ("numpy", "emu")
    with mfa.use_backend("emu"):
        assert mfa.get_backend() == "emu"
    with pytest.raises(ValueError):
        mfa.set_backend("tpu")
