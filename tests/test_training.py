"""fit: exact resume (after an epoch, after Ctrl-C mid-epoch), the NaN guard, the interrupt
path, what a run writes; evaluate_attributes and write_metrics_json."""
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import nn, optim
from minifaceattr.data import DataLoader
from minifaceattr.metrics import attribute_metrics
from minifaceattr.random import get_state
from minifaceattr.serialization import read_checkpoint
from minifaceattr.training import (NonFiniteLossError, TrainingInterrupted, evaluate_attributes,
                                   fit, read_log_csv, write_metrics_json)


class Points:
    """n random 6-vectors; 3 binary attributes that depend on them."""

    def __init__(self, n=36):
        rng = np.random.default_rng(7)
        self.x = rng.standard_normal((n, 6)).astype(np.float32)
        self.y = (self.x[:, :3] + 0.3 * self.x[:, 3:] > 0).astype(np.int64)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def bce(model, images, targets):
    return F.binary_cross_entropy_with_logits(model(images), targets.astype(np.float32))


def make_run(seed=0):
    """Model (batch norm, dropout: the library RNG), SGD with momentum, a schedule that
    changes the rate after epoch 1, a shuffling loader: everything resume must restore."""
    mfa.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    scheduler = optim.MultiStepLR(optimizer, milestones=[1], gamma=0.1)
    loader = DataLoader(Points(), batch_size=8, shuffle=True, seed=5)   # 5 batches, the last of 4
    return model, optimizer, scheduler, loader


def train(out_dir, epochs, loss_fn=bce, seed=0, **kwargs):
    """(model, optimizer, history) after ``fit``; the scheduler is ``optimizer.scheduler``."""
    model, optimizer, scheduler, loader = make_run(seed)
    history = fit(model, optimizer, loader, loss_fn, epochs, out_dir, scheduler=scheduler,
                  progress=False, meta={"model": "tiny", "hidden": 16}, **kwargs)
    optimizer.scheduler = scheduler
    return model, optimizer, history


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


def assert_same_optimizer(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert a.scheduler.state_dict() == b.scheduler.state_dict()
    for k in sa["state"]:
        np.testing.assert_array_equal(sa["state"][k]["momentum_buffer"],
                                      sb["state"][k]["momentum_buffer"])


def losses(history):
    return [h["train_loss"] for h in history]


def stop_at(step, action, loss_fn=bce):
    """A loss_fn that calls ``action(loss)`` at its ``step``-th call (1-based) instead of
    returning normally there."""
    calls = [0]

    def wrapped(model, images, targets):
        calls[0] += 1
        loss = loss_fn(model, images, targets)
        return action(loss) if calls[0] == step else loss
    return wrapped


@pytest.fixture
def straight(tmp_path):
    """Two epochs without a stop: the reference every resumed run must equal."""
    model, optimizer, history = train(tmp_path / "straight", 2)
    return model, optimizer, history, get_state()


# --- exact resume --------------------------------------------------------------------------

def test_one_epoch_then_resume_equals_two_straight(tmp_path, straight):
    model, optimizer, history, rng_state = straight
    train(tmp_path / "run", 1)
    resumed, resumed_opt, resumed_history = train(tmp_path / "run", 2, seed=99, resume=True)
    assert_same_weights(model, resumed)
    assert_same_optimizer(optimizer, resumed_opt)
    assert get_state() == rng_state
    assert losses(resumed_history) == losses(history)
    assert [r["lr"] for r in resumed_history] == pytest.approx([0.1, 0.01])


def test_resume_really_restores(tmp_path, straight):
    """The test above would pass vacuously if the runs ignored the checkpoint: a fresh run
    with another seed differs."""
    other, _, _ = train(tmp_path / "other", 2, seed=99)
    assert not np.array_equal(other.state_dict()["0.weight"], straight[0].state_dict()["0.weight"])


def test_ctrl_c_mid_epoch_saves_exact_state(tmp_path, straight):
    model, optimizer, history, rng_state = straight
    ctrl_c = stop_at(7, lambda loss: (signal.raise_signal(signal.SIGINT), loss)[1])
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tmp_path / "run", 2, loss_fn=ctrl_c)
    stop = stopped.value
    assert stop.exact and (stop.epochs_done, stop.step_in_epoch) == (1, 2)
    header, _ = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert (header["meta"]["run"]["epochs_done"], header["meta"]["run"]["step_in_epoch"]) == (1, 2)
    resumed, resumed_opt, resumed_history = train(tmp_path / "run", 2, seed=99, resume=True)
    assert_same_weights(model, resumed)
    assert_same_optimizer(optimizer, resumed_opt)
    assert get_state() == rng_state
    assert losses(resumed_history) == losses(history)


