"""Where arrays live and which implementation an operator runs.

Three ways to run an operator, chosen per call from the array it receives:

- ``"numpy"``: the NumPy reference path (always available, the one to read first);
- ``"emu"``:   the hand-written CUDA kernel, executed on the CPU by the emulator
  (``minifaceattr/kernels/emulator.py``), for NumPy arrays while the backend is "emu";
- ``"cuda"``:  the same kernel on a GPU through CuPy, for CuPy arrays.

The backend is set with ``set_backend("emu")``, ``with use_backend("emu"):`` or the
environment variable ``MINIFACEATTR_BACKEND=emu``. CuPy is imported only when it is
first needed, so this module works on machines that do not have it.
"""
import contextlib
import os
from typing import Any

import numpy as np

# The public names (lessons and users import these; the rest may move).
__all__ = ["BACKENDS", "get_backend", "set_backend", "use_backend", "import_cupy", "has_gpu",
           "is_cupy_array", "get_array_module", "device_of", "to_device", "to_numpy",
           "kernel_backend", "Array"]

# A raw array: a numpy.ndarray, or a cupy.ndarray on the GPU. The two share no base class and
# CuPy ships no type stubs, so the hint says what goes there and mypy checks nothing about it.
Array = Any

BACKENDS = ("numpy", "emu")
_state = {"backend": os.environ.get("MINIFACEATTR_BACKEND", "numpy").strip().lower() or "numpy"}
if _state["backend"] not in BACKENDS:
    raise ValueError(f"MINIFACEATTR_BACKEND must be one of {BACKENDS}, got {_state['backend']!r}")


def get_backend():
    """The implementation used for NumPy arrays: "numpy" or "emu"."""
    return _state["backend"]


def set_backend(name):
    """Run kernel-backed operators on NumPy arrays through ``name`` ("numpy" or "emu")."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name):
    """``with use_backend("emu"): ...`` runs the block with another backend, then restores it."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def import_cupy():
    """Import CuPy, or raise an error that says what is missing and how to get it."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "device='cuda' needs CuPy, which is not installed: "
            "pip install -e .[cuda12] (CUDA 12) or .[cuda13] (CUDA 13)") from e
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError when no driver exists
        raise RuntimeError(f"device='cuda': CuPy is installed but no CUDA GPU is usable "
                           f"({e})") from e
    if n == 0:
        raise RuntimeError("device='cuda': CuPy is installed but no CUDA GPU was found")
    _state["cuda_used"] = True
    return cupy


def cuda_used():
    """True once this process has been handed a usable CuPy (it may have initialised CUDA,
    so a forked child could not use the GPU: data-loader workers are spawned from then on)."""
    return _state.get("cuda_used", False)


def has_gpu():
    """True when CuPy imports and sees at least one GPU."""
    try:
        import_cupy()
        return True
    except RuntimeError:
        return False


def is_cupy_array(x):
    """True for a CuPy ndarray, checked without importing CuPy."""
    return type(x).__module__.split(".")[0] == "cupy"


def get_array_module(x):
    """``xp = get_array_module(x)``: the numpy or cupy module that owns ``x``."""
    if is_cupy_array(x):
        import cupy
        return cupy
    return np


def device_of(x):
    """"cuda" for a CuPy array, "cpu" otherwise."""
    return "cuda" if is_cupy_array(x) else "cpu"


def check_device(device):
    """Normalise a device name ("cpu", "cuda", "cuda:0") to "cpu" or "cuda"."""
    name = str(device).split(":")[0].lower()
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return name


def to_device(x, device):
    """Copy array ``x`` to ``device`` ("cpu" or "cuda"); no copy when it is already there."""
    device = check_device(device)
    if device == device_of(x):
        return x
    if device == "cuda":
        return import_cupy().asarray(x)
    return x.get()


def to_numpy(x):
    """A NumPy array with the values of ``x`` (a NumPy or CuPy array, or a scalar)."""
    return x.get() if is_cupy_array(x) else np.asarray(x)


def kernel_backend(x):
    """Which implementation an operator should run for array ``x``: "numpy", "emu" or "cuda"."""
    if is_cupy_array(x):
        return "cuda"
    return get_backend()
