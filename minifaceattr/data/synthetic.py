"""What the synthetic datasets share: splits, one random stream per sample, drawing every
image (in parallel processes on Linux) and caching the result.

Sample *i* of a split is a pure function of (dataset kind, seed, split, i): it has its own
generator, ``numpy.random.default_rng([kind, seed, split, 0, i])``. So a sample never depends
on ``n``, on the order it was drawn in, or on how many processes drew it, and two splits never
share a random stream. (SynthFaces draws its labels from one stream per split, stream 1, in
which row i comes before row i + 1; that too does not depend on ``n``.)
"""
import hashlib
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .cache import cache_dir, cached_arrays

SPLITS = {"train": 0, "valid": 1, "test": 2}
SPLIT_ALIASES = {"val": "valid", "validation": "valid"}


def split_name(split):
    """The canonical split name ("train", "valid" or "test"); "val" is accepted too."""
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(SPLITS)} (or 'val')")
    return name


def sample_rng(kind, seed, split, *index):
    """The generator of one stream: ``kind`` names the dataset, ``index`` the sample."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng([kind, seed, SPLITS[split_name(split)], *index])


def code_fingerprint(*modules):
    """A short hash of these modules' source files: the cache name changes when the code that
    draws the images changes, so a stale cache is never reused."""
    digest = hashlib.sha1()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:10]


class SyntheticDataset:
    """Base class: subclasses define ``kind``, ``draw(i)`` (an HWC uint8 image),
    ``target(i)`` and ``signature()`` (an array that identifies the samples' labels).

    ``cache=True`` draws all images the first time they are needed and keeps them in memory
    and in an ``.npz`` file in the cache directory; ``cache=False`` draws each image when it is
    indexed (no memory, same pixels). ``workers`` processes draw in parallel (default: all
    cores up to 8, on Linux)."""

    kind = 0
    modules: tuple[ModuleType, ...] = ()

    def __init__(self, n, image_size, seed, split, cache, supersample, workers, verbose):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = int(n)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.split = split_name(split)
        self.cache = cache
        self.supersample = int(supersample)
        self.workers = workers
        self.verbose = verbose
        self._images = None
        self._lock = threading.Lock()          # loader threads may ask for images at once

    def __getstate__(self):                    # what worker processes receive: no images
        state = dict(vars(self), _images=None)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        vars(self).update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        i = int(i)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} samples")
        image = self.images[i] if self.cache else self.draw(i)
        return image, self.target(i)

    def rng(self, i, stream=0):
        """Sample i's generator (``stream`` separates independent uses)."""
        return sample_rng(self.kind, self.seed, self.split, stream, i)

    def cache_name(self):
        """The cache file's name: the class, a hash of the drawing code, and the arguments."""
        code = code_fingerprint(sys.modules[__name__], sys.modules[type(self).__module__],
                                *self.modules)
        return (f"{type(self).__name__.lower()}-{code}-{self.split}-seed{self.seed}-n{self.n}"
                f"-{self.image_size}px-x{self.supersample}.npz")

    def remove_stale_caches(self):
        """Delete cache files for these same arguments written by older drawing code."""
        kind, code, rest = self.cache_name().split("-", 2)
        for path in cache_dir().glob(f"{kind}-*-{rest}"):
            if path.name.split("-", 2)[1] != code:
                path.unlink(missing_ok=True)

    @property
    def images(self):
        """All images, (N, H, W, 3) uint8. With ``cache=True``: kept in memory, read from the
        cache file or drawn (once) and written to it; with ``cache=False``: drawn now."""
        if not self.cache:
            return self.draw_all()
        with self._lock:
            if self._images is None:
                signature = self.signature()
                arrays = cached_arrays(
                    self.cache_name(), lambda: {"images": self.draw_all(), "signature": signature},
                    lambda found: np.array_equal(found.get("signature"), signature))
                self._images = arrays["images"]
                self.remove_stale_caches()
        return self._images

    def draw_range(self, indices):
        """Images for these indices, stacked."""
        out = np.empty((len(indices), self.image_size, self.image_size, 3), np.uint8)
        for k, i in enumerate(indices):
            out[k] = self.draw(int(i))
        return out

    def draw_all(self):
        """Draw every image, in parallel worker processes when there are enough of them."""
        workers = self.workers if self.workers is not None else min(8, os.cpu_count() or 1)
        if self.verbose and self.n:
            where = f" (cached in {cache_dir()})" if self.cache else ""
            print(f"{type(self).__name__}: drawing {self.n} synthetic {self.split} images at "
                  f"{self.image_size} px{where}", file=sys.stderr, flush=True)
        # fork is safe on Linux; on macOS it can crash system libraries, Windows has none
        if workers <= 1 or self.n < 256 or not sys.platform.startswith("linux"):
            return self.draw_range(range(self.n))
        chunks = np.array_split(np.arange(self.n), workers * 4)
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=fork) as pool:
            parts = list(pool.map(self.draw_range, chunks))
        return np.concatenate(parts)

    def draw(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def target(self, i: int) -> Any:
        raise NotImplementedError

    def signature(self) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.n}, image_size={self.image_size}, "
                f"seed={self.seed}, split={self.split!r})  # synthetic")
