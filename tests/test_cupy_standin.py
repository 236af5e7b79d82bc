"""The CuPy stand-in (``tests/cupy_standin.py``) exposes only what real CuPy exposes, and is
as strict as CuPy where the library can go wrong."""
import importlib
import sys

import numpy as np
import pytest

from cupy_standin import Flags, standin


def real_cupy():
    """The installed CuPy package (it imports without a GPU; only allocating fails)."""
    module = sys.modules.get("cupy")
    if module is not None and module is not standin:
        return module
    saved = {name: sys.modules.pop(name) for name in ("cupy", "cupyx") if name in sys.modules}
    try:
        return importlib.import_module("cupy")
    except ImportError as e:
        pytest.skip(f"CuPy is not installed ({e}); .ci/run installs cupy-cuda12x")
    finally:
        for name, module in saved.items():
            if module is not standin and module is not None:
                sys.modules[name] = module


def own_names(cls):
    """The attributes a class defines beyond what every object has."""
    return {n for n in dir(cls) if n not in dir(object) or n in vars(cls)} - {"__dict__",
                                                                             "__weakref__"}


def test_every_name_of_the_standin_exists_in_real_cupy():
    cupy = real_cupy()
    missing = [n for n in dir(standin) if not n.startswith("__") and not hasattr(cupy, n)]
    assert not missing, f"the stand-in module exposes what CuPy lacks: {missing}"
    pairs = [(standin.ndarray, cupy.ndarray), (standin.RawModule, cupy.RawModule),
             (standin.RawKernel, cupy.RawKernel), (standin.cuda.Device, cupy.cuda.Device),
             (type(standin.get_default_memory_pool()), cupy.cuda.MemoryPool)]
    for ours, theirs in pairs:
        extra = sorted(n for n in own_names(ours) if not n.startswith("_")
                       or n.startswith("__")) if ours is not standin.ndarray else \
            sorted(own_names(ours) - {"_a", "_from_numpy"})
        missing = [n for n in extra if not hasattr(theirs, n)]
        assert not missing, f"{ours.__name__} exposes what CuPy's lacks: {missing}"
    for space, theirs in [(standin.cuda, cupy.cuda), (standin.cuda.runtime, cupy.cuda.runtime),
                          (standin.random, cupy.random)]:
        missing = [n for n in vars(space) if not hasattr(theirs, n)]
        assert not missing, f"{theirs.__name__} lacks what the stand-in's has: {missing}"


def test_flags_are_cupys_three_and_exist_on_real_cupy():
    real_cupy()
    ours = {n for n in dir(Flags) if not n.startswith("_")}
    assert ours == {"c_contiguous", "f_contiguous", "owndata"}
    flags_type = importlib.import_module("cupy._core.flags").Flags
    assert all(hasattr(flags_type, n) for n in ours)
    assert not hasattr(flags_type, "writeable"), "CuPy's flags gained 'writeable'?"
    assert not hasattr(standin.zeros(3).flags, "writeable")


# --- as strict as CuPy --------------------------------------------------------------------

def test_implicit_conversion_to_numpy_raises():
    x = standin.arange(6.0).reshape(2, 3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError):
        float(x)
    with pytest.raises(TypeError, match="Unsupported type"):
        x + np.ones(3)
    with pytest.raises(TypeError, match="Unsupported type"):
        np.ones(3) + x
    with pytest.raises(TypeError, match="Unsupported type"):
        standin.maximum(x, np.zeros(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        standin.ascontiguousarray(np.zeros(3))


def test_explicit_transfers_work():
    a = np.arange(6.0).reshape(2, 3)
    x = standin.asarray(a)
    assert type(x) is standin.ndarray and type(x).__module__ == "cupy"
    a[0, 0] = 99                                   # asarray copied to the "device"
    np.testing.assert_array_equal(x.get(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(standin.asnumpy(x * 2), np.arange(6.0).reshape(2, 3) * 2)
    assert float(x.sum()) == 15.0 and type(x.sum()) is standin.ndarray   # 0-d, as in CuPy
    assert type(x[0, 0]) is standin.ndarray and x[0, 0].item() == 0.0
    assert type(np.exp(x)) is standin.ndarray     # NumPy functions dispatch to the stand-in's


def test_kernels_refuse_numpy_arrays_as_cupy_does():
    kernel = standin.RawModule(code=cupy_standin_kernel, options=("-Dreal_t=float",)) \
        .get_function("twice")
    x, y = standin.arange(4, dtype=np.float32), standin.zeros(4, np.float32)
    kernel((1,), (4,), (x, y))
    np.testing.assert_array_equal(y.get(), [0, 2, 4, 6])
    with pytest.raises(TypeError, match="Unsupported type"):
        kernel((1,), (4,), (x, np.zeros(4, np.float32)))


cupy_standin_kernel = r"""
extern "C" __global__ void twice(const real_t* x, real_t* y) {
    y[threadIdx.x] = 2 * x[threadIdx.x];
}
"""


def test_old_check_args_crashes_on_a_standin_array():
    """The first-contact crash, reproduced: the old check read ``a.flags.writeable``, which a
    CuPy array (and the stand-in's) does not have; the NumPy fake of the old test hid it."""
    def old_pointer_check(a, const):
        if not a.flags.c_contiguous:
            raise TypeError("must be C-contiguous")
        if not const and not a.flags.writeable:
            raise TypeError("read-only")
    old_pointer_check(np.zeros(3), const=False)            # NumPy: fine, as the old fake was
    with pytest.raises(AttributeError, match="writeable"):
        old_pointer_check(standin.zeros(3), const=False)


def test_operators_defer_as_cupys_should_use_rop():
    """CuPy hands ``x op y`` to y when y's __array_ufunc__ is None, or when y has none and a
    higher priority; a tied priority (Tensor's 100, before the fix) raises instead."""
    class Tied:
        __array_priority__ = 100

        def __rmul__(self, other):
            return "reflected"

    class Higher(Tied):
        __array_priority__ = 101

    class OptedOut(Tied):
        __array_ufunc__ = None

    x = standin.ones(2)
    with pytest.raises(TypeError, match="Unsupported type"):
        x * Tied()
    assert x * Higher() == "reflected" and x * OptedOut() == "reflected"
    with pytest.raises(TypeError, match="Unsupported type"):
        x *= OptedOut()                       # in place, CuPy never defers
