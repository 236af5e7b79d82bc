"""Lesson 9 - Losses

Run it:   python lessons/09_losses.py       (about 45 minutes with the exercises)
Needs:    lessons 2 (gradient checks) and 3 (reductions).

The idea
--------
A loss turns a prediction and a label into one number to minimise. The two papers need three
kinds: binary cross-entropy for the 40 yes/no face attributes (MGG-Net), cross-entropy for
gender and race (HMTNet), and a regression loss for the beauty score (HMTNet's Smooth Huber).

Binary cross-entropy on logits. The network gives a logit z; p = σ(z) = 1/(1 + e^−z) is the
probability of "yes", and for a label y in {0, 1}

    BCE(z, y) = −[ y·log σ(z) + (1 − y)·log(1 − σ(z)) ],      dBCE/dz = σ(z) − y.

Written that way it breaks in floating point: for z = 20, σ(z) rounds to exactly 1 in float32
and log(1 − σ(z)) = log 0 = −∞. Since log σ(z) = −log(1 + e^−z) and log(1 − σ(z)) = −log(1 + e^z),
and log(1 + e^z) = max(z, 0) + log(1 + e^−|z|), the same function is

    BCE(z, y) = max(z, 0) − z·y + log(1 + e^−|z|)

where e^−|z| ≤ 1 never overflows. That is why losses take logits, not probabilities.

Weighted BCE. A rare attribute (Bald: about 2 % of CelebA) lets a network score 98 % by
always saying "no". ``pos_weight`` multiplies the positive term: −[pw·y·log σ(z) + ...].
With pw = #negatives / #positives, the positives weigh as much in total as the negatives.

Cross-entropy for C classes: CE(x, t) = −log softmax(x)_t = log Σ_j e^(x_j) − x_t, computed
with log_softmax (the max subtracted first, so exp never overflows);
dCE/dx = softmax(x) − onehot(t).

Regression, with d = prediction − target:

                 loss                                  derivative
    MSE          d²                                    2d
    L1           |d|                                   sign(d)
    Smooth L1    d²/(2β) if |d| < β, else |d| − β/2    d/β, else sign(d)
    Smooth Huber log cosh d if |d| ≤ δ, else |d|       tanh d, else sign(d)

Smooth L1 is continuous (β = 1 here); Smooth Huber is HMTNet's Eq. 5, with δ = 0.6.

log cosh d ≈ d²/2 near 0 (quadratic, gentle on small errors) and ≈ |d| − log 2 far away (linear,
so outliers pull no harder than any error). But the paper switches to |d| itself at δ, not to
|d| − log 2: the loss *jumps* at |d| = δ, by δ − log cosh δ. Its derivative jumps too, from
tanh δ to 1.

What to watch for
-----------------
- Give losses logits: BCE with logits, cross_entropy with raw scores, never σ or softmax first.
- "mean" divides by the number of terms (elements), not by a sum of weights.
- Gradient checks must stay away from the kinks and jumps (d = 0 for L1, |d| = β, |d| = δ).
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.backend import get_array_module, to_numpy
from minifaceattr.data.attributes import ATTRIBUTES
from minifaceattr.data.label_model import celeba_statistics
from minifaceattr.models.mggnet import positive_weights

DELTA = 0.6   # HMTNet's δ


def main(quick=False):
    section_1_bce_with_logits()
    section_2_weighted_bce()
    section_3_cross_entropy()
    section_4_regression_losses(points=201 if quick else 1201)
    section_5_gradient_checks(size=1000 if quick else 200_000)


def naive_bce(z, y):
    """BCE straight from its definition, through σ(z): fine on paper, not in floating point."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = 1 / (1 + np.exp(-z))
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def stable_bce(z, y):
    """max(z, 0) − z·y + log(1 + e^−|z|): the same function, written so that nothing overflows."""
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def bce_terms(z, y, **weights):
    """The library's per-element BCE with logits, and its gradient dBCE/dz."""
    logits = mfa.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none", **weights)
    loss.sum().backward()
    return loss.data, logits.grad


