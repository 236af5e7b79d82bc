"""The main job runs end to end at a tiny size and writes what the README promises."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(script, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_train_lfwa_on_synthetic_faces(tmp_path):
    out = tmp_path / "run"
    stdout = run_example("train_lfwa.py", "--epochs", "1", "--train-size", "64",
                         "--test-size", "32", "--width", "4", "--image-size", "32",
                         "--batch-size", "16", "--workers", "0", "--out", str(out), cwd=tmp_path)
    assert stdout.splitlines()[0].startswith("SYNTHETIC faces"), stdout[:300]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["mean_accuracy"] <= 1 and 0 <= metrics["balanced_accuracy"] <= 1
    assert len(metrics["per_attribute"]) == 40
    assert "mean accuracy" in stdout and "majority-class rule" in stdout
    for name in ("log.csv", "checkpoint.npz", "figures/curves.png", "figures/attention_masks.png",
                 "figures/affinity_layer2.png", "figures/predictions.png"):
        assert (out / name).stat().st_size > 0, name


def test_train_lfwa_resume_continues_the_run(tmp_path):
    out = tmp_path / "run"
    common = ["--train-size", "32", "--test-size", "16", "--width", "4", "--image-size", "32",
              "--batch-size", "16", "--workers", "0", "--variant", "baseline", "--out", str(out)]
    run_example("train_lfwa.py", "--epochs", "1", *common, cwd=tmp_path)
    run_example("train_lfwa.py", "--epochs", "2", "--resume", *common, cwd=tmp_path)
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 3  # header + epochs 1 and 2


def test_predict_rebuilds_the_trained_model(tmp_path):
    out = tmp_path / "run"
    run_example("train_lfwa.py", "--epochs", "1", "--train-size", "32", "--test-size", "16",
                "--width", "4", "--image-size", "32", "--batch-size", "16", "--workers", "0",
                "--out", str(out), cwd=tmp_path)
    stdout = run_example("predict.py", str(out / "checkpoint.npz"), "--synthetic", "2",
                         cwd=tmp_path)
    assert stdout.count("synthetic test face") == 2
    assert (out / "predict_attention.png").stat().st_size > 0
