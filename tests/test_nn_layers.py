"""Layers as modules: batch norm bookkeeping, and each layer against torch.nn's twin."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import nn


def test_batch_norm_running_statistics_by_hand(rng):
    """momentum 0.1: running ← 0.9 · running + 0.1 · batch value (unbiased variance)."""
    bn = nn.BatchNorm2d(3).double()
    x = rng.standard_normal((4, 3, 5, 2))
    bn(mfa.tensor(x))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var, rtol=1e-12)
    assert bn.num_batches_tracked == 1
    y = bn.eval()(mfa.tensor(x)).data
    np.testing.assert_allclose(y, (x - bn.running_mean[:, None, None])
                               / np.sqrt(bn.running_var[:, None, None] + 1e-5))
    assert bn.num_batches_tracked == 1


def test_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match="4-d"):
        nn.BatchNorm2d(3)(mfa.tensor(np.zeros((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="got 4 channels"):
        nn.BatchNorm1d(3)(mfa.tensor(np.zeros((2, 4), dtype=np.float32)))


def test_conv_module_shapes_and_repr(rng):
    conv = nn.Conv2d(3, 5, kernel_size=(3, 1), stride=2, padding=1)
    assert conv.weight.shape == (5, 3, 3, 1) and conv.bias.shape == (5,)
    assert repr(conv) == "Conv2d(3, 5, kernel_size=(3, 1), stride=(2, 2), padding=(1, 1))"
    x = mfa.tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32))
    assert conv(x).shape == (2, 5, 4, 4)
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(9)


def test_pooling_modules(rng):
    x = mfa.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    assert nn.MaxPool2d(3, 2, 1)(x).shape == (2, 3, 4, 4)
    assert nn.AvgPool2d(2)(x).shape == (2, 3, 4, 4)
    pooled = nn.AdaptiveAvgPool2d(1)(x)
    assert pooled.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(pooled.data[:, :, 0, 0], x.data.mean(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(2)(x).data,
                               x.data.reshape(2, 3, 2, 4, 2, 4).mean(axis=(3, 5)), rtol=1e-5)
    with pytest.raises(ValueError, match="must divide"):
        nn.AdaptiveAvgPool2d(3)(x)


@pytest.mark.torch
@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 4, 3, stride=2, padding=1),
    lambda m: m.Conv2d(3, 2, (1, 3), bias=False),
    lambda m: m.Linear(6, 4),
    lambda m: m.BatchNorm2d(3),
    lambda m: m.BatchNorm1d(3, momentum=None),
    lambda m: m.MaxPool2d(3, 2, 1),
    lambda m: m.AvgPool2d(2),
    lambda m: m.AdaptiveAvgPool2d((1, 1)),
])
def test_layer_matches_torch(rng, make):
    torch = pytest.importorskip("torch")
    ours, theirs = make(nn).double(), make(torch.nn).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    shape = (4, 6) if isinstance(ours, nn.Linear) else (3, 3, 9, 7)
    shape = (5, 3) if isinstance(ours, nn.BatchNorm1d) else shape
    for _ in range(2):  # twice, so that running statistics are compared after two updates
        x = rng.standard_normal(shape)
        ours.zero_grad()
        theirs.zero_grad()
        xt, xo = torch.tensor(x, requires_grad=True), mfa.tensor(x, requires_grad=True)
        y, yt = ours(xo), theirs(xt)
        v = rng.standard_normal(yt.shape)
        (y * mfa.tensor(v)).sum().backward()
        (yt * torch.from_numpy(v)).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-10, atol=1e-12)
