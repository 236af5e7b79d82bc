"""DataLoader: samples -> shuffled, transformed, stacked batches, prepared in the background.

    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0, workers=2,
                        transform=Compose([RandomHorizontalFlip(), ToArray(), Normalize()]))
    for epoch in range(10):
        for images, targets in loader:      # (64, 3, H, W) float32, (64, 40) int64
            ...

Each ``for`` loop over the loader is one epoch: every sample exactly once (the last, smaller
batch dropped with ``drop_last``), in an order drawn from (seed, epoch). Sample *i* of epoch *e*
is transformed with its own generator ``default_rng([seed, 1, e, i])``, so batches are the same
whatever ``workers`` is, and ``set_epoch(e, start_batch=b)`` resumes a run exactly.

With ``workers > 0``, a pool loads and transforms the next batches while the caller trains on
the current one. Threads (the default) suit most of this work: decoding JPEGs, resizing and
large NumPy operations release Python's global lock, as do the big matrix products of a
training step. When both sides are mostly Python (small images, many small NumPy calls),
``worker_type="process"`` runs the workers in forked processes instead, each with its own
interpreter; batches come back through a pipe. Once CuPy has been used, the workers are spawned
(fresh interpreters that receive the loader pickled) rather than forked: a child forked from a
process that has initialised CUDA cannot use it, and can hang on the state it inherited.
"""
from __future__ import annotations

import functools
import inspect
import math
import multiprocessing
import pickle
import sys
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np

from ..backend import cuda_used

_FORKED: dict = {}    # loaders whose worker processes are running; a fork inherits this dict


def _load_batch_in_process(key, indices, epoch):
    """Runs in a worker process: the loader came with the fork (or, spawned, through
    ``_receive_loader``); only indices are sent."""
    return _FORKED[key].load_batch(indices, epoch)


def _receive_loader(key, loader):
    """The initializer of a spawned worker: keep the loader where a forked one finds it."""
    _FORKED[key] = loader


def stack(values):
    """Stack a list of targets: arrays/numbers -> one array; dicts per key; tuples per item."""
    first = values[0]
    if isinstance(first, dict):
        return {key: stack([v[key] for v in values]) for key in first}
    if isinstance(first, tuple):
        return tuple(stack(list(items)) for items in zip(*values))
    return np.stack([np.asarray(v) for v in values])


def _takes_rng(transform):
    """Whether ``transform`` can be called as transform(image, rng)."""
    try:
        inspect.signature(transform).bind(None, None)
        return True
    except TypeError:
        return False
    except ValueError:                  # builtins without a signature
        return False


