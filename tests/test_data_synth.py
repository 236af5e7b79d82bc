"""SynthFaces and SynthFBP: determinism, splits, caching, visible cues, SCUT-like statistics."""
import numpy as np
import pytest

from minifaceattr.data import SynthFaces, SynthFBP, celeba_statistics
from minifaceattr.data.attributes import ATTRIBUTES, GROUPS
from minifaceattr.data.drawing import draw_face, region_box
from minifaceattr.data.face_style import GROUP_REGIONS, neutral_style


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIFACEATTR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_item_types_and_shapes():
    data = SynthFaces(5, image_size=48, cache=False, verbose=False)
    image, target = data[0]
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert target.shape == (40,) and set(np.unique(data.labels)) <= {0, 1}
    assert data.labels.shape == (5, 40) and np.array_equal(target, data.labels[0])
    assert image.std() > 10                                     # not a blank image
    with pytest.raises(IndexError):
        data[5]


def test_same_seed_same_samples_and_prefix_property():
    a = SynthFaces(12, image_size=32, seed=3, cache=False, verbose=False)
    b = SynthFaces(20, image_size=32, seed=3, cache=False, verbose=False)
    assert np.array_equal(a.labels, b.labels[:12])
    for i in (0, 7, 11):
        assert np.array_equal(a[i][0], b[i][0])
    c = SynthFaces(12, image_size=32, seed=4, cache=False, verbose=False)
    assert not np.array_equal(a.labels, c.labels)
    assert not np.array_equal(a[0][0], c[0][0])


def test_splits_are_disjoint():
    train = SynthFaces(30, image_size=32, split="train", cache=False, verbose=False)
    test = SynthFaces(30, image_size=32, split="test", cache=False, verbose=False)
    assert not np.array_equal(train.labels, test.labels)
    train_images = {train[i][0].tobytes() for i in range(30)}
    assert not any(test[i][0].tobytes() in train_images for i in range(30))
    assert SynthFaces(1, split="val", verbose=False).split == "valid"
    with pytest.raises(ValueError, match="unknown split"):
        SynthFaces(1, split="training")


def test_cache_round_trip_equals_lazy_drawing(private_cache):
    lazy = SynthFaces(40, image_size=32, seed=1, cache=False, verbose=False)
    cached = SynthFaces(40, image_size=32, seed=1, cache=True, verbose=False, workers=0)
    assert np.array_equal(cached.images, np.stack([lazy[i][0] for i in range(40)]))
    files = list(private_cache.glob("synthfaces-*.npz"))
    assert len(files) == 1 and not list(private_cache.glob("*.tmp"))
    again = SynthFaces(40, image_size=32, seed=1, cache=True, verbose=False)
    again.draw = None                                     # must come from the file, not drawn
    assert np.array_equal(again.images, cached.images)
    stale = private_cache / files[0].name.replace(files[0].name.split("-")[1], "0ldc0de000")
    files[0].rename(stale)                                # as if written by older code
    other = private_cache / files[0].name.replace("seed1", "seed2")
    other.write_bytes(b"")                                # other arguments: kept
    fresh = SynthFaces(40, image_size=32, seed=1, cache=True, verbose=False, workers=0)
    assert np.array_equal(fresh.images, cached.images)
    assert sorted(p.name for p in private_cache.iterdir()) == sorted([files[0].name, other.name])


def test_parallel_drawing_equals_serial():
    serial = SynthFaces(260, image_size=16, seed=2, cache=False, workers=0, verbose=False).images
    parallel = SynthFaces(260, image_size=16, seed=2, cache=False, workers=2, verbose=False).images
    assert np.array_equal(serial, parallel)


def test_label_statistics_follow_celeba():
    labels = SynthFaces(4000, seed=0, verbose=False).labels      # labels only: no drawing
    rates, phi = celeba_statistics()
    assert np.abs(labels.mean(0) - rates).max() < 0.02
    got = np.corrcoef(labels.T.astype(float))
    i, j = np.triu_indices(40, 1)
    top = np.argsort(-np.abs(phi[i, j]))[:10]
    assert np.all(np.sign(got[i, j][top]) == np.sign(phi[i, j][top]))


def _pixel_mask(box, size):
    ys, xs = np.mgrid[:size, :size] + 0.5
    x0, y0, x1, y1 = box
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