def test_ctrl_c_twice_stops_at_once_and_keeps_the_last_epoch(tmp_path, straight):
    def twice(loss):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tmp_path / "run", 2, loss_fn=stop_at(8, twice))
    assert not stopped.value.exact
    assert saved_epochs(tmp_path / "run") == 1
    resumed, _, _ = train(tmp_path / "run", 2, seed=99, resume=True)
    assert_same_weights(straight[0], resumed)


def saved_epochs(folder):
    header, _ = read_checkpoint(folder / "checkpoint.npz")
    run = header["meta"]["run"]
    assert run["step_in_epoch"] == 0
    return run["epochs_done"]


def raise_keyboard_interrupt(loss):
    raise KeyboardInterrupt


@pytest.mark.parametrize("step", [3, 8])
def test_keyboard_interrupt_keeps_last_good_checkpoint(tmp_path, straight, step, capsys):
    """Raised inside a step (mid-way through an update, as far as fit knows), so the
    checkpoint on disk stays the last one saved: the start, or epoch 1."""
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tmp_path / "run", 2, loss_fn=stop_at(step, raise_keyboard_interrupt))
    assert isinstance(stopped.value, KeyboardInterrupt) and not stopped.value.exact
    assert saved_epochs(tmp_path / "run") == (step - 1) // 5
    assert "resume" in capsys.readouterr().out
    resumed, _, history = train(tmp_path / "run", 2, seed=99, resume=True)
    assert_same_weights(straight[0], resumed)
    assert losses(history) == losses(straight[2])


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_training as t
t.train({out!r}, 2, loss_fn=t.stop_at(8, lambda loss: os.kill(os.getpid(), signal.SIGKILL)))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_a_killed_run_loses_no_finished_epoch(tmp_path, straight):
    """SIGKILL mid-epoch 2 (no handler runs): epoch 1's checkpoint is intact and resumes."""
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run"))
    root = Path(__file__).resolve().parents[1]          # so that "import minifaceattr" works
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=root)
    assert killed.returncode == -signal.SIGKILL
    assert saved_epochs(tmp_path / "run") == 1
    resumed, _, history = train(tmp_path / "run", 2, seed=99, resume=True)
    assert_same_weights(straight[0], resumed)
    assert losses(history) == losses(straight[2])


# --- the NaN guard -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, bad):
    _, _, one_epoch = train(tmp_path / "one", 1)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    with pytest.raises(NonFiniteLossError) as error:
        train(tmp_path / "run", 3, loss_fn=stop_at(8, lambda loss: loss * bad))
    e = error.value
    assert (e.epoch, e.step, e.global_step) == (2, 3, 8)
    assert e.first_sample == DataLoader(Points(), 8, shuffle=True, seed=5).batch_indices(1)[2][0]
    assert "epoch 2, step 3/5" in str(e) and str(checkpoint) in str(e)
    assert saved_epochs(tmp_path / "run") == 1
    _, saved = read_checkpoint(checkpoint)
    _, reference = read_checkpoint(tmp_path / "one" / "checkpoint.npz")
    for name, array in reference.items():
        np.testing.assert_array_equal(saved[name], array)
    assert losses(read_log_csv(tmp_path / "run" / "log.csv")) == losses(one_epoch)


# --- what a run writes ---------------------------------------------------------------------

def test_outputs_stay_in_out_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scores = iter([0.5, 0.9, 0.7])
    model, _, history = train("out", 3, evaluate=lambda m: {"score": next(scores)},
                              best_metric="score", description="3-attribute Gaussian points")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["best.npz", "checkpoint.npz",
                                                                    "log.csv"]
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert first.startswith("Training on cpu: 36 training samples") and "5 batches" in first
    assert "data: 3-attribute Gaussian points" in printed and "epoch 3/3 step 5/5: loss" in printed
    rows = read_log_csv(tmp_path / "out" / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3] and [r["steps"] for r in rows] == [5, 10, 15]
    assert [r["score"] for r in rows] == [0.5, 0.9, 0.7]
    assert losses(rows) == losses(history)
    assert all(r["images_per_second"] > 0 for r in rows)
    header, _ = read_checkpoint(tmp_path / "out" / "best.npz")
    assert header["meta"]["epoch"] == 2 and header["meta"]["value"] == 0.9


