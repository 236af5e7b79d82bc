"""A checkpoint of another optimiser is refused naming both kinds, and a learning rate given
for a resumed run is never dropped silently (issue 15, class 7)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from test_training import Points, bce

from minifaceattr import nn, optim
from minifaceattr.data import DataLoader
from minifaceattr.serialization import load_checkpoint, save_checkpoint
from minifaceattr.training import fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def stepped(kind):
    model = nn.Linear(6, 3)
    optimizer = optim.Adam(model.parameters()) if kind == "Adam" else optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9)
    model(np.ones((2, 6), np.float32)).sum().backward()
    optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("saved, loading", [("Adam", "SGD"), ("SGD", "Adam")])
def test_another_optimizers_checkpoint_is_refused_naming_both(tmp_path, saved, loading):
    model, optimizer = stepped(saved)
    save_checkpoint(tmp_path / "c.npz", model, optimizer)
    other_model, other = stepped(loading)
    with pytest.raises(ValueError, match=f"c.npz: the saved optimizer state is {saved}'s; "
                                         f"{loading} cannot continue from it"):
        load_checkpoint(tmp_path / "c.npz", other_model, other)
    state = optimizer.state_dict()
    del state["kind"]                                   # state saved before kinds were recorded
    with pytest.raises(ValueError, match=f"{saved}'s; {loading} cannot"):
        other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == (0.1 if loading == "SGD" else 1e-3)   # untouched


def test_resuming_with_another_lr_says_which_rate_is_used(tmp_path, capsys):
    model = nn.Linear(6, 3)
    fit(model, optim.SGD(model.parameters(), lr=0.1), DataLoader(Points(), 8), bce, 1, tmp_path,
        progress=False)
    model = nn.Linear(6, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    fit(model, optimizer, DataLoader(Points(), 8), bce, 2, tmp_path, resume=True, progress=False)
    out = capsys.readouterr().out
    assert "the optimizer was built with lr [0.5], but the run in" in out
    assert "trained with [0.1]; resuming keeps the checkpoint's" in out
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_the_examples_refuse_lr_with_resume(tmp_path):
    import train_hmtnet
    import train_lfwa
    for module in (train_lfwa, train_hmtnet):
        with pytest.raises(ValueError, match="--lr 0.5 cannot be combined with --resume: a "
                                             "resumed run keeps the learning-rate schedule"):
            module.parse_args(["--resume", "--lr", "0.5", "--out", str(tmp_path)])
        assert module.parse_args(["--resume", "--out", str(tmp_path)]).resume