def test_every_cue_changes_pixels_in_its_groups_region():
    size, style = 64, neutral_style()
    base = np.zeros(40, np.int64)
    for name in ("Young", "No_Beard", "Attractive", "Brown_Hair", "Straight_Hair"):
        base[ATTRIBUTES.index(name)] = 1
    reference = draw_face(base, style, size).astype(float)
    group_of = {a: g for g, members in GROUPS.items() for a in members}
    for k, name in enumerate(ATTRIBUTES):
        flipped = base.copy()
        flipped[k] ^= 1
        diff = np.abs(draw_face(flipped, style, size).astype(float) - reference).sum(-1)
        assert diff.sum() > 300, f"{name} barely changes the image"
        group = group_of[name]
        if group != "Holistic":
            inside = _pixel_mask(region_box(GROUP_REGIONS[group], size), size)
            assert diff[inside].sum() >= 0.95 * diff.sum(), f"{name} draws outside {group}"


def test_styles_vary_pose_and_colour():
    data = SynthFaces(20, cache=False, verbose=False)
    styles = [data.style(i) for i in range(20)]
    assert len({s["angle"] for s in styles}) == 20
    assert len({s["skin"] for s in styles}) > 10
    assert np.std([s["shift"][0] for s in styles]) > 0.01


def test_synth_fbp_mix_scores_and_targets():
    data = SynthFBP(1100, seed=0, verbose=False, cache=False)
    counts = np.bincount(data.races * 2 + data.genders, minlength=4)
    assert counts.tolist() == [400, 400, 150, 150]          # AF, AM, CF, CM = 2000:2000:750:750
    assert data.scores.min() >= 1 and data.scores.max() <= 5
    assert abs(data.scores.mean() - 3) < 0.1 and abs(data.scores.std() - 0.7) < 0.07
    image, target = data[3]
    assert image.shape == (64, 64, 3) and set(target) == {"score", "race", "gender"}
    assert target["score"] == data.scores[3] and target["gender"] == data.genders[3]
    male = data.attributes[:, ATTRIBUTES.index("Male")]
    assert np.array_equal(male, data.genders)


def test_synth_fbp_deterministic_and_split_dependent():
    a = SynthFBP(50, image_size=32, seed=5, verbose=False, cache=False)
    b = SynthFBP(50, image_size=32, seed=5, verbose=False, cache=False)
    c = SynthFBP(50, image_size=32, seed=5, split="test", verbose=False, cache=False)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a[7][0], b[7][0])
    assert not np.array_equal(a.scores, c.scores)


def test_images_are_drawn_once_when_loader_threads_ask_together():
    from minifaceattr.data import DataLoader
    data = SynthFaces(64, image_size=16, cache=True, workers=0, verbose=False)
    calls = []
    draw_all = data.draw_all
    data.draw_all = lambda: calls.append(1) or draw_all()
    batches = list(DataLoader(data, batch_size=4, workers=4))
    assert len(calls) == 1 and len(batches) == 16
    assert np.array_equal(batches[3][0][1], data.images[13])


def test_part_regions_follow_the_pose_and_hold_each_cue():
    """A posed face's part regions match region_box without rotation and hold ≥ 97 % of the
    pixels a cue changes (upright boxes: about 90 %): the regions turn with the face."""
    from minifaceattr.data.drawing import part_regions
    size = 64
    style = neutral_style()
    upright = part_regions(style, size)
    assert set(upright) == set(GROUP_REGIONS)
    for group in GROUP_REGIONS:
        assert np.array_equal(upright[group], _pixel_mask(region_box(GROUP_REGIONS[group], size),
                                                          size))
    style.update(angle=25.0, shift=(0.05, -0.03), scale=0.9)
    posed = part_regions(style, size)
    assert not np.array_equal(posed["Mouth"], upright["Mouth"])
    base = np.zeros(40, np.int64)
    reference = draw_face(base, style, size).astype(float)
    for name, group in (("Smiling", "Mouth"), ("Eyeglasses", "Eyes"), ("Goatee", "Chin")):
        flipped = base.copy()
        flipped[ATTRIBUTES.index(name)] = 1
        diff = np.abs(draw_face(flipped, style, size).astype(float) - reference).sum(-1)
        assert diff[posed[group]].sum() >= 0.97 * diff.sum(), name
    data = SynthFaces(2, cache=False, verbose=False)
    assert data.part_regions(1)["Eyes"].shape == (64, 64)
