"""Every operator without a kernel of its own (CuPy array code on the GPU), forward and
backward on the CUDA path against the CPU, in float64: through the CuPy stand-in everywhere,
on the GPU under ``pytest -m gpu``. The kernel-backed operators are compared with their NumPy
twins by their own test files, whose ``backend`` fixture has "standin" and "cuda" params."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import to_numpy

# name: (function of the input tensors, input shapes)
OPERATORS = {
    "add": (lambda a, b: a + b, [(2, 3), (3,)]),
    "sub": (lambda a, b: 2.0 - a - b, [(2, 3), (2, 1)]),
    "mul": (lambda a, b: a * b * 3, [(2, 3), (2, 3)]),
    "div": (lambda a, b: a / (b * b + 1), [(2, 3), (3,)]),
    "pow_neg": (lambda a: -(a ** 2), [(4,)]),
    "exp_log_sqrt_abs": (lambda a: F.log(F.exp(a) + 1) + F.sqrt(F.abs(a) + 1), [(2, 5)]),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "matmul_vector": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (2, 4), (2,)]),
    "sum_mean_max": (lambda a: a.sum(axis=1) + a.mean(axis=0, keepdims=True).sum()
                     + a.max(axis=1), [(3, 4)]),
    "softmax_log_softmax": (lambda a: F.softmax(a, axis=1) * F.log_softmax(a, axis=0),
                            [(3, 4)]),
    "sigmoid_tanh": (lambda a: F.sigmoid(a) + F.tanh(a), [(2, 3)]),
    "reshape_transpose_permute": (lambda a: a.reshape(2, 6).T.reshape(3, 4, 1)
                                  .permute(2, 0, 1).flatten(), [(3, 4)]),
    "broadcast_to": (lambda a: F.broadcast_to(a, (2, 3, 4)), [(3, 1)]),
    "getitem": (lambda a: a[1:, ::2] + a[np.array([0, 0])][:, :2] * a[2, 1], [(3, 4)]),
    "concat_stack": (lambda a, b: F.concat([a, b], axis=1) + F.stack([a, a, a], axis=1)
                     .reshape(2, -1)[:, :5], [(2, 2), (2, 3)]),
    "cast": (lambda a: F.cast(F.cast(a, np.float32), np.float64) * a, [(2, 3)]),
}


def run(fn, arrays, device):
    """fn's output and the gradient of Σ output·weights for each input, as NumPy arrays."""
    inputs = [mfa.tensor(a, device=device, requires_grad=True) for a in arrays]
    y = fn(*inputs)
    assert y.device == device
    weights = np.random.default_rng(1).standard_normal(y.shape)
    (y * mfa.tensor(weights, device=device)).sum().backward()
    return to_numpy(y.data), [to_numpy(x.grad) for x in inputs]


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_on_cuda_matches_cpu(cuda, name):
    fn, shapes = OPERATORS[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    y_cpu, grads_cpu = run(fn, arrays, "cpu")
    y_gpu, grads_gpu = run(fn, arrays, "cuda")
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-12, atol=1e-12)
    for k, (g_gpu, g_cpu) in enumerate(zip(grads_gpu, grads_cpu)):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-12, atol=1e-12, err_msg=f"input {k}")


def test_dropout_and_to_device_on_cuda(cuda):
    x = mfa.tensor(np.ones((4, 5)), device="cuda", requires_grad=True)
    mfa.manual_seed(0)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    kept = to_numpy(y.data) != 0
    np.testing.assert_array_equal(to_numpy(x.grad), kept * 2.0)
    z = mfa.tensor(np.arange(3.0), requires_grad=True)
    moved = z.to("cuda")
    assert moved.device == "cuda"
    (moved * moved).sum().backward()
    assert type(z.grad) is np.ndarray
    np.testing.assert_array_equal(z.grad, 2 * np.arange(3.0))
