"""Saving and loading: weights (``.npz``, PyTorch ``.pth``) and training checkpoints.

Nothing here unpickles arbitrary objects: ``.npz`` files are read with
``allow_pickle=False`` and ``.pth`` files through a restricted unpickler.
"""
from .atomic import atomic_savez, atomic_write
from .checkpoint import architecture_of, load_checkpoint, read_checkpoint, save_checkpoint
from .pth import UnsafePickleError, read_pth
from .weights import load_pretrained, load_weights, save_weights

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "architecture_of",
           "save_weights", "load_weights", "load_pretrained", "read_pth", "UnsafePickleError",
           "atomic_write", "atomic_savez"]
