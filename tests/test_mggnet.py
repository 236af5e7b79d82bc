"""MGG-Net: every variant builds and runs; the loss; gradients; it learns."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import optim
from minifaceattr.data.attributes import GROUPS
from minifaceattr.models.mggnet import VARIANTS, MGGNet, mggnet_loss, positive_weights


def tiny(variant="full", **kw):
    mfa.manual_seed(0)
    return MGGNet(variant=variant, width=8, hidden_per_group=2, **kw)


def images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return mfa.tensor(rng.standard_normal((n, 3, size, size)).astype(np.float32))


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_shapes_and_backward_at_small_size(variant):
    model = tiny(variant)
    out = model(images(2, 64))
    assert out.logits.shape == (2, 40) and out.base_logits.shape == (2, 40)
    n_blocks = 0 if variant == "baseline" else 2
    assert len(out.gal_logits) == n_blocks
    assert len(out.gcl_logits) == (2 if variant == "full" else 0)
    groups = 40 if variant == "independent" else 8
    for mask in out.masks.values():
        assert mask.shape[:2] == (2, groups)
        assert float(mask.data.min()) >= 0 and float(mask.data.max()) <= 1
    assert len(out.heads()) == {"full": 6, "no_gcl": 4, "independent": 4, "baseline": 1}[variant]
    loss = mggnet_loss(out, np.random.default_rng(1).integers(0, 2, (2, 40)).astype(np.float32))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_full_model_at_224_gives_28_and_14_masks():
    out = tiny("full")(images(1, 224))
    assert out.masks["layer2"].shape == (1, 8, 28, 28)
    assert out.masks["layer3"].shape == (1, 8, 14, 14)
    assert out.affinity["layer3"].shape == (1, 8, 8)
    e = out.affinity["layer2"].numpy()[0]
    np.testing.assert_allclose(np.diag(e), 0)
    np.testing.assert_allclose(e.sum(axis=1), 1, rtol=1e-5)


def test_final_prediction_averages_base_and_gcl_heads():
    out = tiny("full")(images(2, 32))
    heads = [out.base_logits] + list(out.gcl_logits.values())
    np.testing.assert_allclose(out.logits.data, sum(h.data for h in heads) / 3, rtol=1e-5)


def test_gal_and_gcl_share_one_classifier_per_block():
    model = tiny("full")
    names = [n for n, _ in model.named_parameters() if n.startswith("classifiers")]
    assert names == ["classifiers.0.weight", "classifiers.0.bias",
                     "classifiers.1.weight", "classifiers.1.bias"]


def test_random_direction_gradient_check_in_float64():
    model = tiny("full")
    model.to(np.float64)
    x = mfa.tensor(np.random.default_rng(2).standard_normal((2, 3, 32, 32)), requires_grad=True)
    target = np.random.default_rng(3).integers(0, 2, (2, 40)).astype(np.float64)
    params = [p for n, p in model.named_parameters()
              if n.startswith(("gal.1", "gcl.0", "classifiers.1"))]

    def loss(x, *_):
        return mggnet_loss(model(x), target)
    assert mfa.gradcheck(loss, [x] + params, max_elements=0, atol=1e-6, rtol=1e-4)


def test_positive_weights_up_weight_rare_positives():
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    np.testing.assert_allclose(positive_weights(labels), [3.0, 1.0])
    np.testing.assert_allclose(positive_weights(np.zeros((3, 1))), [1.0])
    logits = mfa.tensor(np.zeros((1, 2)))
    target = np.array([[1.0, 1.0]])
    weighted = F.binary_cross_entropy_with_logits(logits, target, pos_weight=np.array([3.0, 1.0]),
                                                  reduction="none").numpy()
    assert weighted[0, 0] == pytest.approx(3 * weighted[0, 1])


def test_custom_groups_and_bad_variant():
    groups = {"top": list(GROUPS["Hair"]) + list(GROUPS["Eyes"]),
              "rest": [a for g in GROUPS if g not in ("Hair", "Eyes") for a in GROUPS[g]]}
    out = tiny("full", groups=groups)(images(2, 32))
    assert out.affinity["layer2"].shape == (2, 2, 2)
    with pytest.raises(ValueError, match="variant"):
        MGGNet(variant="nope")


def test_tiny_mggnet_overfits_a_small_batch():
    model = tiny("full")
    x = images(4, 32, seed=5)
    target = np.random.default_rng(6).integers(0, 2, (4, 40)).astype(np.float32)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        loss = mggnet_loss(model(x), target)
        loss.backward()
        opt.step()
    with mfa.no_grad():  # train mode: the batch statistics it was fitted with
        predicted = model(x).probabilities.numpy() > 0.5
    assert (predicted == target).mean() == 1.0


@pytest.mark.parametrize("backbone", ["resnet34", "vgg16", "alexnet"])
def test_other_backbones_build_and_run(backbone):
    mfa.manual_seed(0)
    model = MGGNet(backbone=backbone, hidden_per_group=2, width=8)  # width: ResNets only
    size = 96 if backbone == "alexnet" else 64
    out = model(images(2, size))
    assert out.logits.shape == (2, 40) and len(out.gcl_logits) == 2
    mggnet_loss(out, np.ones((2, 40), np.float32)).backward()
    assert model.fc.weight.grad is not None


def test_parameter_budget_matches_the_paper():
    def count(variant):
        return sum(p.numel() for p in MGGNet(variant=variant).parameters())
    baseline = count("baseline")
    assert baseline == 11_689_512 - 512 * 1000 - 1000 + 512 * 40 + 40  # torchvision's, 40 outputs
    assert abs(count("full") - 12.8e6) < 0.1e6                         # the paper's ≈ 12.8 M