def section_1_bce_with_logits():
    course.section("1. Binary cross-entropy on logits, and why the naive formula fails")
    z = np.array([-100.0, -20.0, -2.0, 0.0, 2.0, 20.0, 100.0], dtype=np.float32)
    for label in (0.0, 1.0):
        y = np.full_like(z, label)
        library, grad = bce_terms(z, y)
        print(f"\nlabel y = {label:.0f}")
        print("      z    naive float32    naive float64           stable     library(f32)   dL/dz")
        for zi, a, b, c, d, g in zip(z, naive_bce(z, y), naive_bce(z.astype(np.float64), y),
                                     stable_bce(z.astype(np.float64), y), library, grad):
            print(f"  {zi:5.0f}  {a:15.6g}  {b:15.6g}  {c:15.10g}  {d:15.10g}  {g:6.3f}")
        course.confirm(np.allclose(library, stable_bce(z.astype(np.float64), y), rtol=1e-6)
                       and np.isfinite(library).all(),
                       f"y = {label:.0f}: the library is finite everywhere and equals the "
                       "stable form")
        course.confirm(np.allclose(grad, 1 / (1 + np.exp(-z.astype(np.float64))) - y, atol=1e-7),
                       "its gradient is sigmoid(z) - y")
    course.say("""
        The naive formula fails three ways. Where the label and a confident logit disagree it
        gives inf: σ(20) is 0.99999999794, which float32 rounds to 1, so log(1 - σ) = log 0.
        Where they agree it gives nan (0 · log 0, the other term) or 0 instead of a tiny
        loss. float64 only moves the trouble further out (z = 100). The stable form stays
        finite and accurate: for z = 100 and y = 0 the loss is 100 + log(1 + e^-100), and the
        gradient still says "lower z".""")


