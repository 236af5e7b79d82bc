"""The operator table: each row is (shapes, our op, PyTorch's), checked by ``check_op`` on every
backend against PyTorch (or the NumPy path without it) and by a float64 gradient check.
Element-wise activations run their CUDA kernels on the emu and cuda backends."""
import op_table
import pytest
from op_table import NUMPY, check_op, tF, torch

import minifaceattr.functional as F
from minifaceattr.autograd import Function

SHAPES = [(1,), (3, 5), (1, 2, 7)]
POSITIVE = dict(low=0.5, high=3.0)

# name: (our op, PyTorch's, how inputs are drawn)
UNARY = {
    "neg": (F.neg, lambda x: -x, {}),
    "exp": (F.exp, lambda x: torch.exp(x), {}),
    "log": (F.log, lambda x: torch.log(x), POSITIVE),
    "sqrt": (F.sqrt, lambda x: torch.sqrt(x), POSITIVE),
    "abs": (F.abs, lambda x: torch.abs(x), {}),
    "relu": (F.relu, lambda x: torch.relu(x), {}),
    "sigmoid": (F.sigmoid, lambda x: torch.sigmoid(x), {}),
    "tanh": (F.tanh, lambda x: torch.tanh(x), {}),
    "pow2": (lambda x: F.pow(x, 2), lambda x: x ** 2, {}),
    "pow3.5": (lambda x: F.pow(x, 3.5), lambda x: x ** 3.5, POSITIVE),
    "pow-1": (lambda x: x ** -1, lambda x: x ** -1, POSITIVE),
}

BINARY = {
    "add": (F.add, lambda a, b: a + b),
    "sub": (F.sub, lambda a, b: a - b),
    "mul": (F.mul, lambda a, b: a * b),
    "div": (F.div, lambda a, b: a / b),
}
# Broadcasting both ways: (1, 3) with (2, 1) and (5, 1, 3) with (3,); a 0-d operand.
BINARY_SHAPES = [((1, 3), (2, 1)), ((5, 1, 3), (3,)), ((1,), (1,)), ((2, 3), ())]

MATMUL_SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 1)), ((4,), (4, 3)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((3,), (3,)), ((2, 3, 4), (4,))]


# axis, keepdims: the reductions' awkward cases, on a (3, 1, 5) input.
AXES = [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)]
REDUCE = {
    "sum": (F.sum, lambda x, axis, keep: x.sum() if axis is None else x.sum(axis, keep)),
    "mean": (F.mean, lambda x, axis, keep: x.mean() if axis is None else x.mean(axis, keep)),
    "max": (F.max, lambda x, axis, keep: x.amax() if axis is None else x.amax(axis, keep)),
}

SHAPE_OPS = {  # name: (input shape, ours, PyTorch's)
    "reshape": ((2, 5, 3), lambda x: F.reshape(x, 5, -1) * 2, lambda x: x.reshape(5, -1) * 2),
    "transpose": ((2, 1, 3), lambda x: F.transpose(x), lambda x: x.permute(2, 1, 0)),
    "permute": ((2, 1, 3), lambda x: F.permute(x, 2, 0, 1), lambda x: x.permute(2, 0, 1)),
    "broadcast_to": ((2, 1), lambda x: F.broadcast_to(x, (4, 2, 3)),
                     lambda x: x.broadcast_to((4, 2, 3))),
    "flatten": ((2, 3, 1, 2), lambda x: F.flatten(x, 1), lambda x: x.flatten(1)),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary(backend, name, shape):
    ours, theirs, drawn = UNARY[name]
    check_op(backend, [shape], ours, theirs, **drawn)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BINARY_SHAPES)
def test_binary(backend, name, shapes):
    """Divisors are drawn away from zero: every input in [0.5, 3)."""
    check_op(backend, shapes, *BINARY[name], **(POSITIVE if name == "div" else {}))


@pytest.mark.parametrize("name", REDUCE)
@pytest.mark.parametrize("axis, keepdims", AXES)
def test_reduction(backend, name, axis, keepdims):
    ours, theirs = REDUCE[name]
    check_op(backend, [(3, 1, 5)], lambda x: ours(x, axis, keepdims),
             lambda x: theirs(x, axis, keepdims))


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_op(backend, name):
    shape, ours, theirs = SHAPE_OPS[name]
    check_op(backend, [shape], ours, theirs)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("pair", ["softmax", "log_softmax"])
def test_softmax_family(backend, pair, axis):
    ours, theirs = getattr(F, pair), getattr(tF, pair, None)
    check_op(backend, [(3, 1, 4)], lambda x: ours(x, axis), lambda x: theirs(x, axis))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("join", ["concat", "stack"])
def test_concat_and_stack(backend, join, axis):
    ours, theirs = getattr(F, join), {"concat": "cat", "stack": "stack"}[join]
    check_op(backend, [(2, 3)] * 3, lambda *xs: ours(xs, axis),
             lambda *xs: getattr(torch, theirs)(xs, axis))


def test_concat_of_different_widths(backend):
    check_op(backend, [(2, 3), (2, 1)], lambda a, b: F.concat([a, b], axis=1),
             lambda a, b: torch.cat([a, b], 1))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul(backend, shapes):
    check_op(backend, shapes, F.matmul, lambda a, b: a @ b)


@pytest.mark.parametrize("x_shape", [(1, 4), (5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(backend, x_shape, bias):
    shapes = [x_shape, (3, 4)] + ([(3,)] if bias else [])
    check_op(backend, shapes, F.linear, tF and tF.linear)


class HalfGradientSquare(Function):
    """y = x², with a backward that is wrong by a factor of two: the table must say so."""
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x


@pytest.mark.parametrize("reference", [lambda x: x * x, None])
def test_check_op_catches_a_wrong_backward(reference):
    """Against PyTorch (or, without it or a reference, through the gradient check)."""
    with pytest.raises(AssertionError, match="gradient|gradcheck|input 0"):
        check_op(NUMPY, [(3, 2)], lambda x: HalfGradientSquare()(x), reference)


def test_check_op_without_torch_compares_with_the_numpy_path(backend, monkeypatch):
    monkeypatch.setattr(op_table, "torch", None)
    assert check_op(backend, [(2, 3)], F.tanh, lambda x: torch.tanh(x)) == "numpy"
