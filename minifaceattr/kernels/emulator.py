"""Run CUDA kernels on the CPU, over NumPy arrays, with the same source and the same calls.

    mod = RawModule(code=source, options=("-Dreal_t=double",))
    f = mod.get_function("relu_forward")
    f((blocks,), (256,), (x, y, np.int32(n)))          # as with cupy.RawModule

How: the source is compiled by g++ against ``cuda_emu.h``, which defines ``threadIdx``,
``__shared__``, ``__syncthreads`` and the rest, together with one generated launcher per kernel
that runs the grid block after block. The built library is cached on disk by a hash of
everything that went into it, so each source is compiled once per machine.

Within a block, the threads of a kernel with ``__syncthreads`` run in turn up to each barrier,
by default in order 0, 1, 2, ... (``order="reverse"`` and ``order="shuffle:SEED"`` also exist;
the environment variable ``MINIFACEATTR_EMU_ORDER`` sets the default). Running thread 0 to
the barrier before thread 1 starts is the worst case for the usual missing-barrier bug, where
a thread reads what a higher thread has not written yet: it then fails every time, not one
run in a thousand.
"""
import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .signature import check_args, check_writeable, parse_defines, parse_kernels

# The public names (lessons and users import these; the rest may move).
__all__ = ["RawModule", "compiler", "cache_dir"]

HEADER = Path(__file__).with_name("cuda_emu.h")
ORDERS = {"forward": 0, "reverse": 1, "shuffle": 2}
MAX_DYNAMIC_SHARED = 48 * 1024
LAUNCH_LOCK = threading.Lock()  # a launch uses the library's globals (threadIdx, ...)
EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?"
                           r"([A-Za-z_][\w ]*?)\s+(\w+)\s*\[\s*\]\s*;")


