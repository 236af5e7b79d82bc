"""How many threads NumPy's BLAS (OpenBLAS, MKL) uses for the library's matrix products.

OpenBLAS starts one thread per core and lets them spin while they wait for work. On a busy
machine, or beside the DataLoader's worker threads, those spinning threads take the cores the
training step needs: on a shared 2-core machine a step ran 2-4 times slower with OpenBLAS's
default than with one thread (measured in the README). So on import, unless the user chose
through ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``, the library
sets ``default_num_threads()`` BLAS threads; ``set_num_threads(n)`` changes it (as
``torch.set_num_threads`` does). The setting is process-wide: it also applies to the user's
own NumPy code.
"""
import os

CHOSEN_BY = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def default_num_threads():
    """1 on machines with one or two cores, else half the cores, at most 4 (a convolution's
    GEMM gains little beyond that on the sizes this library trains)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(4, cores // 2)


def set_num_threads(n):
    """Use ``n`` BLAS threads from now on (needs threadpoolctl, a dependency)."""
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=int(n), user_api="blas")


def get_num_threads():
    """The number of threads of the BLAS libraries loaded (the largest, if several), or None."""
    from threadpoolctl import threadpool_info
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else None


def apply_default():
    """Set ``default_num_threads()`` unless an environment variable chose; returns the count
    set, or None."""
    if any(os.environ.get(name) for name in CHOSEN_BY):
        return None
    try:
        set_num_threads(default_num_threads())
    except ImportError:  # threadpoolctl missing (a broken install): leave BLAS as it is
        return None
    return default_num_threads()
