"""Crafted and damaged .pth files (issue 15, class 2 and the .pth part of class 6): a file cannot
change how later files are read, asks for nothing beyond tensor data, and cannot claim more
elements than its storage holds; real torch.save files still load."""
import pickle
import zipfile

import numpy as np
import pytest
from test_checkpoint import _ints, _str, _tensor_pickle, write_pth

from minifaceattr.serialization import UnsafePickleError, load_weights, read_pth

GOOD = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) / 7}


def test_a_pth_cannot_poison_later_loads(tmp_path):
    """BUILD on the FloatStorage type once renamed it (for the whole process) to bfloat16."""
    poison = b"\x80\x02ctorch\nFloatStorage\n}" + _str("name") + _str("BFloat16Storage") + b"sb."
    write_pth(tmp_path / "poison.pth", {}, data_pkl=poison)
    with pytest.raises(UnsafePickleError, match="poison.pth: refusing to set attributes"):
        read_pth(tmp_path / "poison.pth")
    write_pth(tmp_path / "good.pth", GOOD)
    np.testing.assert_array_equal(read_pth(tmp_path / "good.pth")["w"], GOOD["w"])


def test_build_on_a_function_and_calling_a_storage_type_are_refused(tmp_path):
    build = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}" + _str("x") + _str("y") + b"sb."
    write_pth(tmp_path / "b.pth", {}, data_pkl=build)
    with pytest.raises(UnsafePickleError, match="refusing to set attributes"):
        read_pth(tmp_path / "b.pth")
    call = b"\x80\x02ctorch\nFloatStorage\n)R."
    write_pth(tmp_path / "c.pth", {}, data_pkl=call)
    with pytest.raises(UnsafePickleError, match="refusing to call torch.FloatStorage"):
        read_pth(tmp_path / "c.pth")


@pytest.mark.parametrize("payload, opcode", [
    (b"\x80\x02(ccollections\nOrderedDict\no.", "OBJ"),
    (b"\x80\x02ccollections\nOrderedDict\n)\x81.", "NEWOBJ"),
    (b"\x80\x02\x82\x01.", "EXT1"),
])
def test_opcodes_a_tensor_file_never_needs_are_refused(tmp_path, payload, opcode):
    write_pth(tmp_path / "o.pth", {}, data_pkl=payload)
    with pytest.raises(UnsafePickleError, match=f"o.pth: refusing pickle opcode {opcode}"):
        read_pth(tmp_path / "o.pth")


def test_a_tensor_cannot_claim_more_elements_than_its_storage(tmp_path):
    """Size 10^6 x 10^6 with stride 0 over 6 floats (24 bytes): once, terabytes allocated."""
    storage = (b"(" + _str("storage") + b"ctorch\nFloatStorage\n" + _str("0") + _str("cpu")
               + _ints([6])[1:-1] + b"tQ")
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"J\x00\x00\x00\x00"
              + _ints([10**6, 10**6]) + _ints([0, 0]) + b"\x89ccollections\nOrderedDict\n)RtR")
    data_pkl = b"\x80\x02}(" + _str("w") + tensor + b"u."
    write_pth(tmp_path / "huge.pth", {"w": np.zeros(6, np.float32)}, data_pkl=data_pkl)
    with pytest.raises(ValueError, match=r"huge.pth: tensor of size \(1000000, 1000000\) has "
                                         r"1000000000000 elements, more than its storage's 6"):
        read_pth(tmp_path / "huge.pth")


def test_a_storage_larger_than_declared_is_not_decompressed(tmp_path):
    """A deflated entry of 20 MB of zeros behind a storage that declares 6 elements."""
    path = tmp_path / "bomb.pth"
    data_pkl = (b"\x80\x02}(" + _str("w") + _tensor_pickle("1", np.zeros(6, np.float32)) + b"u.")
    write_pth(path, {}, data_pkl=data_pkl)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/1", bytes(20 * 2**20))
    with pytest.raises(ValueError, match="bomb.pth: storage '1' holds 20971520 bytes, more than "
                                         "the 6 FloatStorage elements the pickle declares"):
        read_pth(path)


def test_a_legacy_file_whose_info_is_not_a_dict(tmp_path):
    path = tmp_path / "legacy.pth"
    stream = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, [1]))
    path.write_bytes(stream)
    with pytest.raises(ValueError, match="legacy.pth: the third pickle .* must be a dict"):
        read_pth(path)


def test_a_legacy_storage_larger_than_the_file(tmp_path):
    storage = b"(" + _str("storage") + b"ctorch\nFloatStorage\n" + _str("0") + _str("cpu")
    storage += b"\x8a\x05\x00\x00\x00\x00\x10tQ"          # LONG1: 2^36 elements
    stream = b"".join(pickle.dumps(v, protocol=2) for v in
                      (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    path = tmp_path / "big.pth"
    path.write_bytes(stream + b"\x80\x02" + storage + b"." + pickle.dumps(["0"], protocol=2))
    with pytest.raises(ValueError, match="big.pth: storage '0' claims 68719476736 elements"):
        read_pth(path)


@pytest.mark.parametrize("damage", ["truncate", "zero", "garbage pickle"])
def test_damaged_pth_names_the_file(tmp_path, damage):
    path = tmp_path / "d.pth"
    write_pth(path, GOOD)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "zero":
        path.write_bytes(b"")
    else:
        write_pth(path, GOOD, data_pkl=b"\x80\x02}(" + _str("w") + b"J\x01\x00")   # cut short
    with pytest.raises(ValueError, match="d.pth: "):
        load_weights(path)


@pytest.mark.torch
@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("zip_format", [True, False])
def test_a_module_state_dict_saved_by_torch_loads(tmp_path, protocol, zip_format):
    """A real state dict carries _metadata (the BUILD opcode) and shares storages."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                 torch.nn.Linear(5, 2))
    path = tmp_path / "m.pth"
    torch.save(module.state_dict(), path, pickle_protocol=protocol,
               _use_new_zipfile_serialization=zip_format)
    loaded = load_weights(path)
    assert list(loaded) == list(module.state_dict())
    for name, tensor in module.state_dict().items():
        np.testing.assert_array_equal(loaded[name], tensor.numpy(), err_msg=name)
