"""ResNet18/34: torchvision's names and shapes, stage outputs, weights, and learning."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import models, optim
from minifaceattr.serialization import load_checkpoint, save_checkpoint, save_weights


@pytest.fixture(scope="module")
def resnet18():
    mfa.manual_seed(0)
    return models.resnet18()


def tiny_resnet(num_classes=40, width=4, seed=0):
    mfa.manual_seed(seed)
    return models.resnet18(num_classes=num_classes, width=width)


def images(rng, n=2, size=32):
    return mfa.tensor(rng.standard_normal((n, 3, size, size)).astype(np.float32))


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts(resnet18):
    assert count(resnet18) == 11_689_512
    assert count(models.resnet34()) == 21_797_672
    assert count(tiny_resnet(num_classes=40, width=64)) == 11_689_512 - 513 * 1000 + 513 * 40


def test_torchvision_names_and_shapes(resnet18):
    state = resnet18.state_dict()
    assert len(state) == 122
    expected = {"conv1.weight": (64, 3, 7, 7), "bn1.running_var": (64,),
                "bn1.num_batches_tracked": (),
                "layer1.1.conv2.weight": (64, 64, 3, 3), "layer2.0.conv1.weight": (128, 64, 3, 3),
                "layer2.0.downsample.0.weight": (128, 64, 1, 1),
                "layer2.0.downsample.1.running_mean": (128,),
                "layer4.1.bn2.bias": (512,), "fc.weight": (1000, 512), "fc.bias": (1000,)}
    for name, shape in expected.items():
        assert state[name].shape == shape, name
    assert not any(k.startswith("layer1.0.downsample") for k in state)
    assert list(state)[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                               "bn1.running_var", "bn1.num_batches_tracked"]
    assert all(v.dtype == np.float32 for k, v in state.items()
               if not k.endswith("num_batches_tracked"))
    assert resnet18.arch == "resnet18" and models.resnet34().arch == "resnet34"


def test_initialisation_follows_torchvision(resnet18):
    w = resnet18.layer3[0].conv1.weight.data
    assert abs(w.std() / np.sqrt(2 / (256 * 9)) - 1) < 0.02   # He normal, fan out
    bn1 = resnet18.layer3[0].bn1
    assert np.all(bn1.weight.data == 1) and np.all(bn1.bias.data == 0)
    assert np.abs(resnet18.fc.weight.data).max() <= 1 / np.sqrt(512)


def test_stage_outputs_and_logits(rng):
    model = tiny_resnet()
    x = images(rng, size=64)
    feats = model.forward_features(x, return_stages=("layer4", "layer2", "stem"))
    assert list(feats) == ["layer4", "layer2", "stem"]
    assert feats["stem"].shape == (2, 4, 16, 16)
    assert feats["layer2"].shape == (2, 8, 8, 8)
    assert feats["layer4"].shape == (2, 32, 2, 2)
    assert model(x).shape == (2, 40)
    with pytest.raises(ValueError, match="layer5"):
        model.forward_features(x, return_stages=("layer5",))


def test_train_mode_updates_running_statistics_eval_does_not(rng):
    model = tiny_resnet()
    x = images(rng)
    model.eval()
    before = model.state_dict()
    model(x)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    model.train()
    model(x)
    assert model.bn1.num_batches_tracked == 1
    assert not np.allclose(model.bn1.running_mean, before["bn1.running_mean"])


def test_input_gradient_matches_finite_differences(rng):
    model = tiny_resnet(num_classes=3, width=2).double()
    x = mfa.tensor(rng.standard_normal((2, 3, 16, 16)), requires_grad=True)
    assert mfa.gradcheck(model, [x], max_elements=0)  # a random-direction check


def test_pretrained_npz_keeps_a_new_head(tmp_path, rng):
    source = tiny_resnet(num_classes=1000, seed=1)
    save_weights(tmp_path / "r18.npz", source)
    with pytest.warns(UserWarning, match="fc.bias, fc.weight"):
        model = models.resnet18(num_classes=40, width=4, weights=tmp_path / "r18.npz")
    np.testing.assert_array_equal(model.layer4[1].conv2.weight.data,
                                  source.layer4[1].conv2.weight.data)
    assert model.fc.weight.shape == (40, 32)
    same = models.resnet18(num_classes=1000, width=4, weights=tmp_path / "r18.npz")
    x = images(rng)
    np.testing.assert_array_equal(same.eval()(x).data, source.eval()(x).data)


def test_pretrained_file_without_batch_counters_loads(tmp_path):
    """Weights saved before PyTorch 0.4.1 have no num_batches_tracked entries."""
    state = {k: v for k, v in tiny_resnet(num_classes=1000).state_dict().items()
             if not k.endswith("num_batches_tracked")}
    np.savez(tmp_path / "old.npz", **state)
    model = models.resnet18(num_classes=1000, width=4, weights=tmp_path / "old.npz")
    np.testing.assert_array_equal(model.fc.bias.data, state["fc.bias"])
    del state["layer1.0.bn1.running_var"]
    np.savez(tmp_path / "broken.npz", **state)
    with pytest.raises(RuntimeError,
                       match=r"broken\.npz(.|\n)*missing keys: layer1\.0\.bn1\.running_var"):
        models.resnet18(num_classes=1000, width=4, weights=tmp_path / "broken.npz")


def test_checkpoint_refuses_another_depth(tmp_path):
    mfa.manual_seed(0)
    save_checkpoint(tmp_path / "r34.npz", models.resnet34(num_classes=2, width=2))
    with pytest.raises(ValueError, match=r"r34\.npz.*'resnet34-width2'.*'resnet18-width2'"):
        load_checkpoint(tmp_path / "r34.npz", tiny_resnet(num_classes=2, width=2))


def test_tiny_resnet_overfits_one_batch(rng):
    """8 images, 40 random binary attributes: a network that learns at all memorises them."""
    model = tiny_resnet(width=8)
    x = images(rng, n=8, size=32)
    y = mfa.tensor((rng.random((8, 40)) < 0.5).astype(np.float32))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(300):  # noqa: B007  (step is read after the loop, in the message)
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        if loss.item() < 0.05:
            break
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, f"loss {loss.item():.3f} after {step} steps"
