"""The CPU emulator runs CUDA kernels faithfully, and fails loudly where CUDA would misbehave;
the loader builds and launches them.

The small kernels below each test one feature: grid and block indices, shared memory,
barriers, atomics. The key test is the last group: the course's reduction kernel with one
``__syncthreads`` removed gives a wrong sum, the same wrong sum, every time.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minifaceattr.kernels import elementwise, get_kernel, grid_1d, kernel_source, launch_1d, loader
from minifaceattr.kernels.loader import KERNEL_DIR
from minifaceattr.kernels.emulator import RawModule
from minifaceattr.kernels.signature import parse_kernels, strip_comments

SOURCE = r"""
extern "C" __global__ void thread_ids(int* out) {
    int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int* row = out + 6 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
    row[0] = blockIdx.x; row[1] = blockIdx.y; row[2] = blockIdx.z;
    row[3] = threadIdx.x; row[4] = threadIdx.y; row[5] = threadIdx.z;
}

// Each block reverses its chunk of blockDim.x elements, through static shared memory.
extern "C" __global__ void reverse_static(const real_t* x, real_t* y) {
    __shared__ real_t tile[64];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    tile[threadIdx.x] = x[i];
    __syncthreads();
    y[i] = tile[blockDim.x - 1 - threadIdx.x];
}

__device__ void wait_for_block() { __syncthreads(); }

