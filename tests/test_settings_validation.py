"""Impossible settings fail before training, in one sentence that says what would work
(issue 15, class 8)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_training import Points, bce, train

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import nn, optim
from minifaceattr.data import DataLoader
from minifaceattr.models.hmtnet import HMTNET_SMALL, HMTNet
from minifaceattr.models.mggnet import MGGNet
from minifaceattr.models.resnet import resnet18
from minifaceattr.training import evaluate_attributes

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_fit_needs_at_least_one_epoch(tmp_path, epochs):
    with pytest.raises(ValueError, match=r"fit: epochs must be a whole number >= 1 .*got"):
        train(tmp_path / "run", epochs)
    assert not (tmp_path / "run").exists()                 # nothing written


@pytest.mark.parametrize("make", [
    lambda p, v: optim.SGD(p, lr=v), lambda p, v: optim.SGD(p, lr=0.1, momentum=v),
    lambda p, v: optim.Adam(p, lr=v)])
@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1])
def test_optimizers_refuse_a_learning_rate_that_is_not_a_number(make, value):
    with pytest.raises(ValueError, match="must be finite numbers >= 0|invalid lr"):
        make(nn.Linear(2, 2).parameters(), value)


def test_models_refuse_width_zero_and_inputs_too_small():
    for build in (lambda: resnet18(width=0), lambda: MGGNet(width=0)):
        with pytest.raises(ValueError, match="width must be a whole number >= 1 .*got 0"):
            build()
    with pytest.raises(ValueError, match="HMTNet widths must be whole numbers >= 1"):
        HMTNet(HMTNET_SMALL.__class__(64, (16, 0, 64), (32, 16), 128, (1, 1)))
    model = MGGNet(width=2)
    message = ("MGG-Net \\(full\\) needs images of at least 17×17 pixels, so that its layer2, "
               "layer3 attention masks are at least 2×2; got 7×7")
    with pytest.raises(ValueError, match=message):
        model.check_input_size(7)
    with pytest.raises(ValueError, match=message):
        model(mfa.tensor(np.zeros((2, 3, 7, 7), np.float32)))
    model.check_input_size(17)
    assert model(mfa.tensor(np.zeros((2, 3, 17, 17), np.float32))).logits.shape == (2, 40)


@pytest.mark.parametrize("bad", [255.0, -1.0, math.nan, 1.5])
def test_bce_targets_outside_zero_one_are_refused(bad):
    logits = mfa.tensor(np.zeros((2, 3), np.float32))
    targets = np.zeros((2, 3), np.float32)
    targets[1, 2] = bad
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        F.binary_cross_entropy_with_logits(logits, targets)
    F.binary_cross_entropy_with_logits(logits, np.full((2, 3), 0.25, np.float32))   # soft: fine


def test_a_set_smaller_than_one_batch_and_an_empty_batch(tmp_path):
    with pytest.raises(ValueError, match="DataLoader: 10 samples make no full batch of 16, and "
                                         "drop_last=True would drop them all: use a batch size "
                                         "of at most 10, or drop_last=False"):
        DataLoader(Points(10), 16, drop_last=True)
    assert len(DataLoader(Points(10), 16)) == 1
    model = nn.Linear(6, 3)
    empty = [(np.zeros((0, 6), np.float32), np.zeros((0, 3), np.int64))]
    with pytest.raises(ValueError, match="a batch with no images"):
        evaluate_attributes(model, empty)
    from minifaceattr.training import fit
    with pytest.raises(ValueError, match="a batch with no images"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), empty, bce, 1, tmp_path, progress=False)


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "error: fit: epochs must be a whole number >= 1"),
    (["--lr", "nan"], "error: SGD: lr, momentum and weight_decay must be finite numbers >= 0"),
    (["--image-size", "7"], "error: MGG-Net (full) needs images of at least 17×17 pixels"),
    (["--width", "0"], "error: ResNet width must be a whole number >= 1"),
    (["--train-size", "8"], "error: DataLoader: 8 samples make no full batch of 16"),
])
def test_the_example_reports_impossible_settings_in_one_line(tmp_path, args, message):
    tiny = ["--epochs", "1", "--train-size", "16", "--test-size", "8", "--width", "2",
            "--image-size", "32", "--batch-size", "16", "--workers", "0"]
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "train_lfwa.py"), *tiny,
                             *args], cwd=tmp_path, env=dict(os.environ, MPLBACKEND="Agg"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.npz"))
