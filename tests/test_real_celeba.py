"""The real-dataset path on real photographs: ``../shared/data/celeba-10k-half`` (8,052 CelebA
faces at 89×109 with their official labels, split by person), when it is present.

Nothing of it is in the repository; without it these tests are skipped, saying why.
"""
from pathlib import Path

import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import optim
from minifaceattr.data import CelebA, DataLoader, transforms
from minifaceattr.data.attributes import ATTRIBUTE_INDEX
from minifaceattr.models.mggnet import MGGNet, mggnet_loss

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "celeba-10k-half"
pytestmark = pytest.mark.skipif(not (ROOT / "list_attr_celeba.txt").is_file(),
                                reason="real faces absent: ../shared/data/celeba-10k-half "
                                       "(relative to the repository root) is not on this machine")
SPLITS = {"train": 6050, "valid": 1044, "test": 958}


@pytest.fixture(scope="module")
def splits():
    return {split: CelebA(ROOT, split) for split in SPLITS}


def test_splits_sizes_and_labels(splits):
    for split, count in SPLITS.items():
        data = splits[split]
        assert len(data) == count == len(data.files)
        assert data.labels.shape == (count, 40)
        assert set(np.unique(data.labels)) == {0, 1}
    assert not set(splits["train"].files) & set(splits["test"].files)
    male = splits["train"].labels[:, ATTRIBUTE_INDEX["Male"]].mean()
    assert 0.35 < male < 0.5  # the README: 0.42


def test_half_size_images_are_cropped_to_their_central_square(splits):
    image, target = splits["test"][0]
    assert image.shape == (109, 89, 3) and image.dtype == np.uint8
    assert target.shape == (40,)
    square = transforms.CenterSquareCrop()(image)
    assert square.shape == (89, 89, 3)
    assert np.array_equal(square, image[10:99])
    assert transforms.Resize(32)(square).shape == (32, 32, 3)


def test_a_small_mggnet_learns_on_real_faces(splits):
    """A few SGD steps on one batch of real faces lower the loss (Eq. 5, all heads)."""
    tf = transforms.Compose([transforms.CenterSquareCrop(), transforms.Resize(32),
                             transforms.ToArray(), transforms.Normalize()])
    images, targets = next(iter(DataLoader(splits["train"], 32, transform=tf, workers=0)))
    assert images.shape == (32, 3, 32, 32)
    mfa.manual_seed(0)
    model = MGGNet(variant="full", width=4, hidden_per_group=4)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = mggnet_loss(model(mfa.tensor(images)), targets.astype(np.float32))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0], losses
