"""minifaceattr: a from-scratch deep-learning library in NumPy and CuPy, for teaching.

    import minifaceattr as mfa
    x = mfa.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward(); x.grad   # array([[2., 4.]], dtype=float32)
"""
from . import functional
from . import models, nn, optim, serialization, threads
from .autograd import Function, Tensor, is_grad_enabled, no_grad, set_grad_enabled, tensor
from .creation import arange, cat, from_numpy, full, ones, rand, randn, stack, zeros
from .backend import get_array_module, get_backend, has_gpu, set_backend, use_backend
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .threads import get_num_threads, set_num_threads

threads.apply_default()  # one BLAS thread on a 2-core machine: see minifaceattr/threads.py

__version__ = "0.1.0"