def test_synthetic_data_is_named_in_the_first_line(tmp_path, capsys):
    from minifaceattr.data import SynthFaces
    faces = SynthFaces(4, image_size=16, cache=False, verbose=False)
    mfa.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16 * 3, 40))
    loader = DataLoader(faces, 2,
                        transform=lambda image: image.transpose(2, 0, 1) / np.float32(255))
    fit(model, optim.SGD(model.parameters(), lr=0.01), loader, bce, 1, tmp_path, progress=False)
    assert "4 training samples (SYNTHETIC)" in capsys.readouterr().out.splitlines()[0]


def test_dict_targets_and_plain_list_loader(tmp_path):
    """Targets may be a dict of arrays; a list of batches (no set_epoch) is a loader too."""
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 6)).astype(np.float32),
                {"score": rng.standard_normal((4, 1)).astype(np.float32), "name": "batch"})
               for _ in range(3)]
    seen = []

    def loss_fn(model, images, targets):
        seen.append((type(images), type(targets["score"]), targets["name"]))
        return F.mse_loss(model(images), targets["score"])
    mfa.manual_seed(0)
    model = nn.Linear(6, 1)
    history = fit(model, optim.SGD(model.parameters(), lr=0.1), batches, loss_fn, 2, tmp_path,
                  progress=False)
    assert len(history) == 2 and history[1]["train_loss"] < history[0]["train_loss"]
    assert seen[0] == (mfa.Tensor, np.ndarray, "batch")


def test_resume_guards(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tmp_path / "run", 1, resume=True)
    train(tmp_path / "run", 1, resume="auto")           # nothing there yet: starts afresh
    model, optimizer, scheduler, _ = make_run()
    other_seed = DataLoader(Points(), batch_size=8, shuffle=True, seed=6)
    with pytest.raises(ValueError, match="seed"):
        fit(model, optimizer, other_seed, bce, 2, tmp_path / "run", scheduler=scheduler,
            resume=True)
    with pytest.raises(ValueError, match="already holds a run .*resume=True .*overwrite=True"):
        train(tmp_path / "run", 1)                      # afresh where a run is: refused
    train(tmp_path / "run", 1, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.npz", "log.csv"]
    _, _, history = train(tmp_path / "run", 1, resume=True)
    assert len(history) == 1 and "Nothing to do" in capsys.readouterr().out


def test_evaluate_runs_in_eval_mode_without_gradients(tmp_path):
    seen = []

    def evaluate(model):
        seen.append((model.training, mfa.is_grad_enabled()))
        return {"n": len(seen)}
    model, _, history = train(tmp_path, 2, evaluate=evaluate)
    assert seen == [(False, False)] * 2 and model.training
    assert [h["n"] for h in history] == [1, 2]


def test_evaluate_must_return_numbers(tmp_path):
    with pytest.raises(TypeError, match="'groups'"):
        train(tmp_path, 1, evaluate=lambda m: {"accuracy": 0.5, "groups": {"eyes": 0.5}})


# --- evaluation and metrics.json ------------------------------------------------------------

class Wrapped(nn.Module):
    """A model whose output carries ``.logits``, like MGGOutput."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return type("Output", (), {"logits": self.inner(x)})()


@pytest.mark.parametrize("wrap", [False, True])
def test_evaluate_attributes_matches_the_metrics(wrap):
    mfa.manual_seed(1)
    inner = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    model = Wrapped(inner) if wrap else inner
    data = Points(20)
    groups = {"first": [0], "rest": [1, 2]}
    got = evaluate_attributes(model, DataLoader(data, 7), groups=groups, names=["a", "b", "c"])
    inner.eval()
    expected = attribute_metrics(inner(mfa.tensor(data.x)).numpy(), data.y, names=["a", "b", "c"],
                                 groups=groups, logits=True)
    assert got["mean_accuracy"] == expected["mean_accuracy"] and got["samples"] == 20
    assert got["groups"] == expected["groups"]
    assert got["per_attribute"] == {n: m["accuracy"] for n, m in expected["attributes"].items()}
    model.train()
    evaluate_attributes(model, DataLoader(data, 7))
    assert inner.training                                # the mode is put back


def test_write_metrics_json_is_strict(tmp_path):
    metrics = {"mean_accuracy": np.float64(0.875), "tpr": math.nan, "counts": np.arange(3),
               "nested": {"inf": math.inf, "pair": (1, np.int64(2))}, 3: "three"}
    path = write_metrics_json(tmp_path / "metrics.json", metrics)

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    back = json.loads(path.read_text(), parse_constant=refuse)
    assert back == {"mean_accuracy": 0.875, "tpr": None, "counts": [0, 1, 2],
                    "nested": {"inf": None, "pair": [1, 2]}, "3": "three"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary left
