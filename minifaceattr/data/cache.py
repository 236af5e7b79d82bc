"""Where generated data is kept between runs, and how it is written safely.

The cache directory is ``$MINIFACEATTR_CACHE`` if set, else ``$XDG_CACHE_HOME/minifaceattr``,
else ``~/.cache/minifaceattr``. Files are written to a temporary name in the same directory and
then renamed, so a crash or two processes racing never leave a half-written file behind.
"""
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np


def cache_dir():
    """The user's cache directory for this package (not created here)."""
    if os.environ.get("MINIFACEATTR_CACHE"):
        return Path(os.environ["MINIFACEATTR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "minifaceattr"


def save_npz_atomic(path, **arrays):
    """``np.savez`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_npz(path):
    """The arrays of an ``.npz`` file as a dict, or None if it is missing or unreadable."""
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError):
        return None


def cached_arrays(name, build, is_valid=lambda arrays: True):
    """The arrays stored under ``name`` in the cache directory if they exist and pass
    ``is_valid``; otherwise ``build()`` them (a dict of arrays), store them, and return them.
    A cache that cannot be written only costs a warning."""
    path = cache_dir() / name
    arrays = load_npz(path)
    if arrays is not None and is_valid(arrays):
        return arrays
    arrays = build()
    try:
        save_npz_atomic(path, **arrays)
    except OSError as error:
        warnings.warn(f"could not write the cache file {path}: {error}", stacklevel=2)
    return arrays