def section_2_weighted_bce():
    course.section("2. Weighted BCE for imbalanced attributes")
    rates, _ = celeba_statistics()
    order = np.argsort(rates)
    print("CelebA's positive rates (first 20,000 images) and pos_weight = negatives / positives:")
    for i in [*order[:3], order[len(order) // 2], *order[-2:]]:
        print(f"  {ATTRIBUTES[i]:20s} {rates[i]:7.2%}   "
              f"pos_weight {(1 - rates[i]) / rates[i]:6.2f}")

    rng = np.random.default_rng(0)
    bald = ATTRIBUTES.index("Bald")
    labels = (rng.random(10_000) < rates[bald]).astype(np.float64)
    pw = positive_weights(labels[:, None])          # the library's helper: (#neg / #pos) per column
    n_pos, n_neg = int(labels.sum()), int((1 - labels).sum())
    print(f"\n10,000 synthetic 'Bald' labels at CelebA's rate: {n_pos} positive, {n_neg} negative;"
          f"\npositive_weights(labels) -> {pw[0]:.3f}")
    course.confirm(np.isclose(pw[0], n_neg / n_pos), "pos_weight = #negatives / #positives")

    _, grad_plain = bce_terms(np.zeros_like(labels), labels)
    _, grad_weighted = bce_terms(np.zeros_like(labels), labels, pos_weight=pw)
    for name, g in [("plain BCE", grad_plain), ("weighted BCE", grad_weighted)]:
        pos, neg = g[labels == 1].sum(), g[labels == 0].sum()
        print(f"  at z = 0, {name:12s}: positives pull dL/dz by {pos:9.1f}, "
              f"negatives by {neg:8.1f}")
    course.confirm(np.isclose(grad_weighted[labels == 1].sum(), -grad_weighted[labels == 0].sum()),
                   "weighted, the positives' pull balances the negatives' exactly")

    def mean_gradient(z, **weights):
        return bce_terms(np.full_like(labels, z), labels, **weights)[1].sum()

    prior = np.log(labels.mean() / (1 - labels.mean()))          # σ(prior) = positive rate
    print("\nThe best constant prediction makes the summed gradient zero:")
    print(f"  plain BCE:    at z = logit(rate) = {prior:.3f}:  dL/dz = {mean_gradient(prior):.2e}")
    print(f"  weighted BCE: at z = 0:                  "
          f"dL/dz = {mean_gradient(0.0, pos_weight=pw):.2e}")
    course.confirm(abs(mean_gradient(prior)) < 1e-8
                   and abs(mean_gradient(0.0, pos_weight=pw)) < 1e-8,
                   "plain BCE is minimised by predicting the base rate, weighted BCE by p = 0.5")
    course.say(f"""
        A network that knows nothing learns σ(z) = {labels.mean():.3f} under plain BCE: below 0.5,
        so "not bald" for everyone, right {1 - labels.mean():.1%} of the time and useless. Weighted,
        the same ignorance sits at p = 0.5, and any evidence for "bald" tips the answer. The
        gradient of each positive is pw = {pw[0]:.1f} times larger. Lesson 10 measures the
        difference (accuracy against balanced accuracy).""")


def section_3_cross_entropy():
    course.section("3. Cross-entropy through log_softmax")
    rng = np.random.default_rng(1)
    logits = mfa.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    target = np.array([0, 2, 1, 2])
    loss = F.cross_entropy(logits, target)
    by_hand = -F.log_softmax(logits, axis=1)[np.arange(4), target].mean()
    print(f"F.cross_entropy = {loss.item():.10f};  "
          f"-log_softmax(x)[row, target].mean() = {by_hand.item():.10f}")
    loss.backward()
    softmax = np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True)
    course.confirm(np.isclose(loss.item(), by_hand.item())
                   and np.allclose(logits.grad, (softmax - np.eye(3)[target]) / 4),
                   "cross_entropy = mean of -log_softmax at the target; "
                   "gradient (softmax - onehot) / N")

    big = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        naive = -np.log(np.exp(big[0, 1]) / np.exp(big).sum())
    stable = F.cross_entropy(mfa.tensor(big), np.array([1])).item()
    print(f"logits (1000, 0, -1000), target 1: naive -log(e^x_t / sum e^x) = {naive}, "
          f"library = {stable}")
    course.confirm(np.isclose(stable, 1000.0) and not np.isfinite(naive),
                   "e^1000 overflows in the naive formula; "
                   "log_softmax subtracts the max first: 1000")

    z = rng.standard_normal(5)
    y = (rng.random(5) < 0.5).astype(np.int64)
    two_class = F.cross_entropy(mfa.tensor(np.stack([np.zeros(5), z], axis=1)), y, reduction="none")
    bce = F.binary_cross_entropy_with_logits(mfa.tensor(z), y.astype(np.float64), reduction="none")
    course.confirm(np.allclose(two_class.data, bce.data),
                   "with two classes and logits (0, z), cross-entropy is BCE with logit z")


def regression_losses():
    """name -> (fn(pred, target, reduction) from the library)."""
    return {"MSE": lambda p, t, r: F.mse_loss(p, t, reduction=r),
            "L1": lambda p, t, r: F.l1_loss(p, t, reduction=r),
            "Smooth L1": lambda p, t, r: F.smooth_l1_loss(p, t, reduction=r, beta=1.0),
            "Smooth Huber": lambda p, t, r: F.smooth_huber_loss(p, t, delta=DELTA, reduction=r)}


def values_and_slopes(fn, d):
    """Per-element loss at errors d (target 0) and its derivative, from the library."""
    pred = mfa.tensor(d, requires_grad=True)
    loss = fn(pred, np.zeros_like(d), "none")
    loss.sum().backward()
    return loss.data, pred.grad


def section_4_regression_losses(points):
    course.section("4. Smooth Huber against MSE, L1 and Smooth L1")
    d = np.array([0.0, 0.1, 0.3, 0.59, 0.6, 0.61, 1.0, 2.0])
    results = {name: values_and_slopes(fn, d) for name, fn in regression_losses().items()}
    print("     d " + "".join(f"{name:>22s}" for name in results))
    print("       " + f"{'loss':>11s}{'derivative':>11s}" * len(results))
    for i, di in enumerate(d):
        print(f"  {di:4.2f} " + "".join(f"  {loss[i]:9.4f} {grad[i]:10.4f}"
                                        for loss, grad in results.values()))
    huber = results["Smooth Huber"][0]
    course.confirm(np.allclose(huber, np.where(np.abs(d) <= DELTA, np.log(np.cosh(d)), np.abs(d))),
                   "Smooth Huber is log(cosh d) up to |d| = 0.6 and |d| beyond")
    jump = np.abs(DELTA) - np.log(np.cosh(DELTA))
    at_and_above = np.array([DELTA, np.nextafter(DELTA, 1)])   # δ, and the next float above it
    values, slopes = values_and_slopes(regression_losses()["Smooth Huber"], at_and_above)
    print(f"at d = 0.6 the loss is log cosh 0.6 = {values[0]:.6f}; just above, {values[1]:.6f}:")
    print(f"a jump of {values[1] - values[0]:.6f} (0.6 - log cosh 0.6 = {jump:.6f})")
    print(f"and the derivative jumps from tanh 0.6 = {slopes[0]:.4f} to {slopes[1]:.0f}")
    course.confirm(np.isclose(values[1] - values[0], jump)
                   and np.isclose(slopes[0], np.tanh(DELTA)),
                   "the loss jumps by δ - log cosh δ at |d| = δ; at δ itself the slope is tanh δ")
    print("(at d = δ exactly, the log cosh branch applies: the condition is |d| <= δ)")
    small = np.array([0.01, 0.05])
    course.confirm(np.allclose(values_and_slopes(regression_losses()["Smooth Huber"], small)[0],
                               small ** 2 / 2, rtol=1e-3),
                   "near 0, log cosh d is d^2 / 2: half of MSE")
    draw_regression_losses(np.linspace(-2, 2, points))


def draw_regression_losses(d):
    import matplotlib
    matplotlib.use("Agg")  # draw to a file; no window needed
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_slope) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, fn in regression_losses().items():
        loss, slope = values_and_slopes(fn, d)
        if name == "Smooth Huber":   # break the line at the jumps rather than draw a riser
            loss, slope = [np.where(np.isclose(np.abs(d), DELTA, atol=d[1] - d[0]), np.nan, v)
                           for v in (loss, slope)]
        style = dict(lw=2.5 if name == "Smooth Huber" else 1.2)
        ax_loss.plot(d, loss, label=name, **style)
        ax_slope.plot(d, slope, label=name, **style)
    for ax in (ax_loss, ax_slope):
        for side in (-DELTA, DELTA):
            ax.axvline(side, color="gray", ls=":", lw=0.8)
        ax.set_xlabel("d = prediction - target")
        ax.grid(alpha=0.3)
    ax_loss.set_ylim(0, 2.2)
    ax_loss.set_title("loss")
    ax_slope.set_ylim(-2.2, 2.2)
    ax_slope.set_title("derivative")
    ax_loss.legend()
    fig.suptitle(f"Regression losses; Smooth Huber (HMTNet, delta = {DELTA}) jumps at |d| = delta")
    fig.tight_layout()
    course.save_figure(fig, "09_regression_losses.png")


