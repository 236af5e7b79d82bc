"""The example commands explain themselves: defaults in --help, settings first, user errors
as one sentence with exit status 2, and an ETA in piped logs."""
import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minifaceattr.backend import has_gpu
from minifaceattr.training import cli
from minifaceattr.training.progress import Progress, clock

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args):
    env = {k: v for k, v in os.environ.items() if k != "MINIFACEATTR_TRACEBACK"}
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("script, both", [
    ("train_lfwa.py", "6 on synthetic faces; 15 with --data-root"),
    ("train_celeba.py", "32 on synthetic faces; 144 with --data-root"),
    ("train_hmtnet.py", "4 on synthetic faces; 170 with --data-root"),
])
def test_help_shows_both_defaults(script, both):
    result = run(script, "--help")
    assert result.returncode == 0
    assert both in " ".join(result.stdout.split()), result.stdout


@pytest.mark.parametrize("script", ["train_lfwa.py", "train_celeba.py", "train_hmtnet.py"])
def test_a_missing_folder_is_one_sentence(script, tmp_path):
    result = run(script, "--data-root", str(tmp_path / "nowhere"), "--device", "cpu")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "nowhere" in result.stderr.splitlines()[0]


def test_cuda_without_a_gpu_is_one_sentence():
    if has_gpu():
        pytest.skip("this machine has a GPU")
    result = run("train_lfwa.py", "--device", "cuda")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--device cpu" in result.stderr.splitlines()[0]


def test_run_command_passes_other_errors_and_keeps_tracebacks_on_request(monkeypatch, capsys):
    def bad(argv):
        raise ValueError("epochs must be >= 1, got 0")
    with pytest.raises(SystemExit) as stop:
        cli.run_command(bad)
    assert stop.value.code == 2 and capsys.readouterr().err.startswith("error: epochs must be")
    monkeypatch.setenv("MINIFACEATTR_TRACEBACK", "1")
    with pytest.raises(ValueError):
        cli.run_command(bad)
    with pytest.raises(KeyError):
        cli.run_command(lambda argv: {}["a bug is not a user error"])


def test_show_defaults_and_settings_line():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flag", action="store_true")
    cli.show_defaults(p, synthetic={"epochs": 6}, paper={"epochs": 15})
    helps = {a.dest: a.help for a in p._actions}
    assert "6 on synthetic faces; 15 with --data-root" in helps["epochs"]
    assert helps["seed"] == "(default: 0)" and helps["flag"] is None
    args = p.parse_args(["--epochs", "2"])
    assert cli.settings_line(args, ("epochs", "seed")) == "settings: epochs 2, seed 0"


def test_piped_progress_lines_carry_an_eta(capsys, monkeypatch):
    monkeypatch.setattr("minifaceattr.training.progress.can_draw_bar", lambda: False)
    sums = type("Sums", (), dict(seconds=0.0, loss=1.0, steps=1, images=8))()
    progress = Progress(1, 3, total=40, start=0, sums=sums, every=20)
    progress.step(20)
    progress.step(40)
    first, last = capsys.readouterr().out.splitlines()
    assert "ETA " in first and "for this epoch" in first and "ETA" not in last
    assert clock(65) == "1:05" and clock(3725) == "1:02:05"


def load_hmtnet_example():
    path = ROOT / "examples" / "train_hmtnet.py"
    spec = importlib.util.spec_from_file_location("train_hmtnet", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def test_hmtnet_says_what_a_cpu_run_costs(tmp_path):
    example = load_hmtnet_example()
    args = example.parse_args(["--train-size", "8", "--test-size", "4", "--batch-size", "4",
                               "--image-size", "48", "--workers", "0", "--device", "cpu"])
    train, test, _ = example.load_data(args)
    model = example.build_model(args, train.scores)
    loader, _ = example.make_loaders(args, train, test)
    criterion = example.HMTLoss(score=args.loss)
    before = [p.data.copy() for p in model.parameters()]
    line = example.cpu_cost(args, model, lambda m, x, t: criterion(m(x), t), loader)
    assert "an epoch" in line and "--widths small" in line and "for 4 epochs" in line
    unchanged = zip(model.parameters(), before, strict=True)
    assert all((p.data == b).all() and p.grad is None for p, b in unchanged)


def test_hmtnet_rule_baselines():
    example = load_hmtnet_example()
    split = lambda scores, races, genders: type("Split", (), dict(  # noqa: E731
        scores=scores, races=races, genders=genders))
    train = split([2.0, 4.0, 3.0], [0, 0, 1], [1, 1, 0])
    test = split([3.0, 5.0], [0, 1], [1, 1])
    rules = example.rule_baselines(train, test)
    assert rules["acc_race"] == 0.5 and rules["acc_gender"] == 1.0 and rules["mean_score"] == 3.0
    assert rules["mae"] == 1.0 and rules["rmse"] == pytest.approx(2 ** 0.5)


def test_history_figure_splits_lower_and_higher_is_better(tmp_path, monkeypatch):
    from minifaceattr import viz
    panels = []
    monkeypatch.setattr(viz, "save", lambda fig, path: panels.extend(
        [ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()]]
        for ax in fig.axes) or path)
    history = [dict(epoch=1, train_loss=1.0, mae=0.7, acc_race=0.7),
               dict(epoch=2, train_loss=0.8, mae=0.6, acc_race=0.8)]
    viz.plot_history(history, tmp_path / "c.png", references={"acc_race": (0.727, "majority")})
    assert [p[0] for p in panels] == ["loss", "metric (lower is better)",
                                      "metric (higher is better)"]
    assert panels[2][1] == ["acc_race", "majority 0.727"]


def test_epoch_line_says_how_long_the_run_has_left():
    from minifaceattr.training.progress import epoch_summary
    record = dict(epoch=1, steps=3, train_loss=1.0, lr=0.1, seconds=30.0, images_per_second=5,
                  eval_seconds=2.0, acc=0.5)
    assert epoch_summary(record, 4).endswith("| about 1:36 left")
    assert "left" not in epoch_summary({**record, "epoch": 4}, 4)
