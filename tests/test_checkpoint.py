"""Weights and checkpoints: the restricted .pth reader, .npz files, atomic writes."""
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import nn, optim
from minifaceattr.random import get_rng, get_state, set_state
from minifaceattr.serialization import (UnsafePickleError, load_checkpoint, load_pretrained,
                                        load_weights, read_pth, save_checkpoint, save_weights)


# --- a .pth written by hand, byte by byte, as torch.save writes it -------------------------

def _str(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _ints(values):
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def _tensor_pickle(key, array):
    """``_rebuild_tensor_v2(("storage", FloatStorage, key, "cpu", n), 0, shape, stride,
    False, OrderedDict())`` in pickle opcodes."""
    strides = [s // array.itemsize for s in array.strides]
    storage = (b"(" + _str("storage") + b"ctorch\nFloatStorage\n" + _str(key) + _str("cpu")
               + _ints([array.size])[1:-1] + b"tQ")
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"J\x00\x00\x00\x00"
            + _ints(array.shape) + _ints(strides) + b"\x89ccollections\nOrderedDict\n)RtR")


def write_pth(path, tensors, data_pkl=None):
    """A torch.save-style zip holding float32 ``tensors`` (or a given ``data.pkl``)."""
    if data_pkl is None:
        data_pkl = b"\x80\x02ccollections\nOrderedDict\n)R("
        for k, (name, a) in enumerate(tensors.items()):
            data_pkl += _str(name) + _tensor_pickle(str(k), a)
        data_pkl += b"u."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        for k, a in enumerate(tensors.values()):
            z.writestr(f"archive/data/{k}", np.ascontiguousarray(a, dtype="<f4").tobytes())
        z.writestr("archive/version", "3\n")


def test_hand_written_pth_loads(tmp_path, rng):
    tensors = {"fc.weight": rng.standard_normal((3, 2)).astype(np.float32),
               "fc.bias": rng.standard_normal(3).astype(np.float32)}
    write_pth(tmp_path / "w.pth", tensors)
    state = read_pth(tmp_path / "w.pth")
    assert list(state) == ["fc.weight", "fc.bias"]
    for name, a in tensors.items():
        np.testing.assert_array_equal(state[name], a)
    layer = nn.Linear(2, 3)
    layer.load_state_dict({k.split(".")[1]: v for k, v in load_weights(tmp_path / "w.pth").items()})
    np.testing.assert_array_equal(layer.weight.data, tensors["fc.weight"])


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_pth_that_runs_code_is_refused(tmp_path, container):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": Evil(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if container == "zip":
        write_pth(path, {}, data_pkl=payload)
    else:
        path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=r"refusing to load '(posix|nt|os)\.system'"):
        read_pth(path)
    assert not marker.exists()


def test_other_globals_are_refused_by_name(tmp_path):
    write_pth(tmp_path / "e.pth", {},
              data_pkl=b"\x80\x02cbuiltins\neval\n" + _str("1+1") + b"\x85R.")
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        load_weights(tmp_path / "e.pth")


def test_tensor_outside_its_storage_is_refused(tmp_path):
    a = np.zeros((2, 2), dtype=np.float32)
    data_pkl = (b"\x80\x02}(" + _str("w")
                + _tensor_pickle("0", np.zeros((4, 4), dtype=np.float32)) + b"u.")
    write_pth(tmp_path / "bad.pth", {"w": a}, data_pkl=data_pkl)  # 16 elements claimed, 4 stored
    with pytest.raises(ValueError, match="reaches element"):
        read_pth(tmp_path / "bad.pth")


def test_not_a_torch_file(tmp_path):
    (tmp_path / "x.pth").write_text("hello")
    with pytest.raises(ValueError, match="not a PyTorch file"):
        read_pth(tmp_path / "x.pth")


@pytest.mark.torch
@pytest.mark.parametrize("zip_format", [True, False])
def test_pth_written_by_pytorch_loads(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g, dtype=torch.float64)
    state = {"plain": torch.randn(3, 4, generator=g), "double": base, "transposed": base.t(),
             "slice": base[2:4, 1:], "half": torch.randn(3, generator=g).half(),
             "bf16": torch.randn(4, generator=g).to(torch.bfloat16), "count": torch.tensor(7),
             "mask": torch.tensor([True, False]), "empty": torch.zeros(0, 3),
             "param": torch.nn.Parameter(torch.ones(2))}
    path = tmp_path / "t.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    loaded = read_pth(path)
    assert list(loaded) == list(state)
    for name, t in state.items():
        expected = (t.float() if t.dtype == torch.bfloat16 else t).detach().numpy()
        assert loaded[name].dtype == expected.dtype and loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected, err_msg=name)


