"""Lesson 2 - Gradient checking with finite differences

Run it:   python lessons/02_gradient_checking.py       (about 40 minutes with the exercises)
Needs:    lesson 1 (Function, forward and backward); Taylor series from calculus.

The idea
--------
Every backward in this library is written by hand, and a wrong one does not crash: training
just goes worse, quietly. So every backward is tested against the definition of the
derivative, computed numerically from the forward alone.

Taylor's theorem gives two ways to estimate f'(x) with a small step ε:

    forward difference   (f(x+ε) - f(x)) / ε         = f'(x) + ε f''(x)/2  + ...   error O(ε)
    central difference   (f(x+ε) - f(x-ε)) / (2ε)    = f'(x) + ε² f'''(x)/6 + ...  error O(ε²)

The central one is far better, so ε small is good... until rounding. A float stores about 7
(float32) or 16 (float64) significant digits: each f value carries an error of about u·|f|,
where u = 2^-24 ≈ 6e-8 (float32) or 2^-53 ≈ 1.1e-16 (float64). Dividing by 2ε magnifies it:

    error(ε)  ≈  ε² |f'''| / 6   +   u |f| / ε
                 (truncation)        (rounding)

Small ε shrinks the first term and grows the second, so the error is smallest in between:
at best about 5 correct digits in float32, about 11 in float64. That is why gradient checks
run in float64: only there is a wrong backward far above the noise.

For a tensor input x, do it for one element at a time: nudge x[i] by ±ε, rerun the forward,
and compare (L(x + ε e_i) - L(x - ε e_i)) / 2ε with the backward's x.grad[i].
``mfa.gradcheck(fn, inputs)`` does exactly this (and reduces a non-scalar output y to a
scalar L = Σ v·y with a fixed random v, so every output element takes part).

What to watch for
-----------------
- A check is only as good as its inputs: a bug in one branch of a backward (negative x, a
  stretched axis, batch size 1) hides from inputs that never take that branch.
- Keep inputs away from kinks (ReLU at 0, |x| at 0): there the two sides of x ± ε follow
  different formulas and the central difference averages them.
- Checking element by element costs two forward passes per element: fine for a few thousand
  elements. For big inputs gradcheck checks one random direction instead.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.gradcheck import GradcheckError


def f(x):
    """The function we differentiate in sections 1 and 2: f(x) = x·σ(x) (called SiLU or swish)."""
    return x * F.sigmoid(x)


X0 = 0.7  # where we differentiate it


def f_at(x, dtype):
    """f(x) with x stored, and f computed, in ``dtype`` (float32 or float64)."""
    return f(mfa.tensor(np.array(x, dtype=dtype))).item()


def exact_derivative():
    """f'(X0) from the engine's backward, in float64: our reference."""
    x = mfa.tensor(np.array(X0), requires_grad=True)  # a float64 array stays float64
    f(x).backward()
    return x.grad.item()


def main(quick=False):
    exact = exact_derivative()
    section_1_forward_and_central(exact)
    section_2_why_float64(exact, steps_per_decade=2 if quick else 4)
    section_3_a_whole_tensor()
    section_4_a_broken_backward()
    section_5_traps()


def section_1_forward_and_central(exact):
    course.section("1. Forward and central differences")
    s = 1 / (1 + np.exp(-X0))
    print(f"f(x) = x*sigmoid(x) at x = {X0}:  the engine's backward says f'(x) = {exact:.12f}")
    print(f"                     the formula s*(1 + x*(1 - s)), s = sigmoid(x), gives "
          f"{s * (1 + X0 * (1 - s)):.12f}")
    print("\n     eps   forward-difference error   central-difference error   (float64)")
    errors = {}
    for eps in [1e-1, 1e-2, 1e-3, 1e-4]:
        forward = (f_at(X0 + eps, np.float64) - f_at(X0, np.float64)) / eps
        central = (f_at(X0 + eps, np.float64) - f_at(X0 - eps, np.float64)) / (2 * eps)
        errors[eps] = abs(forward - exact), abs(central - exact)
        print(f"  {eps:6.0e}   {errors[eps][0]:24.3e}   {errors[eps][1]:24.3e}")
    forward_ratio = errors[1e-2][0] / errors[1e-3][0]
    central_ratio = errors[1e-2][1] / errors[1e-3][1]
    print(f"ten times smaller eps: the forward error shrinks {forward_ratio:.1f}x, "
          f"the central error {central_ratio:.1f}x")
    course.confirm(8 < forward_ratio < 12 and 80 < central_ratio < 120,
                   "forward error ~ eps, central error ~ eps^2")


def section_2_why_float64(exact, steps_per_decade):
    course.section("2. Rounding: why gradient checks need float64")
    exponents = np.arange(1, 12 + 1e-9, 1 / steps_per_decade)
    epsilons = 10.0 ** -exponents
    errors = {}
    for dtype in (np.float32, np.float64):
        central = [(f_at(X0 + e, dtype) - f_at(X0 - e, dtype)) / (2 * e) for e in epsilons]
        errors[dtype] = np.abs(np.array(central) - exact) / abs(exact)
    print("relative error of the central difference, |estimate - f'| / |f'|:")
    print("     eps      float32      float64")
    for e, e32, e64 in zip(epsilons, errors[np.float32], errors[np.float64]):
        if np.isclose(np.log10(e), round(np.log10(e))):  # print whole powers of ten
            print(f"  {e:6.0e}  {e32:11.2e}  {e64:11.2e}")
    best = {dtype: epsilons[np.argmin(err)] for dtype, err in errors.items()}
    print(f"best eps: float32 {best[np.float32]:.0e} (error {errors[np.float32].min():.1e}), "
          f"float64 {best[np.float64]:.0e} (error {errors[np.float64].min():.1e})")
    at_gradcheck_eps = {dtype: err[np.argmin(np.abs(epsilons - 1e-6))]
                        for dtype, err in errors.items()}
    print(f"at eps = 1e-6 (gradcheck's default): float32 is off by "
          f"{at_gradcheck_eps[np.float32]:.1e}, float64 by {at_gradcheck_eps[np.float64]:.1e}")
    course.confirm(at_gradcheck_eps[np.float32] > 1e-3 > 1e3 * at_gradcheck_eps[np.float64],
                   "at eps = 1e-6, float32 misses gradcheck's tolerance (1e-3 relative); float64 "
                   "meets it a thousand times over")
    course.confirm(errors[np.float32].min() > 100 * errors[np.float64].min(),
                   "even at its best eps, float32 is a hundred times less accurate than float64")
    course.say("""
        Read the float32 column from the top: the error first falls like eps^2 (truncation),
        then grows like 1/eps (rounding), and below eps ~ 1e-8 it is 100%: x + eps rounds to
        x itself, the difference is 0. float64 follows the same V, a million times lower.""")
    draw_error_curves(epsilons, errors)


def draw_error_curves(epsilons, errors):
    import matplotlib
    matplotlib.use("Agg")  # draw to a file; no window needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for dtype, style in ((np.float32, "o-"), (np.float64, "s-")):
        ax.loglog(epsilons, np.maximum(errors[dtype], 1e-17), style, ms=3,
                  label=np.dtype(dtype).name)
    ax.axvline(1e-6, color="gray", ls=":", label="gradcheck's eps = 1e-6")
    ax.axhline(1e-3, color="gray", ls="--", label="gradcheck's tolerance (1e-3)")
    ax.invert_xaxis()  # eps shrinks to the right, as in the table
    ax.set_xlabel("step eps")
    ax.set_ylabel("relative error of the central difference")
    ax.set_title(f"Central difference of x*sigmoid(x) at x = {X0}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    course.save_figure(fig, "02_finite_difference_error.png")


def numerical_gradient(loss, x, eps=1e-6):
    """dL/dx by central differences, one element of x at a time (x is changed, then restored)."""
    grad = np.zeros_like(x.data)
    for i in np.ndindex(*x.shape):
        saved = x.data[i]
        x.data[i] = saved + eps
        plus = loss().item()
        x.data[i] = saved - eps
        minus = loss().item()
        x.data[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def section_3_a_whole_tensor():
    course.section("3. A whole tensor: one element at a time")
    rng = np.random.default_rng(0)
    X = mfa.tensor(rng.standard_normal((4, 3)))                      # data: no gradient needed
    W = mfa.tensor(rng.standard_normal((3, 2)), requires_grad=True)  # float64 weights
    C = mfa.tensor(rng.standard_normal((4, 2)))

    def loss():
        return (F.tanh(X @ W) * C).sum()

    loss().backward()
    numeric = numerical_gradient(loss, W)
    print("L(W) = sum(tanh(X @ W) * C) with W of shape (3, 2)")
    print("backward:   ", np.array2string(W.grad, precision=8).replace("\n", "\n             "))
    print("finite diff:", np.array2string(numeric, precision=8).replace("\n", "\n             "))
    diff = np.abs(W.grad - numeric).max()
    print(f"largest difference: {diff:.1e}   (that took {2 * W.numel()} forward passes)")
    course.confirm(diff < 1e-8, "the backward agrees with the finite differences")
    ok = mfa.gradcheck(lambda X, W, C: F.tanh(X @ W) * C, [X, W, C])
    print("mfa.gradcheck(lambda X, W, C: F.tanh(X @ W) * C, [X, W, C]) ->", ok)
    course.say("""
        gradcheck does the same for every input with requires_grad (here only W), with a fixed
        random weighting v of the output elements, and raises GradcheckError on a mismatch.""")


class LeakyReLU(mfa.Function):
    """y = x for x > 0, 0.1·x otherwise. Its backward has a bug."""

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0.1 * x)

    def backward(self, gy):
        return gy * (self.x > 0)  # bug: forgets the slope 0.1 on the negative side


def section_4_a_broken_backward():
    course.section("4. A broken backward, caught")
    print("LeakyReLU.backward returns gy * (x > 0): it forgets the slope 0.1 for x < 0.")
    positive = mfa.tensor(np.array([0.5, 1.0, 2.0, 3.0]), requires_grad=True)
    print(f"gradcheck with x = {positive.data}:",
          mfa.gradcheck(lambda x: LeakyReLU()(x), [positive]))
    mixed = mfa.tensor(np.array([0.5, -1.0, 2.0, -3.0]), requires_grad=True)
    try:
        mfa.gradcheck(lambda x: LeakyReLU()(x), [mixed])
        caught = False
    except GradcheckError as e:
        caught = True
        print(f"gradcheck with x = {mixed.data}: GradcheckError:\n  {e}")
    course.confirm(caught, "the bug passes on positive inputs and is caught on mixed-sign ones")
    course.say("""
        The message names the input and the element where the two gradients disagree most:
        element 1, x = -1, the negative branch. (Its two values are dL/dx for gradcheck's
        L = sum(v * y), with v its random weights, hence not 0.1 itself; what matters is that
        they differ.) The lesson: a gradient check tests only the inputs you give it, so give
        it every case (both signs, size-1 axes, odd sizes).""")


def section_5_traps():
    course.section("5. Two traps")
    at_kink = mfa.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    try:
        mfa.gradcheck(F.relu, [at_kink])
        print("relu at x = 0: passed")
        kink_fails = False
    except GradcheckError as e:
        kink_fails = True
        print(f"A right backward can fail at a kink. relu with x = {at_kink.data}:\n  {e}")
    eps = 1e-6
    zero = mfa.tensor(np.array([-eps, eps]))
    below, above = F.relu(zero).data
    print(f"At x = 0 the central difference (relu(eps) - relu(-eps)) / 2eps = "
          f"{(above - below) / (2 * eps):.3g},")
    print("which is neither side's slope (0 on the left, 1 on the right); the backward says 0.")
    course.confirm(kink_fails,
                   "a right backward fails gradcheck at a kink: keep test inputs away from them")
    x32 = mfa.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    try:
        mfa.gradcheck(F.relu, [x32])
        refused = False
    except TypeError as e:
        refused = True
        print(f"And float32 is refused outright:\n  TypeError: {e}")
    course.confirm(refused, "gradcheck insists on float64")


# =============================================================================================
# Exercises. `python lessons/02_gradient_checking.py --check` lists them. Each docstring is
# the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("The best step in float16", answer="EPS")
def exercise_1(answer):
    """float16 keeps about 3 significant digits: u = 2^-11 ≈ 4.9e-4. Using the error model
    from the top of this file, error(ε) = ε²|f'''|/6 + u|f|/ε, with |f'''| ≈ |f|, find the ε
    at which the central difference is most accurate in float16 (to within a factor of 2)."""
    eps = course.number(answer)
    u = 2.0 ** -11
    best = (3 * u) ** (1 / 3)  # where d(error)/d(eps) = eps/3 - u/eps^2 = 0
    if best / 2 <= eps <= best * 2:
        return f"The model's optimum is {best:.3g}: float16 can barely check a gradient at all."
    if np.isclose(eps, u ** 0.5, rtol=0.5):
        raise course.NotYet("that balances the forward difference's error (eps*f''/2 + u*f/eps). "
                            "The central difference's truncation error grows like eps^2.")
    raise course.NotYet("set the derivative of the error model with respect to eps to zero, "
                        "and solve for eps.")


class Softsign(mfa.Function):
    """y = x / (1 + |x|), a slow-saturating relative of tanh (for exercise 2)."""

    def forward(self, x):
        self.x = x
        return x / (1 + np.abs(x))

    def backward(self, gy):
        # ---- exercise 2: return dL/dx, given gy = dL/dy (an array shaped like x) ----
        raise NotImplementedError


@course.exercise("Write a backward, let gradcheck judge it", edit=Softsign.backward)
def exercise_2(backward):
    """The class Softsign (in the lesson file, just before exercise_2) has a forward.
    Write its backward (treat x > 0 and x < 0 separately, then find one formula for
    both). The check runs mfa.gradcheck on it."""
    Candidate = type("Softsign", (Softsign,), {"backward": backward})
    x = mfa.tensor(np.array([-3.0, -1.2, -0.4, 0.3, 0.9, 2.5]), requires_grad=True)
    course.gradcheck_answer(lambda t: Candidate()(t), [x],
                            hint="Try your formula on one negative and one positive x by hand.")
    return "gradcheck agrees with your backward on both sides of 0."


class Huber(mfa.Function):
    """y = x²/2 where |x| <= 1, |x| - 1/2 elsewhere (for exercise 3). Its backward has a bug."""

    def forward(self, x):
        self.x = x
        return np.where(np.abs(x) <= 1, 0.5 * x * x, np.abs(x) - 0.5)

    def backward(self, gy):
        return gy * np.where(np.abs(self.x) <= 1, self.x, 1.0)


@course.exercise("Find the inputs that expose a bug", answer="X1 X2 ...")
def exercise_3(answer):
    """Huber.backward (in the lesson file, just before exercise_3) has a bug that
    mfa.gradcheck catches only on some inputs. Read the forward and the backward, then
    give input values (one or more numbers) on which gradcheck fails."""
    values = course.numbers(answer)
    if not values:
        raise course.NotYet("give at least one number")
    x = mfa.tensor(np.array(values, dtype=np.float64), requires_grad=True)
    try:
        mfa.gradcheck(lambda t: Huber()(t), [x])
    except GradcheckError as e:
        return f"gradcheck caught it: {e}. Now you know which branch is wrong."
    raise course.NotYet("gradcheck passed on all of these. Huber has three regions; for each one, "
                        "compare the slope of the forward with what the backward returns.")


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
