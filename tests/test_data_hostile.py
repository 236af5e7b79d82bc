"""Damaged and contradictory dataset files: each refused with an error naming the file and line.

Issue 15's classes 3 (values read exactly), 4 (a dataset that contradicts itself), 5 (names stay
inside the dataset folder) and 6 (every failure to read names the file), on the fixture trees
of test_data_readers.py.
"""
import numpy as np
import pytest
from PIL import Image
from test_data_readers import (LABELS, LFW_LABELS, LFW_NAMES, NAMES, celeba_tree, lfwa_mat_tree,
                               lfwa_text_tree, scut_tree, signs, write_image, write_mat, write_text)

from minifaceattr.data import LFWA, SCUTFBP5500, CelebA, DatasetFormatError, load_rgb
from minifaceattr.data.attributes import ATTRIBUTES


def rows_with(k, row):
    rows = [f"{n} {signs(r)}" for n, r in zip(NAMES, LABELS)]
    rows[k] = row
    return rows


def refused(match, build, *args, line=None, name=None):
    with pytest.raises(DatasetFormatError, match=match) as error:
        build(*args)
    if line is not None:
        assert error.value.line == line
    if name is not None:
        assert error.value.path.name == name
    return error.value


# --- class 3: values are read exactly ------------------------------------------------------

@pytest.mark.parametrize("value", ["255", "257", "-255", "129"])
def test_label_values_that_wrap_in_int8_are_refused(tmp_path, value):
    values = ["1"] * 40
    values[7] = value                                          # Big_Lips
    celeba_tree(tmp_path, rows=rows_with(2, f"{NAMES[2]} " + " ".join(values)))
    refused(f"line 5: value '{value}' for {ATTRIBUTES[7]} is not 1 or -1", CelebA, tmp_path, "all",
            line=5, name="list_attr_celeba.txt")
    rows = [f"{n} {signs(r)}" for n, r in zip(LFW_NAMES, LFW_LABELS)]
    rows[0] = rows[0].rsplit(" ", 1)[0] + f" {value}"
    lfwa_text_tree(tmp_path / "lfwa", rows)
    refused(f"line 2: value '{value}' for Young", LFWA, tmp_path / "lfwa", "all")


# --- class 4: a dataset that contradicts itself --------------------------------------------

def test_image_named_twice_in_an_attribute_file(tmp_path):
    celeba_tree(tmp_path, rows=rows_with(3, f"{NAMES[1]} {signs(LABELS[3])}"))
    refused(f"line 6: {NAMES[1]} is listed twice \\(first on line 4\\)", CelebA, tmp_path, "all")
    rows = [f"{n} {signs(r)}" for n, r in zip(LFW_NAMES, LFW_LABELS)]
    rows[2] = rows[0]
    lfwa_text_tree(tmp_path / "lfwa", rows)
    refused("lfw_att_40.txt, line 4: .* is listed twice", LFWA, tmp_path / "lfwa", "all")


def test_image_listed_twice_in_a_partition_file(tmp_path):
    celeba_tree(tmp_path)
    write_text(tmp_path / "list_eval_partition.txt",
               [f"{n} {p}" for n, p in zip(NAMES, [0, 0, 0, 1, 2])] + [f"{NAMES[0]} 2"])
    refused(f"list_eval_partition.txt, line 6: {NAMES[0]} is listed twice", CelebA, tmp_path,
            "train")


def test_image_named_twice_in_a_scut_list_and_an_empty_list(tmp_path):
    scut_tree(tmp_path, train_lines=["AF1.jpg 3.5", "AM2.jpg 2.0", "AF1.jpg 3.5"])
    refused("train.txt, line 3: AF1.jpg is listed twice", SCUTFBP5500, tmp_path, "train")
    scut_tree(tmp_path)
    write_text(tmp_path / "train_test_files/split_of_60%training and 40%testing/test.txt", [" "])
    refused("test.txt: the list is empty", SCUTFBP5500, tmp_path, "test")


def test_scut_train_and_test_lists_that_share_an_image(tmp_path):
    scut_tree(tmp_path, train_lines=["AF1.jpg 3.5", "CM4.jpg 1.0"])        # CM4 is a test image
    refused(r"train.txt: CM4.jpg is also in test.txt \(line 1\); images in both lists: 1",
            SCUTFBP5500, tmp_path, "train")
    refused("test.txt: CM4.jpg is also in train.txt", SCUTFBP5500, tmp_path, "test")
    assert len(SCUTFBP5500(tmp_path, "test", fold=2)) == 1          # folds are their own lists


def test_lfwa_splits_that_overlap_repeat_or_are_empty(tmp_path):
    lfwa_text_tree(tmp_path)
    write_text(tmp_path / "indices_img_train.txt", ["1 3", "2"])
    refused(r"indices_img_test.txt, line 1: row 2 is listed in both train and test \(also in "
            r"indices_img_train.txt, line 2\)", LFWA, tmp_path, "test")
    write_text(tmp_path / "indices_img_train.txt", ["1 3", "3"])
    refused("line 2: row 3 is listed twice", LFWA, tmp_path, "train")
    write_text(tmp_path / "indices_img_train.txt", [""])
    refused("indices_img_train.txt: the train split lists no images", LFWA, tmp_path, "train")
    (tmp_path / "mat").mkdir()
    lfwa_mat_tree(tmp_path / "mat")
    write_mat(tmp_path / "mat" / "indices_train_test.mat", arrays={
        "indices_img_train": np.array([[1.0, 3.0]]), "indices_img_test": np.array([[3.0, 4.0]])})
    refused("indices_train_test.mat: row 3 is listed in both train and test", LFWA,
            tmp_path / "mat", "train")


