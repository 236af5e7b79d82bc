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
import math
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
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
    """The file asks for something that a file of tensors never needs."""


class StorageType:
    """Stands for ``torch.FloatStorage`` and friends: the element type of a storage. Each file
    gets its own (``RestrictedUnpickler.find_class``), and none can be changed by a pickle."""
    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}"


class TensorRef:
    """A tensor described by the pickle: a strided view into a storage. Turned into an
    array only after the whole file is read (old files store the bytes after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Our stand-in for ``torch._utils._rebuild_tensor_v2`` (and the older ``_rebuild_tensor``):
    the extra arguments (requires_grad, backward hooks, metadata) do not matter for weights."""
    layout = (storage_offset, *size, *stride)
    if not (isinstance(storage, tuple) and len(storage) == 2
            and isinstance(storage[0], np.ndarray) and isinstance(size, (tuple, list))
            and isinstance(stride, (tuple, list))
            and all(isinstance(v, int) and not isinstance(v, bool) for v in layout)):
        raise UnsafePickleError("a tensor must be rebuilt from a storage, an integer offset and "
                                f"integer sizes and strides; got {storage!r:.80}, "
                                f"{storage_offset!r:.40}, {size!r:.80}, {stride!r:.80}")
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *_ignored):
    """Our stand-in for ``torch._utils._rebuild_parameter``: a Parameter is its data."""
    return data


# The names a tensor file may use; the ("torch", "<Type>Storage") ones come fresh per file.
SAFE_FUNCTIONS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}

# The opcodes torch.save writes (protocol 2; 4 with pickle_protocol=4): numbers, strings,
# tuples, lists, dicts, the memo, globals, calls, persistent ids, and BUILD (a state dict's
# _metadata). Everything else (INST, OBJ, NEWOBJ, EXT*, out-of-band buffers, ...) is refused.
SAFE_OPCODES = {
    "PROTO", "FRAME", "STOP", "MARK", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET",
    "BINGET", "LONG_BINGET", "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2",
    "LONG1", "BINFLOAT", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2",
    "TUPLE3", "EMPTY_LIST", "APPEND", "APPENDS", "EMPTY_DICT", "SETITEM", "SETITEMS", "GLOBAL",
    "STACK_GLOBAL", "REDUCE", "BUILD", "BINPERSID",
}


def _refuse_opcode(code):
    name = next((op.name for op in pickletools.opcodes if op.code.encode("latin-1") == code),
                f"0x{code[0]:02x}")

    def refuse(unpickler):
        raise UnsafePickleError(f"{unpickler.source}: refusing pickle opcode {name}: a file of "
                                "tensors never needs it")
    return refuse


