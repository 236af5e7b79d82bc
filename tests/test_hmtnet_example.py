"""examples/train_hmtnet.py runs end to end at a tiny size and writes what it promises."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_hmtnet.py"
TINY_RUN = ["--train-size", "8", "--test-size", "6", "--batch-size", "4", "--image-size", "48",
            "--epochs", "1", "--workers", "0", "--device", "cpu"]


@pytest.fixture
def example(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIFACEATTR_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("train_hmtnet", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_joint_run_writes_metrics_log_checkpoint_and_figures(example, tmp_path, capsys):
    out = tmp_path / "run"
    example.main(TINY_RUN + ["--out", str(out)])
    assert capsys.readouterr().out.splitlines()[0].startswith("SYNTHETIC faces")
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("mae", "rmse", "pc", "acc_race", "acc_gender"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key
    assert 0 <= metrics["acc_race"] <= 1 and metrics["mae"] >= 0
    for name in ("log.csv", "checkpoint.npz", "figures/curves.png", "figures/score_scatter.png"):
        assert (out / name).stat().st_size > 0, name


def test_single_task_concat_and_mse_options(example, tmp_path):
    out = tmp_path / "gender"
    example.main(TINY_RUN + ["--out", str(out), "--task", "gender", "--aggregator", "concat",
                             "--loss", "mse"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mae"] is None and metrics["pc"] is None      # no score head: null
    assert 0 <= metrics["acc_gender"] <= 1
    assert not (out / "figures" / "score_scatter.png").exists()


def test_paper_defaults_and_model_configs(example):
    args = example.parse_args(["--data-root", "somewhere", "--device", "cpu"])
    assert (args.image_size, args.batch_size, args.lr, args.step_size) == (224, 32, 0.001, 50)
    assert example.model_config(args) == example.HMTNET_224
    small = example.parse_args(["--device", "cpu"])
    assert small.out.parent == Path("runs") / "train_hmtnet" and small.out.name.startswith("joint")
    assert example.model_config(small).image_size == 64
