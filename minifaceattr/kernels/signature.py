"""Read the kernels of a CUDA source and check launch arguments against their signatures.

A kernel receives raw pointers and raw bytes: pass a float64 array where it expects
``float*``, or a Python int where it expects ``int``, and it silently reads garbage. So every
launch, through the emulator or through CuPy, goes through :func:`check_args` first.

    kernels = parse_kernels(source, {"real_t": "float"})
    kernels["relu_forward"].params   # [Param(x: const float*), Param(y: float*), Param(n: int)]
"""
import re
from dataclasses import dataclass

import numpy as np

SCALAR_DTYPES = {
    "bool": np.bool_, "char": np.int8, "signed char": np.int8, "unsigned char": np.uint8,
    "short": np.int16, "unsigned short": np.uint16,
    "int": np.int32, "unsigned int": np.uint32, "unsigned": np.uint32,
    "long long": np.int64, "long long int": np.int64, "unsigned long long": np.uint64,
    "int32_t": np.int32, "uint32_t": np.uint32, "int64_t": np.int64, "uint64_t": np.uint64,
    "size_t": np.uint64, "float": np.float32, "double": np.float64,
}

KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?'
                    r'void\s+(\w+)\s*\(([^)]*)\)\s*\{')
DEVICE_FUNCTION = re.compile(r'__device__[^;{}()]*?\b(\w+)\s*\([^)]*\)\s*\{')


@dataclass
class Param:
    """One kernel parameter: ``const float* x`` is Param("x", "float", pointer=True, const=True)."""
    name: str
    ctype: str
    pointer: bool
    const: bool

    @property
    def dtype(self):
        return np.dtype(SCALAR_DTYPES[self.ctype])

    def __repr__(self):
        const, star = "const " if self.const else "", "*" if self.pointer else ""
        return f"{const}{self.ctype}{star} {self.name}"


@dataclass
class Kernel:
    """A kernel's name, parameters, and whether it calls ``__syncthreads`` (maybe indirectly)."""
    name: str
    params: list
    uses_barrier: bool


