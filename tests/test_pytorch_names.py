"""PyTorch's names carry over: Tensor methods, element-wise ==, constructors, no_grad,
nn.functional, the loss and container modules, padding="same", adaptive pooling."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.nn.functional as F
from minifaceattr import nn


def test_size_numel_dim():
    x = mfa.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3 and x.dtype == np.float32


def test_eq_is_element_wise_and_tensors_stay_hashable():
    pred, y = mfa.tensor([1, 0, 1, 1]), mfa.tensor([1, 1, 1, 0])
    same = pred == y
    assert same.dtype == np.bool_
    np.testing.assert_array_equal(same.numpy(), [True, False, True, False])
    assert (pred != y).numpy().tolist() == [False, True, False, True]
    assert (pred == y).float().mean().item() == 0.5
    a, b = mfa.zeros(2), mfa.zeros(2)
    assert len({a, b}) == 2 and {a: 1}[a] == 1    # hashed by identity, as in PyTorch
    assert a in [a, b] and (a == None) is False   # noqa: E711 (the point of the test)
    with pytest.raises(RuntimeError, match="ambiguous"):
        a in [b, a]  # noqa: B015 (as in PyTorch: `in` on a list compares b == a first)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(a == b)
    assert bool(mfa.tensor(3.0) == 3.0)


def test_double_and_float_return_self_when_the_dtype_matches():
    x = mfa.tensor(np.ones(3), requires_grad=True)
    assert x.double() is x and x.float() is not x and x.float().float() is not x
    y = x.float()
    assert y.float() is y and y.dtype == np.float32


def test_gradcheck_refuses_a_non_leaf_or_an_input_without_grad():
    x = mfa.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="not a leaf.*requires_grad_"):
        mfa.gradcheck(lambda a: a * a, [x.double()])
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        mfa.gradcheck(lambda a: a * a, [np.ones(3)])
    assert mfa.gradcheck(lambda a: a * a, [x.detach().double().requires_grad_()])


def test_tensor_methods(rng):
    x = mfa.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    c = x.clone()
    assert c is not x and not c.is_leaf and np.array_equal(c.numpy(), x.numpy())
    assert x.cpu() is x and x.unsqueeze(1).shape == (2, 1, 3) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert x.unsqueeze(0).squeeze().shape == (2, 3) and x.unsqueeze(0).squeeze(1).shape == (1, 2, 3)
    np.testing.assert_array_equal(x.argmax(1).numpy(), x.numpy().argmax(1))
    assert x.argmax(dim=1, keepdim=True).shape == (2, 1)
    assert mfa.gradcheck(lambda a: a.clone().unsqueeze(1).squeeze(1) * a, [x])
    t = mfa.zeros(3).requires_grad_()
    assert t.requires_grad and not mfa.arange(3).requires_grad
    with pytest.raises(TypeError, match="floating-point"):
        mfa.arange(3).requires_grad_()


def test_constructors():
    mfa.manual_seed(0)
    a = mfa.randn(2, 3)
    mfa.manual_seed(0)
    np.testing.assert_array_equal(mfa.randn((2, 3)).numpy(), a.numpy())
    assert mfa.ones(2, dtype=np.float64).dtype == np.float64 and mfa.full((2,), 7.0).numpy()[1] == 7
    r = mfa.rand(100)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    assert mfa.arange(4).numpy().tolist() == [0, 1, 2, 3] and mfa.arange(4).dtype == np.int64
    assert mfa.arange(0, 1, 0.25).dtype == np.float32
    array = np.zeros(3)
    t = mfa.from_numpy(array)
    array[0] = 5
    assert t.numpy()[0] == 5 and t.dtype == np.float64


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_are_differentiable(backend, rng, dim):
    a = backend.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = backend.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert mfa.gradcheck(lambda p, q: mfa.cat([p, q * q], dim=dim), [a, b])
    assert mfa.gradcheck(lambda p, q: mfa.stack([p, q * q], dim=dim), [a, b])
    assert mfa.cat([a, b], dim).shape == np.concatenate([a.numpy(), b.numpy()], dim).shape


def test_no_grad_and_set_grad_enabled():
    x = mfa.ones(2, requires_grad=True)
    with mfa.no_grad:
        assert not (x * 2).requires_grad
        with mfa.no_grad():
            assert not mfa.is_grad_enabled()
        assert not mfa.is_grad_enabled()
    assert (x * 2).requires_grad

    @mfa.no_grad
    def double(t):
        return t * 2
    assert not double(x).requires_grad and mfa.is_grad_enabled()
    with mfa.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mfa.is_grad_enabled()
    mfa.set_grad_enabled(False)
    assert not mfa.is_grad_enabled()
    mfa.set_grad_enabled(True)


def test_nn_functional_is_functional():
    import minifaceattr.functional
    assert F is minifaceattr.functional and nn.functional is F and F.cat is F.concat


def test_loss_modules_equal_the_functions(rng):
    logits = mfa.tensor(rng.standard_normal((4, 3)))
    t = mfa.tensor((rng.random((4, 3)) > 0.5).astype(np.float64))
    w = np.array([1.0, 2.0, 3.0])
    assert nn.BCEWithLogitsLoss(pos_weight=w)(logits, t).item() == \
        F.binary_cross_entropy_with_logits(logits, t, pos_weight=w).item()
    labels = np.array([0, 2, 1, 1])
    assert nn.CrossEntropyLoss()(logits, labels).item() == F.cross_entropy(logits, labels).item()
    assert nn.MSELoss(reduction="sum")(logits, t).item() == F.mse_loss(logits, t, "sum").item()
    assert nn.L1Loss()(logits, t).item() == F.l1_loss(logits, t).item()
    assert nn.SmoothL1Loss(beta=0.5)(logits, t).item() == \
        F.smooth_l1_loss(logits, t, beta=0.5).item()
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    np.testing.assert_array_equal(nn.Sigmoid()(logits).numpy(), F.sigmoid(logits).numpy())


def test_module_dict_and_parameter_list():
    heads = nn.ModuleDict({"race": nn.Linear(4, 2), "score": nn.Linear(4, 1)})
    heads["gender"] = nn.Linear(4, 2)
    assert list(heads) == ["race", "score", "gender"] and "race" in heads and len(heads) == 3
    assert list(heads.state_dict()) == ["race.weight", "race.bias", "score.weight", "score.bias",
                                        "gender.weight", "gender.bias"]
    plist = nn.ParameterList([nn.Parameter(np.ones(2)), nn.Parameter(np.zeros(3))])
    assert len(plist) == 2 and plist[1].shape == (3,)
    assert [name for name, _ in plist.named_parameters()] == ["0", "1"]
    with pytest.raises(TypeError, match="Parameters"):
        plist.append(np.ones(2))
    model = nn.Sequential(nn.Linear(2, 2))
    assert model.cpu() is model


def test_conv2d_padding_same_keeps_the_size():
    x = mfa.randn(1, 3, 7, 6)
    conv = nn.Conv2d(3, 4, 5, padding="same")
    assert conv.padding == (2, 2) and conv(x).shape == (1, 4, 7, 6)
    assert nn.Conv2d(3, 4, 3, padding="same", dilation=2).padding == (2, 2)
    assert nn.Conv2d(3, 4, 3, padding="valid").padding == (0, 0)
    with pytest.raises(ValueError, match="odd kernel"):
        nn.Conv2d(3, 4, 4, padding="same")
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        nn.Conv2d(3, 4, 3, padding="full")


def test_adaptive_avg_pool2d(backend, rng):
    x = backend.tensor(rng.standard_normal((2, 3, 6, 4)), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, (3, 2))
    expected = backend.numpy(x.data).reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(backend.numpy(y.data), expected, rtol=1e-12)
    assert F.adaptive_avg_pool2d(x, 1).shape == (2, 3, 1, 1)
    assert F.adaptive_avg_pool2d(x, (None, 1)).shape == (2, 3, 6, 1)
    assert mfa.gradcheck(lambda a: F.adaptive_avg_pool2d(a, (2, 2)), [x])
    with pytest.raises(ValueError, match="must divide"):
        F.adaptive_avg_pool2d(x, 4)


def test_dataloader_accepts_num_workers():
    from minifaceattr.data import DataLoader
    assert DataLoader(list(range(4)), 2, num_workers=2).workers == 2
    with pytest.raises(ValueError, match="disagree"):
        DataLoader(list(range(4)), 2, workers=1, num_workers=2)


def test_min_long_bool_tolist_and_create_graph_refused(rng):
    x = mfa.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    np.testing.assert_array_equal(x.min(axis=1).numpy(), x.numpy().min(axis=1))
    assert mfa.gradcheck(lambda a: a.min(dim=0), [x])
    assert x.long().dtype == np.int64 and (x > 0).bool().dtype == np.bool_
    assert mfa.tensor([1, 2]).tolist() == [1, 2]
    with pytest.raises(NotImplementedError, match="left out by design"):
        x.sum().backward(create_graph=True)
