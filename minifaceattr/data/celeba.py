"""CelebA read from its official files.

Layout (files may also sit in the official ``Anno/``, ``Eval/`` and ``Img/`` subfolders)::

    root/list_attr_celeba.txt      line 1: the number of images; line 2: the 40 attribute
                                   names; then "000001.jpg -1  1  1 -1 ..." (40 values, +-1)
    root/list_eval_partition.txt   "000001.jpg 0" (0 train, 1 valid, 2 test)
    root/img_align_celeba/000001.jpg ...

    >>> data = CelebA("data/celeba", split="train")
    >>> image, target = data[0]   # (218, 178, 3) uint8, (40,) int64 of 0/1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .attributes import ATTRIBUTES
from .files import (DatasetFormatError, LabelledImages, check_images_exist, check_names, find_file,
                    read_lines, read_rows, sign_table)

PARTITIONS = {"train": 0, "valid": 1, "test": 2}


def read_attribute_file(path):
    """``list_attr_celeba.txt`` -> (file names, (N, 40) 0/1 int64 labels in ATTRIBUTES order).
    Columns are reordered if the file lists the names in another order."""
    lines = read_lines(path)
    if len(lines) < 2:
        raise DatasetFormatError(path, "expected a count line and a line of attribute names")
    (count_line, count), (names_line, names) = [(k, text.split()) for k, text in lines[:2]]
    if len(count) != 1 or not count[0].isdigit():
        raise DatasetFormatError(path, f"expected the number of images, found {' '.join(count)!r}",
                                 count_line)
    unknown = sorted(set(names) - set(ATTRIBUTES))
    missing = sorted(set(ATTRIBUTES) - set(names))
    if len(names) != len(ATTRIBUTES) or unknown or missing:
        raise DatasetFormatError(path, f"expected the 40 CelebA attribute names, found "
                                 f"{len(names)} (unknown: {unknown}, missing: {missing})",
                                 names_line)
    data = lines[2:]
    if int(count[0]) != len(data):
        raise DatasetFormatError(path, f"the header says {count[0]} images but {len(data)} "
                                 f"rows follow", count_line)
    files, labels = sign_table(path, data, names)
    return files, labels[:, [names.index(name) for name in ATTRIBUTES]]


def read_partition_file(path):
    """``list_eval_partition.txt`` -> {file name: 0, 1 or 2}; an image listed twice is refused."""
    rows = read_rows(path)
    for line, fields in rows:
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetFormatError(path, f"expected 'name 0|1|2', found {' '.join(fields)!r}",
                                     line)
    check_names(path, [fields[0] for _, fields in rows], [line for line, _ in rows])
    return {fields[0]: int(fields[1]) for _, fields in rows}


class CelebA(LabelledImages):
    """CelebA's aligned images and 40 attributes. ``split``: "train", "valid" (or "val"),
    "test" or "all". Indexing gives ``(image, target)``: image (H, W, 3) uint8 RGB, target a
    (40,) int64 vector of 0/1. ``labels``: (N, 40) int64; ``files``: image names.

    ``check_images`` verifies at construction that every listed image exists (one directory
    listing); a corrupt image is reported when it is loaded."""

    def __init__(self, root: str | Path, split: str = "train",
                 image_dir: str = "img_align_celeba", check_images: bool = True) -> None:
        root = Path(root)
        split = {"val": "valid"}.get(split, split)
        if split not in (*PARTITIONS, "all"):
            raise ValueError(f"unknown split {split!r}: expected train, valid, test or all")
        attr_path = find_file(root, "list_attr_celeba.txt", ("Anno",))
        files, labels = read_attribute_file(attr_path)
        if split != "all":
            part_path = find_file(root, "list_eval_partition.txt", ("Eval",))
            partition = read_partition_file(part_path)
            absent = [name for name in files if name not in partition]
            if absent:
                raise DatasetFormatError(part_path, f"{absent[0]} (in {attr_path.name}) has no "
                                         f"partition ({len(absent)} images have none)")
            keep = np.array([partition[name] == PARTITIONS[split] for name in files], bool)
            files, labels = [f for f, k in zip(files, keep) if k], labels[keep]
            if not files:
                raise DatasetFormatError(part_path, f"no image of {attr_path.name} is in the "
                                         f"{split} partition ({PARTITIONS[split]})")
        self.root, self.split = root, split
        self.files, self.labels = files, labels
        self.image_dir = root / image_dir
        if not self.image_dir.is_dir() and (root / "Img" / image_dir).is_dir():
            self.image_dir = root / "Img" / image_dir
        if check_images:
            check_images_exist(self.image_dir, self.files, attr_path)

    def target(self, i: int) -> np.ndarray:
        return self.labels[i]
