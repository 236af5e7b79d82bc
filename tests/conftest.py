"""Shared fixtures: the ``backend`` fixture runs a test on NumPy, the emulator, the CuPy
stand-in (``tests/cupy_standin.py``: the CUDA path on a machine without a GPU) and the GPU."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import backend as backend_module
from minifaceattr.backend import has_gpu, is_cupy_array, to_device, to_numpy, use_backend
from minifaceattr.kernels import loader

import cupy_standin


class Backend:
    """Where a parametrized test runs: "numpy", "emu" (kernels on the CPU), "standin" (the
    CUDA path, with CuPy replaced by the stand-in) or "cuda" (a GPU)."""

    def __init__(self, name):
        self.name = name
        self.device = "cuda" if name in ("cuda", "standin") else "cpu"
        self.kernels = "cuda" if name == "standin" else name  # get_kernel's backend argument

    def asarray(self, a):
        """A NumPy array moved to this backend's device (a device array is kept as it is)."""
        if is_cupy_array(a):
            return to_device(a, self.device)
        return to_device(np.ascontiguousarray(a).reshape(np.shape(a)), self.device)  # keeps 0-d

    def tensor(self, a, requires_grad=False):
        return mfa.tensor(self.asarray(a), requires_grad=requires_grad)

    numpy = staticmethod(to_numpy)

    def __repr__(self):
        return self.name


def clear_kernel_caches():
    """Compiled kernels hold the cupy module they were built with (real or stand-in)."""
    loader.clear_caches()


@pytest.fixture
def standin(monkeypatch):
    """The CuPy stand-in installed as ``cupy`` for one test (``import cupyx`` fails)."""
    undo = cupy_standin.install()
    monkeypatch.setitem(backend_module._state, "cuda_used", backend_module.cuda_used())
    clear_kernel_caches()
    try:
        yield cupy_standin.standin
    finally:
        undo()
        clear_kernel_caches()


def gpu_or_skip():
    if not has_gpu():
        pytest.skip("no CUDA GPU (CuPy missing or no device)")


@pytest.fixture(params=["numpy", "emu", "standin", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request):
    if request.param == "cuda":
        gpu_or_skip()
    if request.param == "standin":
        request.getfixturevalue("standin")
    with use_backend("emu" if request.param == "emu" else "numpy"):
        yield Backend(request.param)


@pytest.fixture(params=["standin", pytest.param("cuda", marks=pytest.mark.gpu)])
def cuda(request):
    """The CUDA path: through the CuPy stand-in everywhere, on the GPU under ``-m gpu``.
    Yields the ``cupy`` module in use."""
    if request.param == "cuda":
        gpu_or_skip()
        import cupy
        yield cupy
    else:
        yield request.getfixturevalue("standin")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
