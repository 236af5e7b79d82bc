"""Write a file so that a crash or an error mid-way never leaves a half-written one.

Write everything to a temporary file in the same folder, flush it to the disk (fsync),
then ``os.replace`` it over the target: on POSIX and Windows a rename within one file
system is atomic, so readers see either the old file or the new one, never a mix.
"""
import os
import secrets

import numpy as np


def atomic_write(path, write):
    """Call ``write(f)`` on a temporary binary file next to ``path``, then move it into place.
    If anything fails, the temporary file is removed and ``path`` is left as it was."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_folder(folder)


def atomic_savez(path, arrays):
    """``np.savez`` of ``{name: array}`` to exactly ``path`` (no ".npz" appended), atomically."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
