"""CelebA, LFWA and SCUT-FBP5500 readers on small fixture trees written by the tests."""
import numpy as np
import pytest
from PIL import Image

from minifaceattr.data import LFWA, SCUTFBP5500, CelebA, DatasetFormatError, load_rgb
from minifaceattr.data.attributes import ATTRIBUTES

RNG = np.random.default_rng(0)


def write_image(path, mode="RGB", size=(24, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = RNG.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, quality=95)


def write_text(path, lines, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def signs(row):
    return " ".join("1" if v else "-1" for v in row)


# ----------------------------------------------------------------------------- CelebA
LABELS = RNG.integers(0, 2, (5, 40))
NAMES = [f"{k:06d}.jpg" for k in range(1, 6)]


def celeba_tree(root, rows=None, count=None, header=ATTRIBUTES):
    rows = rows if rows is not None else [f"{n} {signs(r)}  " for n, r in zip(NAMES, LABELS)]
    write_text(root / "list_attr_celeba.txt",
               [str(len(rows) if count is None else count), " ".join(header) + " "] + rows, "\r\n")
    write_text(root / "list_eval_partition.txt",
               [f"{n} {p}" for n, p in zip(NAMES, [0, 0, 0, 1, 2])], "\r\n")
    for k, name in enumerate(NAMES):
        write_image(root / "img_align_celeba" / name, mode="L" if k == 1 else "RGB")
    return root


def test_celeba_reads_labels_splits_and_converts_grayscale(tmp_path):
    root = celeba_tree(tmp_path)
    train = CelebA(root, "train")
    assert len(train) == 3 and train.files == NAMES[:3]
    assert train.labels.dtype == np.int64 and np.array_equal(train.labels, LABELS[:3])
    image, target = train[1]                                 # the grayscale one
    assert image.shape == (20, 24, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], image[..., 2]) and np.array_equal(target, LABELS[1])
    assert len(CelebA(root, "valid")) == 1 and len(CelebA(root, "val")) == 1
    assert CelebA(root, "test").files == [NAMES[4]] and len(CelebA(root, "all")) == 5


def test_celeba_reorders_columns_and_accepts_official_subfolders(tmp_path):
    header = ATTRIBUTES[::-1]
    rows = [f"{n}\t{signs(r[::-1])}" for n, r in zip(NAMES, LABELS)]
    celeba_tree(tmp_path, rows=rows, header=header)
    for name, sub in [("list_attr_celeba.txt", "Anno"), ("list_eval_partition.txt", "Eval"),
                      ("img_align_celeba", "Img")]:
        (tmp_path / sub).mkdir()
        (tmp_path / name).rename(tmp_path / sub / name)
    assert np.array_equal(CelebA(tmp_path, "all").labels, LABELS)


@pytest.mark.parametrize("row, line, message", [
    (f"{NAMES[2]} " + " ".join(["1"] * 39), 5, "expected 40 values after the file name, found 39"),
    (f"{NAMES[2]} " + " ".join(["1"] * 4 + ["0"] + ["1"] * 35), 5, "'0' for Bald is not 1 or -1"),
])
def test_celeba_bad_rows_name_file_and_line(tmp_path, row, line, message):
    rows = [f"{n} {signs(r)}" for n, r in zip(NAMES, LABELS)]
    rows[2] = row
    celeba_tree(tmp_path, rows=rows)
    with pytest.raises(DatasetFormatError, match=message) as error:
        CelebA(tmp_path, "train")
    assert error.value.line == line and error.value.path.name == "list_attr_celeba.txt"
    assert f"list_attr_celeba.txt, line {line}:" in str(error.value)


def test_celeba_rows_with_too_many_and_too_few_values(tmp_path):
    rows = [f"{n} {signs(r)}" for n, r in zip(NAMES, LABELS)]
    rows[1] += " 1"                                         # 41 values ...
    rows[3] = rows[3].rsplit(" ", 1)[0]                     # ... and 39: same total count
    celeba_tree(tmp_path, rows=rows)
    with pytest.raises(DatasetFormatError, match="line 4: expected 40 values .*found 41"):
        CelebA(tmp_path)
    rows = [f"{n} {signs(r)}" for n, r in zip(NAMES, LABELS)]
    rows[2] = rows[2].replace(" ", " 1.5 ", 1).rsplit(" ", 1)[0]
    celeba_tree(tmp_path, rows=rows)
    with pytest.raises(DatasetFormatError, match="line 5: value '1.5' for 5_o_Clock_Shadow"):
        CelebA(tmp_path)


def test_celeba_wrong_header_count_and_names(tmp_path):
    celeba_tree(tmp_path, count=6)
    with pytest.raises(DatasetFormatError, match="line 1: the header says 6 images but 5"):
        CelebA(tmp_path)
    celeba_tree(tmp_path, header=ATTRIBUTES[:39])
    with pytest.raises(DatasetFormatError, match=r"line 2: .*found 39.*missing: \['Young'\]"):
        CelebA(tmp_path)


def test_celeba_missing_and_corrupt_images(tmp_path):
    root = celeba_tree(tmp_path)
    (root / "img_align_celeba" / NAMES[2]).unlink()
    with pytest.raises(DatasetFormatError, match="000003.jpg: image not found"):
        CelebA(root, "train")
    data = CelebA(root, "train", check_images=False)
    with pytest.raises(DatasetFormatError, match="000003.jpg: image not found"):
        data[2]
    good = (root / "img_align_celeba" / NAMES[0]).read_bytes()
    (root / "img_align_celeba" / NAMES[2]).write_bytes(good[: len(good) // 2])   # truncated
    with pytest.raises(DatasetFormatError, match="000003.jpg: cannot decode the image"):
        data[2]
    (root / "img_align_celeba" / NAMES[2]).write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetFormatError, match="000003.jpg: cannot decode"):
        data[2]


def test_load_rgb_converts_modes(tmp_path):
    for mode in ("L", "RGBA", "P", "RGB"):
        path = tmp_path / f"x_{mode}.png"
        write_image(path, mode=mode)
        image = load_rgb(path)
        assert image.shape == (20, 24, 3) and image.dtype == np.uint8


# ----------------------------------------------------------------------------- LFWA
LFW_NAMES = ["Aaron_Eckhart\\Aaron_Eckhart_0001.jpg", "Zoe_Ball\\Zoe_Ball_0001.jpg",
             "Zoe_Ball\\Zoe_Ball_0002.jpg", "Al_Gore\\Al_Gore_0001.jpg"]
LFW_LABELS = RNG.integers(0, 2, (4, 40))


def lfw_images(root):
    for name in LFW_NAMES:
        write_image(root / "lfw" / name.replace("\\", "/"))


def write_mat(path, strings=None, arrays=None):
    """A MATLAB v7.3-like HDF5 file: cells of strings as references to uint16 arrays."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        for key, values in (strings or {}).items():
            cell = f.create_dataset(key, (1, len(values)), dtype=h5py.ref_dtype)
            for k, text in enumerate(values):
                chars = np.array([ord(c) for c in text], np.uint16)[:, None]
                cell[0, k] = refs.create_dataset(f"{key}{k}", data=chars).ref
        for key, value in (arrays or {}).items():
            f.create_dataset(key, data=value)


def lfwa_mat_tree(root, label=None):
    label = LFW_LABELS.T.astype(np.float64) if label is None else label      # MATLAB: 40 x N
    write_mat(root / "lfw_att_40.mat", {"name": LFW_NAMES, "AttrName": list(ATTRIBUTES)},
              {"label": label})
    write_mat(root / "indices_train_test.mat", arrays={
        "indices_img_train": np.array([[1.0, 3.0]]), "indices_img_test": np.array([[2.0, 4.0]])})
    lfw_images(root)
    return root


def test_lfwa_mat_with_one_based_indices(tmp_path):
    root = lfwa_mat_tree(tmp_path)
    train, test = LFWA(root, "train"), LFWA(root, "test")
    assert train.files == ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Zoe_Ball/Zoe_Ball_0002.jpg"]
    assert np.array_equal(train.labels, LFW_LABELS[[0, 2]])
    assert np.array_equal(test.labels, LFW_LABELS[[1, 3]])
    image, target = test[1]
    assert image.shape == (20, 24, 3) and np.array_equal(target, LFW_LABELS[3])
    assert len(LFWA(root, "all")) == 4


def test_lfwa_mat_plus_minus_one_and_bad_values(tmp_path):
    root = lfwa_mat_tree(tmp_path, label=(2.0 * LFW_LABELS - 1).T)
    assert np.array_equal(LFWA(root, "all").labels, LFW_LABELS)
    bad = LFW_LABELS.T.astype(float)
    bad[5, 2] = 2
    lfwa_mat_tree(tmp_path, label=bad)
    with pytest.raises(DatasetFormatError, match=r"lfw_att_40.mat: .*image 3 \(Zoe_Ball"):
        LFWA(root, "all")


def test_lfwa_mat_index_out_of_range(tmp_path):
    root = lfwa_mat_tree(tmp_path)
    write_mat(root / "indices_train_test.mat", arrays={"indices_img_train": np.array([[0.0, 1.0]]),
                                                        "indices_img_test": np.array([[5.0]])})
    with pytest.raises(DatasetFormatError, match="indices_train_test.mat: index 0 .*1-based"):
        LFWA(root, "train")
    with pytest.raises(DatasetFormatError, match="index 0 .*1-based"):   # seen from test too
        LFWA(root, "test")
    write_mat(root / "indices_train_test.mat", arrays={"indices_img_train": np.array([[2.0, 1.0]]),
                                                        "indices_img_test": np.array([[5.0]])})
    with pytest.raises(DatasetFormatError, match="index 5 is not a row number from 1 to 4"):
        LFWA(root, "test")


def lfwa_text_tree(root, rows=None):
    rows = rows if rows is not None else [f"{n} {signs(r)} " for n, r in zip(LFW_NAMES, LFW_LABELS)]
    write_text(root / "lfw_att_40.txt", [" ".join(ATTRIBUTES)] + rows, "\r\n")
    write_text(root / "indices_img_train.txt", ["1", "3  "], "\r\n")
    write_text(root / "indices_img_test.txt", ["2 4"])
    lfw_images(root)
    return root


def test_lfwa_text_layout(tmp_path):
    root = lfwa_text_tree(tmp_path)
    train = LFWA(root, "train")
    assert train.files[1] == "Zoe_Ball/Zoe_Ball_0002.jpg"
    assert np.array_equal(train.labels, LFW_LABELS[[0, 2]])
    assert np.array_equal(LFWA(root, "test", format="text").labels, LFW_LABELS[[1, 3]])


def test_lfwa_text_errors(tmp_path):
    rows = [f"{n} {signs(r)}" for n, r in zip(LFW_NAMES, LFW_LABELS)]
    rows[1] = rows[1].rsplit(" ", 1)[0]
    lfwa_text_tree(tmp_path, rows)
    with pytest.raises(DatasetFormatError, match="lfw_att_40.txt, line 3: .*found 39"):
        LFWA(tmp_path)
    rows = [f"{n} {signs(r)}" for n, r in zip(LFW_NAMES, LFW_LABELS)]
    rows[3] = rows[3][:-2] + " 2"
    lfwa_text_tree(tmp_path, rows)
    with pytest.raises(DatasetFormatError, match="line 5: value '2' for Young is not 1 or -1"):
        LFWA(tmp_path)
    lfwa_text_tree(tmp_path)
    write_text(tmp_path / "indices_img_train.txt", ["1", "9"])
    with pytest.raises(DatasetFormatError, match="indices_img_train.txt, line 2: index 9"):
        LFWA(tmp_path, "train")


def test_lfwa_missing_image(tmp_path):
    root = lfwa_text_tree(tmp_path)
    (root / "lfw" / "Al_Gore" / "Al_Gore_0001.jpg").unlink()
    with pytest.raises(DatasetFormatError, match="Al_Gore_0001.jpg: image not found"):
        LFWA(root, "test")
    assert len(LFWA(root, "train")) == 2                      # the train split does not use it


# ----------------------------------------------------------------------------- SCUT-FBP5500
SCUT = [("AF1.jpg", 3.5), ("AM2.jpg", 2.25), ("CF3.jpg", 4.9), ("CM4.jpg", 1.0), ("AF5.jpg", 2.8)]
SPLIT_DIR = "train_test_files/split_of_60%training and 40%testing"
FOLD_DIR = "train_test_files/5_folders_cross_validations_files/cross_validation_{k}"


def scut_tree(root, train_lines=None):
    lines = [f"{n} {s:.6f}  " for n, s in SCUT]
    write_text(root / SPLIT_DIR / "train.txt", train_lines or lines[:3], "\r\n")
    write_text(root / SPLIT_DIR / "test.txt", lines[3:])
    for k in range(1, 6):
        rest = [line for j, line in enumerate(lines) if j != k - 1]
        write_text(root / FOLD_DIR.format(k=k) / f"train_{k}.txt", rest)
        write_text(root / FOLD_DIR.format(k=k) / f"test_{k}.txt", [lines[k - 1]])
    write_text(root / "train_test_files" / "All_labels.txt", lines)
    for k, (name, _) in enumerate(SCUT):
        write_image(root / "Images" / name, mode="L" if k == 2 else "RGB")
    return root


def test_scut_split_targets_and_folds(tmp_path):
    root = scut_tree(tmp_path)
    train = SCUTFBP5500(root, "train")
    assert train.files == ["AF1.jpg", "AM2.jpg", "CF3.jpg"]
    assert np.allclose(train.scores, [3.5, 2.25, 4.9]) and train.scores.dtype == np.float32
    assert train.races.tolist() == [0, 0, 1] and train.genders.tolist() == [0, 1, 0]
    image, target = train[2]
    assert image.shape == (20, 24, 3)
    assert target["race"] == 1 and target["gender"] == 0 and np.isclose(target["score"], 4.9)
    assert SCUTFBP5500(root, "test").files == ["CM4.jpg", "AF5.jpg"]
    fold = SCUTFBP5500(root, "test", fold=3)
    assert fold.files == ["CF3.jpg"] and len(SCUTFBP5500(root, "train", fold=3)) == 4
    assert len(SCUTFBP5500(root, "all")) == 5
    with pytest.raises(ValueError, match="fold"):
        SCUTFBP5500(root, "train", fold=6)


@pytest.mark.parametrize("line, message", [
    ("CM148.jpg 5.2", "line 2: score 5.2 of CM148.jpg is outside"),
    ("CM148.jpg 0.5", "line 2: score 0.5 of CM148.jpg is outside"),
    ("CM148.jpg", "line 2: expected 'image score'"),
    ("CM148.jpg high", "line 2: score 'high' is not a number"),
    ("XY148.jpg 3.0", "line 2: image name 'XY148.jpg' does not start with"),
])
def test_scut_bad_lines(tmp_path, line, message):
    scut_tree(tmp_path, train_lines=["AF1.jpg 3.5", line])
    with pytest.raises(DatasetFormatError, match=message) as error:
        SCUTFBP5500(tmp_path, "train")
    assert error.value.path.name == "train.txt" and error.value.line == 2


def test_scut_missing_image(tmp_path):
    root = scut_tree(tmp_path)
    (root / "Images" / "CM4.jpg").unlink()
    with pytest.raises(DatasetFormatError, match="CM4.jpg: image not found"):
        SCUTFBP5500(root, "test")


def test_lfwa_missing_annotations_say_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="lfw_att_40.mat and indices_train_test.mat"):
        LFWA(tmp_path)
