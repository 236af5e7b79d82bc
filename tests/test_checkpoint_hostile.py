"""Damaged checkpoints (issue 15, class 6): truncated, empty, bit-flipped or with a broken
header, each refused with an error naming the file, through load_checkpoint, fit's resume and
examples/predict.py."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minifaceattr import nn, optim
from minifaceattr.serialization import load_checkpoint, load_weights, save_checkpoint
from minifaceattr.serialization.checkpoint import HEADER

ROOT = Path(__file__).resolve().parents[1]


def good_checkpoint(path):
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(np.ones((2, 3), np.float32)).sum().backward()
    optimizer.step()
    save_checkpoint(path, model, optimizer, epoch=1)
    return model, optimizer


def rewrite_header(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = change(json.loads(str(arrays[HEADER])))
    arrays[HEADER] = np.array(header if isinstance(header, str) else json.dumps(header))
    np.savez(path.with_suffix(".tmp.npz"), **arrays)
    path.with_suffix(".tmp.npz").replace(path)


def damage(path, how):
    raw = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bit-flipped":
        raw[len(raw) // 3] ^= 0x10                       # inside an array's bytes: bad CRC
        path.write_bytes(raw)
    elif how == "header not JSON":
        rewrite_header(path, lambda h: "{not json")
    elif how == "header without meta":
        rewrite_header(path, lambda h: {k: v for k, v in h.items() if k != "meta"})
    elif how == "header is a list":
        rewrite_header(path, lambda h: [h])
    elif how == "missing array":
        rewrite_header(path, lambda h: {**h, "meta": {"x": {"__array__": "meta/absent"}}})


HOW = ["truncated", "empty", "bit-flipped", "header not JSON", "header without meta",
       "header is a list", "missing array"]


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_checkpoint_names_the_file(tmp_path, how):
    path = tmp_path / "checkpoint.npz"
    model, optimizer = good_checkpoint(path)
    damage(path, how)
    with pytest.raises(ValueError, match=f"^{path}: ") as error:
        load_checkpoint(path, model, optimizer)
    assert type(error.value) is ValueError
    if how in ("truncated", "empty", "bit-flipped"):
        assert "truncated or damaged" in str(error.value) or "cannot read" in str(error.value)
        with pytest.raises(ValueError, match=f"^{path}: "):
            load_weights(path)


@pytest.mark.parametrize("how", ["truncated", "bit-flipped", "header without meta"])
def test_resume_and_predict_from_a_damaged_checkpoint_say_so_in_one_line(tmp_path, how):
    from test_training import Points, bce

    from minifaceattr.data import DataLoader
    from minifaceattr.training import fit
    model, optimizer = good_checkpoint(tmp_path / "checkpoint.npz")
    damage(tmp_path / "checkpoint.npz", how)
    with pytest.raises(ValueError, match="checkpoint.npz: "):
        fit(model, optimizer, DataLoader(Points(), 8), bce, 1, tmp_path, resume=True,
            progress=False)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "predict.py"),
                             str(tmp_path / "checkpoint.npz"), "--synthetic", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"error: {tmp_path / 'checkpoint.npz'}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_checkpoint_not_written_by_fit_cannot_be_resumed(tmp_path):
    from test_training import Points, bce

    from minifaceattr.data import DataLoader
    from minifaceattr.training import fit
    model, optimizer = good_checkpoint(tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match="not a checkpoint written by fit .*no run"):
        fit(model, optimizer, DataLoader(Points(), 8), bce, 1, tmp_path, resume=True,
            progress=False)


def test_weights_holding_pickled_objects_or_a_nested_header_name_the_file(tmp_path):
    np.savez(tmp_path / "w.npz", w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="w.npz: cannot read as weights .*allow_pickle=False"):
        load_weights(tmp_path / "w.npz")
    path = tmp_path / "checkpoint.npz"
    good_checkpoint(path)
    rewrite_header(path, lambda h: "[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="checkpoint.npz: the checkpoint's header is damaged"):
        load_checkpoint(path, *good_checkpoint(tmp_path / "other.npz"))