// The same through dynamic shared memory, and with the barrier inside a device function.
extern "C" __global__ void reverse_dynamic(const real_t* x, real_t* y) {
    extern __shared__ real_t tile[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    tile[threadIdx.x] = x[i];
    wait_for_block();
    y[i] = tile[blockDim.x - 1 - threadIdx.x];
}

extern "C" __global__ void read_unwritten_shared(real_t* y) {
    extern __shared__ real_t tile[];
    y[blockIdx.x * blockDim.x + threadIdx.x] = tile[threadIdx.x];
}

extern "C" __global__ void atomic_sum(const real_t* __restrict__ x, real_t* total, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(total, x[i]);
}

// Records which thread ran when, before and after a barrier.
extern "C" __global__ void order_log(int* log, int* counter) {
    log[atomicAdd(counter, 1)] = threadIdx.x;
    __syncthreads();
    log[atomicAdd(counter, 1)] = threadIdx.x;
}

extern "C" __global__ void early_return(real_t* y, int n) {
    if ((int)threadIdx.x >= n) return;   // wrong: the other threads wait at the barrier
    __syncthreads();
    y[threadIdx.x] = 1;
}

extern "C" __global__ void split_barrier(real_t* y) {
    if (threadIdx.x % 2)
        __syncthreads();
    else
        __syncthreads();   // a different barrier: odd and even threads never meet
    y[threadIdx.x] = 1;
}

#define HIDDEN_BARRIER __syncthreads()
extern "C" __global__ void macro_barrier(real_t* y) {
    HIDDEN_BARRIER;
    y[threadIdx.x] = 1;
}
"""


@pytest.fixture(scope="module", params=["float", "double"])
def module(request):
    return RawModule(SOURCE, (f"-Dreal_t={request.param}",), name="test_source.cu")


@pytest.fixture(scope="module")
def mod64():
    return RawModule(SOURCE, ("-Dreal_t=double",), name="test_source.cu")


def real(module):
    return np.float32 if module.defines["real_t"] == "float" else np.float64


# ---- grid and block indices ---------------------------------------------------------------

@pytest.mark.parametrize("grid, block", [((3,), (5,)), ((2, 3), (4, 2)), ((2, 1, 3), (3, 2, 2))])
def test_every_thread_of_every_block_runs_once_with_its_indices(mod64, grid, block):
    grid3, block3 = grid + (1,) * (3 - len(grid)), block + (1,) * (3 - len(block))
    out = np.full((np.prod(grid3) * np.prod(block3), 6), -1, np.int32)
    mod64.get_function("thread_ids")(grid, block, (out,))
    # CUDA's numbering: x fastest, then y, then z; blocks likewise.
    bz, by, bx, tz, ty, tx = np.meshgrid(*[np.arange(n) for n in grid3[::-1] + block3[::-1]],
                                         indexing="ij")
    expected = np.stack([a.ravel() for a in (bx, by, bz, tx, ty, tz)], axis=1)
    np.testing.assert_array_equal(out, expected)


# ---- shared memory and barriers -----------------------------------------------------------

@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle:7"])
@pytest.mark.parametrize("kernel", ["reverse_static", "reverse_dynamic"])
def test_shared_memory_with_barrier(module, kernel, order):
    x = np.arange(5 * 64, dtype=real(module))
    y = np.full_like(x, np.nan)
    shared = 64 * x.itemsize if kernel == "reverse_dynamic" else 0
    module.get_function(kernel)((5,), (64,), (x, y), shared_mem=shared, order=order)
    np.testing.assert_array_equal(y, x.reshape(5, 64)[:, ::-1].ravel())


def test_dynamic_shared_memory_starts_as_nan(module):
    """Unwritten shared memory reads as NaN, so a kernel that forgets to fill it shows."""
    y = np.zeros(2 * 32, real(module))
    module.get_function("read_unwritten_shared")((2,), (32,), (y,), shared_mem=32 * y.itemsize)
    assert np.isnan(y).all()


def test_barrier_is_found_through_a_device_function(module):
    assert module.kernels["reverse_dynamic"].uses_barrier
    assert not module.kernels["atomic_sum"].uses_barrier


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle:3"])
def test_threads_run_in_the_chosen_order_up_to_each_barrier(mod64, order):
    log, counter = np.full(2 * 8, -1, np.int32), np.zeros(1, np.int32)
    mod64.get_function("order_log")((1,), (8,), (log, counter), order=order)
    before, after = log[:8], log[8:]
    assert sorted(before) == sorted(after) == list(range(8))  # the barrier separates phases
    if order == "forward":
        assert list(before) == list(after) == list(range(8))
    if order == "reverse":
        assert list(before) == list(after) == list(range(8))[::-1]
    if order.startswith("shuffle"):
        assert list(before) != list(range(8)) and list(before) != list(after)
        again = np.full_like(log, -1)
        mod64.get_function("order_log")((1,), (8,), (again, np.zeros(1, np.int32)), order=order)
        np.testing.assert_array_equal(again, log)  # seeded: the same every run


def test_order_from_environment(mod64, monkeypatch):
    monkeypatch.setenv("MINIFACEATTR_EMU_ORDER", "reverse")
    log = np.full(8, -1, np.int32)
    mod64.get_function("order_log")((1,), (4,), (log, np.zeros(1, np.int32)))
    assert list(log) == [3, 2, 1, 0, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="forward, reverse or shuffle"):
        mod64.get_function("order_log")((1,), (4,), (log, np.zeros(1, np.int32)), order="sideways")


def test_barrier_not_reached_by_all_threads_is_an_error(mod64):
    y = np.zeros(32)
    with pytest.raises(RuntimeError, match="early_return.*returned while .* wait at __syncthreads"):
        mod64.get_function("early_return")((1,), (32,), (y, np.int32(20)))


def test_threads_at_different_barriers_is_an_error(mod64):
    with pytest.raises(RuntimeError, match="split_barrier.*different __syncthreads"):
        mod64.get_function("split_barrier")((1,), (4,), (np.zeros(4),))


def test_barrier_the_parser_cannot_see_is_an_error_not_a_wrong_answer(mod64):
    assert not mod64.kernels["macro_barrier"].uses_barrier
    with pytest.raises(RuntimeError, match="macro_barrier.*without fibers"):
        mod64.get_function("macro_barrier")((1,), (4,), (np.zeros(4),))


# ---- atomics ------------------------------------------------------------------------------

def test_atomic_add_across_blocks(module):
    x = np.random.default_rng(0).uniform(0, 1, 1001).astype(real(module))
    total = np.zeros(1, x.dtype)
    module.get_function("atomic_sum")((3,), (128,), (x, total, np.int32(x.size)))
    np.testing.assert_allclose(total[0], x.astype(np.float64).sum(), rtol=1e-5)


# ---- argument checks ----------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ((np.zeros(4, np.float32), np.zeros(1), np.int32(4)),
     r"'x' \(const double\* x\) needs dtype float64"),
    ((np.zeros(8)[::2], np.zeros(1), np.int32(4)), "'x'.*C-contiguous"),
    ((np.zeros(4), np.zeros(1), 4), "'n' \\(int n\\) needs np.int32\\(value\\), got a Python int"),
    ((np.zeros(4), np.zeros(1), np.int64(4)), "'n'.*needs np.int32.*got np.int64"),
    ((np.zeros(4), np.zeros(1)), "takes 3 arguments, got 2"),
    (([0.0] * 4, np.zeros(1), np.int32(4)), "'x'.*must be a NumPy array, got list"),
])
def test_wrong_arguments_name_kernel_and_argument(mod64, args, message):
    with pytest.raises(TypeError, match=r"kernel atomic_sum\(.*" + message):
        mod64.get_function("atomic_sum")((1,), (32,), args)


def test_read_only_array_for_an_output_is_an_error(mod64):
    total = np.zeros(1)
    total.flags.writeable = False
    with pytest.raises(TypeError, match="'total'.*read-only"):
        mod64.get_function("atomic_sum")((1,), (32,), (np.zeros(4), total, np.int32(4)))


@pytest.mark.parametrize("grid, block, shared, message", [
    ((0,), (32,), 0, "grid"), ((1,), (2048,), 0, "block"), ((1,), (32, 32, 2), 0, "1024 threads"),
    ((1,), (32,), 64 * 1024, "shared_mem"),
])
def test_launch_configuration_is_checked(mod64, grid, block, shared, message):
    with pytest.raises(ValueError, match=message):
        mod64.get_function("atomic_sum")(grid, block, (np.zeros(4), np.zeros(1), np.int32(4)),
                                         shared_mem=shared)


def test_unknown_kernel_is_an_error(mod64):
    with pytest.raises(ValueError, match="no kernel 'nope'.*atomic_sum"):
        mod64.get_function("nope")


# ---- compiling and caching ----------------------------------------------------------------

def test_compile_error_shows_the_compiler_log():
    source = 'extern "C" __global__ void k(real_t* x) {\n    x[0] = undeclared_name;\n}\n'
    with pytest.raises(RuntimeError,
                       match=r"(?s)could not compile broken\.cu.*broken\.cu:2.*undeclared_name"):
        RawModule(source, ("-Dreal_t=float",), name="broken.cu").get_function("k")


def test_every_kernel_in_the_kernels_folder_is_understood():
    for path in KERNEL_DIR.glob("*.cu"):
        code = path.read_text()
        kernels = parse_kernels(code, {"real_t": "double"})
        assert len(kernels) == strip_comments(code).count("__global__"), path.name


BUILD = """
import sys
import numpy as np
from minifaceattr.kernels.emulator import RawModule
src = 'extern "C" __global__ void k(double* y) { y[threadIdx.x] = %s; }'
y = np.zeros(4)
RawModule(src, ()).get_function("k")((1,), (4,), (y,))
assert (y == %s).all()
"""


def test_two_processes_build_the_same_library_safely(tmp_path):
    """Both compile into one fresh cache at once; each loads a complete library."""
    env = dict(os.environ, MINIFACEATTR_CACHE=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    value = "271828.0"  # any value: the cache (tmp_path) is empty, so both must build it
    procs = [subprocess.Popen([sys.executable, "-c", BUILD % (value, value)], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    built = list((tmp_path / "emulator").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so", built


# ---- the reason the emulator exists: a missing barrier is caught every time ----------------

def reduction_without_barrier(k):
    """loss_sum.cu with its k-th ``__syncthreads();`` statement deleted."""
    code = kernel_source("loss_sum")
    starts = [i for i in range(len(code)) if code.startswith("__syncthreads();", i)]
    return code[:starts[k]] + code[starts[k] + len("__syncthreads();"):]


def block_sums(code, x, order=None):
    f = RawModule(code, ("-Dreal_t=double",), name="loss_sum.cu").get_function("block_sum")
    blocks = 4
    out = np.full(blocks, np.nan)
    f((blocks,), (256,), (x, out, np.int32(x.size)), shared_mem=256 * 8, order=order)
    return out


def test_reduction_source_has_the_two_barriers_this_test_removes():
    assert strip_comments(kernel_source("loss_sum")).count("__syncthreads();") == 2


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle:1"])
def test_reduction_with_its_barriers_is_right(order):
    x = np.random.default_rng(1).uniform(0, 1, 3000)
    np.testing.assert_allclose(block_sums(kernel_source("loss_sum"), x, order).sum(), x.sum(),
                               rtol=1e-12)


@pytest.mark.parametrize("k", [0, 1], ids=["before-tree", "inside-tree"])
def test_reduction_missing_a_barrier_is_wrong_every_time(k):
    broken = reduction_without_barrier(k)
    rng = np.random.default_rng(2)
    for n in (256 * 4, 3000, 12345):
        x = rng.uniform(0, 1, n)
        first = block_sums(broken, x)
        assert not np.allclose(first.sum(), x.sum()), f"missing barrier {k} went unnoticed, n={n}"
        np.testing.assert_array_equal(block_sums(broken, x), first)   # deterministic


# ---- the loader ----------------------------------------------------------------------------

def test_loader_rejects_what_it_cannot_build():
    with pytest.raises(ValueError, match="no kernel family 'nope'.*activation"):
        get_kernel("nope", "k", np.float32, "emu")
    with pytest.raises(TypeError, match="float32 and float64.*int64"):
        get_kernel("activation", "relu_forward", np.int64, "emu")
    with pytest.raises(ValueError, match="'emu' or 'cuda'"):
        get_kernel("activation", "relu_forward", np.float32, "numpy")
    with pytest.raises(ValueError, match="one shape"):
        elementwise("activation", "relu_backward", np.zeros(3), np.zeros(4))


def test_launch_1d_of_nothing_launches_nothing():
    launch_1d(lambda *a, **k: pytest.fail("launched"), 0, ())
    assert grid_1d(1) == 1 and grid_1d(257) == 2 and grid_1d(10**6, max_blocks=8) == 8


def test_cuda_kernels_check_arguments_then_launch(standin):
    """The CuPy glue, on the CuPy stand-in (whose arrays, unlike NumPy's, have only CuPy's
    three flags); the real thing runs under pytest -m gpu."""
    module = loader.CudaModule(kernel_source("activation"), ("-Dreal_t=float",), "activation.cu")
    kernel = module.get_function("relu_forward")
    x = standin.asarray(np.array([-1, 2, -3], np.float32))
    y = standin.empty(3, np.float32)
    before = loader.LAUNCHES["relu_forward"]
    launch_1d(kernel, x.size, (x, y, np.int32(x.size)))
    assert loader.LAUNCHES["relu_forward"] == before + 1
    np.testing.assert_array_equal(y.get(), [0, 2, 0])
    with pytest.raises(TypeError, match="relu_forward.*'x'.*float32.*float64"):
        kernel((1,), (256,), (standin.zeros(3), y, np.int32(3)))
