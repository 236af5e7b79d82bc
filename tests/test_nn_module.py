"""Module, Parameter, containers and initialisers (no convolution needed)."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import nn


class Scale(nn.Module):
    """A module with one parameter and one buffer, to see how both are registered."""

    def __init__(self, n):
        super().__init__()
        self.gain = nn.Parameter(np.ones(n, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), dtype=np.int64))
        self.register_buffer("offset", np.zeros(n, dtype=np.float32))

    def forward(self, x):
        return x * self.gain + self.offset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.scale = Scale(3)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(3, 2, bias=False))

    def forward(self, x):
        return self.head(self.scale(self.fc1(x)))


def test_registration_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "scale.gain",
                                                      "head.1.weight"]
    assert [n for n, _ in net.named_buffers()] == ["scale.calls", "scale.offset"]
    assert [n for n, _ in net.named_children()] == ["fc1", "scale", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "scale", "head", "head.0", "head.1"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert list(net.state_dict()) == ["fc1.weight", "fc1.bias", "scale.gain", "scale.calls",
                                      "scale.offset", "head.1.weight"]


def test_shared_parameter_counted_once():
    a = nn.Linear(3, 3)
    net = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(net.parameters())) == 2


def test_assignment_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_state_dict_round_trip(rng):
    mfa.manual_seed(1)
    a = Net()
    mfa.manual_seed(2)
    b = Net()
    x = mfa.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    assert not np.allclose(a(x).data, b(x).data)
    state = a.state_dict()
    state["scale.offset"][:] = 7  # a copy: changing it must not change the model
    assert np.all(a.scale.offset == 0)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert all(isinstance(v, np.ndarray) for v in b.state_dict().values())


def test_strict_load_lists_every_bad_key():
    net = Net()
    state = net.state_dict()
    del state["fc1.bias"]
    state["extra.weight"] = np.zeros(3)
    state["head.1.weight"] = np.zeros((5, 3))
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: fc1.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "head.1.weight: expected (2, 3), got (5, 3)" in message


def test_non_strict_load_reports_missing_and_unexpected():
    net = Net()
    state = net.state_dict()
    state["fc1.weight"] = np.full((3, 4), 0.5)
    del state["fc1.bias"]
    state["extra"] = np.zeros(1)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert (missing, unexpected) == (["fc1.bias"], ["extra"])
    assert net.fc1.weight.dtype == np.float32 and np.all(net.fc1.weight.data == 0.5)


def test_to_dtype_keeps_parameters_and_integer_buffers():
    net = Net()
    weight = net.fc1.weight
    net.double()
    assert net.fc1.weight is weight and weight.dtype == np.float64
    assert net.scale.offset.dtype == np.float64
    assert net.scale.calls.dtype == np.int64
    with pytest.raises(TypeError):
        net.to(np.int32)


def test_train_eval_and_zero_grad(rng):
    net = Net()
    assert net.training and net.head[0].training
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(mfa.tensor(rng.standard_normal((2, 4)).astype(np.float32))).sum().backward()
    assert net.fc1.weight.grad.shape == (3, 4)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_repr_reads_like_pytorch():
    text = repr(Net())
    assert "(fc1): Linear(in_features=4, out_features=3, bias=True)" in text
    assert ("(head): Sequential(\n    (0): ReLU()\n"
            "    (1): Linear(in_features=3, out_features=2, bias=False)") in text


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(seq[1:]) == 2
    items = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.items = items
    assert [n for n, _ in holder.named_parameters()][:2] == ["items.0.weight", "items.0.bias"]
    assert len(list(holder.parameters())) == 6 and len(items) == 3


def test_manual_seed_makes_models_repeatable():
    mfa.manual_seed(3)
    a = nn.Linear(5, 4).state_dict()
    mfa.manual_seed(3)
    b = nn.Linear(5, 4).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_linear_default_init_bounds():
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound  # uses the whole range


def test_kaiming_normal_fan_out_std():
    w = nn.Parameter(np.empty((64, 32, 3, 3), dtype=np.float64))
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    expected = np.sqrt(2.0 / (64 * 9))
    assert abs(w.data.std() / expected - 1) < 0.03 and abs(w.data.mean()) < 0.05 * expected


def test_linear_module_gradients(rng):
    layer = nn.Linear(3, 2).double()
    x = mfa.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert mfa.gradcheck(lambda x, w, b: mfa.functional.linear(x, w, b),
                         [x, layer.weight, layer.bias])
    layer.zero_grad()
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.bias.grad, [4.0, 4.0])


def test_dropout_identity_flatten(rng):
    x = mfa.tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    drop = nn.Dropout(0.5)
    y = drop(x).data
    assert np.any(y == 0) and np.allclose(y[y != 0], 2 * x.data[y != 0])
    assert drop.eval()(x) is x
    assert nn.Identity()(x) is x
    assert nn.Flatten()(x).shape == (2, 60)


def test_batch_norm_buffers_follow_pytorch_names():
    bn = nn.BatchNorm2d(3)
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    tracked = state["num_batches_tracked"]
    assert tracked.shape == () and tracked.dtype == np.int64
    np.testing.assert_array_equal(state["running_var"], np.ones(3))
