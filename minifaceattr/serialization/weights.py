"""Model weights on disk: this project's ``.npz`` files and PyTorch's ``.pth`` files.

    save_weights("resnet18.npz", model)            # {name: array}, torchvision's names
    state = load_weights("resnet18-f37072fd.pth")  # no PyTorch needed; no code is run
    skipped = load_pretrained(model, "resnet18-f37072fd.pth")   # keeps a new head
"""
import os
import warnings
import zipfile

import numpy as np

from .atomic import atomic_savez
from .checkpoint import HEADER, model_state_of, read_checkpoint, read_npz
from .pth import read_pth


def save_weights(path, model):
    """Write ``model.state_dict()`` to an ``.npz`` at ``path`` (atomically)."""
    atomic_savez(path, model.state_dict())


def load_weights(path):
    """``{name: NumPy array}`` from an ``.npz`` of weights, a checkpoint of this project,
    or a PyTorch ``.pth`` (a state dict, or a dict holding one under "state_dict"/"model")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if _is_npz(path):
        arrays = read_npz(path, "weights")
        if HEADER in arrays:
            return model_state_of(read_checkpoint(path)[1])
        return arrays
    return _state_dict_in(read_pth(path), path)


def _is_npz(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return bool(names) and all(name.endswith(".npy") for name in names)


def _state_dict_in(obj, path):
    """The flat ``{name: array}`` inside what a ``.pth`` held; a DataParallel "module."
    prefix on every key is removed."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict ({{name: tensor}}), found "
                         f"{type(obj).__name__} with other contents")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def load_pretrained(model, path, replaceable=("fc.",)):
    """Load the weights in ``path`` into ``model``, keeping the model's own head.

    Keys starting with a ``replaceable`` prefix (ResNet's classifier ``fc.``) may be
    missing from the file or differ in shape (1000 ImageNet classes vs 40 attributes):
    they are skipped, the model keeps its freshly initialised values, and a warning names
    them. A missing ``num_batches_tracked`` (files from before PyTorch 0.4.1) keeps the
    model's counter. Every other key must match exactly. Returns the list of skipped keys.
    """
    state = load_weights(path)
    own = model.state_dict()
    skipped = [k for k in own if k.startswith(tuple(replaceable))
               and (k not in state or np.shape(state[k]) != own[k].shape)]
    skipped += [k for k in state if k.startswith(tuple(replaceable)) and k not in own]
    state = {k: v for k, v in state.items() if k not in skipped}
    for k in skipped:
        if k in own:
            state[k] = own[k]
    for k in own:  # files saved before PyTorch 0.4.1 have no batch counters: start them at 0
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise RuntimeError(f"{os.fspath(path)}: {e}") from e
    if skipped:
        warnings.warn(f"{os.fspath(path)}: kept the model's own {', '.join(sorted(skipped))} "
                      f"(missing from the file or of another shape)", stacklevel=2)
    return skipped
