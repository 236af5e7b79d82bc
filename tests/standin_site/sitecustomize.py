"""Test support: with this folder on PYTHONPATH and MINIFACEATTR_CUPY_STANDIN=1, a Python
process starts with the CuPy stand-in (``tests/cupy_standin.py``) installed as ``cupy``, so
an example run as a subprocess takes its CUDA path on a machine without a GPU."""
import os
import sys

if os.environ.get("MINIFACEATTR_CUPY_STANDIN") == "1":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cupy_standin

    cupy_standin.install()
