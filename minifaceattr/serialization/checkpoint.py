"""Training checkpoints: model, optimiser and run state in one ``.npz``, written atomically.

Layout of the file (an ordinary NumPy ``.npz``, readable with ``allow_pickle=False``)::

    __checkpoint__        a JSON string: format, version, architecture, meta, optimizer
    model/<name>          one array per state-dict entry (``model/layer1.0.conv1.weight``)
    optimizer/<path>      the optimiser's arrays (momentum buffers, Adam moments)
    meta/<path>           any arrays passed in meta

Arrays inside the JSON parts are replaced by ``{"__array__": "<key>"}`` pointing at their
entry, so nested settings (optimiser groups, scheduler and RNG state) survive exactly.

    save_checkpoint("run/last.npz", model, opt, epoch=3, scheduler=sched.state_dict(),
                    rng=mfa.random.get_state())
    meta = load_checkpoint("run/last.npz", model, opt)   # {"epoch": 3, "scheduler": ..., ...}
"""
import json
import os
import zipfile
import zlib

import numpy as np

from ..backend import to_numpy
from .atomic import atomic_savez

FORMAT = "minifaceattr-checkpoint"
VERSION = 1
HEADER = "__checkpoint__"


def architecture_of(model):
    """The tag that a checkpoint must match: ``model.arch`` when the model defines it
    (ResNet: "resnet18"), else the class name."""
    return getattr(model, "arch", None) or type(model).__name__


def save_checkpoint(path, model, optimizer=None, **meta):
    """Write ``model``'s state dict, ``optimizer``'s state (if given) and ``meta`` (numbers,
    strings, lists, dicts, arrays) to ``path`` atomically: an error during the write leaves
    any previous file at ``path`` untouched."""
    arrays = {f"model/{name}": value for name, value in model.state_dict().items()}
    header = {"format": FORMAT, "version": VERSION, "architecture": architecture_of(model),
              "meta": _pack(meta, "meta", arrays)}
    if optimizer is not None:
        header["optimizer"] = _pack(optimizer.state_dict(), "optimizer", arrays)
    arrays[HEADER] = np.array(json.dumps(header))
    atomic_savez(path, arrays)


def read_checkpoint(path):
    """``(header, arrays)`` of a checkpoint file, read without unpickling anything. A file
    that is truncated, empty, damaged or not a checkpoint raises ValueError naming it."""
    arrays = read_npz(path, "a checkpoint")
    if HEADER not in arrays:
        raise ValueError(f"{path}: an .npz file, but not a minifaceattr checkpoint "
                         f"(no {HEADER} entry)")
    try:
        header = json.loads(str(arrays.pop(HEADER)))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: the checkpoint's header is damaged (not JSON: {e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT \
            or not isinstance(header.get("version"), int) or header["version"] > VERSION:
        found = header if not isinstance(header, dict) else header.get("format")
        version = header.get("version") if isinstance(header, dict) else None
        raise ValueError(f"{path}: unknown checkpoint format {found!r:.60} version {version!r:.20}")
    check_header(path, header, arrays)
    return header, arrays


def read_npz(path, what):
    """``{name: array}`` of an ``.npz``, read with ``allow_pickle=False``; a truncated, empty
    or damaged file raises ValueError naming it and ``what`` it was read as."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        problem = str(e) or type(e).__name__
        if isinstance(e, (EOFError, zipfile.BadZipFile, zlib.error)) or (
                os.path.isfile(path) and os.path.getsize(path) == 0):
            problem = f"the file is truncated or damaged ({problem})"
        raise ValueError(f"{path}: cannot read as {what} (.npz): {problem}") from e


def check_header(path, header, arrays):
    """Raise ValueError naming ``path`` when the header lacks a part, or points at an array
    that the file does not hold."""
    kinds = {"architecture": str, "meta": dict, "optimizer": dict}
    for key, kind in kinds.items():
        if (key in header or key != "optimizer") and not isinstance(header.get(key), kind):
            raise ValueError(f"{path}: the checkpoint's header is damaged ({key!r} should be a "
                             f"{kind.__name__}, found {type(header.get(key)).__name__})")
    for key in _array_keys(header):
        if not isinstance(key, str) or key not in arrays:
            raise ValueError(f"{path}: the checkpoint's header refers to array {key!r:.60}, "
                             "which is not in the file (damaged)")


def _array_keys(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            yield obj["__array__"]
        else:
            for value in obj.values():
                yield from _array_keys(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _array_keys(value)


def model_state_of(arrays):
    """The model's state dict inside a checkpoint's arrays."""
    return {name[len("model/"):]: a for name, a in arrays.items() if name.startswith("model/")}


def load_checkpoint(path, model, optimizer=None):
    """Restore ``model`` (strictly: every key, every shape) and ``optimizer`` from ``path``;
    return the meta saved with it. A checkpoint of another architecture is refused."""
    header, arrays = read_checkpoint(path)
    expected, found = architecture_of(model), header["architecture"]
    if found != expected:
        raise ValueError(f"{os.fspath(path)}: this checkpoint holds a {found!r} model, "
                         f"but the model given is a {expected!r}; refusing to load it")
    try:
        model.load_state_dict(model_state_of(arrays))
    except RuntimeError as e:
        raise RuntimeError(f"{os.fspath(path)}: {e}") from e
    if optimizer is not None:
        if "optimizer" not in header:
            raise ValueError(f"{os.fspath(path)}: no optimizer state was saved in this checkpoint")
        try:
            optimizer.load_state_dict(_unpack(header["optimizer"], arrays))
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)}: {e}") from e
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"{os.fspath(path)}: the optimizer state in this checkpoint is "
                             f"damaged ({type(e).__name__}: {e})") from e
    return _unpack(header["meta"], arrays)


def _pack(obj, key, arrays):
    """``obj`` as JSON-able data; each array goes into ``arrays[key]`` and is replaced by
    a reference to it. Dict keys become strings (JSON's rule)."""
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and not isinstance(obj, np.generic):
        arrays[key] = to_numpy(obj)
        return {"__array__": key}
    if isinstance(obj, dict):
        return {str(k): _pack(v, f"{key}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_pack(v, f"{key}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot save {key} of type {type(obj).__name__}; "
                    "use numbers, strings, lists, dicts or arrays")


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj
