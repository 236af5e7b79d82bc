"""SynthFaces: procedurally drawn faces labelled with the 40 CelebA attributes.

A stand-in for CelebA when the real images are not on disk. It is honest about being
synthetic: labels come from a Gaussian copula fitted to CelebA's positive rates and pairwise
phi correlations (``label_model``), and each image is drawn from its labels plus a random style
(``drawing``, ``face_style``), so every attribute has a visible cue in its group's region.

    >>> train = SynthFaces(2000, image_size=64, seed=0, split="train")
    >>> image, target = train[0]        # (64, 64, 3) uint8, (40,) int64 of 0/1
    >>> train.labels.shape
    (2000, 40)

Sample *i* depends only on (seed, split, i): the first 100 samples of ``SynthFaces(1000)`` are
``SynthFaces(100)``, and "train", "valid" and "test" never share a random stream.
"""
from __future__ import annotations

import numpy as np

from . import drawing, face_style, label_model
from .drawing import draw_face
from .face_style import sample_style
from .label_model import celeba_label_model
from .synthetic import SyntheticDataset, sample_rng


class SynthFaces(SyntheticDataset):
    """``n`` synthetic faces. Indexing gives ``(image, target)``: image an
    (image_size, image_size, 3) uint8 array (RGB, HWC), target a (40,) int64 vector of 0/1 in
    ``ATTRIBUTES`` order. ``labels`` is the (n, 40) int64 array of all targets.

    ``supersample``: how many times larger each face is drawn before it is shrunk (2 to 4).
    ``cache``/``workers``/``verbose``: see ``SyntheticDataset``."""

    kind = 1
    modules = (drawing, face_style, label_model)

    def __init__(self, n: int, image_size: int = 64, seed: int = 0, split: str = "train",
                 cache: bool = True, supersample: int = 3, workers: int | None = None,
                 verbose: bool = True) -> None:
        super().__init__(n, image_size, seed, split, cache, supersample, workers, verbose)
        stream = sample_rng(self.kind, self.seed, self.split, 1)
        self.labels = celeba_label_model().sample(stream, self.n).astype("int64")

    def style(self, i: int) -> dict:
        """Sample i's style: pose, colours, lighting, background, noise (see face_style)."""
        return sample_style(self.rng(i))

    def part_regions(self, i: int) -> dict[str, np.ndarray]:
        """{group: (image_size, image_size) bool mask}: where sample i's face draws each
        group's cues (``drawing.part_regions``; every group but Holistic)."""
        return drawing.part_regions(self.style(i), self.image_size)

    def draw(self, i: int) -> np.ndarray:
        return draw_face(self.labels[i], self.style(i), self.image_size, self.supersample)

    def target(self, i: int) -> np.ndarray:
        return self.labels[i]

    def signature(self):
        return self.labels