def strip_comments(code):
    """The source with comments blanked out; newlines are kept, so line numbers stay."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r"//[^\n]*|/\*.*?\*/", blank, code, flags=re.S)


def parse_defines(options):
    """``("-Dreal_t=float", "-DN")`` -> ``{"real_t": "float", "N": "1"}``."""
    defines = {}
    for option in options:
        if option.startswith("-D"):
            name, _, value = option[2:].partition("=")
            defines[name] = value or "1"
    return defines


def parse_param(text, defines, kernel):
    """``"const real_t* __restrict__ x"`` -> Param("x", "float", pointer=True, const=True)."""
    words = text.replace("*", " * ").split()
    words = [defines.get(w, w) for w in words if w not in ("__restrict__", "volatile")]
    pointer = words.count("*")
    const = "const" in words[:words.index("*")] if pointer else False
    words = [w for w in words if w not in ("*", "const")]
    if len(words) < 2 or pointer > 1:
        raise ValueError(f"kernel {kernel}: cannot read parameter {text.strip()!r}")
    ctype = " ".join(" ".join(words[:-1]).split())  # a define may expand to two words
    if ctype not in SCALAR_DTYPES and not (pointer and ctype == "void"):
        raise ValueError(f"kernel {kernel}: parameter {text.strip()!r} has type {ctype!r}, "
                         f"which the launcher does not know (known: {', '.join(SCALAR_DTYPES)})")
    return Param(words[-1], ctype, bool(pointer), const)


def function_body(code, open_brace):
    """The text from ``code[open_brace]`` (a '{') to its matching '}'."""
    depth = 0
    for i in range(open_brace, len(code)):
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        if depth == 0:
            return code[open_brace:i + 1]
    raise ValueError("unbalanced braces in kernel source")


def barrier_functions(code):
    """Names of the ``__device__`` functions that call ``__syncthreads``, directly or not."""
    bodies = {m.group(1): function_body(code, m.end() - 1) for m in DEVICE_FUNCTION.finditer(code)}
    found = {name for name, body in bodies.items() if "__syncthreads" in body}
    while True:
        more = {name for name, body in bodies.items()
                if any(re.search(rf"\b{f}\s*\(", body) for f in found)} - found
        if not more:
            return found
        found |= more


def parse_kernels(code, defines):
    """All ``extern "C" __global__`` kernels of ``code``, by name."""
    code = strip_comments(code)
    with_barrier = barrier_functions(code)
    kernels = {}
    for m in KERNEL.finditer(code):
        name, params_text = m.group(1), m.group(2).strip()
        params = [parse_param(p, defines, name) for p in params_text.split(",")] \
            if params_text not in ("", "void") else []
        body = function_body(code, m.end() - 1)
        uses_barrier = "__syncthreads" in body or any(
            re.search(rf"\b{f}\s*\(", body) for f in with_barrier)
        kernels[name] = Kernel(name, params, uses_barrier)
    return kernels


def check_args(kernel, args, array_type, array_word="NumPy array"):
    """Raise a TypeError naming the kernel and argument unless ``args`` fit the signature.

    Pointers take C-contiguous arrays of ``array_type`` and the pointee's dtype (any dtype
    for ``void*``). Scalars take NumPy scalars of exactly the parameter's type, e.g.
    ``np.int32(n)`` for ``int n``. Only what CuPy arrays also have is read (``dtype`` and
    ``flags.c_contiguous``: CuPy's flags are c_contiguous, f_contiguous and owndata), and
    the error text is built only when a check fails: this runs before every launch.
    """
    if not isinstance(args, (tuple, list)) or len(args) != len(kernel.params):
        raise TypeError(signature_error(kernel, args, array_type, array_word))
    for p, a in zip(kernel.params, args):
        if p.pointer:
            ok = (isinstance(a, array_type) and (p.ctype == "void" or a.dtype == p.dtype)
                  and a.flags.c_contiguous)
        else:
            ok = isinstance(a, np.generic) and a.dtype == p.dtype
        if not ok:
            raise TypeError(signature_error(kernel, args, array_type, array_word))


def signature_error(kernel, args, array_type, array_word):
    """The message for the first argument of ``args`` that does not fit ``kernel``."""
    where = f"kernel {kernel.name}({', '.join(map(repr, kernel.params))})"
    if not isinstance(args, (tuple, list)):
        return f"{where}: arguments must be a tuple, got {type(args).__name__}"
    if len(args) != len(kernel.params):
        return f"{where} takes {len(kernel.params)} arguments, got {len(args)}"
    for p, a in zip(kernel.params, args):
        what = f"{where}: argument '{p.name}' ({p!r})"
        if p.pointer:
            if not isinstance(a, array_type):
                return f"{what} must be a {array_word}, got {type(a).__name__}"
            if p.ctype != "void" and a.dtype != p.dtype:
                return f"{what} needs dtype {p.dtype}, got an array of {a.dtype}"
            if not a.flags.c_contiguous:
                return f"{what} must be C-contiguous (use ascontiguousarray)"
        elif not isinstance(a, np.generic) or a.dtype != p.dtype:
            kind = f"a Python {type(a).__name__}" if not isinstance(a, np.generic) \
                else f"np.{a.dtype}"
            return (f"{what} needs np.{p.dtype}(value), got {kind}: a kernel reads raw "
                    f"bytes, so the type must match exactly")
    return f"{where}: arguments do not fit"


def check_writeable(kernel, args):
    """NumPy arrays only (the emulator): a kernel must not write into a read-only array.
    CuPy arrays are always writeable and have no such flag."""
    for p, a in zip(kernel.params, args):
        if p.pointer and not p.const and not a.flags.writeable:
            raise TypeError(f"kernel {kernel.name}: argument '{p.name}' ({p!r}) is written by "
                            "the kernel, but the array is read-only")
