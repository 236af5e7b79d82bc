"""The hand-written CUDA kernels (``*.cu``), their loader, and the CPU emulator that runs
them without a GPU. Operators use the loader:

    from minifaceattr.kernels import elementwise, launch, output

Nothing here imports CuPy until a kernel is built for the "cuda" backend.
"""
from .loader import (INDEX_LIMIT, LAUNCHES, THREADS_PER_BLOCK, elementwise, get_kernel,
                     get_module, grid_1d, kernel_source, launch, launch_1d, output)
