"""The two training examples with ``--device cuda`` at tiny sizes, and the lessons' GPU
sections: through the CuPy stand-in (a subprocess started with ``tests/standin_site`` on
PYTHONPATH) on every machine, on the GPU under ``pytest -m gpu``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cupy_standin

ROOT = Path(__file__).resolve().parents[1]


def run_python(cuda, path, *args, cwd):
    """``python path args...`` in a fresh process whose ``cupy`` is the one ``cuda`` is."""
    env = dict(os.environ, MPLBACKEND="Agg")
    if cuda is cupy_standin.standin:
        paths = [str(ROOT / "tests" / "standin_site"), str(ROOT), env.get("PYTHONPATH", "")]
        env.update(MINIFACEATTR_CUPY_STANDIN="1", PYTHONPATH=os.pathsep.join(p for p in paths if p))
    result = subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def run_on_cuda(cuda, script, *args, cwd):
    return run_python(cuda, ROOT / "examples" / script, *args, "--device", "cuda", cwd=cwd)


@pytest.mark.slow
def test_train_lfwa_on_cuda(cuda, tmp_path):
    out = tmp_path / "run"
    stdout = run_on_cuda(cuda, "train_lfwa.py", "--epochs", "1", "--train-size", "16",
                         "--test-size", "8", "--width", "4", "--image-size", "32",
                         "--batch-size", "8", "--workers", "0", "--out", str(out), cwd=tmp_path)
    assert "Training on cuda" in stdout, stdout[:500]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["mean_accuracy"] <= 1, stdout[-500:]
    for name in ("log.csv", "checkpoint.npz", "figures/curves.png", "figures/attention_masks.png"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.slow
def test_train_hmtnet_on_cuda(cuda, tmp_path):
    out = tmp_path / "run"
    stdout = run_on_cuda(cuda, "train_hmtnet.py", "--train-size", "8", "--test-size", "6",
                         "--batch-size", "4", "--image-size", "48", "--epochs", "1", "--workers",
                         "0", "--out", str(out), cwd=tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mae", "rmse", "pc"} <= set(metrics), metrics
    assert "cuda" in stdout, stdout[:500]


@pytest.mark.parametrize("lesson, gpu_line", [
    ("04_numpy_to_cupy", "F.relu on a CuPy tensor ran relu_forward and relu_backward on the GPU"),
    ("15_performance", "these timings ran on the GPU")])
def test_lesson_gpu_sections(cuda, tmp_path, lesson, gpu_line):
    stdout = run_python(cuda, ROOT / "lessons" / f"{lesson}.py", "--quick", cwd=tmp_path)
    assert gpu_line in stdout, stdout[-2000:]
