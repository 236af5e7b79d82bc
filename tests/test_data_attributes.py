"""The 40 CelebA attributes, MGG-Net's 8 groups, and group validation."""
import pytest

from minifaceattr.data.attributes import (ATTRIBUTES, GROUPS, group_indices, group_of,
                                          validate_groups)


def test_forty_attributes_in_official_order():
    assert len(ATTRIBUTES) == 40 and len(set(ATTRIBUTES)) == 40
    assert ATTRIBUTES[0] == "5_o_Clock_Shadow" and ATTRIBUTES[20] == "Male"
    assert ATTRIBUTES[-1] == "Young" and ATTRIBUTES[24] == "No_Beard"


def test_eight_groups_partition_the_attributes():
    assert list(GROUPS) == ["Holistic", "Hair", "Eyes", "Nose", "Cheek", "Mouth", "Chin", "Neck"]
    assert [len(m) for m in GROUPS.values()] == [9, 10, 5, 2, 4, 5, 3, 2]
    assert sorted(a for m in GROUPS.values() for a in m) == sorted(ATTRIBUTES)


def test_group_indices_point_at_the_right_names():
    idx = group_indices()
    assert idx["Neck"] == [37, 38]
    for group, columns in idx.items():
        assert tuple(ATTRIBUTES[c] for c in columns) == GROUPS[group]
    owner = group_of()
    assert owner[ATTRIBUTES.index("Eyeglasses")] == list(GROUPS).index("Eyes")


def test_custom_groups_are_validated():
    two = {"Top": ATTRIBUTES[:20], "Bottom": ATTRIBUTES[20:]}
    assert group_indices(two)["Bottom"] == list(range(20, 40))
    with pytest.raises(ValueError, match="in no group"):
        validate_groups({"Top": ATTRIBUTES[:39]})
    with pytest.raises(ValueError, match="both"):
        validate_groups({"A": ATTRIBUTES, "B": ("Male",)})
    with pytest.raises(ValueError, match="unknown attribute 'Hat'"):
        validate_groups({"A": ATTRIBUTES, "B": ("Hat",)})
    with pytest.raises(ValueError, match="empty"):
        validate_groups({"A": ATTRIBUTES, "B": ()})
