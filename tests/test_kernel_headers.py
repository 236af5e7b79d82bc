"""Each kernel's header comment states the formula it computes in the words of its NumPy
twin's docstring, so the two cannot drift apart (as loss.cu's "log cosh 0.6 = 0.168" once
did: it is 0.1701)."""
import inspect
import re

import pytest

from minifaceattr.functional import activation as A
from minifaceattr.functional import loss as L
from minifaceattr.kernels import kernel_source

# (family, kernel): (twin, which part of the twin's formula the header must contain)
TWINS = {
    ("activation", "relu_forward"): (A.ReLU, "all"),
    ("activation", "relu_backward"): (A.ReLU, "dx"),
    ("activation", "sigmoid_forward"): (A.Sigmoid, "all"),
    ("activation", "sigmoid_backward"): (A.Sigmoid, "dx"),
    ("activation", "tanh_forward"): (A.Tanh, "all"),
    ("activation", "tanh_backward"): (A.Tanh, "dx"),
    ("loss", "bce_with_logits_forward"): (L.BCEWithLogits, "all"),
    ("loss", "cross_entropy_forward"): (L.CrossEntropy, "all"),
    ("loss", "mse_loss_forward"): (L.MSELoss, "all"),
    ("loss", "l1_loss_forward"): (L.L1Loss, "all"),
    ("loss", "smooth_l1_loss_forward"): (L.SmoothL1Loss, "all"),
    ("loss", "smooth_huber_loss_forward"): (L.SmoothHuberLoss, "all"),
}


def words(text):
    return " ".join(text.replace("``", "").split())


def header(family, kernel):
    """The comment lines right above ``extern "C" __global__ void <kernel>(``, as one line."""
    lines = kernel_source(family).splitlines()
    start = next(i for i, line in enumerate(lines)
                 if re.match(rf'extern "C" __global__ void {kernel}\(', line))
    comment = []
    for line in reversed(lines[:start]):
        if not line.startswith("//"):
            break
        comment.insert(0, line[2:])
    return words(" ".join(comment))


def formula(twin, part):
    """The first paragraph of the twin's docstring; "dx": what follows its ';'."""
    first = words(inspect.getdoc(twin).split("\n\n")[0])
    return first if part == "all" else first.split(";", 1)[1].strip().rstrip(".")


@pytest.mark.parametrize("family, kernel", list(TWINS), ids=[k for _, k in TWINS])
def test_kernel_header_states_its_twins_formula(family, kernel):
    twin, part = TWINS[family, kernel]
    text = header(family, kernel)
    expected = formula(twin, part)
    assert expected in text, (f"{family}.cu, {kernel}: its header should contain "
                              f"{twin.__name__}'s formula\n  {expected}\nbut reads\n  {text}")


def test_every_loss_and_activation_kernel_has_a_twin():
    for family in ("activation", "loss"):
        kernels = re.findall(r'extern "C" __global__ void (\w+)\(', kernel_source(family))
        assert {(family, k) for k in kernels} <= set(TWINS), family