def cache_dir():
    """``$MINIFACEATTR_CACHE``, else ``$XDG_CACHE_HOME/minifaceattr``, else
    ``~/.cache/minifaceattr``."""
    if os.environ.get("MINIFACEATTR_CACHE"):
        return Path(os.environ["MINIFACEATTR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minifaceattr"


@functools.lru_cache(maxsize=None)
def compiler():
    """The C++ compiler (``$CXX``, else g++, else clang++) and its version, which goes into the
    cache key. The emulator needs no OpenMP, so Apple's clang++ (``xcode-select --install``)
    does on macOS."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++"]
    cxx = next((c for c in candidates if shutil.which(c)), None)
    if cxx is None:
        hint = {"darwin": "xcode-select --install", "win32": "MinGW-w64's g++ on PATH"}.get(
            sys.platform, "apt install g++, or your system's equivalent")
        raise RuntimeError(f"the kernel emulator needs a C++ compiler and found none of "
                           f"{candidates} ({hint}; or set CXX to your compiler's path)")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    return cxx, version


def parse_order(order):
    """``"forward"``, ``"reverse"`` or ``"shuffle[:SEED]"`` -> (mode number, seed)."""
    order = order or os.environ.get("MINIFACEATTR_EMU_ORDER") or "forward"
    name, _, seed = order.partition(":")
    if name not in ORDERS or (seed and not seed.isdigit()):
        raise ValueError(f"emulator thread order must be forward, reverse or shuffle[:SEED], "
                         f"got {order!r}")
    return ORDERS[name], int(seed or 0)


def launcher_source(kernel):
    """C++ for one kernel: unpack the argument pointers, and hand one thread to emu_launch."""
    unpack = ", ".join(f"*({'const ' if p.const else ''}{p.ctype}{'*' if p.pointer else ''}*)a[{i}]"
                       for i, p in enumerate(kernel.params))
    return (f"static void emu_thread_{kernel.name}(void** a) {{ {kernel.name}({unpack}); }}\n"
            f'extern "C" int emu_launch_{kernel.name}(const unsigned* grid, const unsigned* block, '
            f"size_t shared, int mode, unsigned seed, void** args, char* err, size_t len) {{\n"
            f"    return emu_launch(emu_thread_{kernel.name}, args, grid, block, shared, "
            f"{int(kernel.uses_barrier)}, mode, seed, err, len);\n}}\n")


def translate(code, kernels, name):
    """The C++ that g++ compiles: header, the source (``extern __shared__`` made a pointer
    into the dynamic shared buffer, line numbers kept), and the launchers."""
    body = EXTERN_SHARED.sub(r"\1* \2 = (\1*) emu_dynamic_shared;", code)
    launchers = "".join(launcher_source(k) for k in kernels.values())
    return (f'#include "cuda_emu.h"\n#line 1 "{name}"\n{body}\n'
            f'#line 1 "<emulator launchers>"\n{launchers}')


def build(cpp, defines, name):
    """Compile ``cpp`` to a shared library in the cache directory (once) and return its path.

    The library is written under a temporary name and renamed into place, so another process
    never loads a half-written file.
    """
    cxx, version = compiler()
    flags = ["-O2", "-std=c++17", "-shared", "-fPIC", f"-I{HEADER.parent}"]
    flags += [f"-D{k}={v}" for k, v in sorted(defines.items())]
    key = hashlib.sha256("\0".join([cpp, HEADER.read_text(), version, *flags]).encode())
    target = cache_dir() / "emulator" / f"{Path(name).stem}-{key.hexdigest()[:20]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kernel.cpp"
        source.write_text(cpp)
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.part")
        os.close(fd)
        result = subprocess.run([cxx, *flags, str(source), "-o", partial],
                                capture_output=True, text=True)
        if result.returncode != 0:
            os.unlink(partial)
            raise RuntimeError(f"the emulator could not compile {name} with {cxx}:\n"
                               f"{result.stderr}")
        os.replace(partial, target)
    return target


def launch_dims(value, what, limits):
    """``4``, ``(4,)`` or ``(4, 2)`` -> ``(4, 1, 1)`` or ``(4, 2, 1)``, within CUDA's limits."""
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims):
        raise ValueError(f"{what} must be 1 to 3 integers, got {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    if any(not 1 <= d <= m for d, m in zip(dims, limits)):
        raise ValueError(f"{what} {dims} is outside CUDA's limits (1 to {limits} per axis)")
    return dims


class RawModule:
    """The emulator's ``cupy.RawModule``: kernels from CUDA source, compiled on first use.

    ``options`` are compiler options as for CuPy; the ``-D`` ones reach g++ (and give
    ``real_t`` parameters their type), the rest (``--use_fast_math``, ``-arch=...``) are GPU
    matters and ignored. ``name`` is the file name that compiler errors point at.
    """

    def __init__(self, code, options=(), name="kernel.cu"):
        self.code = code
        self.name = name
        self.defines = parse_defines(options)
        self.kernels = parse_kernels(code, self.defines)
        self._library = None

    def library(self):
        """The compiled shared library (compiled, or loaded from the cache, on first call)."""
        if self._library is None:
            cpp = translate(self.code, self.kernels, self.name)
            self._library = ctypes.CDLL(str(build(cpp, self.defines, self.name)))
        return self._library

    def get_function(self, name):
        """The kernel ``name``, ready to launch."""
        if name not in self.kernels:
            raise ValueError(f"{self.name} has no kernel {name!r} (it has: "
                             f"{', '.join(self.kernels) or 'none'}; kernels must be extern \"C\")")
        launch = getattr(self.library(), f"emu_launch_{name}")
        launch.restype = ctypes.c_int
        return Function(self.kernels[name], launch)


class Function:
    """One kernel: ``f(grid, block, args, shared_mem=0, order=None)`` runs it to completion."""

    def __init__(self, kernel, launch):
        self.kernel = kernel
        self.launch = launch

    def __repr__(self):
        return f"<emulated kernel {self.kernel.name}({', '.join(map(repr, self.kernel.params))})>"

    def __call__(self, grid, block, args, shared_mem=0, order=None):
        name = self.kernel.name
        check_args(self.kernel, args, np.ndarray)
        check_writeable(self.kernel, args)
        grid = launch_dims(grid, f"kernel {name}: grid", (2**31 - 1, 65535, 65535))
        block = launch_dims(block, f"kernel {name}: block", (1024, 1024, 64))
        if np.prod(block) > 1024:
            raise ValueError(f"kernel {name}: a block has at most 1024 threads, got {block}")
        if not 0 <= shared_mem <= MAX_DYNAMIC_SHARED:
            raise ValueError(f"kernel {name}: shared_mem must be 0 to {MAX_DYNAMIC_SHARED} bytes, "
                             f"got {shared_mem}")
        mode, seed = parse_order(order)
        values = [ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) else np.array(a)
                  for a in args]
        pointers = [ctypes.addressof(v) if isinstance(v, ctypes.c_void_p) else v.ctypes.data
                    for v in values]
        params = (ctypes.c_void_p * max(len(args), 1))(*pointers)
        error = ctypes.create_string_buffer(1024)
        def dims(d):
            return (ctypes.c_uint * 3)(*d)
        with LAUNCH_LOCK:
            failed = self.launch(dims(grid), dims(block), ctypes.c_size_t(shared_mem), mode,
                                 ctypes.c_uint(seed), params, error, ctypes.c_size_t(len(error)))
        if failed:
            raise RuntimeError(f"kernel {name}: {error.value.decode()}")
