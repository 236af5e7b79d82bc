"""viz: each figure writes a PNG from small synthetic inputs; the NumPy helpers are right."""
import warnings

import numpy as np
import pytest
from PIL import Image

import minifaceattr as mfa
from minifaceattr import viz
from minifaceattr.data import ATTRIBUTES, GROUPS

GROUP_NAMES = list(GROUPS)


def assert_png(path, min_size=(200, 150)):
    """A readable PNG of at least ``min_size`` pixels that is not one flat colour."""
    assert path.exists() and path.stat().st_size > 2000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5


@pytest.fixture(autouse=True)
def no_missing_glyphs():
    """A symbol the font lacks would be drawn as an empty box; matplotlib only warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        yield


@pytest.fixture
def faces(rng):
    """Four normalised 3×24×24 'faces': a bright disc on a dark background."""
    yy, xx = np.mgrid[:24, :24]
    disc = ((yy - 12) ** 2 + (xx - 12) ** 2 < 80).astype(np.float32)
    images = np.stack([disc * (0.5 + 0.1 * c) for c in range(3)])[None].repeat(4, axis=0)
    images = images + 0.05 * rng.standard_normal(images.shape).astype(np.float32)
    mean, std = np.array([0.4, 0.4, 0.4]), np.array([0.25, 0.25, 0.25])
    return (images - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1), mean, std


def test_plot_history(tmp_path):
    history = [{"epoch": e, "steps": 10 * e, "train_loss": 1 / e, "lr": 0.1, "seconds": 1.0,
                "images_per_second": 50.0, "eval_seconds": 0.1, "mean_accuracy": 0.6 + 0.05 * e}
               for e in (1, 2, 3)]
    assert_png(viz.plot_history(history, tmp_path / "curves.png"))
    assert_png(viz.plot_history(history[:1], tmp_path / "one.png", title="one epoch"))
    with pytest.raises(ValueError, match="empty"):
        viz.plot_history([], tmp_path / "none.png")


def test_plot_attribute_accuracy(tmp_path, rng):
    per_attribute = {a: float(v) for a, v in zip(ATTRIBUTES, rng.uniform(0.6, 1.0, 40))}
    baseline = {a: 0.7 for a in ATTRIBUTES}
    path = viz.plot_attribute_accuracy(per_attribute, GROUPS, tmp_path / "sub" / "bars.png",
                                       baseline=baseline)
    assert_png(path, (400, 200))
    by_index = {"first": [0, 1], "second": [2]}      # groups by index; the rest is "other"
    assert_png(viz.plot_attribute_accuracy({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.95}, by_index,
                                           tmp_path / "small.png"))


def test_plot_attention_masks(tmp_path, faces, rng):
    images, mean, std = faces
    masks = {"layer2": rng.uniform(size=(4, 8, 6, 6)), "layer3": rng.uniform(size=(4, 8, 3, 3))}
    path = viz.plot_attention_masks(mfa.tensor(images), masks, GROUP_NAMES, tmp_path / "masks.png",
                                    mean=mean, std=std, max_images=1)
    assert_png(path, (500, 300))
    with pytest.raises(ValueError, match="layer2"):
        viz.plot_attention_masks(images, {"layer2": masks["layer2"][:, :5]}, GROUP_NAMES,
                                 tmp_path / "bad.png")


def test_plot_affinity(tmp_path, rng):
    scores = rng.standard_normal((5, 8, 8))
    np.einsum("nii->ni", scores)[:] = -np.inf
    e = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)     # rows sum to 1, e_ii = 0
    assert_png(viz.plot_affinity(e, GROUP_NAMES, tmp_path / "affinity.png"))
    assert_png(viz.plot_affinity(e[0], GROUP_NAMES, tmp_path / "one.png"))
    with pytest.raises(ValueError):
        viz.plot_affinity(e[:, :7, :7], GROUP_NAMES, tmp_path / "bad.png")


def test_plot_predictions(tmp_path, faces, rng):
    images, mean, std = faces
    probabilities = rng.uniform(size=(4, 40))
    targets = (rng.uniform(size=(4, 40)) < 0.3).astype(np.int64)
    path = viz.plot_predictions(images, probabilities, targets, ATTRIBUTES, tmp_path / "pred.png",
                                k=4, mean=mean, std=std, columns=3)
    assert_png(path, (400, 300))


def test_prediction_lines_mark_right_and_wrong():
    p = np.array([0.9, 0.8, 0.3, 0.1, 0.7, 0.6])
    t = np.array([1, 0, 1, 0, 0, 1])
    lines, right = viz.prediction_lines(p, t, list("abcdef"), k=2, threshold=0.5)
    assert lines == [("✓ a 0.90", True), ("✗ b 0.80", False), ("also said: e", False),
                     ("missed: c", False)]
    assert right == 3                       # a, d, f


def test_plot_score_scatter(tmp_path, rng):
    true = rng.uniform(1, 5, 60)
    assert_png(viz.plot_score_scatter(true + 0.3 * rng.standard_normal(60), true,
                                      tmp_path / "scatter.png"))


def test_upsample_is_bilinear_at_pixel_centres():
    mask = np.array([[0.0, 1.0], [2.0, 3.0]])
    up = viz.upsample(mask, (4, 4))
    np.testing.assert_allclose(up[0], [0, 0.25, 0.75, 1])           # edges clamp, centres blend
    np.testing.assert_allclose(up[:, 0], [0, 0.5, 1.5, 2])
    np.testing.assert_allclose(viz.upsample(mask[None, None], (2, 2))[0, 0], mask)
    assert viz.upsample(np.ones((3, 2, 5, 7)), (10, 14)).shape == (3, 2, 10, 14)


def test_display_images_undoes_normalisation():
    x = np.random.default_rng(0).uniform(size=(2, 3, 4, 5))
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    normalised = (x - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    np.testing.assert_allclose(viz.display_images(normalised, mean, std), x.transpose(0, 2, 3, 1))
    shown = viz.display_images(normalised)                          # no mean/std: rescaled
    assert shown.min() >= 0 and shown.max() <= 1
