"""LFWA (LFW with the 40 CelebA attributes) read from its official files or a plain-text copy.

Official layout (MATLAB v7.3 files are HDF5; reading them needs h5py: ``pip install
minifaceattr[lfwa]``)::

    root/lfw_att_40.mat           name (cell of "Person\\Person_0001.jpg"), label (N x 40, 0/1 or
                                  +-1), AttrName (cell of the 40 names)
    root/indices_train_test.mat   indices_img_train, indices_img_test: 1-based rows of label
    root/lfw/Person/Person_0001.jpg ...

Plain-text layout (no h5py needed), used when ``lfw_att_40.mat`` is absent::

    root/lfw_att_40.txt           optional first line: the 40 attribute names; then
                                  "Person/Person_0001.jpg 1 -1 -1 1 ..." (40 values, +-1)
    root/indices_img_train.txt    1-based row numbers into lfw_att_40.txt's image rows,
    root/indices_img_test.txt     separated by spaces or new lines

Backslashes in image names become slashes.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .attributes import ATTRIBUTES
from .files import (DatasetFormatError, LabelledImages, check_images_exist, check_names, read_lines,
                    read_rows, sign_table)

SPLITS = ("train", "test", "all")


def _key(name):
    """Attribute names compared without case or punctuation ("5_o_Clock_Shadow" ~ "5 o Clock
    Shadow")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def column_order(names, path):
    """For each of ATTRIBUTES, its column among ``names``; DatasetFormatError if any is absent."""
    keys = [_key(n) for n in names]
    missing = [a for a in ATTRIBUTES if _key(a) not in keys]
    if len(names) != len(ATTRIBUTES) or missing:
        raise DatasetFormatError(path, f"expected the 40 attribute names, found {len(names)} "
                                 f"(missing: {missing})")
    return [keys.index(_key(a)) for a in ATTRIBUTES]


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading LFWA's .mat files needs h5py: pip install minifaceattr[lfwa] "
                          "(or pip install h5py), or use the plain-text layout") from None
    return h5py


def _mat_strings(f, key, path):
    """A MATLAB cell array of strings stored in HDF5: each cell a reference to uint16 chars.
    Anything else (numbers where the cells should be) raises DatasetFormatError."""
    h5py = _h5py()
    dataset = f[key]
    if not isinstance(dataset, h5py.Dataset) or h5py.check_dtype(ref=dataset.dtype) is None:
        raise DatasetFormatError(path, f"{key} must be a cell array of strings (references to "
                                 f"characters), found {getattr(dataset, 'dtype', 'a group')}")
    strings = []
    for k, ref in enumerate(np.asarray(dataset).ravel()):
        chars = f[ref] if ref else None
        if not isinstance(chars, h5py.Dataset) or chars.dtype.kind not in "ui":
            raise DatasetFormatError(path, f"{key}, cell {k + 1}: expected a string (characters), "
                                     f"found {getattr(chars, 'dtype', 'nothing')}")
        codes = np.asarray(chars).ravel()
        if codes.size and not (0 <= codes.min() and codes.max() < 0x110000):
            raise DatasetFormatError(path, f"{key}, cell {k + 1}: character codes out of range")
        strings.append("".join(map(chr, codes.tolist())))
    return strings


