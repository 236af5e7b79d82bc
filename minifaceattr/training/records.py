"""What a run leaves on disk besides its checkpoints: ``log.csv`` and ``metrics.json``.

Both are written atomically (a temporary file renamed over the old one), so a run killed
while writing leaves the previous version, never half a file. The CSV is rewritten from the
whole history each epoch: it always agrees with the history inside the checkpoint, also
after a resume.
"""
import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..serialization import atomic_write

LOG_COLUMNS = ("epoch", "steps", "train_loss", "lr", "seconds", "images_per_second", "eval_seconds")


def write_log_csv(path, history):
    """One row per epoch of ``history``: the columns of LOG_COLUMNS, then every other key in
    the order it first appears (the evaluate metrics). A missing value is an empty cell."""
    columns = list(LOG_COLUMNS)
    for record in history:
        columns += [key for key in record if key not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({key: _csv_cell(value) for key, value in record.items()})
    atomic_write(path, lambda f: f.write(text.getvalue().encode("utf-8")))


def _csv_cell(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)   # repr: every digit, read back exactly
    return value


def read_log_csv(path):
    """The rows of a ``log.csv`` as dicts of floats (empty cells become NaN)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: float(cell) if cell != "" else math.nan for key, cell in row.items()}
                for row in csv.DictReader(f)]


def json_ready(value):
    """``value`` as strict JSON data: NumPy/CuPy numbers and arrays become Python numbers and
    lists, tuples become lists, paths strings, and NaN or infinity becomes None (null)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):      # arrays and NumPy scalars
        return json_ready(to_numpy(value).tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to JSON: {value!r}")


def write_metrics_json(path, metrics):
    """Write ``metrics`` (nested dicts of numbers) to ``path`` as strict, indented JSON,
    atomically. NaN (an undefined rate: an attribute with no positives) is written as null,
    which every JSON reader accepts. Returns the path."""
    text = json.dumps(json_ready(metrics), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return Path(path)


def scalar_metrics(metrics):
    """Check that ``evaluate`` gave {name: number}; return it with Python floats."""
    if not isinstance(metrics, dict):
        raise TypeError(f"evaluate(model) must return a dict of numbers, "
                        f"got {type(metrics).__name__}")
    result = {}
    for name, value in metrics.items():
        if isinstance(value, (dict, list, tuple, str)) or np.ndim(value) != 0:
            raise TypeError(f"evaluate(model) must return {{name: number}} (one CSV column "
                            f"each); {name!r} is a {type(value).__name__}. Return the numbers "
                            "to log, e.g. {'mean_accuracy': m['mean_accuracy']}")
        result[str(name)] = float(to_numpy(value))
    return result
