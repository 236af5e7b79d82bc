"""Data: attributes and groups, synthetic stand-ins, real-dataset readers, transforms, loader.

    from minifaceattr import data
    train = data.SynthFaces(4000, image_size=64, split="train")     # synthetic CelebA-like faces
    loader = data.DataLoader(train, batch_size=64, shuffle=True, workers=2,
                             transform=data.Compose([data.RandomHorizontalFlip(),
                                                     data.ToArray(), data.Normalize()]))

Real datasets (no downloads: pass the folder they are in): ``CelebA(root, split)``,
``LFWA(root, split)``, ``SCUTFBP5500(root, split, fold=None)``.
"""
from .attributes import (ATTRIBUTE_INDEX, ATTRIBUTES, GROUPS, NUM_ATTRIBUTES, group_indices,
                         group_of, validate_groups)
from .cache import cache_dir
from .celeba import CelebA
from .files import DatasetFormatError, load_rgb
from .label_model import LabelModel, celeba_label_model, celeba_statistics
from .lfwa import LFWA
from .loader import DataLoader
from .scut import SCUTFBP5500
from .synth_faces import SynthFaces
from .synth_fbp import SynthFBP
from .transforms import (IMAGENET_MEAN, IMAGENET_STD, CenterCrop, CenterSquareCrop, ColorJitter,
                         Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomRotation,
                         Resize, ToArray, Transform)

__all__ = [
    "ATTRIBUTES", "ATTRIBUTE_INDEX", "NUM_ATTRIBUTES", "GROUPS", "group_indices", "group_of",
    "validate_groups", "LabelModel", "celeba_label_model", "celeba_statistics",
    "SynthFaces", "SynthFBP", "CelebA", "LFWA", "SCUTFBP5500", "DatasetFormatError", "load_rgb",
    "cache_dir", "Transform", "Compose", "Resize", "CenterCrop", "CenterSquareCrop",
    "RandomCrop",
    "RandomHorizontalFlip", "RandomRotation", "ColorJitter", "ToArray", "Normalize",
    "IMAGENET_MEAN", "IMAGENET_STD", "DataLoader",
]
