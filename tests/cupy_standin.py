"""A CuPy stand-in for machines without a GPU (test support, not library code).

``standin`` is a module object that the tests install as ``sys.modules["cupy"]``: its arrays
are ``ndarray`` objects backed by NumPy arrays, and ``RawModule`` runs the kernels through the
project's emulator. It is as strict as real CuPy where the library can go wrong:

- ``flags`` has CuPy's three flags only (``c_contiguous``, ``f_contiguous``, ``owndata``);
- implicit conversion to NumPy raises ``TypeError`` (``np.asarray(x)``, ``float(x)`` of an
  array with more than one element, a NumPy array mixed into an operation or a kernel's
  arguments), while ``x.get()``, ``cupy.asnumpy(x)`` and ``cupy.asarray(numpy_array)`` work;
- an operand with ``__array_ufunc__ = None`` gets its reflected operator, as CuPy gives it;
- reductions and scalar indexing return 0-d arrays, not NumPy scalars;
- ``cupyx`` does not exist (``import cupyx`` fails while the stand-in is installed).

Where CuPy itself accepts host data, so does the stand-in: NumPy arrays as indices and as the
value of an indexed assignment. Where the stand-in is stricter than CuPy (NumPy arrays as a
method's shape or axes argument, which CuPy reads as a sequence of ints), the library passes
tuples or lists, which both accept.

Every name it exposes exists on the real ``cupy`` package (``tests/test_cupy_standin.py``
checks it against the installed one), so code that passes here does not call anything CuPy
lacks. It complements ``pytest -m gpu`` on real hardware; it never replaces it.
"""
import functools
import sys
import types

import numpy as np

from minifaceattr.kernels import emulator

SCALARS = (bool, int, float, complex, np.generic)


def unsupported(value):
    return TypeError(f"Unsupported type {type(value)}")


def unwrap(value):
    """A NumPy view of a stand-in array (no copy); NumPy arrays are refused as CuPy does."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise unsupported(value)
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v) for v in value)
    return value


def unwrap_index(index):
    """Indices may hold NumPy arrays (CuPy copies them to the device), lists and slices."""
    if isinstance(index, tuple):
        return tuple(unwrap_index(i) for i in index)
    return index._a if isinstance(index, ndarray) else index


def wrap(value):
    """NumPy results as stand-in arrays; a NumPy scalar becomes a 0-d array, as in CuPy."""
    if isinstance(value, np.ndarray):
        return ndarray._from_numpy(value)
    if isinstance(value, np.generic):
        return ndarray._from_numpy(np.asarray(value))
    if isinstance(value, (list, tuple)):
        return type(value)(wrap(v) for v in value)
    return value


def device_function(numpy_function):
    """``numpy_function`` on stand-in arrays: NumPy arrays in the arguments are refused."""
    @functools.wraps(numpy_function)
    def run(*args, **kwargs):
        out = kwargs.get("out")
        result = numpy_function(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        return out if isinstance(out, ndarray) else wrap(result)
    return run


class Flags:
    """CuPy's ``ndarray.flags``: three read-only flags, nothing else."""
    __slots__ = ("_flags",)

    def __init__(self, numpy_flags):
        self._flags = numpy_flags

    c_contiguous = property(lambda self: self._flags.c_contiguous)
    f_contiguous = property(lambda self: self._flags.f_contiguous)
    owndata = property(lambda self: self._flags.owndata)

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])


class ndarray:  # noqa: N801  (CuPy's name)
    """A "device" array: a NumPy array that refuses to be taken for one implicitly."""
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the stand-in has no device memory pointers")
        self._a = np.empty(shape, dtype, order=order)

    @classmethod
    def _from_numpy(cls, a):
        x = cls.__new__(cls)
        x._a = a
        return x

    # --- what it is ----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: Flags(self._a.flags))
    T = property(lambda self: wrap(self._a.T))
    base = property(lambda self: None if self._a.base is None else wrap(self._a.base))

    def __repr__(self):
        return repr(self._a).replace("array(", "stand-in cupy array(", 1)

    def __str__(self):
        return str(self._a)

    # --- leaving the device: explicit only -----------------------------------------------
    def get(self, stream=None, order="C", out=None):
        """A NumPy copy, as ``cupy.ndarray.get``."""
        result = np.array(self._a, order=order)
        if out is not None:
            out[...] = result
            return out
        return result

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray) or arr.shape != self.shape:
            raise ValueError("set() needs a NumPy array of the same shape")
        self._a[...] = arr

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    # --- NumPy protocols: NumPy functions on stand-in arrays run the stand-in's ------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or not hasattr(standin, ufunc.__name__):
            return NotImplemented
        return getattr(standin, ufunc.__name__)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        ours = getattr(standin, func.__name__, None)
        if ours is None or func.__module__.split(".")[0] != "numpy":
            return NotImplemented
        return ours(*args, **kwargs)

    # --- indexing ------------------------------------------------------------------------
    def __getitem__(self, index):
        return wrap(self._a[unwrap_index(index)])

    def __setitem__(self, index, value):
        self._a[unwrap_index(index)] = value._a if isinstance(value, ndarray) else value


