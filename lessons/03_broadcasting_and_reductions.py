"""Lesson 3 - Broadcasting and reductions, and their gradients

Run it:   python lessons/03_broadcasting_and_reductions.py   (about 40 minutes with the exercises)
Needs:    lessons 1 and 2; NumPy broadcasting as a user.

The idea
--------
Adding a bias b of shape (3,) to a batch x of shape (2, 3) works because NumPy *broadcasts*:
it lines the shapes up from the right, and stretches any axis of size 1 (or missing on the
left) to match:

    x      (2, 3)            x      (2, 3, 4)
    b         (3,)           b         (3, 1)
    x + b  (2, 3)            x * b  (2, 3, 4)

Broadcasting copies, so its gradient sums. Broadcast b to B with B[i, j] = b[j]: each b[j]
is used once per row, and lesson 1 says the shares of a value used several times add up:

    ∂L/∂b[j] = Σ_i ∂L/∂B[i, j]

The engine does this for every Function: a backward may return a gradient shaped like the
(broadcast) output, and ``sum_to(g, x.shape)`` in autograd.py sums it down to the input's
shape, over the leading axes broadcasting added and over the axes it stretched from 1.

Reductions run the other way. Summing forward means copying backward: for y = Σ_j x[j],
∂y/∂x[j] = 1, so every x[j] receives the whole of gy. Mean copies gy / n; max sends gy to
the position of the maximum (split evenly between ties) and 0 elsewhere.

keepdims
--------
``x.sum(axis=1, keepdims=True)`` keeps the summed axis with size 1: (N, C) -> (N, 1) rather
than (N,). The kept axis lines the result up with x again, so ``x - x.mean(axis=1,
keepdims=True)`` subtracts each row's mean from its row. Without keepdims, the (N,) result
lines up with x's *last* axis: an error, or for a square x, silently the wrong numbers.
A reduction's backward has the same problem in reverse: gy arrives with the reduced axis gone
and must get it back (as size 1) before it can be broadcast over x.

What to watch for
-----------------
- Every gradient has exactly the shape of the tensor it belongs to.
- Square test inputs hide broadcasting bugs: use sizes that all differ (2, 3, 4).
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.autograd import sum_to


def main(quick=False):
    section_1_the_rules()
    section_2_broadcast_backward_is_a_sum()
    section_3_sum_to_step_by_step()
    section_4_reductions()
    section_5_keepdims()
    section_6_gradcheck_the_shapes()


def section_1_the_rules():
    course.section("1. Broadcasting: line up from the right, stretch the 1s")
    for a, b in [((2, 3), (3,)), ((2, 3, 4), (3, 1)), ((5, 1), (1, 4)), ((8, 1, 6, 1), (7, 1, 5)),
                 ((2, 3), (2,))]:
        try:
            result = str(np.broadcast_shapes(a, b))
        except ValueError:
            result = "error: 3 and 2 differ and neither is 1"
        print(f"  {str(a):>14} with {str(b):>10}  ->  {result}")


def section_2_broadcast_backward_is_a_sum():
    course.section("2. The gradient of a broadcast is a sum")
    x = mfa.tensor(np.zeros((2, 3)), requires_grad=True)
    b = mfa.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = mfa.tensor(np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]))
    L = ((x + b) * w).sum()   # dL/d(x + b) = w, so w is the gradient that reaches the Add
    L.backward()
    print("y = x + b with x of shape (2, 3), b of shape (3,);  L = sum(y * w), so dL/dy = w:")
    course.show("  w", w.data)
    course.show("  x.grad", x.grad)
    print("  (x is not broadcast: its gradient is w itself)")
    course.show("  b.grad", b.grad)
    print("  (b[j] was copied into both rows: its gradient is column j of w, summed)")
    course.confirm(np.array_equal(b.grad, w.data.sum(axis=0)),
                   "b.grad is w summed over the broadcast axis")
    print("The Add's backward returned w (shape (2, 3)) for both inputs; the engine then called")
    print(f"sum_to(w, (3,)) = {sum_to(w.data, (3,))} to bring b's share down to b's shape.")


def section_3_sum_to_step_by_step():
    course.section("3. sum_to, step by step")
    rng = np.random.default_rng(0)
    x = mfa.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = mfa.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    (x * b).sum().backward()   # dL/d(x * b) = 1 everywhere, so b's share is x, shape (2, 3, 4)
    g = x.data                 # the gradient that reaches b, before sum_to
    print(f"y = x * b with x {x.shape}, b {b.shape};  L = y.sum().  "
          f"b's share arrives as x, shape {g.shape}")
    step1 = g.sum(axis=0)
    print("  sum over the leading axis broadcasting added:   "
          f"g.sum(axis=0)                -> {step1.shape}")
    step2 = step1.sum(axis=1, keepdims=True)
    print("  sum over the axis stretched from 1 (keep it):   "
          f".sum(axis=1, keepdims=True)  -> {step2.shape}")
    print("b.grad from the engine:", np.array2string(b.grad.ravel(), precision=6), "  by hand:",
          np.array2string(step2.ravel(), precision=6))
    course.confirm(b.grad.shape == b.shape and np.allclose(b.grad, step2),
                   "the engine's b.grad is the same sum, in b's shape")


def section_4_reductions():
    course.section("4. Reductions: summing forward is copying backward")
    data = np.array([[1.0, 5.0, 2.0], [7.0, 7.0, 0.0]])
    gy = np.array([1.0, 10.0])     # a gradient for the two row results, chosen to tell them apart
    course.show("x", data)
    print("dL/dy =", gy, "(one value per row result, chosen to tell the rows apart)")
    grads = {}
    for name, reduce in [("sum", F.sum), ("mean", F.mean), ("max", F.max)]:
        x = mfa.tensor(data, requires_grad=True)
        y = reduce(x, axis=1)
        y.backward(gy)             # backward with a given dL/dy, since y is not a single number
        grads[name] = x.grad
        print(f"\ny = x.{name}(axis=1) = {np.round(y.data, 4)}")
        course.show("x.grad", x.grad, precision=3)
    course.confirm(np.array_equal(grads["sum"], np.broadcast_to(gy[:, None], data.shape)),
                   "sum: every element of a row receives that row's gradient")
    course.confirm(np.allclose(grads["mean"], grads["sum"] / 3),
                   "mean: the same, divided by the 3 elements")
    course.confirm(np.array_equal(grads["max"], [[0, 1, 0], [5, 5, 0]]),
                   "max: only the maximum receives it; the two 7s (a tie) share it")


def section_5_keepdims():
    course.section("5. keepdims, and the square-matrix trap")
    x = np.arange(9.0).reshape(3, 3) ** 2
    right = x - x.mean(axis=1, keepdims=True)   # (3, 3) - (3, 1): each row minus its mean
    wrong = x - x.mean(axis=1)                  # (3, 3) - (3,):   each COLUMN j minus row j's mean!
    course.show("x", x)
    print("row means of x - x.mean(axis=1, keepdims=True):", right.mean(axis=1).round(10) + 0)
    print("row means of x - x.mean(axis=1):               ", wrong.mean(axis=1),
          " <- no error, wrong numbers")
    course.confirm(np.allclose(right.mean(axis=1), 0) and not np.allclose(wrong.mean(axis=1), 0),
                   "only keepdims centres the rows; without it a square x is silently wrong")
    try:
        np.ones((2, 3)) - np.ones((2, 3)).mean(axis=1)
    except ValueError as e:
        print(f"with a (2, 3) x the same slip at least fails loudly: {e}")

    print("\nThe backward meets the same trap: y = x.sum(axis=1) has shape (3,), so gy does too.")
    gy = np.array([1.0, 10.0, 100.0])
    course.show("  gy broadcast as it is     ", np.broadcast_to(gy, (3, 3)))
    course.show("  gy as (3, 1), broadcast   ", np.broadcast_to(gy.reshape(3, 1), (3, 3)))
    t = mfa.tensor(x, requires_grad=True)
    t.sum(axis=1).backward(gy)
    course.show("  the engine's x.grad       ", t.grad)
    print("As it is, gy lines up with the LAST axis: row i's gradient lands in column i. Put back")
    print("as a (3, 1) column, it lands in row i, where it belongs.")
    course.confirm(np.array_equal(t.grad, np.broadcast_to(gy.reshape(3, 1), (3, 3))),
                   "the engine re-inserts the reduced axis before broadcasting "
                   "(expand_reduced in reduction.py)")


def section_6_gradcheck_the_shapes():
    course.section("6. gradcheck with awkward shapes")
    rng = np.random.default_rng(1)
    a = mfa.tensor(rng.standard_normal((2, 1, 4)), requires_grad=True)
    b = mfa.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    c = mfa.tensor(rng.standard_normal((5, 3, 4)), requires_grad=True)

    def fn(a, b, c):
        centred = c - c.mean(axis=0, keepdims=True)       # (5, 3, 4)
        return (a * b + centred[:2]).max(axis=2)           # (2, 3, 4) -> (2, 3)

    print("fn(a, b, c) = (a * b + (c - c.mean(0, keepdims=True))[:2]).max(axis=2)")
    print(f"  a {a.shape}, b {b.shape}, c {c.shape}: broadcasting on every axis, two reductions")
    ok = mfa.gradcheck(fn, [a, b, c])
    print("  mfa.gradcheck(fn, [a, b, c]) ->", ok)
    course.confirm(ok and a.grad.shape == a.shape and b.grad.shape == b.shape,
                   "every gradient agrees with finite differences and has its input's shape")


# =============================================================================================
# Exercises. `python lessons/03_broadcasting_and_reductions.py --check` lists them. Each
# docstring is the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Count the copies", answer="NUMBER")
def exercise_1(answer):
    """x has shape (4, 1, 3) and b has shape (5, 1);  L = (x + b).sum().
    Every element of b.grad is the same number. Which? (Work out the shape of x + b first.)"""
    guess = course.number(answer)
    x = mfa.tensor(np.zeros((4, 1, 3)), requires_grad=True)
    b = mfa.tensor(np.zeros((5, 1)), requires_grad=True)
    (x + b).sum().backward()
    truth = b.grad.flat[0]
    if guess == truth:
        return (f"Each b element is copied {truth:.0f} times, so its gradient is a sum of "
                f"{truth:.0f} ones.")
    if guess == (x + b).numel():
        raise course.NotYet("that counts every element of x + b; b[i] only reaches those "
                            "whose index on b's own axis is i.")
    raise course.NotYet("b's gradient sums over every axis along which b was copied: the leading "
                        "axis that broadcasting added, and every axis it stretched from 1.")


def my_sum_to(g, shape):
    """Sum the array g down to ``shape``, undoing a broadcast from ``shape`` to g.shape."""
    # ---- exercise 2: your code here (plain NumPy; do not call the library's sum_to) ----
    raise NotImplementedError


@course.exercise("Write sum_to", edit=my_sum_to)
def exercise_2(candidate):
    """Write my_sum_to (in the lesson file, just before exercise_2) in NumPy: sum over
    the leading axes that broadcasting added, and (keeping them) over the axes it
    stretched from 1. The check tries it on pairs of shapes and compares with the library."""
    rng = np.random.default_rng(2)
    for g_shape, shape in [((2, 3), (3,)), ((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 3, 4)),
                           ((2, 3, 4), (2, 1, 4)), ((5, 2), (5, 2)), ((4, 3), ()),
                           ((3, 1, 5), (1, 1)), ((2, 3, 4, 5), (3, 1, 1))]:
        g = rng.standard_normal(g_shape)
        mine = np.asarray(candidate(g.copy(), shape))
        if mine.shape != shape:
            raise course.NotYet(f"for g of shape {g_shape} and shape {shape} you returned "
                                f"shape {mine.shape}")
        if not np.allclose(mine, sum_to(g, shape)):
            raise course.NotYet(f"for g of shape {g_shape} and shape {shape} the shape is right "
                                "but the values are not: which axes did you sum?")
    return "That is the function the engine calls on every gradient."


class Variance(mfa.Function):
    """y = mean((x - mean(x))²) along one axis: the variance that batch norm uses (exercise 3)."""

    def __init__(self, axis, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.n = x.shape[self.axis]
        self.centred = x - x.mean(axis=self.axis, keepdims=True)
        return (self.centred ** 2).mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        # ---- exercise 3: return dL/dx, shaped like x (gy = dL/dy is shaped like y) ----
        raise NotImplementedError


@course.exercise("The backward of a reduction", edit=Variance.backward)
def exercise_3(backward):
    """Write Variance.backward (in the lesson file, just before exercise_3). The calculus
    is short: along the axis, ∂y/∂x_i = (2/n)(x_i - mean), since the terms through the
    mean add up to zero. The work is in the shapes: with keepdims=False, gy has lost the
    reduced axis."""
    Candidate = type("Variance", (Variance,), {"backward": backward})
    rng = np.random.default_rng(3)
    for shape, axis, keepdims in [((3, 5), 1, True), ((3, 3), 1, False), ((4, 3, 2), 1, False),
                                  ((2, 5), 0, False), ((2, 4), -1, False)]:
        x = mfa.tensor(rng.standard_normal(shape), requires_grad=True)
        setting = f"with x of shape {shape}, axis={axis}, keepdims={keepdims}"
        def fn(t, axis=axis, keepdims=keepdims):  # the defaults bind this iteration's values
            return Candidate(axis, keepdims)(t)
        course.gradcheck_answer(fn, [x], setting)
    return "Every axis, with and without keepdims, square or not."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
