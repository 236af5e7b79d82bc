"""Read PyTorch ``.pth`` files without PyTorch, and without running code from the file.

A ``.pth`` written by ``torch.save`` is a zip archive::

    archive/data.pkl      the pickled object (e.g. an OrderedDict of tensors)
    archive/data/0, 1 ..  the raw bytes of each storage (one per tensor, usually)
    archive/byteorder     "little" or "big"

Inside ``data.pkl`` each tensor is written as a call, ``torch._utils._rebuild_tensor_v2(
storage, offset, size, stride, ...)``, and each storage as a *persistent id*,
``("storage", torch.FloatStorage, "0", "cpu", numel)``, naming a file in ``data/``.

Plain ``pickle.load`` would import and call whatever the file names: a crafted file can
name ``os.system`` and run a command. ``RestrictedUnpickler.find_class`` allows only the
few names that tensor files use, maps them to our own NumPy functions, and refuses anything
else with ``UnsafePickleError``. Older files (``_use_new_zipfile_serialization=False``,
before PyTorch 1.6) are one stream of pickles followed by the storages' bytes; they are
read with the same restrictions.
"""
import io
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save file

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # NumPy has no bfloat16: read the bits, widen to float32
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks to import something that a file of tensors never needs."""


class StorageType:
    """Stands for ``torch.FloatStorage`` and friends: the element type of a storage."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}"


class TensorRef:
    """A tensor described by the pickle: a strided view into a storage. Turned into an
    array only after the whole file is read (old files store the bytes after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Our stand-in for ``torch._utils._rebuild_tensor_v2`` (and the older ``_rebuild_tensor``):
    the extra arguments (requires_grad, backward hooks, metadata) do not matter for weights."""
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *_ignored):
    """Our stand-in for ``torch._utils._rebuild_parameter``: a Parameter is its data."""
    return data


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``SAFE_GLOBALS``; storages come from ``load_storage``."""

    def __init__(self, file, source, load_storage=None):
        super().__init__(file)
        self.source, self.load_storage = source, load_storage

    def find_class(self, module, name):
        if (module, name) not in SAFE_GLOBALS:
            raise UnsafePickleError(
                f"{self.source}: refusing to load '{module}.{name}': only tensor data "
                f"(torch._utils._rebuild_tensor_v2, storages, OrderedDict) is allowed. A file that "
                f"names other classes or functions could run code; do not load it with torch.load either "
                f"unless you trust where it came from")
        return SAFE_GLOBALS[module, name]

    def persistent_load(self, pid):
        ok = (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
              and isinstance(pid[1], StorageType) and isinstance(pid[2], str))
        if not ok or self.load_storage is None:
            raise UnsafePickleError(f"{self.source}: unexpected persistent id {pid!r:.200}")
        storage = self.load_storage(pid[1], pid[2], int(pid[4]))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # pre-1.6 storage view: (view key, offset, size)
            (array, type_name), (_, offset, size) = storage, view
            storage = (array[offset:offset + size], type_name)
        return storage


def _restricted_load(data, source, load_storage=None):
    file = data if hasattr(data, "read") else io.BytesIO(data)
    return RestrictedUnpickler(file, source, load_storage).load()


def read_pth(path):
    """The object stored in a ``torch.save`` file, with every tensor as a NumPy array.

    Only dicts, lists, numbers, strings and tensors are allowed (``UnsafePickleError``
    otherwise). bfloat16 tensors come back as float32.
    """
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head[:1] != b"\x80":
            raise ValueError(f"{path}: not a PyTorch file (neither a zip archive nor a pickle stream; "
                             "tar-format files from before PyTorch 0.4 are not supported)")
        return _read_legacy(f, path)


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: a zip archive, but not one written by torch.save "
                             f"(expected one <name>/data.pkl, found {sorted(pickles)})")
        prefix = pickles[0][:-len("data.pkl")]
        order = "little"
        if prefix + "byteorder" in names:
            order = archive.read(prefix + "byteorder").decode().strip()
        cache = {}

        def load_storage(storage_type, key, numel):
            if key not in cache:
                name = f"{prefix}data/{key}"
                if name not in names:
                    raise ValueError(f"{path}: the pickle refers to storage {key!r}, "
                                     "which is not in the archive")
                dtype = storage_type.dtype.newbyteorder("<" if order == "little" else ">")
                raw = archive.read(name)
                if len(raw) % dtype.itemsize:
                    raise ValueError(f"{path}: storage {key!r} has {len(raw)} bytes, "
                                     f"not a whole number of {dtype}")
                cache[key] = (np.frombuffer(raw, dtype=dtype), storage_type.name)
            return cache[key]

        obj = _restricted_load(archive.read(pickles[0]), path, load_storage)
    return _materialize(obj, path)


def _read_legacy(f, path):
    """Pre-1.6 format: pickles of (magic, protocol, system info, object, storage keys),
    then for each key in order an int64 element count and the storage's bytes."""
    if _restricted_load(f, path) != LEGACY_MAGIC:
        raise ValueError(f"{path}: a pickle, but not a PyTorch file (wrong magic number)")
    _restricted_load(f, path)  # protocol version
    info = _restricted_load(f, path)
    order = "<" if info.get("little_endian", True) else ">"
    storages = {}

    def make_storage(storage_type, key, numel):
        if key not in storages:
            storages[key] = (np.zeros(numel, dtype=storage_type.dtype.newbyteorder(order)), storage_type.name)
        return storages[key]

    obj = _restricted_load(f, path, make_storage)
    for key in _restricted_load(f, path):
        array, _ = storages[key]
        count = int.from_bytes(f.read(8), "little" if order == "<" else "big")
        raw = f.read(count * array.itemsize)
        if count != array.size or len(raw) != array.nbytes:
            raise ValueError(f"{path}: storage {key!r} is truncated or has the wrong size")
        array[...] = np.frombuffer(raw, dtype=array.dtype)
    return _materialize(obj, path)


def _materialize(obj, path):
    """Replace every TensorRef in ``obj`` (dicts, lists, tuples) with a NumPy array."""
    if isinstance(obj, TensorRef):
        return _tensor_array(obj, path)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        out.update((k, _materialize(v, path)) for k, v in obj.items())
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, path) for v in obj)
    return obj


def _tensor_array(ref, path):
    """The strided view ``ref`` describes, copied out and checked to lie inside its storage
    (``as_strided`` would otherwise read whatever memory a crafted file points at)."""
    (storage, type_name), offset, size, stride = ref.storage, ref.offset, ref.size, ref.stride
    if len(size) != len(stride) or any(s < 0 for s in size + stride) or offset < 0:
        raise ValueError(f"{path}: invalid tensor layout size={size} stride={stride} offset={offset}")
    if 0 in size:
        array = np.zeros(size, dtype=storage.dtype)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.size:
            raise ValueError(f"{path}: tensor of size {size} reaches element {last} of a storage "
                             f"with {storage.size}")
        strides = tuple(s * storage.itemsize for s in stride)
        array = np.lib.stride_tricks.as_strided(storage[offset:], size, strides).copy()
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    if type_name == "BFloat16Storage":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array