def errors_away_from_kinks(rng, shape):
    """Errors d with |d| in (0.1, 0.5) or (0.7, 2), either sign: no kink or jump within reach
    of gradcheck's ±1e-6 (L1 at 0, Smooth L1 at 1, Smooth Huber at 0.6)."""
    magnitude = np.where(rng.random(shape) < 0.5, rng.uniform(0.1, 0.5, shape),
                         rng.uniform(0.7, 2, shape))
    return magnitude * rng.choice([-1.0, 1.0], shape)


def loss_cases(rng):
    """(name, prediction, loss as a function of the prediction), targets fixed."""
    logits, labels = rng.standard_normal((3, 5)), rng.random((3, 5)) < 0.3
    weights = rng.uniform(0.5, 2, (3, 5))
    scores, classes = rng.standard_normal((3, 4)), rng.integers(0, 4, size=3)
    cases = [("BCE with logits, weight, pos_weight", logits,
              lambda x: F.binary_cross_entropy_with_logits(x, labels * 1.0, weight=weights,
                                                           pos_weight=np.array(3.0))),
             ("cross_entropy", scores, lambda x: F.cross_entropy(x, classes))]
    for name, fn in regression_losses().items():
        pred = rng.standard_normal((3, 5))
        target = pred - errors_away_from_kinks(rng, pred.shape)
        cases.append((name, pred, lambda x, fn=fn, target=target: fn(x, target, "sum")))
    return cases


def values_and_slopes_on_kernels(fn, d):
    """values_and_slopes through loss.cu: on the GPU if there is one, else the emulator."""
    if mfa.has_gpu():
        pred = mfa.tensor(d, requires_grad=True, device="cuda")
        loss = fn(pred, get_array_module(pred.data).zeros_like(pred.data), "none")
        loss.sum().backward()
        return to_numpy(loss.data), to_numpy(pred.grad)
    with mfa.use_backend("emu"):
        return values_and_slopes(fn, d)


