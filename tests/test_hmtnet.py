"""HMTNet: shapes at 224 and small sizes, the layout, gradients, the multi-task loss, it learns."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import optim
from minifaceattr.models.hmtnet import (AGGREGATORS, HMTNET_224, HMTNET_SMALL, MIN_TRUNK_SIZE,
                                        TASKS, HMTNet, HMTNetConfig, HMTOutput, hmtnet,
                                        single_task_net)
from minifaceattr.models.hmtnet_loss import SCORE_LOSSES, HMTLoss, HMTMetrics

# A small image that keeps the topology: a 9×9 trunk map (the branches need 7×7).
TINY = HMTNetConfig(image_size=48, widths=(3, 4, 5), branch_widths=(4, 3), head_width=6,
                    stem_strides=(1, 1))


def images(n, size, seed=0, dtype=np.float32):
    return mfa.tensor(np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(dtype))


def targets(n, seed=1):
    rng = np.random.default_rng(seed)
    return {"gender": rng.integers(0, 2, n), "race": rng.integers(0, 2, n),
            "score": rng.uniform(1, 5, n).astype(np.float32)}


def test_config_geometry_matches_the_authors_224_layout():
    assert HMTNET_224.trunk_size == 13 and HMTNET_224.head_kernel == 6
    assert HMTNET_SMALL.trunk_size == 13 and HMTNET_SMALL.head_kernel == 6
    assert TINY.trunk_size == 9


def test_the_authors_layout_at_224():
    mfa.manual_seed(0)
    model = hmtnet(HMTNET_224)                     # about 100 M parameters, mostly fc6 and fc7
    maps = model.features(images(1, 224))
    assert maps["relu3"].shape == (1, 512, 13, 13) and maps["fused"].shape == (1, 512, 13, 13)
    out = model(images(2, 224))
    assert isinstance(out, HMTOutput)
    assert out.gender.shape == (2, 2) and out.race.shape == (2, 2) and out.score.shape == (2,)
    assert model.conv1.conv.weight.shape == (96, 3, 7, 7) and model.conv1.conv.stride == (2, 2)
    assert model.conv2.conv.weight.shape == (256, 96, 5, 5) and model.conv2.conv.padding == (1, 1)
    assert model.score_head.fc6.conv.weight.shape == (4096, 512, 6, 6)
    assert model.score_head.fc8.weight.shape == (1, 4096, 1, 1)
    assert model.gender_branch.classifier.stride == (2, 2)


def test_concat_at_224_with_narrow_layers():
    config = HMTNetConfig(widths=(8, 16, 32), branch_widths=(16, 8), head_width=24)
    model = HMTNet(config, "concat")
    assert model.features(images(1, 224))["fused"].shape == (1, 96, 13, 13)
    assert model.score_head.fc8.weight.shape == (1, 72, 1, 1)
    out = model(images(2, 224))
    assert out.gender.shape == (2, 2) and out.race.shape == (2, 2) and out.score.shape == (2,)


@pytest.mark.parametrize("aggregator", AGGREGATORS)
@pytest.mark.parametrize("config", [HMTNET_SMALL, TINY], ids=["small", "tiny"])
def test_shapes_at_small_sizes(config, aggregator):
    out = HMTNet(config, aggregator)(images(3, config.image_size))
    assert out.gender.shape == (3, 2) and out.race.shape == (3, 2) and out.score.shape == (3,)


def test_fully_convolutional_larger_input_still_gives_one_score_per_image():
    out = HMTNet(TINY)(images(2, 64))
    assert out.gender.shape == (2, 2) and out.score.shape == (2,)


def test_too_small_an_image_is_a_clear_error():
    with pytest.raises(ValueError, match="trunk map"):
        HMTNet(HMTNetConfig(image_size=64, stem_strides=(2, 2)))


def test_the_smallest_trunk_map_the_branches_accept():
    sizes = {s: HMTNetConfig(s, TINY.widths, TINY.branch_widths, TINY.head_width, (1, 1))
             for s in range(30, 60)}
    smallest = min(s for s, c in sizes.items() if c.trunk_size == MIN_TRUNK_SIZE)
    out = HMTNet(sizes[smallest])(images(2, smallest))
    assert out.gender.shape == (2, 2) and out.race.shape == (2, 2) and out.score.shape == (2,)
    with pytest.raises(ValueError, match="at least 7×7"):
        HMTNet(sizes[smallest - 1])


def test_race_reads_the_average_of_conv3_before_bn_relu3_and_relu5():
    model = HMTNet(TINY).eval()                    # eval: batch norm is a fixed affine map
    x = images(2, 48)
    conv3 = model.conv3.conv(model_stem(model, x))           # before its batch norm
    relu3 = F.relu(model.conv3.bn(conv3))
    relu4 = F.relu(model.conv4.bn(model.conv4.conv(relu3)))
    relu5 = F.relu(model.conv5.bn(model.conv5.conv(relu4)))
    fused = (conv3.data + relu3.data + relu5.data) / 3
    np.testing.assert_allclose(model.features(x)["fused"].data, fused, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x).race.data, model.race_branch(mfa.tensor(fused)).data,
                               rtol=1e-5, atol=1e-6)


def model_stem(model, x):
    """The input of conv3, computed by hand from the stem's layers."""
    x = F.max_pool2d(F.relu(model.conv1.bn(model.conv1.conv(x))), 3, 2)
    return F.max_pool2d(F.relu(model.conv2.bn(model.conv2.conv(x))), 3, 2, ceil_mode=True)


