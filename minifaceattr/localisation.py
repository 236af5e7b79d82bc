"""Do attention masks look where their attributes are? Scores for MGG-Net's group masks.

On drawn faces the drawing code knows each part's true region (``SynthFaces.part_regions``):
a mask is scored by the share of its mass inside its group's region, against the share a
uniform mask would have there (the region's area fraction). On real aligned faces, where the
eyes, nose and mouth sit at nearly fixed heights, a mask is summarised by how its mass falls
over horizontal bands of the face.

    masks = out.masks["layer2"].numpy()                    # (N, G, h, w) in [0, 1]
    regions = np.stack([[data.part_regions(i)[g] for g in groups] for i in idx])  # (N, G, H, W)
    scores = region_shares(masks, regions)                 # {"share", "uniform", "ratio"} (G,)
"""
import numpy as np


def upsample_masks(masks, size):
    """(N, G, h, w) masks → (N, G, size, size): each image pixel takes the value of the mask
    cell its centre falls in (nearest neighbour; the cells tile the image)."""
    masks = np.asarray(masks)
    h, w = masks.shape[-2:]
    rows = np.minimum(((np.arange(size) + 0.5) * h / size).astype(int), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * w / size).astype(int), w - 1)
    return masks[..., rows[:, None], cols[None, :]]


def region_shares(masks, regions):
    """Each mask's share of mass inside its region, and a uniform mask's share.

    ``masks`` (N, G, h, w), non-negative; ``regions`` (N, G, H, W) bool, H = W the image size
    (the masks are upsampled to it). Returns {"share": (G,), "uniform": (G,), "ratio": (G,)}:
    the mean over faces of Σ mask·region / Σ mask, of the region's area fraction, and
    share / uniform (1: no better than a uniform mask; 1 / uniform: all mass inside)."""
    regions = np.asarray(regions, bool)
    if regions.ndim != 4 or regions.shape[:2] != np.shape(masks)[:2]:
        raise ValueError(f"region_shares: regions {regions.shape} must be (N, G, H, W) for "
                         f"masks {np.shape(masks)}")
    up = upsample_masks(masks, regions.shape[-1]).astype(np.float64)
    total = np.maximum(up.sum(axis=(-2, -1)), 1e-12)
    share = (up * regions).sum(axis=(-2, -1)) / total
    uniform = regions.mean(axis=(-2, -1))
    share, uniform = share.mean(axis=0), uniform.mean(axis=0)
    return {"share": share, "uniform": uniform, "ratio": share / np.maximum(uniform, 1e-12)}


def band_profile(masks, bands=None):
    """(N, G, h, w) masks → (G, bands): the mean over faces of each mask's share of mass in
    each horizontal band, top to bottom (default: one band per mask row). A uniform mask
    gives 1 / bands everywhere."""
    masks = np.asarray(masks, np.float64)
    h = masks.shape[2]
    bands = h if bands is None else bands
    if h % bands:
        raise ValueError(f"band_profile: {bands} bands do not divide the mask's {h} rows")
    rows = masks.sum(axis=3).reshape(*masks.shape[:2], bands, h // bands).sum(axis=3)
    return (rows / np.maximum(rows.sum(axis=2, keepdims=True), 1e-12)).mean(axis=0)


def mass_centre_height(masks):
    """(N, G, h, w) → (G,): the mean over faces of the height of each mask's centre of mass,
    0 at the top of the image and 1 at the bottom (0.5 for a uniform mask)."""
    masks = np.asarray(masks, np.float64)
    h = masks.shape[2]
    y = (np.arange(h) + 0.5) / h
    rows = masks.sum(axis=3)
    return ((rows * y).sum(axis=2) / np.maximum(rows.sum(axis=2), 1e-12)).mean(axis=0)
