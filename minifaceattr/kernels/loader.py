"""Build the CUDA kernels of this folder and launch them: on a GPU through CuPy, or on the
CPU through the emulator. Operators call only this module.

    from minifaceattr.kernels import elementwise, get_kernel, launch_1d

    y = elementwise("activation", "relu_forward", x)             # y = relu(x), same shape

    kernel = get_kernel("activation", "relu_forward", x.dtype, "emu")
    launch_1d(kernel, x.size, (x, y, np.int32(x.size)))          # the same, spelled out

Each ``<family>.cu`` file is compiled once per (family, dtype, backend), with ``real_t``
defined as ``float`` (float32) or ``double`` (float64), and kept for the rest of the process.
Launch arguments are checked against the kernel's signature on both backends.
"""
import functools
from pathlib import Path

import numpy as np

from ..backend import get_array_module, import_cupy, kernel_backend
from . import emulator
from .signature import check_args, parse_defines, parse_kernels

KERNEL_DIR = Path(__file__).parent
THREADS_PER_BLOCK = 256
# Kernels index with int, and a grid-stride loop's idx + stride must stay below 2^31 too:
# with at most 2^30 elements, idx < 2^30 and a 1-D grid's stride (blocks · threads, threads a
# power of two) is at most 2^30, so idx + stride < 2^31. At 2^31 elements it would wrap.
INDEX_LIMIT = 2**30
REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def kernel_source(family):
    """The text of ``kernels/<family>.cu``."""
    path = KERNEL_DIR / f"{family}.cu"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in KERNEL_DIR.glob("*.cu")))
        raise ValueError(f"no kernel family {family!r} (there are: {known})")
    return path.read_text()


def real_t(dtype):
    """The C type that ``real_t`` stands for when the arrays have ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype not in REAL_T:
        raise TypeError(f"kernels are compiled for float32 and float64 arrays, not {dtype}")
    return REAL_T[dtype]


class CudaModule:
    """A ``cupy.RawModule`` whose kernels check their arguments before each launch."""

    def __init__(self, code, options, name):
        self.cupy = import_cupy()
        self.raw = self.cupy.RawModule(code=code, options=options)
        self.kernels = parse_kernels(code, parse_defines(options))
        self.name = name

    def get_function(self, name):
        if name not in self.kernels:
            raise ValueError(f"{self.name} has no kernel {name!r} (it has: {', '.join(self.kernels)})")
        return CudaKernel(self.kernels[name], self.raw.get_function(name), self.cupy.ndarray)


class CudaKernel:
    """``kernel(grid, block, args, shared_mem=0)`` on the GPU, like the emulator's Function."""

    def __init__(self, kernel, raw, array_type):
        self.kernel = kernel
        self.raw = raw
        self.array_type = array_type

    def __call__(self, grid, block, args, shared_mem=0):
        check_args(self.kernel, args, self.array_type, "CuPy array")
        self.raw(tuple(grid), tuple(block), tuple(args), shared_mem=shared_mem)


@functools.lru_cache(maxsize=None)
def get_module(family, dtype, backend):
    """The compiled ``<family>.cu`` for ``dtype`` on ``backend`` ("emu" or "cuda"), cached."""
    options = (f"-Dreal_t={real_t(dtype)}",)
    code, name = kernel_source(family), f"{family}.cu"
    if backend == "emu":
        return emulator.RawModule(code, options, name=name)
    if backend == "cuda":
        return CudaModule(code, options, name)
    raise ValueError(f"kernels run on backend 'emu' or 'cuda', not {backend!r}; to run a kernel "
                     "on NumPy arrays, use the emulator: `with mfa.use_backend(\"emu\"): ...`")


def get_kernel(family, name, dtype, backend):
    """Kernel ``name`` of ``kernels/<family>.cu``, compiled for ``dtype`` (float32 or float64)
    on ``backend`` ("emu" or "cuda"); call it as ``kernel(grid, block, args, shared_mem=0)``."""
    return get_module(family, np.dtype(dtype), backend).get_function(name)


def grid_1d(n, threads=THREADS_PER_BLOCK, max_blocks=None):
    """How many blocks of ``threads`` cover ``n`` elements (at most ``max_blocks``, for
    kernels with a grid-stride loop, which cover any n with any grid)."""
    blocks = max(1, -(-n // threads))
    return blocks if max_blocks is None else min(blocks, max_blocks)


def launch_1d(kernel, n, args, threads=THREADS_PER_BLOCK, max_blocks=None, shared_mem=0):
    """Launch ``kernel`` over ``n`` elements on a 1-D grid of ``grid_1d(n, ...)`` blocks;
    nothing to do when n is 0; more than INDEX_LIMIT elements are refused."""
    if n > INDEX_LIMIT:
        raise ValueError(f"a kernel launch over {n} elements: more than the kernels' int "
                         f"indices allow (2^30 = {INDEX_LIMIT}); use a smaller batch")
    if n > 0:
        kernel((grid_1d(n, threads, max_blocks),), (threads,), args, shared_mem=shared_mem)


def elementwise(family, name, *inputs):
    """Run ``name(in_1, ..., in_k, out, n)`` on same-shaped arrays and return ``out``.

    This is the calling convention of every element-wise kernel: the inputs, then the
    output, then the element count. The kernel runs where the first input says
    (``kernel_backend``: "emu" or "cuda").
    """
    x = inputs[0]
    if any(a.shape != x.shape for a in inputs):
        raise ValueError(f"{name}: inputs must have one shape, got {[a.shape for a in inputs]}")
    if x.size > INDEX_LIMIT:
        raise ValueError(f"{name}: {x.size} elements do not fit the kernel's int count")
    xp = get_array_module(x)
    inputs = [xp.ascontiguousarray(a) for a in inputs]
    out = xp.empty_like(inputs[0])
    kernel = get_kernel(family, name, x.dtype, kernel_backend(x))
    launch_1d(kernel, x.size, (*inputs, out, np.int32(x.size)))
    return out