def read_mat_attributes(path):
    """``lfw_att_40.mat`` -> (image names, (N, 40) 0/1 int64 labels in ATTRIBUTES order)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("name", "label", "AttrName") if k not in f]
            if missing:
                raise DatasetFormatError(path, f"missing variables {missing}")
            names, attr = _mat_strings(f, "name", path), _mat_strings(f, "AttrName", path)
            label = np.asarray(f["label"])
    except OSError as error:
        raise DatasetFormatError(path, f"not a readable MATLAB v7.3 (HDF5) file ({error})"
                                 ) from None
    K = len(ATTRIBUTES)
    if label.shape == (K, K) and len(names) == K:
        raise DatasetFormatError(path, f"label is {K} x {K} for {K} images, so which axis holds "
                                 "the images is ambiguous; use the plain-text layout "
                                 "(lfw_att_40.txt) for a set of exactly 40 images")
    if label.shape == (K, len(names)):        # MATLAB's N x 40, stored as 40 x N in HDF5
        label = label.T
    elif label.shape != (len(names), K):
        raise DatasetFormatError(path, f"label has shape {label.shape}, expected "
                                 f"{len(names)} x {K} (for {len(names)} names)")
    allowed = [-1, 1] if (label == -1).any() else [0, 1]     # 0/1, or +-1; not a mix
    bad = ~np.isin(label, allowed).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetFormatError(path, f"labels must be all 0/1 or all +-1; image {row + 1} "
                                 f"({names[row]}) has {sorted(set(label[row].tolist()))}")
    labels = (label > 0).astype(np.int64)[:, column_order(attr, path)]
    names = [n.replace("\\", "/") for n in names]
    check_names(path, names)
    return names, labels


def read_mat_indices(path, split, count):
    """0-based row indices of ``split`` from ``indices_train_test.mat`` (stored 1-based), and
    None for the line numbers (a .mat file has none)."""
    h5py = _h5py()
    if not Path(path).exists():
        raise FileNotFoundError(f"LFWA split file not found: {path}")
    key = f"indices_img_{split}"
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise DatasetFormatError(path, f"missing variable {key}")
            raw = np.asarray(f[key]).ravel()
    except OSError as error:
        raise DatasetFormatError(path, f"not a readable MATLAB v7.3 (HDF5) file ({error})"
                                 ) from None
    return one_based_to_indices(raw, count, path), None


def one_based_to_indices(raw, count, path, line=None):
    """1-based row numbers (ints or whole floats) -> 0-based indices, each checked."""
    try:
        raw = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetFormatError(path, "the indices are not numbers", line) from None
    if (raw == 0).any():
        raise DatasetFormatError(path, f"index 0 is not a row number from 1 to {count}: the "
                                 "indices must be 1-based (MATLAB's); 0-based indices would "
                                 "shift every row by one", line)
    bad = (raw != np.round(raw)) | (raw < 1) | (raw > count)
    if bad.any():
        raise DatasetFormatError(path, f"index {raw[bad][0]:g} is not a row number from 1 to "
                                 f"{count} (indices are 1-based)", line)
    return raw.astype(np.int64) - 1


def check_splits(splits):
    """Refuse index sets that contradict each other. ``splits``: {split: (path, 0-based
    indices, line of each index or None)}. Each split must list some rows, none twice, and
    no row may be in two splits."""
    seen = {}
    for split, (path, rows, lines) in splits.items():
        if rows.size == 0:
            raise DatasetFormatError(path, f"the {split} split lists no images")
        for k, row in enumerate(rows.tolist()):
            line = None if lines is None else int(lines[k])
            if row in seen:
                other, other_path, other_line = seen[row]
                was = f"{other_path.name}" + (f", line {other_line}" if other_line else "")
                what = "twice" if other == split else f"in both {other} and {split}"
                raise DatasetFormatError(path, f"row {row + 1} is listed {what} (also in {was})",
                                         line)
            seen[row] = (split, Path(path), line)


def read_text_attributes(path):
    """``lfw_att_40.txt`` -> (image names, (N, 40) 0/1 int64 labels in ATTRIBUTES order)."""
    lines = read_lines(path)
    names, order = list(ATTRIBUTES), list(range(len(ATTRIBUTES)))
    first = lines[0][1].split() if lines else []
    if len(first) == len(ATTRIBUTES) and not first[1].lstrip("-").isdigit():   # a header
        names, order, lines = first, column_order(first, path), lines[1:]
    files, labels = sign_table(path, lines, names)
    files = [name.replace("\\", "/") for name in files]
    check_names(path, files, [line for line, _ in lines])
    return files, labels[:, order]


def read_text_indices(path, count):
    """0-based row indices from a text list of 1-based row numbers, and each one's line."""
    indices, lines = [], []
    for line, fields in read_rows(path):
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise DatasetFormatError(path, f"expected row numbers, found {' '.join(fields)!r}",
                                     line) from None
        indices.append(one_based_to_indices(values, count, path, line))
        lines += [line] * len(values)
    return (np.concatenate(indices) if indices else np.zeros(0, np.int64)), np.array(lines, int)


def read_split_rows(root, split, format, count):
    """The rows of ``split``, after checking it against the other split (when its file is
    there): no repeats, no overlap, no 0-based file."""
    splits = {}
    for name in ("train", "test"):
        if format == "mat":
            path = root / "indices_train_test.mat"
            if name != split and not _has_variable(path, f"indices_img_{name}"):
                continue
            splits[name] = (path, *read_mat_indices(path, name, count))
        else:
            path = root / f"indices_img_{name}.txt"
            if name != split and not path.exists():
                continue
            if not path.exists():
                raise FileNotFoundError(f"LFWA split file not found: {path}")
            splits[name] = (path, *read_text_indices(path, count))
    check_splits(splits)
    return splits[split][1]


def _has_variable(path, key):
    try:
        with _h5py().File(path, "r") as f:
            return key in f
    except OSError:
        return False


class LFWA(LabelledImages):
    """LFWA's images and 40 attributes. ``split``: "train", "test" or "all". Indexing gives
    ``(image, target)``: image (H, W, 3) uint8 RGB, target a (40,) int64 vector of 0/1.
    ``labels``: (N, 40) int64; ``files``: image paths relative to ``image_dir``.
    ``format``: "mat", "text" or "auto" (the .mat files when present)."""

    def __init__(self, root: str | Path, split: str = "train", image_dir: str = "lfw",
                 format: str = "auto", check_images: bool = True) -> None:
        root = Path(root)
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: LFWA has {SPLITS}")
        if format == "auto":
            if not (root / "lfw_att_40.mat").exists() and not (root / "lfw_att_40.txt").exists():
                raise FileNotFoundError(
                    f"no LFWA annotations in {root}: expected lfw_att_40.mat and "
                    f"indices_train_test.mat, or lfw_att_40.txt and indices_img_{{train,test}}.txt")
            format = "mat" if (root / "lfw_att_40.mat").exists() else "text"
        if format == "mat":
            attr_path = root / "lfw_att_40.mat"
            files, labels = read_mat_attributes(attr_path)
        elif format == "text":
            attr_path = root / "lfw_att_40.txt"
            files, labels = read_text_attributes(attr_path)
        else:
            raise ValueError(f"format must be 'auto', 'mat' or 'text', not {format!r}")
        if split == "all":
            rows = np.arange(len(files))
        else:
            rows = read_split_rows(root, split, format, len(files))
        self.root, self.split = root, split
        self.files = [files[r] for r in rows]
        self.labels = labels[rows]
        self.image_dir = root / image_dir
        if check_images:
            check_images_exist(self.image_dir, self.files, attr_path)

    def target(self, i: int) -> np.ndarray:
        return self.labels[i]