# --- .npz weights -------------------------------------------------------------------------

def small_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model.register_buffer("seen", np.zeros((), dtype=np.int64))
    return model


def test_npz_weights_round_trip_and_pretrained_head(tmp_path):
    mfa.manual_seed(0)
    model = small_model()
    save_weights(tmp_path / "w.npz", model)
    loaded = load_weights(tmp_path / "w.npz")
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k], v)

    mfa.manual_seed(1)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5))  # a 5-class head
    other.register_buffer("seen", np.zeros((), dtype=np.int64))
    head_before = other[2].weight.data.copy()
    with pytest.warns(UserWarning, match="2.bias, 2.weight"):
        skipped = load_pretrained(other, tmp_path / "w.npz", replaceable=("2.",))
    assert sorted(skipped) == ["2.bias", "2.weight"]
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    np.testing.assert_array_equal(other[2].weight.data, head_before)


# --- checkpoints --------------------------------------------------------------------------

def train_steps(model, opt, steps):
    for _ in range(steps):
        x = mfa.tensor(get_rng().standard_normal((4, 3)).astype(np.float32))
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


def test_checkpoint_resume_is_exact(tmp_path):
    mfa.manual_seed(0)
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    train_steps(model, opt, 2)
    sched.step()
    save_checkpoint(tmp_path / "ck.npz", model, opt, epoch=1, scheduler=sched.state_dict(),
                    rng=get_state(), history=[0.5, np.float64(0.25)], mask=np.arange(3))
    train_steps(model, opt, 2)
    expected = model.state_dict()

    mfa.manual_seed(99)
    model2 = small_model()
    opt2 = optim.SGD(model2.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    sched2 = optim.StepLR(opt2, step_size=1, gamma=0.5)
    meta = load_checkpoint(tmp_path / "ck.npz", model2, opt2)
    sched2.load_state_dict(meta["scheduler"])
    set_state(meta["rng"])
    assert meta["epoch"] == 1 and meta["history"] == [0.5, 0.25]
    np.testing.assert_array_equal(meta["mask"], np.arange(3))
    assert opt2.param_groups[0]["lr"] == 0.05
    train_steps(model2, opt2, 2)
    for k, v in expected.items():
        np.testing.assert_array_equal(model2.state_dict()[k], v, err_msg=k)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    save_checkpoint(tmp_path / "ck.npz", small_model(), epoch=0)

    class Other(nn.Sequential):
        pass

    with pytest.raises(ValueError, match=r"ck\.npz.*'Sequential'.*'Other'"):
        load_checkpoint(tmp_path / "ck.npz", Other(nn.Linear(3, 4)))


def test_checkpoint_with_wrong_shapes_names_the_file(tmp_path):
    save_checkpoint(tmp_path / "ck.npz", small_model())
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 7))
    model.register_buffer("seen", np.zeros((), dtype=np.int64))
    with pytest.raises(RuntimeError,
                       match=r"ck\.npz.*\n.*2\.weight: expected \(7, 4\), got \(2, 4\)"):
        load_checkpoint(tmp_path / "ck.npz", model)


def test_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, small_model(), epoch=1)

    def disk_full(fd):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, small_model(), epoch=2)
    monkeypatch.undo()
    assert load_checkpoint(path, small_model())["epoch"] == 1
    assert os.listdir(tmp_path) == ["ck.npz"]  # no temporary file left behind


def test_failed_serialisation_leaves_the_old_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, small_model(), epoch=1)
    with pytest.raises(TypeError, match="meta/bad"):
        save_checkpoint(path, small_model(), epoch=2, bad=object())
    assert load_checkpoint(path, small_model())["epoch"] == 1


def test_checkpoint_is_read_without_pickle(tmp_path):
    header = np.array('{"format": "minifaceattr-checkpoint", "version": 1, '
                      '"architecture": "Sequential", "meta": {}}')
    buffer = io.BytesIO()
    np.savez(buffer, __checkpoint__=header,
             **{"model/0.weight": np.array([object()], dtype=object)})
    (tmp_path / "ck.npz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="ck.npz"):
        load_checkpoint(tmp_path / "ck.npz", small_model())


def test_plain_npz_is_not_a_checkpoint(tmp_path):
    save_weights(tmp_path / "w.npz", small_model())
    with pytest.raises(ValueError, match="not a minifaceattr checkpoint"):
        load_checkpoint(tmp_path / "w.npz", small_model())
    assert "0.weight" in load_weights(tmp_path / "w.npz")
