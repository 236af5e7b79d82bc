"""Shared fixtures: the ``backend`` fixture runs a test on NumPy, the emulator and the GPU."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr.backend import has_gpu, to_device, to_numpy, use_backend


class Backend:
    """Where a parametrized test runs: "numpy", "emu" (kernels on the CPU) or "cuda"."""

    def __init__(self, name):
        self.name = name
        self.device = "cuda" if name == "cuda" else "cpu"

    def asarray(self, a):
        """A NumPy array moved to this backend's device."""
        return to_device(np.ascontiguousarray(a).reshape(np.shape(a)), self.device)  # keeps 0-d

    def tensor(self, a, requires_grad=False):
        return mfa.tensor(self.asarray(a), requires_grad=requires_grad)

    numpy = staticmethod(to_numpy)

    def __repr__(self):
        return self.name


@pytest.fixture(params=["numpy", "emu", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request):
    if request.param == "cuda" and not has_gpu():
        pytest.skip("no CUDA GPU (CuPy missing or no device)")
    with use_backend("emu" if request.param == "emu" else "numpy"):
        yield Backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
