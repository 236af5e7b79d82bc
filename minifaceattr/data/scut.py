"""SCUT-FBP5500 read from its official files.

Layout::

    root/Images/AF1.jpg ...                 first letter A/C = Asian/Caucasian,
                                            second F/M = female/male
    root/train_test_files/split_of_60%training and 40%testing/train.txt, test.txt
    root/train_test_files/5_folders_cross_validations_files/cross_validation_k/train_k.txt,
                                                                            test_k.txt  (k 1-5)
    root/train_test_files/All_labels.txt    (split="all")

Each list has lines "CM148.jpg 3.516667": the image and its mean beauty score in [1, 5].

    >>> data = SCUTFBP5500("data/SCUT-FBP5500_v2", split="train")          # the 60/40 split
    >>> image, target = data[0]   # target: {"score": float32, "race": int64, "gender": int64}
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import DatasetFormatError, LabelledImages, check_images_exist, check_names, read_rows

RACES = ("asian", "caucasian")      # race 0, 1: the file name's first letter, A or C
GENDERS = ("female", "male")        # gender 0, 1: the second letter, F or M


def list_path(root, split, fold=None):
    """The official list file for a split (and a cross-validation fold 1..5, or None for the
    60/40 split)."""
    files = Path(root) / "train_test_files"
    if split == "all":
        return files / "All_labels.txt"
    if fold is None:
        return files / "split_of_60%training and 40%testing" / f"{split}.txt"
    if fold not in (1, 2, 3, 4, 5):
        raise ValueError(f"fold must be 1 to 5 or None, got {fold!r}")
    return (files / "5_folders_cross_validations_files" / f"cross_validation_{fold}"
            / f"{split}_{fold}.txt")


OTHER = {"train": "test", "test": "train"}


def check_disjoint(path, files, other_path):
    """Refuse a split list that shares an image with the other split's list (when that file
    is there): a test image trained on makes the test scores meaningless."""
    if not other_path.exists():
        return
    other = {fields[0]: line for line, fields in read_rows(other_path) if fields}
    shared = [name for name in files if name in other]
    if shared:
        raise DatasetFormatError(path, f"{shared[0]} is also in {other_path.name} (line "
                                 f"{other[shared[0]]}); images in both lists: {len(shared)}")


def read_score_list(path):
    """A list file -> (image names, scores float32, races int64, genders int64)."""
    names, scores, lines = [], [], []
    for line, fields in read_rows(path):
        if len(fields) != 2:
            raise DatasetFormatError(path, f"expected 'image score', found {' '.join(fields)!r}",
                                     line)
        name, text = fields
        try:
            score = float(text)
        except ValueError:
            raise DatasetFormatError(path, f"score {text!r} is not a number", line) from None
        if not 1.0 <= score <= 5.0:
            raise DatasetFormatError(path, f"score {score:g} of {name} is outside [1, 5]", line)
        if name[:1] not in ("A", "C") or name[1:2] not in ("F", "M"):
            raise DatasetFormatError(path, f"image name {name!r} does not start with AF, AM, "
                                     f"CF or CM (race and gender)", line)
        names.append(name)
        scores.append(score)
        lines.append(line)
    if not names:
        raise DatasetFormatError(path, "the list is empty: expected lines 'image score'")
    check_names(path, names, lines)
    races = np.array([name[0] == "C" for name in names], np.int64)
    genders = np.array([name[1] == "M" for name in names], np.int64)
    return names, np.array(scores, np.float32), races, genders


class SCUTFBP5500(LabelledImages):
    """SCUT-FBP5500's images with beauty score, race and gender. ``split``: "train", "test"
    or "all"; ``fold``: None for the 60/40 split, 1-5 for a cross-validation fold.
    Indexing gives ``(image, target)``: image (H, W, 3) uint8 RGB, target a dict
    ``{"score": float32, "race": int64 (0 Asian, 1 Caucasian), "gender": int64 (0 female,
    1 male)}``. Arrays: ``scores``, ``races``, ``genders``; ``files``: image names."""

    def __init__(self, root: str | Path, split: str = "train", fold: int | None = None,
                 check_images: bool = True) -> None:
        if split not in ("train", "test", "all"):
            raise ValueError(f"unknown split {split!r}: expected train, test or all")
        path = list_path(root, split, fold)
        if not path.exists():
            raise FileNotFoundError(f"SCUT-FBP5500 list file not found: {path}")
        self.root, self.split, self.fold = Path(root), split, fold
        self.files, self.scores, self.races, self.genders = read_score_list(path)
        if split != "all":
            check_disjoint(path, self.files, list_path(root, OTHER[split], fold))
        self.image_dir = self.root / "Images"
        if check_images:
            check_images_exist(self.image_dir, self.files, path)

    def target(self, i: int) -> dict[str, np.generic]:
        return {"score": self.scores[i], "race": self.races[i], "gender": self.genders[i]}
