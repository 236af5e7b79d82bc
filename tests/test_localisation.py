"""Mask localisation scores: the share of a mask's mass in its part's region, and per band."""
import numpy as np
import pytest

from minifaceattr.localisation import (band_profile, mass_centre_height, region_shares,
                                       upsample_masks)


def test_upsample_masks_tiles_the_image_with_the_mask_cells():
    masks = np.arange(4.0).reshape(1, 1, 2, 2)
    assert np.array_equal(upsample_masks(masks, 4)[0, 0], np.kron(masks[0, 0], np.ones((2, 2))))
    assert upsample_masks(np.ones((2, 3, 3, 3)), 8).shape == (2, 3, 8, 8)


def test_region_shares_against_a_uniform_mask():
    size = 8
    region = np.zeros((size, size), bool)
    region[:4, :4] = True                                  # the top-left quarter
    regions = np.broadcast_to(region, (5, 2, size, size))
    masks = np.zeros((5, 2, 4, 4))
    masks[:, 0, :2, :2] = 0.7                              # group 0: all mass in the region
    masks[:, 1] = 0.3                                      # group 1: uniform
    scores = region_shares(masks, regions)
    assert np.allclose(scores["share"], [1.0, 0.25])
    assert np.allclose(scores["uniform"], 0.25)
    assert np.allclose(scores["ratio"], [4.0, 1.0])
    with pytest.raises(ValueError, match="regions"):
        region_shares(masks, regions[:, :1])


def test_band_profile_and_centre_height():
    masks = np.zeros((3, 2, 4, 4))
    masks[:, 0, 0] = 1.0                                   # group 0: the top row only
    masks[:, 1] = 0.5                                      # group 1: uniform
    assert np.allclose(band_profile(masks), [[1, 0, 0, 0], [0.25] * 4])
    assert np.allclose(band_profile(masks, bands=2), [[1, 0], [0.5, 0.5]])
    assert np.allclose(mass_centre_height(masks), [0.125, 0.5])
    with pytest.raises(ValueError, match="bands"):
        band_profile(masks, bands=3)