def operand(value):
    """The NumPy form of an operator's other operand, or a TypeError as CuPy raises."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, SCALARS):
        return value
    raise unsupported(value)


def defers(value):
    """CuPy's ``_should_use_rop``: an operator goes to the other operand when that sets
    ``__array_ufunc__ = None``, or, lacking the attribute, has a higher ``__array_priority__``
    (a tie, as Tensor's 100 was, does not defer)."""
    if isinstance(value, ndarray):
        return False
    ufunc = getattr(type(value), "__array_ufunc__", defers)
    if ufunc is defers:
        return getattr(value, "__array_priority__", 0) > ndarray.__array_priority__
    return ufunc is None


def binary_operator(name):
    numpy_operator = getattr(np.ndarray, name)

    def op(self, other):
        if defers(other):
            return NotImplemented
        return wrap(numpy_operator(self._a, operand(other)))
    op.__name__ = name
    return op


def inplace_operator(name):
    numpy_operator = getattr(np.ndarray, name)

    def op(self, other):                      # in place: CuPy never defers, it raises
        numpy_operator(self._a, operand(other))
        return self
    op.__name__ = name
    return op


def unary_operator(name):
    numpy_operator = getattr(np.ndarray, name)
    return lambda self: wrap(numpy_operator(self._a))


BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor")
for _name in BINARY:
    setattr(ndarray, f"__{_name}__", binary_operator(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", binary_operator(f"__r{_name}__"))
    if _name != "matmul":
        setattr(ndarray, f"__i{_name}__", inplace_operator(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", binary_operator(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", unary_operator(f"__{_name}__"))

METHODS = ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "copy", "cumsum",
           "dot", "fill", "flatten", "max", "mean", "min", "nonzero", "prod", "ravel",
           "repeat", "reshape", "round", "sort", "squeeze", "std", "sum", "swapaxes", "take",
           "transpose", "var", "view")


def method(name):
    numpy_method = getattr(np.ndarray, name)

    def run(self, *args, **kwargs):
        out = kwargs.get("out")
        result = numpy_method(self._a, *unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        if name in ("fill", "sort"):
            return None
        return out if isinstance(out, ndarray) else wrap(result)
    run.__name__ = name
    return run


for _name in METHODS:
    setattr(ndarray, _name, method(_name))


# --- the module's functions ----------------------------------------------------------------

def asarray(a, dtype=None, order=None, *, blocking=False):
    """A stand-in array: stand-in arrays as they are (cast when asked), anything else copied to
    the "device", as ``cupy.asarray`` copies host data."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return wrap(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        obj = obj._a
    return wrap(np.array(obj, dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A NumPy copy of a stand-in array (a NumPy input is returned as an array)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def ascontiguousarray(a, dtype=None):
    """As ``cupy.ascontiguousarray``: a CuPy array only (it is typed so in CuPy's core)."""
    if not isinstance(a, ndarray):
        raise unsupported(a)
    return wrap(np.ascontiguousarray(a._a, dtype=dtype))


def get_array_module(*args):
    return standin if any(isinstance(a, ndarray) for a in args) else np


CREATION = ("empty", "zeros", "ones", "full", "arange", "eye", "linspace", "identity")
ARRAY_FUNCTIONS = (
    "empty_like", "zeros_like", "ones_like", "full_like", "copy", "copyto",
    "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "square", "tanh", "sinh", "cosh",
    "sin", "cos", "abs", "absolute", "fabs", "sign", "negative", "positive", "reciprocal",
    "floor", "ceil", "around", "round", "add", "subtract", "multiply", "divide", "true_divide",
    "floor_divide", "power", "maximum", "minimum", "fmax", "fmin", "logaddexp", "where",
    "clip", "isnan", "isfinite", "isinf", "greater", "greater_equal", "less", "less_equal",
    "equal", "not_equal", "logical_and", "logical_or", "logical_not", "matmul", "dot", "einsum",
    "tensordot", "outer", "sum", "prod", "mean", "std", "var", "max", "min", "amax", "amin",
    "argmax", "argmin", "cumsum", "all", "any", "count_nonzero", "nonzero", "flatnonzero",
    "concatenate", "stack", "hstack", "vstack", "split", "take", "take_along_axis",
    "broadcast_to", "broadcast_arrays", "expand_dims", "squeeze", "swapaxes", "moveaxis",
    "transpose", "reshape", "ravel", "repeat", "tile", "pad", "flip", "roll", "sort",
    "argsort", "searchsorted", "unique", "bincount", "allclose", "isclose", "array_equal",
    "tril", "triu", "diag", "atleast_1d", "shares_memory", "may_share_memory", "shape",
    "ndim", "size")
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
          "uint32", "uint64", "bool_", "dtype", "finfo", "iinfo", "result_type", "can_cast",
          "promote_types", "isscalar", "inf", "nan", "pi", "e", "newaxis")


class RawKernel:
    """One kernel of a ``RawModule``, launched as CuPy launches: ``f(grid, block, args,
    shared_mem=0)``. Arguments are stand-in arrays and NumPy scalars; a NumPy array is
    refused as CuPy refuses it. The emulator runs the kernel on the arrays' NumPy buffers."""

    def __init__(self, function):
        self._function = function
        self.name = function.kernel.name

    def __call__(self, grid, block, args, *, shared_mem=0, **kwargs):
        for a in args:
            if isinstance(a, np.ndarray) or not isinstance(a, (ndarray, *SCALARS)):
                raise unsupported(a)
        values = tuple(a._a if isinstance(a, ndarray) else a for a in args)
        self._function(grid, block, values, shared_mem=shared_mem)


class RawModule:
    """``cupy.RawModule(code=..., options=...)`` compiled by the emulator (g++)."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 *, name_expressions=None, jitify=False):
        if code is None:
            raise NotImplementedError("the stand-in compiles source given as code= only")
        self._module = emulator.RawModule(code, options, name="stand-in.cu")

    def get_function(self, name):
        return RawKernel(self._module.get_function(name))


class Device:
    def __init__(self, device=None):
        self._id = 0

    id = property(lambda self: self._id)

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


def device_properties(device):
    return {"name": b"CuPy stand-in (NumPy arrays, kernels through the emulator)",
            "totalGlobalMem": 0, "major": 0, "minor": 0, "multiProcessorCount": 0}


def build_module():
    """The stand-in ``cupy`` module object."""
    module = types.ModuleType("cupy", __doc__)
    module.__version__ = "14.0.0+standin"
    for name in CREATION:
        f = getattr(np, name)
        setattr(module, name, functools.wraps(f)(lambda *a, _f=f, **k: wrap(_f(*a, **k))))
    for name in ARRAY_FUNCTIONS:
        setattr(module, name, device_function(getattr(np, name)))
    for name in DTYPES:
        setattr(module, name, getattr(np, name))
    for f in (asarray, array, asnumpy, ascontiguousarray, get_array_module):
        setattr(module, f.__name__, f)
    module.ndarray, module.RawModule, module.RawKernel = ndarray, RawModule, RawKernel
    pool = MemoryPool()
    module.get_default_memory_pool = lambda: pool
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=device_properties,
                                    runtimeGetVersion=lambda: 0, driverGetVersion=lambda: 0)
    module.cuda = types.SimpleNamespace(runtime=runtime, Device=Device, is_available=lambda: True)
    draws = np.random.default_rng(0)     # seeded: the stand-in never draws unseeded numbers
    module.random = types.SimpleNamespace(
        standard_normal=lambda size=None, dtype=float: wrap(
            draws.standard_normal(size).astype(dtype)),
        random=lambda size=None, dtype=float: wrap(draws.random(size).astype(dtype)))
    return module


ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"
standin = build_module()


def install():
    """Make ``import cupy`` give the stand-in and ``import cupyx`` fail; returns an undo."""
    saved = {name: sys.modules.get(name) for name in ("cupy", "cupyx")}
    sys.modules["cupy"], sys.modules["cupyx"] = standin, None

    def undo():
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
    return undo