def test_gender_reads_relu3_and_concat_stacks_three_maps():
    model = HMTNet(TINY, "concat").eval()
    x = images(2, 48)
    maps = model.features(x)
    np.testing.assert_allclose(model(x).gender.data, model.gender_branch(maps["relu3"]).data)
    assert maps["fused"].shape[1] == 3 * 5
    np.testing.assert_array_equal(maps["fused"].data[:, :5], maps["conv3"].data)
    np.testing.assert_array_equal(maps["fused"].data[:, 10:], maps["relu5"].data)


@pytest.mark.parametrize("task", TASKS)
def test_single_task_networks_have_one_head_and_only_the_trunk_they_need(task):
    model = single_task_net(task, TINY)
    out = model(images(2, 48))
    assert [name for name in TASKS if getattr(out, name) is not None] == [task]
    assert hasattr(model, "conv5") == (task != "gender")
    loss = HMTLoss()(out, targets(2))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert set(HMTMetrics().update(out, targets(2)).compute()) == (
        {"mae", "rmse", "pc"} if task == "score" else {f"acc_{task}"})


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_gradients_random_direction_float64(aggregator):
    mfa.manual_seed(0)
    model = HMTNet(TINY, aggregator).to(np.float64)
    params = list(model.parameters())
    x = images(2, 48, dtype=np.float64)
    x.requires_grad = True

    def outputs(x, *params):
        out = model(x)
        return F.concat([out.gender.reshape(-1), out.race.reshape(-1), out.score], axis=0)

    for seed in range(3):
        assert mfa.gradcheck(outputs, [x, *params], seed=seed, atol=1e-6, rtol=1e-4)


def test_loss_is_eq6_with_weights_1_1_2():
    out = HMTNet(TINY)(images(4, 48))
    t = targets(4)
    g, r, s = (getattr(out, k).data.astype(np.float64) for k in TASKS)

    def ce(logits, y):
        z = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    d = np.abs(s - t["score"])
    huber = np.where(d <= 0.6, np.log(np.cosh(d)), d).mean()
    expected = ce(g, t["gender"]) + ce(r, t["race"]) + 2 * huber
    assert float(HMTLoss()(out, t).data) == pytest.approx(expected, rel=1e-5)
    mse = float(HMTLoss(score="mse")(out, t).data)
    assert mse == pytest.approx(ce(g, t["gender"]) + ce(r, t["race"]) + 2 * np.mean(d ** 2),
                                rel=1e-5)
    with pytest.raises(ValueError, match="score loss"):
        HMTLoss(score="huber")


def test_metrics_have_the_papers_five_keys():
    out = HMTOutput(mfa.tensor(np.array([[2.0, 0.0], [0.0, 1.0]])),
                    mfa.tensor(np.array([[0.0, 1.0], [0.0, 1.0]])),
                    mfa.tensor(np.array([3.0, 4.0])))
    m = HMTMetrics().update(out, {"gender": np.array([0, 0]), "race": np.array([1, 0]),
                                  "score": np.array([3.5, 4.5])}).compute()
    assert m == pytest.approx({"mae": 0.5, "rmse": 0.5, "pc": 1.0,
                               "acc_race": 0.5, "acc_gender": 0.5})


def train_steps(model, loss_fn, x, t, steps=15):
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("aggregator,score",
                         [("avg", s) for s in SCORE_LOSSES] + [("concat", "smooth_huber")])
def test_it_learns_a_tiny_batch(aggregator, score):
    mfa.manual_seed(0)
    model, loss_fn = HMTNet(TINY, aggregator), HMTLoss(score=score)
    x, t = images(8, TINY.image_size), targets(8)
    before = {k: float(v.data) for k, v in loss_fn.parts(model(x), t).items()}
    train_steps(model, loss_fn, x, t)
    after = {k: float(v.data) for k, v in loss_fn.parts(model(x), t).items()}
    for task in TASKS:                             # every task's term, not just the total
        assert np.isfinite(after[task]) and after[task] < 0.6 * before[task], (before, after)
