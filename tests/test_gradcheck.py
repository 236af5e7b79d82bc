"""The gradient checker itself: it must catch a wrong backward."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr.autograd import Function
from minifaceattr.gradcheck import GradcheckError


class WrongSquare(Function):
    """y = x², with a backward that forgets the factor 2."""
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x


def test_wrong_backward_is_caught_element_by_element(rng):
    x = mfa.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 .* at index"):
        mfa.gradcheck(lambda a: WrongSquare()(a), [x])


def test_wrong_backward_is_caught_along_a_random_direction(rng):
    x = mfa.tensor(rng.standard_normal((70, 70)), requires_grad=True)
    with pytest.raises(GradcheckError, match="random direction"):
        mfa.gradcheck(lambda a: WrongSquare()(a), [x], max_elements=100)


def test_right_backward_passes_both_ways(rng):
    x = mfa.tensor(rng.standard_normal((70, 70)), requires_grad=True)
    assert mfa.gradcheck(lambda a: a * a, [x], max_elements=100)
    small = mfa.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert mfa.gradcheck(lambda a: a * a, [small])


def test_float32_is_refused():
    x = mfa.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        mfa.gradcheck(lambda a: a * a, [x])


def test_inputs_are_restored(rng):
    data = rng.standard_normal(5)
    x = mfa.tensor(data.copy(), requires_grad=True)
    mfa.gradcheck(lambda a: a.exp(), [x])
    np.testing.assert_array_equal(x.data, data)