class Dataset(Protocol):
    """What a DataLoader reads: ``len(dataset)``, and ``dataset[i]`` -> ``(image, target)``."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> tuple[Any, Any]: ...


class DataLoader:
    """Batches of ``(images, targets)`` NumPy arrays from a dataset (anything with ``len`` and
    indexing to ``(image, target)``).

    ``transform(image, rng)`` (or ``transform(image)``) is applied to each image.
    ``workers`` (or PyTorch's ``num_workers``): background workers (0 = load in the caller's
    thread); ``worker_type``:
    "thread" or "process" (forked, on Linux; threads elsewhere). Workers must not use the GPU;
    ``prefetch``: batches each worker keeps ready ahead of the caller."""

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, workers: int = 0, transform: Callable | None = None,
                 prefetch: int = 2, worker_type: str = "thread", *,
                 num_workers: int | None = None) -> None:
        if num_workers is not None:  # PyTorch's name
            if workers not in (0, num_workers):
                raise ValueError(f"DataLoader: workers={workers} and num_workers={num_workers} "
                                 "disagree; give one of them")
            workers = num_workers
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and 0 < len(dataset) < batch_size:
            raise ValueError(f"DataLoader: {len(dataset)} samples make no full batch of "
                             f"{batch_size}, and drop_last=True would drop them all: use a "
                             f"batch size of at most {len(dataset)}, or drop_last=False")
        if worker_type not in ("thread", "process"):
            raise ValueError(f"worker_type must be 'thread' or 'process', not {worker_type!r}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.workers, self.prefetch = workers, max(1, prefetch)
        self.worker_type = worker_type
        self.transform = transform
        self._pass_rng = transform is not None and _takes_rng(transform)
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Make the next ``for`` loop produce epoch ``epoch`` from batch ``start_batch`` on."""
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "start_batch": self.start_batch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = state.get("seed", self.seed)
        self.set_epoch(state["epoch"], state.get("start_batch", 0))

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of an epoch, in the order they are served."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, 0, epoch]).permutation(n)

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The index arrays of an epoch's batches."""
        order = self.order(epoch)
        return [order[k * self.batch_size:(k + 1) * self.batch_size] for k in range(len(self))]

    def load_sample(self, index: int, epoch: int) -> tuple[Any, Any]:
        image, target = self.dataset[int(index)]
        if self.transform is not None:
            if self._pass_rng:
                rng = np.random.default_rng([self.seed, 1, epoch, int(index)])
                image = self.transform(image, rng)
            else:
                image = self.transform(image)
        return image, target

    def load_batch(self, indices: Iterable[int], epoch: int) -> tuple[np.ndarray, Any]:
        """One batch: (stacked images, stacked targets)."""
        samples = [self.load_sample(i, epoch) for i in indices]
        return stack([s[0] for s in samples]), stack([s[1] for s in samples])

    def __iter__(self) -> Iterator[tuple[np.ndarray, Any]]:
        epoch, start = self.epoch, self.start_batch
        self.epoch, self.start_batch = epoch + 1, 0
        batches = self.batch_indices(epoch)[start:]
        if self.workers <= 0:
            return (self.load_batch(b, epoch) for b in batches)
        return self._prefetched(batches, epoch)

    def _pool(self):
        """(executor, function loading one batch) for this epoch's workers."""
        if self.worker_type == "process":
            if cuda_used():
                return self._spawned_pool()
            if sys.platform.startswith("linux"):      # fork: safe on Linux only
                if len(self.dataset):
                    self.dataset[0]       # build lazy caches (SynthFaces) once, before forking
                _FORKED[id(self)] = self
                fork = multiprocessing.get_context("fork")
                pool = ProcessPoolExecutor(self.workers, mp_context=fork)
                return pool, functools.partial(_load_batch_in_process, id(self))
            warnings.warn("worker_type='process' forks, which only Linux does safely; "
                          "using threads", stacklevel=3)  # at the caller's for loop
        return ThreadPoolExecutor(self.workers, thread_name_prefix="DataLoader"), self.load_batch

    def _spawned_pool(self):
        """Worker processes started fresh (no CUDA state inherited), each sent the loader."""
        try:
            pickle.dumps(self)
        except Exception as e:
            raise RuntimeError(
                "DataLoader(worker_type='process'): this process has used CUDA, so the workers "
                "must be spawned rather than forked (a fork of a process using CUDA is unsafe); "
                f"spawning sends them the dataset and transform, which cannot be pickled ({e}): "
                "use worker_type='thread'") from e
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=spawn, initializer=_receive_loader,
                                   initargs=(id(self), self))
        return pool, functools.partial(_load_batch_in_process, id(self))

    def _prefetched(self, batches, epoch):
        """Yield batches in order while a pool prepares the following ones."""
        pool, load = self._pool()
        pending = deque()
        upcoming = iter(batches)
        try:
            for b in upcoming:
                pending.append(pool.submit(load, b, epoch))
                if len(pending) >= self.workers * self.prefetch:
                    break
            while pending:
                batch = pending.popleft().result()
                b = next(upcoming, None)
                if b is not None:
                    pending.append(pool.submit(load, b, epoch))
                yield batch
        finally:                          # also when the caller stops early
            pool.shutdown(wait=True, cancel_futures=True)
            _FORKED.pop(id(self), None)
