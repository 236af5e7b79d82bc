"""The one way to build and launch the CUDA kernels of this folder: on a GPU through CuPy,
or on the CPU through the emulator. Operators call only this module.

    from minifaceattr.kernels import elementwise, launch, output

    y = elementwise("activation", "relu_forward", x)             # y = relu(x), same shape

    y = output(x, x.shape)                                       # the same, spelled out
    launch("activation", "relu_forward", (x, y, np.int32(x.size)), n=x.size)

``launch`` owns everything around a kernel call: the backend (from the first array: "cuda"
for CuPy arrays, else the emulator, whatever ``get_backend()`` says), the element type
(``real_t``: the first floating-point array's dtype), C-contiguous copies of the arrays the
kernel only reads, the int-index guard (every array at most ``INDEX_LIMIT`` elements), the
grid (1-D over ``n`` elements, or the given blocks), and the signature check (in
``signature.check_args``; its message is built only when a check fails). Each ``<family>.cu``
is compiled once per (family, dtype, backend) and each kernel object is kept (``get_kernel`` is
cached). ``LAUNCHES`` counts the launches of
each kernel on the "cuda" backend, for measuring how many a training step makes.
"""
import collections
import functools
import re
from pathlib import Path

import numpy as np

from ..backend import get_array_module, import_cupy, is_cupy_array
from . import emulator
from .signature import check_args, parse_defines, parse_kernels

KERNEL_DIR = Path(__file__).parent
THREADS_PER_BLOCK = 256
# Kernels index with int, and a grid-stride loop's idx + stride must stay below 2^31 too:
# with at most 2^30 elements, idx < 2^30 and a 1-D grid's stride (blocks · threads, threads a
# power of two) is at most 2^30, so idx + stride < 2^31. At 2^31 elements it would wrap.
INDEX_LIMIT = 2**30
REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# kernel name -> launches through CuPy since the start
LAUNCHES: collections.Counter[str] = collections.Counter()
INCLUDE = re.compile(r'^[ \t]*#include\s+"(\w+\.cuh)"[ \t]*$', re.M)


def kernel_source(family):
    """The text of ``kernels/<family>.cu``, with each ``#include "name.cuh"`` of this folder
    replaced by the header's text (``#line`` keeps compiler messages pointing at the right
    file and line), so NVRTC, the emulator and the signature parser all read one text."""
    path = KERNEL_DIR / f"{family}.cu"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in KERNEL_DIR.glob("*.cu")))
        raise ValueError(f"no kernel family {family!r} (there are: {known})")
    text = path.read_text()

    def include(match):
        line = text.count("\n", 0, match.start()) + 2
        header = (KERNEL_DIR / match.group(1)).read_text()
        return f'#line 1 "{match.group(1)}"\n{header}\n#line {line} "{path.name}"'
    return INCLUDE.sub(include, text)


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
            raise ValueError(f"{self.name} has no kernel {name!r} "
                             f"(it has: {', '.join(self.kernels)})")
        return CudaKernel(self.kernels[name], self.raw.get_function(name), self.cupy.ndarray)


class CudaKernel:
    """``kernel(grid, block, args, shared_mem=0)`` on the GPU, like the emulator's Function."""

    def __init__(self, kernel, raw, array_type):
        self.kernel = kernel
        self.raw = raw
        self.array_type = array_type

    def __call__(self, grid, block, args, shared_mem=0):
        check_args(self.kernel, args, self.array_type, "CuPy array")
        LAUNCHES[self.kernel.name] += 1
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
    on ``backend`` ("emu" or "cuda"); call it as ``kernel(grid, block, args, shared_mem=0)``.
    The kernel objects are cached, so a launch builds nothing."""
    return cached_kernel(family, name, np.dtype(dtype), backend)


@functools.lru_cache(maxsize=None)
def cached_kernel(family, name, dtype, backend):
    return get_module(family, dtype, backend).get_function(name)


def clear_caches():
    """Forget every compiled module and kernel (they hold the ``cupy`` module they were
    built with; the tests swap it for a stand-in)."""
    get_module.cache_clear()
    cached_kernel.cache_clear()


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


def output(like, shape, out=None, dtype=None):
    """A new C-contiguous array for a kernel to fill, on ``like``'s device, of ``like``'s dtype
    (or ``dtype``); or ``out``, after checking its shape, dtype and layout."""
    dtype = like.dtype if dtype is None else np.dtype(dtype)
    if out is None:
        return get_array_module(like).empty(shape, dtype)
    if out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of shape {tuple(shape)} and dtype "
                         f"{dtype}, got {out.shape} {out.dtype}")
    return out


def check_index_range(name, arrays, n=0):
    """The kernels index with int: no array they touch, and no 1-D launch, may pass
    INDEX_LIMIT elements (see its comment)."""
    largest = max([n, *(a.size for a in arrays)])
    if largest > INDEX_LIMIT:
        raise ValueError(f"kernel {name}: {largest} elements are more than its int indices "
                         f"allow (2^30 = {INDEX_LIMIT}); use a smaller batch")


def launch(family, name, args, n=None, grid=None, block=THREADS_PER_BLOCK, shared_mem=0):
    """Run kernel ``name`` of ``kernels/<family>.cu`` with ``args`` (arrays and NumPy scalars,
    in the kernel's order), where its first array lives.

    With ``n``, a 1-D grid of ``block``-thread blocks covers n elements (nothing runs when
    n is 0); with ``grid``, that many blocks run (a block per channel, plane, row ...). The
    arrays the kernel only reads are made C-contiguous here; those it writes must come from
    ``output`` (a copy would take the results away).
    """
    arrays = [a for a in args if hasattr(a, "flags")]
    check_index_range(name, arrays, n or 0)
    first = arrays[0]
    dtype = next((a.dtype for a in arrays if a.dtype in REAL_T), None)
    if dtype is None:
        raise TypeError(f"kernel {name}: no float32 or float64 array among its arguments "
                        f"({', '.join(str(a.dtype) for a in arrays)})")
    kernel = get_kernel(family, name, dtype, "cuda" if is_cupy_array(first) else "emu")
    xp = get_array_module(first)
    args = tuple(xp.ascontiguousarray(a) if p.pointer and p.const and hasattr(a, "flags") else a
                 for a, p in zip(args, kernel.kernel.params))
    if grid is None:
        launch_1d(kernel, n, args, block)
    elif np.prod(grid) > 0:
        kernel(tuple(grid), (block,), args, shared_mem=shared_mem)


def elementwise(family, name, *inputs):
    """Run ``name(in_1, ..., in_k, out, n)`` on same-shaped arrays and return ``out``.

    This is the calling convention of every element-wise kernel: the inputs, then the
    output, then the element count. The kernel runs on the GPU for CuPy arrays, else
    through the emulator.
    """
    x = inputs[0]
    if any(a.shape != x.shape for a in inputs):
        raise ValueError(f"{name}: inputs must have one shape, got {[a.shape for a in inputs]}")
    out = output(x, x.shape)
    launch(family, name, (*inputs, out, np.int32(x.size)), n=x.size)
    return out