def test_zero_based_lfwa_indices_are_refused_even_when_the_zero_is_in_the_other_split(tmp_path):
    lfwa_text_tree(tmp_path)
    write_text(tmp_path / "indices_img_train.txt", ["1 3"])       # no 0 here ...
    write_text(tmp_path / "indices_img_test.txt", ["0 2"])        # ... but the set is 0-based
    refused("indices_img_test.txt, line 1: index 0 .* 1-based", LFWA, tmp_path, "train")


def test_a_40_by_40_label_matrix_is_ambiguous(tmp_path):
    names = [f"P_{k}\\P_{k}_0001.jpg" for k in range(40)]
    write_mat(tmp_path / "lfw_att_40.mat", {"name": names, "AttrName": list(ATTRIBUTES)},
              {"label": np.ones((40, 40))})
    refused("label is 40 x 40 for 40 images", LFWA, tmp_path, "all", name="lfw_att_40.mat")


def test_a_split_with_no_image_is_refused(tmp_path):
    celeba_tree(tmp_path)
    write_text(tmp_path / "list_eval_partition.txt",
               [f"{n} {p}" for n, p in zip(NAMES, [0, 0, 0, 1, 1])])
    refused("list_eval_partition.txt: no image .* is in the test partition", CelebA, tmp_path,
            "test")


# --- class 5: names stay inside the dataset folder -----------------------------------------

@pytest.mark.parametrize("name", ["../secret.jpg", "/etc/passwd", "a/../../b.jpg",
                                  "..\\..\\x.jpg", "C:\\faces\\x.jpg"])
def test_names_outside_the_image_folder_are_refused(tmp_path, name):
    celeba_tree(tmp_path, rows=rows_with(1, f"{name} {signs(LABELS[1])}"))
    refused("line 4: image name .* is absolute or leaves the image folder", CelebA, tmp_path, "all")
    rows = [f"{n} {signs(r)}" for n, r in zip(LFW_NAMES, LFW_LABELS)]
    rows[3] = f"{name} {signs(LFW_LABELS[3])}"
    lfwa_text_tree(tmp_path / "lfwa", rows)
    refused("lfw_att_40.txt, line 5: image name", LFWA, tmp_path / "lfwa", "all")


def test_mat_names_outside_the_image_folder_are_refused(tmp_path):
    write_mat(tmp_path / "lfw_att_40.mat", {"name": ["ok\\a.jpg", "..\\..\\b.jpg"],
                                            "AttrName": list(ATTRIBUTES)},
              {"label": np.ones((40, 2))})
    refused("lfw_att_40.mat: image 2: image name", LFWA, tmp_path, "all")


# --- class 6: every failure to read a file names that file ---------------------------------

@pytest.mark.parametrize("encoding, match", [
    ("utf-16", "UTF-16 text or binary"), ("utf-16-le", "UTF-16 text or binary"),
    ("latin-1", "line 4: not UTF-8 text \\(byte 0xe9"),
])
def test_annotation_files_that_are_not_utf8(tmp_path, encoding, match):
    celeba_tree(tmp_path)
    path = tmp_path / "list_attr_celeba.txt"
    text = path.read_bytes().decode().replace(NAMES[1], "0000é2.jpg")
    path.write_bytes(text.encode(encoding))
    refused(match, CelebA, tmp_path, "all", name="list_attr_celeba.txt")


def test_an_image_whose_header_claims_a_huge_size(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)              # 50 MB of pixels in a small file
    with pytest.raises(DatasetFormatError, match="bomb.png: cannot decode") as error:
        load_rgb(path)
    assert error.value.path == path


def test_a_mat_name_cell_holding_numbers(tmp_path):
    h5py = pytest.importorskip("h5py")
    write_mat(tmp_path / "lfw_att_40.mat", {"AttrName": list(ATTRIBUTES)},
              {"label": np.ones((40, 2)), "name": np.array([[1.0, 2.0]])})
    refused("lfw_att_40.mat: name must be a cell array of strings", LFWA, tmp_path, "all")
    with h5py.File(tmp_path / "lfw_att_40.mat", "a") as f:
        del f["name"]
        cell = f.create_dataset("name", (1, 2), dtype=h5py.ref_dtype)
        cell[0, 0] = f["#refs#"].create_dataset("n0", data=np.array([[1.5]])).ref
        cell[0, 1] = f["#refs#"].create_dataset("n1", data=np.array([[65]], np.uint16)).ref
    refused("name, cell 1: expected a string", LFWA, tmp_path, "all")


def test_good_files_still_read(tmp_path):
    """The new checks accept the official layouts (CRLF, BOM, tabs, nested LFW folders)."""
    root = celeba_tree(tmp_path)
    path = root / "list_attr_celeba.txt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert np.array_equal(CelebA(root, "all").labels, LABELS)
    write_image(root / "img_align_celeba" / "extra.jpg")
    assert len(LFWA(lfwa_text_tree(tmp_path / "lfwa"), "train")) == 2