def _dispatch_table():
    """pickle's pure-Python dispatch table, keeping only SAFE_OPCODES."""
    table = {}
    for code in range(256):
        op = next((o for o in pickletools.opcodes if ord(o.code) == code), None)
        if op is not None and op.name in SAFE_OPCODES:
            table[code] = pickle._Unpickler.dispatch[code]
        else:
            table[code] = _refuse_opcode(bytes([code]))
    return table


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler (pickle's pure-Python one, so that each opcode can be checked) that
    runs only SAFE_OPCODES, resolves only SAFE_FUNCTIONS and storage types (fresh objects for
    each file), calls only those functions, and applies BUILD only to its own OrderedDicts.
    Storages come from ``load_storage``."""

    dispatch = _dispatch_table()

    def __init__(self, file, source, load_storage=None):
        super().__init__(file)
        self.source, self.load_storage = source, load_storage
        self.storage_types = {name: StorageType(name) for name in STORAGE_DTYPES}

    def find_class(self, module, name):
        if module == "torch" and name in self.storage_types:
            return self.storage_types[name]
        if (module, name) not in SAFE_FUNCTIONS:
            raise UnsafePickleError(
                f"{self.source}: refusing to load '{module}.{name}': only tensor data "
                f"(torch._utils._rebuild_tensor_v2, storages, OrderedDict) is allowed. A file that "
                f"names other classes or functions could run code; do not load it with torch.load "
                f"either unless you trust where it came from")
        return SAFE_FUNCTIONS[module, name]

    def load_reduce(self):
        func = self.stack[-2]
        if func not in SAFE_FUNCTIONS.values():
            raise UnsafePickleError(f"{self.source}: refusing to call {func!r:.80}: only "
                                    "OrderedDict and the tensor rebuild functions may be called")
        super().load_reduce()
    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_build(self):
        """BUILD sets an object's attributes; torch uses it for a state dict's ``_metadata``,
        which weights do not need: it is dropped, and allowed on nothing else."""
        state = self.stack.pop()
        if type(self.stack[-1]) is not OrderedDict:
            raise UnsafePickleError(f"{self.source}: refusing to set attributes of "
                                    f"{self.stack[-1]!r:.80}: only an OrderedDict's may be set")
        del state
    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid):
        ok = (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
              and isinstance(pid[1], StorageType) and isinstance(pid[2], str)
              and isinstance(pid[4], int) and pid[4] >= 0)
        if not ok or self.load_storage is None:
            raise UnsafePickleError(f"{self.source}: unexpected persistent id {pid!r:.200}")
        storage = self.load_storage(pid[1], pid[2], pid[4])
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
    otherwise). bfloat16 tensors come back as float32. A damaged file raises ValueError
    naming it.
    """
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head[:1] != b"\x80":
                raise ValueError(f"{path}: not a PyTorch file (neither a zip archive nor a pickle "
                                 "stream; tar-format files from before PyTorch 0.4 are not "
                                 "supported)")
            return _read_legacy(f, path)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, zlib.error,
            TypeError, KeyError, IndexError, AttributeError, RecursionError, UnicodeError) as e:
        raise ValueError(f"{path}: damaged or not a PyTorch file ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None


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
                size = archive.getinfo(name).file_size
                if size > numel * dtype.itemsize:      # torch writes exactly numel elements
                    raise ValueError(f"{path}: storage {key!r} holds {size} bytes, more than the "
                                     f"{numel} {storage_type.name} elements the pickle declares")
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
    if not isinstance(info, dict):
        raise ValueError(f"{path}: the third pickle of a legacy PyTorch file must be a dict of "
                         f"system info, found {type(info).__name__}")
    order = "<" if info.get("little_endian", True) else ">"
    storages = {}
    file_size = os.fstat(f.fileno()).st_size

    def make_storage(storage_type, key, numel):
        if key not in storages:
            if numel * storage_type.dtype.itemsize > file_size:
                raise ValueError(f"{path}: storage {key!r} claims {numel} elements, more than "
                                 f"the file's {file_size} bytes hold")
            dtype = storage_type.dtype.newbyteorder(order)
            storages[key] = (np.zeros(numel, dtype=dtype), storage_type.name)
        return storages[key]

    obj = _restricted_load(f, path, make_storage)
    for key in _restricted_load(f, path):
        if key not in storages:
            raise ValueError(f"{path}: the file lists storage {key!r:.40}, which no tensor uses")
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
        raise ValueError(f"{path}: invalid tensor layout size={size} stride={stride} "
                         f"offset={offset}")
    if 0 in size:
        array = np.zeros(size, dtype=storage.dtype)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.size:
            raise ValueError(f"{path}: tensor of size {size} reaches element {last} of a storage "
                             f"with {storage.size}")
        if math.prod(size) > storage.size:      # a stride-0 view: refuse to blow it up
            raise ValueError(f"{path}: tensor of size {size} has {math.prod(size)} elements, "
                             f"more than its storage's {storage.size} (save expanded tensors "
                             "with .contiguous())")
        strides = tuple(s * storage.itemsize for s in stride)
        array = np.lib.stride_tricks.as_strided(storage[offset:], size, strides).copy()
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    if type_name == "BFloat16Storage":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array
