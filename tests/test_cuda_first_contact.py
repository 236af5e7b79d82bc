"""The hazards that the CUDA path met first, each with a test that failed before its fix:
they run on the CuPy stand-in here and on a GPU under ``pytest -m gpu`` (the ``cuda``
fixture)."""
import operator

import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import nn
from minifaceattr.backend import to_numpy
from minifaceattr.data import DataLoader
from minifaceattr.kernels import INDEX_LIMIT, get_kernel, grid_1d, launch_1d


def test_a_kernel_launches_on_a_cupy_array(cuda):
    """The old argument check read flags.writeable, which CuPy arrays lack: every launch died."""
    x = mfa.tensor(np.array([-1.0, 0.5, 2.0], np.float32), device="cuda")
    y = F.relu(x)
    assert y.device == "cuda"
    np.testing.assert_array_equal(y.numpy(), [0, 0.5, 2])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "lt", "gt", "le", "ge"])
def test_array_op_tensor_defers_to_the_tensor(cuda, op):
    """cupy_array * tensor is tensor.__rmul__, as for NumPy: CuPy defers to an operand whose
    __array_ufunc__ is None (a tied __array_priority__ made it raise)."""
    a, b = np.array([1.0, 2.0, 4.0]), np.array([2.0, 3.0, 0.5])
    apply = getattr(operator, op)
    for array, device in [(a, "cpu"), (cuda.asarray(a), "cuda")]:
        result = apply(array, mfa.tensor(b, device=device))
        assert isinstance(result, mfa.Tensor), (device, type(result))
        np.testing.assert_array_equal(result.numpy(), apply(a, b))


def test_array_matmul_tensor_defers_to_the_tensor(cuda):
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    for array, device in [(a, "cpu"), (cuda.asarray(a), "cuda")]:
        result = array @ mfa.tensor(b, device=device, requires_grad=True)
        assert isinstance(result, mfa.Tensor)
        np.testing.assert_allclose(result.numpy(), a @ b)


def test_grid_stride_loops_cannot_overflow_int():
    """With n <= 2^30, idx < 2^30 and the stride (blocks * threads) <= 2^30: idx + stride
    stays below 2^31. The old guard let n reach 2^31 - 1, where idx + stride wraps."""
    launched = []

    def record(grid, block, args, shared_mem=0):
        launched.append(grid[0] * block[0])
    launch_1d(record, INDEX_LIMIT, ())
    assert launched == [INDEX_LIMIT] and INDEX_LIMIT == 2**30
    assert (INDEX_LIMIT - 1) + launched[0] < 2**31
    with pytest.raises(ValueError, match="2\\^30"):
        launch_1d(record, INDEX_LIMIT + 1, ())
    assert grid_1d(2**30 + 1) * 256 + 2**30 >= 2**31     # what the guard prevents


@pytest.mark.parametrize("index", [
    np.array([0, 2, 2, 1, 2, 0]),                    # repeats: MGG-Net's attribute -> group
    (slice(None), np.array([3, 3, 0])),
    (np.array([1, 1]), np.array([0, 0])),
    np.array([True, False, True]),
    (slice(1, None), 2),                             # basic: plain assignment
    (Ellipsis, None, slice(None, None, -1)),
])
def test_getitem_backward_matches_numpy_without_cupyx(cuda, index):
    """GetItem's backward on CuPy: no cupyx.scatter_add (deprecated, and its atomics change the
    sum's last bits from run to run); repeated positions add up in a fixed order."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    gy_shape = x[index].shape
    gy = rng.standard_normal(gy_shape).astype(np.float32)
    expected = np.zeros_like(x)
    np.add.at(expected, index, gy)
    results = []
    for _ in range(2):
        t = mfa.tensor(x, device="cuda", requires_grad=True)
        t[index].backward(cuda.asarray(gy))
        results.append(to_numpy(t.grad))
    np.testing.assert_allclose(results[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(results[0], results[1])


def test_process_workers_are_spawned_once_cuda_is_used(cuda):
    """A fork of a process that has initialised CUDA cannot use it (and may hang)."""
    mfa.tensor(np.zeros(2), device="cuda")
    samples = [(np.full((2, 2), i, np.float32), i) for i in range(6)]
    loader = DataLoader(samples, batch_size=2, workers=1, worker_type="process")
    pool, _ = loader._pool()
    try:
        assert pool._mp_context.get_start_method() == "spawn"
    finally:
        pool.shutdown()
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5]]


def test_process_workers_with_an_unpicklable_dataset_is_a_clear_error(cuda):
    mfa.tensor(np.zeros(2), device="cuda")

    class Local:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.zeros(1), i
    loader = DataLoader(Local(), workers=1, worker_type="process")
    with pytest.raises(RuntimeError, match="spawned.*pickled.*worker_type='thread'"):
        list(loader)


# --- bad input: clear errors -------------------------------------------------------------

def test_wrong_dtype_or_layout_for_a_kernel_names_kernel_and_argument(cuda):
    kernel = get_kernel("activation", "relu_forward", np.float32, "cuda")
    x32, y32 = cuda.zeros(4, np.float32), cuda.zeros(4, np.float32)
    with pytest.raises(TypeError, match="relu_forward.*'x'.*float32.*float64"):
        kernel((1,), (4,), (cuda.zeros(4), y32, np.int32(4)))
    with pytest.raises(TypeError, match="relu_forward.*'x'.*C-contiguous"):
        kernel((1,), (4,), (cuda.zeros(8, np.float32)[::2], y32, np.int32(4)))
    with pytest.raises(TypeError, match="relu_forward.*'y'.*CuPy array.*ndarray"):
        kernel((1,), (4,), (x32, np.zeros(4, np.float32), np.int32(4)))
    with pytest.raises(TypeError, match="relu_forward.*'n'.*np.int32"):
        kernel((1,), (4,), (x32, y32, 4))


def test_model_and_batch_on_different_devices_names_both(cuda):
    model = nn.Linear(3, 2)
    model.to("cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda"):
        model(mfa.tensor(np.zeros((1, 3), np.float32)))
    model.to("cpu")
    with pytest.raises(RuntimeError, match="cpu.*cuda"):
        model(mfa.tensor(np.zeros((1, 3), np.float32), device="cuda"))
