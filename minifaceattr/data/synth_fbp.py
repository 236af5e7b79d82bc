"""SynthFBP: a synthetic stand-in for SCUT-FBP5500 (facial beauty prediction).

Two races (0 = Asian, 1 = Caucasian), two genders (0 = female, 1 = male) in SCUT-FBP5500's mix
(Asian female 2000, Asian male 2000, Caucasian female 750, Caucasian male 750 per 5,500), and
a beauty score in [1, 5]. Faces are drawn with SynthFaces' drawing code: each face gets a
hidden vector of the 40 CelebA attributes (sampled from the CelebA label model given its
gender, ``attributes``) and a style whose skin tone, hair and eyes depend on its race.

The score is a hidden linear function of visible features (``BEAUTY_WEIGHTS``: attractive,
young, smiling, not chubby, ...) plus rater noise, scaled so that the mean is about 3 and the
standard deviation about 0.7, like SCUT-FBP5500's. The noise caps how well any model can do:
the Pearson correlation between score and visible part is about 0.9.

    >>> data = SynthFBP(550, image_size=64, seed=0, split="train")
    >>> image, target = data[0]   # target: {"score": float32, "race": int64, "gender": int64}
"""
from __future__ import annotations

import math

import numpy as np

from . import drawing, face_style, label_model
from .attributes import ATTRIBUTE_INDEX, ATTRIBUTES
from .drawing import draw_face
from .face_style import mix, sample_style
from .label_model import celeba_label_model
from .synthetic import SyntheticDataset

RACES = ("asian", "caucasian")
GENDERS = ("female", "male")
# (name, race, gender, how many in each cycle of 22): 8/22 = 2000/5500, 3/22 = 750/5500
CATEGORIES = (("AF", 0, 0, 8), ("AM", 0, 1, 8), ("CF", 1, 0, 3), ("CM", 1, 1, 3))

# The hidden beauty function. "Male" offsets Attractive being far more common among women,
# leaving women about 0.3 points ahead on average.
BEAUTY_WEIGHTS = {"Attractive": 1.0, "Young": 0.4, "Smiling": 0.25, "Heavy_Makeup": 0.15,
                  "Big_Lips": 0.1, "Male": 0.5, "Chubby": -0.5, "Double_Chin": -0.3,
                  "Bags_Under_Eyes": -0.3, "Big_Nose": -0.2}
STYLE_WEIGHTS = {"eye": 0.08, "face_w": -0.06}     # larger eyes, narrower face: a bit better
VISIBLE_MEAN, VISIBLE_SD = 1.057, 0.705            # of the visible part over the SCUT mix
VISIBLE_SHARE = 0.9                                # sd share of the visible part; rest: raters
SKIN = {0: ((240, 208, 176), (176, 132, 96)),      # race: (lightest, darkest) skin tone
        1: ((252, 224, 208), (204, 158, 132))}


def categories(n, rng_for_cycle):
    """(race, gender) arrays for n samples: each cycle of 22 samples holds 8 AF, 8 AM, 3 CF and
    3 CM in a random order (``rng_for_cycle(c)`` shuffles cycle c), so every 22 consecutive
    samples have SCUT-FBP5500's exact mix."""
    cycle = np.array([(race, gender) for _, race, gender, count in CATEGORIES
                      for _ in range(count)])
    blocks = [cycle[rng_for_cycle(c).permutation(22)] for c in range(-(-n // 22))]
    both = np.concatenate(blocks)[:n] if blocks else np.zeros((0, 2), np.int64)
    return both[:, 0].astype(np.int64), both[:, 1].astype(np.int64)


def beauty_visible(attributes, style):
    """The visible part of the score, before scaling: weights times features."""
    value = sum(w * attributes[ATTRIBUTE_INDEX[name]] for name, w in BEAUTY_WEIGHTS.items())
    return value + sum(w * style[name] for name, w in STYLE_WEIGHTS.items())


def beauty_score(visible, rater_noise):
    """Score in [1, 5]: 3 + 0.7 * (0.9 * standardised visible part + 0.44 * noise)."""
    z = (visible - VISIBLE_MEAN) / VISIBLE_SD
    noise_share = math.sqrt(1 - VISIBLE_SHARE ** 2)
    return float(np.clip(3 + 0.7 * (VISIBLE_SHARE * z + noise_share * rater_noise), 1, 5))


def race_style(style, race, rng):
    """Make a style look like the given race: skin tone range, eye colour, hair."""
    light, dark = SKIN[race]
    style["skin"] = mix(light, dark, rng.beta(1.6, 1.6))
    if race == 0:
        style["iris"] = (55, 38, 25)
        style["other_hair"] = (40, 32, 30)
    style["angle"] *= 0.4                                  # SCUT faces are nearly frontal
    style["shapes"] = style["shapes"][:1]
    return style


def race_attributes(attributes, race, rng):
    """Asian faces here mostly have black hair and fewer light hair colours."""
    a = attributes.copy()
    if race == 0 and rng.random() < 0.85:
        for name in ("Blond_Hair", "Brown_Hair", "Gray_Hair"):
            a[ATTRIBUTE_INDEX[name]] = 0
        a[ATTRIBUTE_INDEX["Black_Hair"]] = 1
    for name in ("Wearing_Hat", "Blurry"):                  # studio photos: no hats, sharp
        a[ATTRIBUTE_INDEX[name]] = 0
    return a


class SynthFBP(SyntheticDataset):
    """``n`` synthetic faces with a beauty score. Indexing gives ``(image, target)``: image an
    (image_size, image_size, 3) uint8 array, target a dict ``{"score": float32 in [1, 5],
    "race": int64 (0 Asian, 1 Caucasian), "gender": int64 (0 female, 1 male)}``.
    Arrays: ``scores`` (n,) float32, ``races`` and ``genders`` (n,) int64, and ``attributes``
    (n, 40) the hidden CelebA attributes each face was drawn with."""

    kind = 2
    modules = (drawing, face_style, label_model)

    def __init__(self, n: int = 5500, image_size: int = 64, seed: int = 0, split: str = "train",
                 cache: bool = True, supersample: int = 3, workers: int | None = None,
                 verbose: bool = True) -> None:
        super().__init__(n, image_size, seed, split, cache, supersample, workers, verbose)
        model = celeba_label_model()
        male = ATTRIBUTES.index("Male")
        self.races, self.genders = categories(self.n, lambda c: self.rng(c, stream=1))
        self.scores = np.zeros(self.n, np.float32)
        self.attributes = np.zeros((self.n, len(ATTRIBUTES)), np.int64)
        self._styles: list[dict] = []
        for i, (race, gender) in enumerate(zip(self.races, self.genders)):
            rng = self.rng(i)
            self.attributes[i] = race_attributes(model.sample_given(rng, male, gender), race, rng)
            style = race_style(sample_style(rng), race, rng)
            visible = beauty_visible(self.attributes[i], style)
            self.scores[i] = beauty_score(visible, rng.standard_normal())
            self._styles.append(style)

    def draw(self, i: int) -> np.ndarray:
        return draw_face(self.attributes[i], self._styles[i], self.image_size, self.supersample)

    def target(self, i: int) -> dict[str, np.generic]:
        return {"score": self.scores[i], "race": self.races[i], "gender": self.genders[i]}

    def signature(self) -> np.ndarray:
        return np.concatenate([self.scores, self.races, self.genders]).astype(np.float64)
