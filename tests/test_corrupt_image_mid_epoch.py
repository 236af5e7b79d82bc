"""A corrupt image found mid-epoch (or while evaluating) does not lose the epoch's work: the
run is saved just before the batch that failed, the error names the file and says how to
continue, and the resumed run equals one that never stopped (issue 15, class 9)."""
import numpy as np
import pytest
from test_training import Points, assert_same_weights, bce, losses, make_run, train

from minifaceattr.data import DatasetFormatError
from minifaceattr.serialization import read_checkpoint
from minifaceattr.training import TrainingDataError, fit


class Faces(Points):
    """Points whose sample ``broken`` fails to load after its first use (epoch 2), as a JPEG
    damaged on disk mid-run does, until fixed (``broken = None``)."""

    def __init__(self, broken=None):
        super().__init__()
        self.broken, self.loads = broken, 0

    def __getitem__(self, i):
        self.loads += i == self.broken
        if i == self.broken and self.loads > 1:
            raise DatasetFormatError(f"faces/{i:06d}.jpg", "cannot decode the image (truncated)")
        return super().__getitem__(i)


def run(out_dir, dataset, epochs=2, resume=False, evaluate=None, workers=0):
    model, optimizer, scheduler, loader = make_run()
    loader.dataset, loader.workers = dataset, workers
    history = fit(model, optimizer, loader, bce, epochs, out_dir, scheduler=scheduler,
                  progress=False, meta={"model": "tiny", "hidden": 16}, resume=resume,
                  evaluate=evaluate)
    return model, history


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_mid_epoch_saves_a_resumable_checkpoint(tmp_path, workers):
    straight, _, history = train(tmp_path / "straight", 2)
    _, _, _, loader = make_run()
    broken = int(loader.batch_indices(1)[2][3])          # epoch 2, batch 3
    faces = Faces(broken)
    with pytest.raises(TrainingDataError) as error:
        run(tmp_path / "run", faces, workers=workers)
    message = str(error.value)
    assert message.startswith(f"faces/{broken:06d}.jpg: cannot decode the image (truncated), "
                              "while loading batch 3/5 of epoch 2. Training stopped; ")
    assert message.endswith("holds the run epoch 2, after step 2/5: fix or replace the file, "
                            "then continue with resume=True (the examples: --resume)")
    header, _ = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert header["meta"]["run"]["global_step"] == 7
    faces.broken = None                                   # the file is replaced
    resumed, resumed_history = run(tmp_path / "run", faces, resume=True)
    assert_same_weights(straight, resumed)
    assert losses(resumed_history) == losses(history)


def test_a_corrupt_test_image_keeps_the_epoch_just_trained(tmp_path):
    straight, _, history = train(tmp_path / "straight", 2)
    calls = []

    def evaluate(model):
        calls.append(1)
        if len(calls) == 2:
            raise DatasetFormatError("test/000003.jpg", "cannot decode the image")
        return {"n": 1.0}
    with pytest.raises(TrainingDataError, match="test/000003.jpg: cannot decode the image, while "
                                                "evaluating after epoch 2. Training stopped; .* "
                                                "holds the run epoch 2, after step 5/5"):
        run(tmp_path / "run", Points(), evaluate=evaluate)
    resumed, resumed_history = run(tmp_path / "run", Points(), resume=True, evaluate=evaluate)
    assert_same_weights(straight, resumed)
    assert losses(resumed_history) == losses(history)
    assert [r["lr"] for r in resumed_history] == pytest.approx([0.1, 0.01])


def test_a_bug_in_a_transform_is_raised_as_it_is_after_saving(tmp_path, capsys):
    class Bug(Points):
        def __getitem__(self, i):
            raise TypeError("a bug")
    with pytest.raises(TypeError, match="a bug"):
        run(tmp_path / "run", Bug(), epochs=1)
    out = capsys.readouterr().out
    assert "TypeError while loading batch 1/5 of epoch 1. Training stopped" in out
    assert np.isfinite(read_checkpoint(tmp_path / "run" / "checkpoint.npz")[0]["version"])
