"""The 40 CelebA attributes and MGG-Net's 8 part-based groups.

Attribute *i* is column *i* of every label array in this package, in the order of CelebA's
``list_attr_celeba.txt``. A *group* is a named list of attributes that share a face region;
MGG-Net gives each group one attention mask. Every attribute belongs to exactly one group.

    >>> ATTRIBUTES[20]
    'Male'
    >>> group_indices()["Neck"]
    [37, 38]
"""

# The public names (lessons and users import these; the rest may move).
__all__ = ["ATTRIBUTES", "NUM_ATTRIBUTES", "ATTRIBUTE_INDEX", "GROUPS", "group_indices",
           "group_of", "validate_groups"]

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)

NUM_ATTRIBUTES = len(ATTRIBUTES)

ATTRIBUTE_INDEX = {name: i for i, name in enumerate(ATTRIBUTES)}

# MGG-Net's part-based grouping (Chen et al.), from the top of the image to the bottom.
GROUPS = {
    "Holistic": ("Attractive", "Blurry", "Chubby", "Heavy_Makeup", "Male", "Oval_Face",
                 "Pale_Skin", "Smiling", "Young"),
    "Hair": ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair",
             "Receding_Hairline", "Straight_Hair", "Wavy_Hair", "Wearing_Hat"),
    "Eyes": ("Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows", "Eyeglasses",
             "Narrow_Eyes"),
    "Nose": ("Big_Nose", "Pointy_Nose"),
    "Cheek": ("High_Cheekbones", "Rosy_Cheeks", "Sideburns", "Wearing_Earrings"),
    "Mouth": ("5_o_Clock_Shadow", "Big_Lips", "Mouth_Slightly_Open", "Mustache",
              "Wearing_Lipstick"),
    "Chin": ("Double_Chin", "Goatee", "No_Beard"),
    "Neck": ("Wearing_Necklace", "Wearing_Necktie"),
}


def validate_groups(groups, attributes=ATTRIBUTES):
    """Check that ``groups`` ({name: [attribute, ...]}) puts every attribute in exactly one
    group, and return it as {name: tuple of names}. Raises ValueError saying what is wrong."""
    if not groups:
        raise ValueError("groups is empty")
    known = set(attributes)
    owner = {}
    for group, members in groups.items():
        if isinstance(members, str):
            raise ValueError(f"group {group!r} must be a list of attribute names, not a string")
        if not members:
            raise ValueError(f"group {group!r} is empty")
        for name in members:
            if name not in known:
                raise ValueError(f"group {group!r}: unknown attribute {name!r}")
            if name in owner:
                raise ValueError(f"attribute {name!r} is in both {owner[name]!r} and {group!r}")
            owner[name] = group
    missing = [name for name in attributes if name not in owner]
    if missing:
        raise ValueError(f"attributes in no group: {', '.join(missing)}")
    return {group: tuple(members) for group, members in groups.items()}


def group_indices(groups=None, attributes=ATTRIBUTES):
    """For each group, the column indices of its attributes: {name: [int, ...]}.

    ``groups`` defaults to MGG-Net's eight; any other grouping is validated first."""
    groups = validate_groups(GROUPS if groups is None else groups, attributes)
    position = {name: i for i, name in enumerate(attributes)}
    return {group: [position[name] for name in members] for group, members in groups.items()}


def group_of(groups=None, attributes=ATTRIBUTES):
    """For each attribute column, the index of its group (in ``groups``' order): a list of
    length ``len(attributes)``."""
    owner = [None] * len(attributes)
    for g, columns in enumerate(group_indices(groups, attributes).values()):
        for column in columns:
            owner[column] = g
    return owner


validate_groups(GROUPS)  # the built-in grouping must itself be a partition
