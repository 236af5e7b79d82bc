"""The first operator families, beyond the operator table (tests/test_ops_table.py): argument
aliases, ties, indexing, stability at extreme inputs, dropout's masks."""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F


def T(rng, *shape, positive=False):
    a = rng.standard_normal(shape)
    return mfa.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=True)


# Element-wise, binary, matmul, linear, reductions, shape ops, concat and stack, softmax and
# log_softmax are rows of tests/test_ops_table.py, against PyTorch and on every backend.

def test_reduction_aliases_match_numpy(rng):
    x = T(rng, 2, 3, 4)
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).data, x.data.sum(1, keepdims=True))
    np.testing.assert_allclose(x.sum(1, True).data, x.data.sum(1, keepdims=True))
    np.testing.assert_allclose(x.mean((0, 2)).data, x.data.mean((0, 2)))
    np.testing.assert_allclose(x.max(-1).data, x.data.max(-1))


def test_max_shares_gradient_among_ties():
    x = mfa.tensor(np.array([[1.0, 3.0, 3.0]]), requires_grad=True)
    F.max(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5]])


@pytest.mark.parametrize("index", [(slice(1, None), 0), (np.array([0, 2, 2, 1]),),
                                   (Ellipsis, slice(None, None, 2)), 1,
                                   (np.array([[0, 1], [1, 1]]), np.array([2, 0]))])
def test_getitem(rng, index):
    assert mfa.gradcheck(lambda x: x[index], [T(rng, 3, 4)])


def test_getitem_repeated_index_accumulates():
    x = mfa.tensor(np.zeros(3), requires_grad=True)
    x[np.array([1, 1, 2])].sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 2.0, 1.0])


def test_softmax_stable_for_large_inputs():
    x = mfa.tensor(np.array([[1000.0, 0.0, -1000.0], [-800.0, -800.0, -801.0]]))
    y = F.softmax(x, axis=1).data
    ly = F.log_softmax(x, axis=1).data
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
    np.testing.assert_allclose(y.sum(1), 1.0)
    np.testing.assert_allclose(ly[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(np.exp(ly), y, rtol=1e-12)


def test_sigmoid_stable_and_correct():
    x = mfa.tensor(np.array([-1000.0, -30.0, 0.0, 2.0, 1000.0]))
    y = F.sigmoid(x).data
    assert y[0] == 0.0 and y[-1] == 1.0
    np.testing.assert_allclose(y[1:4], 1 / (1 + np.exp(-x.data[1:4])), rtol=1e-13)


def test_dropout_train_and_eval(rng):
    x = mfa.tensor(np.ones((200, 50)), requires_grad=True)
    assert F.dropout(x, 0.3, training=False) is x
    mfa.manual_seed(0)
    y = F.dropout(x, 0.3)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)

    def same_mask_every_call(a):
        mfa.manual_seed(1)
        return F.dropout(a, 0.5)
    assert mfa.gradcheck(same_mask_every_call, [T(rng, 3, 4)])
