"""Nothing saved is lost by starting again (issue 15, class 1): fit refuses a folder that holds
a run unless told to resume or overwrite; the examples keep an earlier default run and write to
the next numbered folder, refuse an --out that holds one, and replace it only with --overwrite."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_training import train

from minifaceattr.training import RunFolderError, choose_run_folder
from minifaceattr.training.run_folders import next_free_folder

ROOT = Path(__file__).resolve().parents[1]


def a_run(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("checkpoint.npz",) + names:
        (folder / name).write_bytes(b"run")
    return folder


def test_fit_never_overwrites_a_run_without_being_told(tmp_path):
    train(tmp_path / "run", 1)
    first = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    for _ in range(2):                                    # a second fresh start once lost run 1
        with pytest.raises(RunFolderError, match=f"{tmp_path / 'run'} already holds a run"):
            train(tmp_path / "run", 1, seed=5)
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == first
    assert not list((tmp_path / "run").glob("*previous*"))


def test_fit_overwrite_replaces_the_whole_run(tmp_path, capsys):
    train(tmp_path / "run", 1, best_metric="n", evaluate=lambda m: {"n": 1.0})
    (tmp_path / "run" / "metrics.json").write_text("{}")
    model, _, history = train(tmp_path / "run", 1, seed=3, overwrite=True)
    assert "removed the earlier run's checkpoint.npz, log.csv, best.npz, metrics.json" in (
        capsys.readouterr().out)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.npz", "log.csv"]
    assert len(history) == 1


def test_choose_run_folder(tmp_path):
    root = tmp_path / "runs"
    default = root / "train_lfwa" / "full"
    assert choose_run_folder("train_lfwa", "full", root=root) == (default, None)
    a_run(default)
    folder, note = choose_run_folder("train_lfwa", "full", root=root)
    assert folder == root / "train_lfwa" / "full-2"
    assert note == (f"{default} holds an earlier run, kept as it is; this run writes to {folder} "
                    f"(continue it later with --resume --out {folder})")
    a_run(folder)
    a_run(root / "train_lfwa" / "full-3")
    assert next_free_folder(default) == root / "train_lfwa" / "full-4"
    assert choose_run_folder("train_lfwa", "full", resume=True, root=root) == (default, None)
    folder, note = choose_run_folder("train_lfwa", "full", overwrite=True, root=root)
    assert folder == default
    assert note == f"--overwrite: the run in {default} is replaced by this one"
    with pytest.raises(RunFolderError, match=f"^{default} already holds a run .*; pass --resume "
                                             "to continue it or --overwrite to replace it$"):
        choose_run_folder("train_lfwa", "full", out=default, root=root)
    assert choose_run_folder("x", "y", out=default, resume=True, root=root) == (default, None)
    with pytest.raises(RunFolderError, match="pass one of them, not both"):
        choose_run_folder("x", "y", resume=True, overwrite=True, root=root)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert choose_run_folder("x", "y", out=empty, root=root) == (empty, None)


def run_example(*args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(ROOT / "examples" / "train_lfwa.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_examples_keep_an_earlier_default_run(tmp_path):
    tiny = ["--epochs", "1", "--train-size", "16", "--test-size", "8", "--width", "2",
            "--image-size", "32", "--batch-size", "16", "--workers", "0", "--variant", "baseline"]
    first = run_example(*tiny, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    default = Path("runs") / "train_lfwa" / "baseline"
    kept = (tmp_path / default / "checkpoint.npz").read_bytes()
    second = run_example(*tiny, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"{default} holds an earlier run, kept as it is; this run writes to {default}-2" in (
        second.stdout)
    assert (tmp_path / default / "checkpoint.npz").read_bytes() == kept
    assert (tmp_path / f"{default}-2" / "metrics.json").exists()
    refused = run_example(*tiny, "--out", str(default), cwd=tmp_path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (f"error: {default} already holds a run "
                                      f"({default / 'checkpoint.npz'}); pass --resume to continue "
                                      "it or --overwrite to replace it")
    replaced = run_example(*tiny, "--out", str(default), "--overwrite", "--seed", "1", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert f"--overwrite: the run in {default} is replaced by this one" in replaced.stdout
    assert (tmp_path / default / "checkpoint.npz").read_bytes() != kept
