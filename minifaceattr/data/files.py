"""Reading dataset files: annotation text, images, and errors that say where things went wrong.

Every problem with a dataset on disk raises ``DatasetFormatError`` (a ValueError) whose message
starts with the file and, for text files, the line: ``list_attr_celeba.txt, line 7: expected 40
values after the file name, found 39``. Text files may have CRLF line ends, a UTF-8 byte-order
mark, tabs, repeated or trailing spaces and blank lines.
"""
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image


class DatasetFormatError(ValueError):
    """A dataset file that cannot be used as it is. ``path`` is the file, ``line`` the 1-based
    line number (None for images and binary files)."""

    def __init__(self, path, problem, line=None):
        self.path, self.line, self.problem = Path(path), line, problem
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


def find_file(root, name, subdirs=()):
    """``root/name``, or ``root/sub/name`` for the first ``sub`` in ``subdirs`` that has it.
    Raises FileNotFoundError listing the places looked in."""
    root = Path(root)
    places = [root / name] + [root / sub / name for sub in subdirs]
    for place in places:
        if place.exists():
            return place
    raise FileNotFoundError(f"{name} not found; looked for " + ", ".join(map(str, places)))


def read_lines(path):
    """The non-blank lines of a text file as (line number, text without surrounding spaces).
    CRLF and CR become LF; a UTF-8 byte-order mark is dropped. A file that is not UTF-8 text
    (UTF-16, Latin-1, binary) raises DatasetFormatError naming the file and the line."""
    text = decode_text(path, Path(path).read_bytes())
    lines = io.StringIO(text, newline=None)          # universal newlines, as text-mode open
    return [(k, line.strip()) for k, line in enumerate(lines, start=1) if line.strip()]


def decode_text(path, raw):
    """``raw`` bytes as UTF-8 text, or DatasetFormatError saying what the file is instead."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise DatasetFormatError(path, "the file is UTF-16 text or binary (it holds NUL bytes); "
                                 "save it as UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DatasetFormatError(path, f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset "
                                 f"{error.start}); save the file as UTF-8", line) from None


def read_rows(path):
    """The non-blank lines of a text file as (line number, fields split on any whitespace)."""
    return [(k, text.split()) for k, text in read_lines(path)]


def sign_table(path, lines, names):
    """Lines "file v_1 ... v_K", every v 1 or -1 -> (file names, (N, K) 0/1 int64 array).
    ``lines`` as from ``read_lines``; ``names`` the K column names (for error messages).

    Fast path: NumPy parses all values at once (CelebA's 8 million in well under a second).
    Each row is followed by a 7, a value no row may hold, so a row with too few or too many
    values moves the 7s out of the last column. If anything is off, ``check_sign_rows`` reads
    the lines one by one and names the first bad one."""
    K = len(names)
    pairs = [text.split(None, 1) for _, text in lines]
    joined = " 7 ".join(pair[1] if len(pair) == 2 else "" for pair in pairs) + " 7"
    with warnings.catch_warnings():
        warnings.simplefilter("error")         # NumPy warns (not raises) on a bad token
        try:
            values = np.fromstring(joined, dtype=np.int64, sep=" ")   # exact: 255 stays 255
        except (ValueError, DeprecationWarning):
            values = np.zeros(0, np.int64)
    if values.size == len(lines) * (K + 1):
        table = values.reshape(len(lines), K + 1)
        if (table[:, K] == 7).all() and (np.abs(table[:, :K]) == 1).all():
            files = [pair[0] for pair in pairs]
            check_names(path, files, [line for line, _ in lines])
            return files, (table[:, :K] == 1).astype(np.int64)
    check_sign_rows(path, lines, names)
    raise DatasetFormatError(path, "could not parse the values (but found no bad line)")


def check_sign_rows(path, lines, names):
    """Raise DatasetFormatError at the first line that is not "file" plus K values of 1 or -1."""
    for line, text in lines:
        fields = text.split()
        if len(fields) - 1 != len(names):
            raise DatasetFormatError(path, f"expected {len(names)} values after the file name, "
                                     f"found {len(fields) - 1}", line)
        for name, value in zip(names, fields[1:]):
            if value not in ("1", "-1"):
                raise DatasetFormatError(path, f"value {value!r} for {name} is not 1 or -1", line)


def check_names(path, names, lines=None):
    """Raise DatasetFormatError at the first image name in ``names`` (listed in ``path``, on
    ``lines``) that is absolute, climbs out of the image folder with "..", or is listed twice.
    Without line numbers the error counts images from 1."""
    first = {}
    for k, name in enumerate(names):
        line = lines[k] if lines is not None else None
        where = "" if lines is not None else f"image {k + 1}: "
        parts = name.replace("\\", "/").split("/")
        if not name or parts[0] == "" or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise DatasetFormatError(path, f"{where}image name {name!r} is absolute or leaves the "
                                     "image folder (\"..\"); names must be relative to it", line)
        if name in first:
            was = f"line {first[name]}" if lines is not None else f"image {first[name]}"
            raise DatasetFormatError(path, f"{where}{name} is listed twice (first on {was})", line)
        first[name] = line if lines is not None else k + 1


def load_rgb(path):
    """An image file as an (H, W, 3) uint8 RGB array; grayscale, palette and RGBA images are
    converted. A missing, unreadable or truncated file raises DatasetFormatError."""
    try:
        with Image.open(path) as image:
            image.load()                                   # decode now, so errors surface here
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise DatasetFormatError(path, "image not found") from None
    except (OSError, ValueError, SyntaxError,               # PIL's ways of saying "corrupt"
            Image.DecompressionBombError) as error:        # a header claiming huge sizes
        raise DatasetFormatError(path, f"cannot decode the image ({error})") from None


def check_images_exist(image_dir, files, listed_in):
    """Raise DatasetFormatError naming the first image of ``files`` (paths relative to
    ``image_dir``) that is not on disk, and how many are missing. One directory listing per
    folder, so it stays fast for 200,000 images."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DatasetFormatError(image_dir, f"image folder not found (images are listed in "
                                 f"{listed_in})")
    present = {}
    missing = []
    for name in files:
        folder, _, base = name.rpartition("/")
        if folder not in present:
            where = image_dir / folder
            present[folder] = set(os.listdir(where)) if where.is_dir() else set()
        if base not in present[folder]:
            missing.append(name)
    if missing:
        raise DatasetFormatError(image_dir / missing[0], f"image not found (listed in "
                                 f"{listed_in}; {len(missing)} of {len(files)} missing)")


class LabelledImages:
    """Images in a folder plus a target per image. Subclasses set ``image_dir``, ``files``
    (names relative to ``image_dir``) and define ``target(i)``."""

    image_dir = Path(".")
    files: Sequence[str] = ()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        """``(image, target)``: image an (H, W, 3) uint8 RGB array, loaded from disk now."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        return load_rgb(self.image_dir / self.files[i]), self.target(i)

    def target(self, i: int) -> Any:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images in {self.image_dir})"