def section_5_gradient_checks(size):
    course.section("5. Gradient checks, and the fused kernels of loss.cu")
    results = []
    for backend in ("numpy", "emu"):
        with mfa.use_backend(backend):   # "emu": loss.cu's kernels, run on the CPU by the emulator
            for name, pred, fn in loss_cases(np.random.default_rng(3)):
                x = mfa.tensor(pred, requires_grad=True)
                results.append(mfa.gradcheck(fn, [x]))   # True, or raises GradcheckError
                print(f"  gradcheck, backend {backend:5s}: {name:36s} x {pred.shape}: "
                      f"{results[-1]}")
    course.confirm(all(results), "every loss's backward agrees with finite differences (float64),")
    print("  in the NumPy path and in loss.cu's kernels run by the emulator.")

    gpu = mfa.has_gpu()
    d = (np.random.default_rng(4).standard_normal(size) * 2).astype(np.float32)
    worst = 0.0
    for fn in regression_losses().values():
        reference, kernel = values_and_slopes(fn, d), values_and_slopes_on_kernels(fn, d)
        worst = max(worst, *(np.abs(a - b).max() for a, b in zip(reference, kernel)))
    print(f"{size:,} float32 errors d, the four regression losses: per-element losses and "
          "derivatives,")
    where = "on the GPU" if gpu else "run by the emulator (no GPU here)"
    print(f"NumPy against the kernels {where}: largest difference {worst:.1e}")
    course.confirm(worst < 1e-5,
                   "the fused kernels agree with their NumPy twins to float32 rounding")


# =============================================================================================
# Exercises. `python lessons/09_losses.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("BCE by hand", answer="LOSS_1 LOSS_2")
def exercise_1(answer):
    """Give the binary cross-entropy of two predictions (natural log, 4 digits):
    (a) logit z = -2 for a face that has the attribute (y = 1);
    (b) logit z = 3 for a face that does not (y = 0)."""
    mine = course.numbers(answer, count=2)
    truth, _ = bce_terms(np.array([-2.0, 3.0]), np.array([1.0, 0.0]))
    if all(course.is_close(m, t, rtol=2e-3) for m, t in zip(mine, truth)):
        return "Both confidently wrong: log(1 + e^2) and log(1 + e^3), about |z| each."
    if all(course.is_close(m, t / np.log(10), rtol=2e-3) for m, t in zip(mine, truth)):
        raise course.NotYet("the log in cross-entropy is the natural log")
    if course.is_close(mine[0], np.log1p(np.exp(-2.0)), rtol=2e-3):
        raise course.NotYet("(a): for y = 1 the loss is -log sigmoid(z) = log(1 + e^-z); "
                            "mind the sign of z.")
    raise course.NotYet("use max(z, 0) - z*y + log(1 + e^-|z|), or -log sigmoid(z) for y = 1 "
                        "and -log(1 - sigmoid(z)) for y = 0.")


@course.exercise("pos_weight from a positive rate", answer="NUMBER")
def exercise_2(answer):
    """An attribute is positive in 4 % of the training images. Which pos_weight makes
    the positives weigh as much, in total, as the negatives?"""
    mine = course.number(answer)
    labels = np.zeros((100, 1))
    labels[:4] = 1
    truth = positive_weights(labels)[0]
    if course.is_close(mine, truth):
        return "Each positive counts 24 times, and the 4 % weigh like the 96 %."
    if course.is_close(mine, 25):
        raise course.NotYet("1 / 0.04 balances the positives against ALL the images; "
                            "it is the negatives they should balance.")
    if course.is_close(mine, 0.04 / 0.96, rtol=1e-2):
        raise course.NotYet("upside down: the rare class gets the larger weight.")
    raise course.NotYet("with 100 images, how many are negative, and how many positive?")


@course.exercise("The jump of Smooth Huber", answer="NUMBER")
def exercise_3(answer):
    """With delta = 1 instead of 0.6, Smooth Huber is log cosh d for |d| <= 1 and |d|
    beyond. By how much does the loss jump at d = 1 (the value just above minus the
    value at d = 1)? Give 4 digits."""
    mine = course.number(answer)
    d = mfa.tensor(np.array([1.0, np.nextafter(1.0, 2.0)]))
    at, above = F.smooth_huber_loss(d, np.zeros(2), delta=1.0, reduction="none").data
    truth = above - at
    if course.is_close(mine, truth, rtol=2e-3):
        return "The price of switching to |d| rather than to |d| - log 2."
    if course.is_close(mine, 0.6 - np.log(np.cosh(0.6)), rtol=2e-3):
        raise course.NotYet("that is the jump for delta = 0.6; here delta = 1.")
    if course.is_close(mine, np.log(np.cosh(1.0)), rtol=2e-3):
        raise course.NotYet("that is the loss at d = 1; the jump is the difference to |d| "
                            "just above.")
    raise course.NotYet("evaluate both branches of the loss at d = 1 and subtract.")


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
