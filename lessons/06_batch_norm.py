"""Lesson 6 - Batch normalisation

Run it:   python lessons/06_batch_norm.py       (about 60 minutes with the exercises)
Needs:    lessons 3 and 4 (reductions and their gradients; kernels and the emulator).

The idea
--------
Batch normalisation rescales every channel of a layer's output to mean 0 and variance 1
over the batch, then lets the network choose the scale and shift it wants (γ and β, learnt).
For x of shape (N, C, H, W), channel c has m = N·H·W values, and

    μ   = (1/m) Σ x                    the batch mean of the channel
    v   = (1/m) Σ (x − μ)²             its *biased* variance (divide by m)
    x̂   = (x − μ) / σ,   σ = √(v + ε)  (ε = 1e-5 keeps σ away from 0)
    y   = γ·x̂ + β

Train and eval
--------------
In training, μ and v come from the batch, and running estimates follow them:

    running_mean ← (1 − momentum)·running_mean + momentum·μ
    running_var  ← (1 − momentum)·running_var  + momentum·v·m/(m − 1)

with momentum = 0.1 (PyTorch's default). Note the *unbiased* variance, v·m/(m − 1), in the
running estimate, while the batch is normalised with the biased v. In evaluation
(``training=False``) the running estimates replace μ and v, so that a prediction for one
image does not depend on which other images share its batch.

The backward, derived
---------------------
y = γ·x̂ + β gives dγ = Σ gy·x̂ and dβ = Σ gy, and dx̂ = γ·gy. In eval mode μ and σ are
constants and dx = γ·gy/σ. In training, each x also moves μ and v, which every x̂ of the
channel depends on. With ∂μ/∂x_j = 1/m and ∂v/∂x_j = 2(x_j − μ)/m, one finds

    ∂x̂_i/∂x_j = (δ_ij − 1/m − x̂_i·x̂_j/m) / σ

and summing dx̂_i times this over i:

    dx = (γ / (m·σ)) · (m·gy − Σ gy − x̂·Σ(gy·x̂))

The two subtracted terms remove from the gradient the parts that a shift or a rescaling of
the whole channel would follow; normalisation undoes both, so Σ dx = 0 and Σ dx·x̂ = 0
(the second exactly only for ε = 0).

What to watch for
-----------------
- Biased variance to normalise, unbiased in running_var: the two differ by m/(m − 1).
- Forgetting ``model.eval()`` at test time normalises with the test batch's statistics.
- E[x²] − E[x]² is a catastrophic way to compute a variance in float32 when the mean is
  large; the kernel uses Welford's algorithm instead (section 4).
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional.norm import NORM_THREADS, reduction_threads
from minifaceattr.kernels import get_kernel, kernel_source

AXES = (0, 2, 3)   # the axes a channel's statistics run over, for (N, C, H, W) inputs
EPS = 1e-5


def main(quick=False):
    x, gamma, beta = example_batch()
    section_1_training_mode(x, gamma, beta)
    section_2_running_estimates_and_eval(x, compare_with_torch=not quick)
    section_3_the_backward(x, gamma, beta)
    section_4_the_reduction_kernel(big=not quick)


def example_batch():
    """A batch whose 3 channels have very different means and scales (float64)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 4, 5)) * np.array([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1) \
        + np.array([0.0, -3.0, 10.0]).reshape(1, 3, 1, 1)
    gamma = mfa.tensor(np.array([1.0, 2.0, 0.5]), requires_grad=True)
    beta = mfa.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    return x, gamma, beta


def per_channel(a):
    """A (C,) array shaped (1, C, 1, 1), to broadcast against (N, C, H, W)."""
    return a.reshape(1, -1, 1, 1)


def section_1_training_mode(x, gamma, beta):
    course.section("1. Training mode: normalise with the batch's statistics")
    m = x.size // x.shape[1]
    mean = x.mean(axis=AXES)
    var = ((x - per_channel(mean)) ** 2).mean(axis=AXES)           # biased: divide by m
    xhat = (x - per_channel(mean)) / np.sqrt(per_channel(var) + EPS)
    y_hand = per_channel(gamma.data) * xhat + per_channel(beta.data)
    print(f"x {x.shape}: each channel has m = N*H*W = {m} values")
    course.show("batch mean μ per channel        ", mean)
    course.show("biased variance v per channel   ", var)
    course.show("x̂: mean per channel             ", xhat.mean(axis=AXES))
    course.show("x̂: variance per channel         ", xhat.var(axis=AXES))
    y = F.batch_norm(mfa.tensor(x), None, None, gamma, beta, training=True)
    print(f"F.batch_norm(x, None, None, γ = {gamma.data}, β = {beta.data}, training=True):")
    course.show("y: mean per channel (β)         ", y.data.mean(axis=AXES))
    course.show("y: std per channel (≈ γ)        ", y.data.std(axis=AXES))
    err = np.abs(y.data - y_hand).max()
    print(f"largest difference between y by hand and F.batch_norm: {err:.1e}")
    course.confirm(err < 1e-12, "F.batch_norm in training mode is y = γ (x - μ)/√(v + ε) + β")
    course.say("""
        The channels came in with means 0, -3 and 10 and spreads 1, 5 and 0.2; they leave with
        the mean β and the spread γ the network chooses. (x̂'s variance is a hair under 1:
        the ε in √(v + ε).)""")


def section_2_running_estimates_and_eval(x, compare_with_torch):
    course.section("2. Running estimates, and evaluation mode")
    m = x.size // x.shape[1]
    mean, var = x.mean(axis=AXES), x.var(axis=AXES)
    running_mean, running_var = np.zeros(3), np.ones(3)       # what nn.BatchNorm2d starts with
    F.batch_norm(mfa.tensor(x), running_mean, running_var, training=True)
    course.show("after one training step, running_mean", running_mean)
    course.show("0.9 * 0 + 0.1 * μ                    ", 0.1 * mean)
    course.show("after one training step, running_var ", running_var)
    course.show("0.9 * 1 + 0.1 * v * m/(m - 1)        ", 0.9 + 0.1 * var * m / (m - 1))
    course.confirm(np.allclose(running_mean, 0.1 * mean) and
                   np.allclose(running_var, 0.9 + 0.1 * var * m / (m - 1)),
                   "momentum 0.1, and the unbiased variance in running_var")

    print("\nThe same batch again and again: running_mean = μ (1 - 0.9^k) after k steps")
    print("  step k   running_mean[1]   μ[1] (1 - 0.9^k)")
    running_mean, running_var = np.zeros(3), np.ones(3)
    for k in range(1, 201):
        F.batch_norm(mfa.tensor(x), running_mean, running_var, training=True)
        if k in (1, 2, 5, 10, 20, 50, 200):
            print(f"  {k:6d}   {running_mean[1]:15.6f}   {mean[1] * (1 - 0.9 ** k):16.6f}")
    course.confirm(np.allclose(running_mean, mean) and np.allclose(running_var, var * m / (m - 1)),
                   "after 200 steps the running estimates equal the batch mean and "
                   "unbiased variance")

    y_train = F.batch_norm(mfa.tensor(x), None, None, training=True).data
    y_eval = F.batch_norm(mfa.tensor(x), running_mean, running_var, training=False).data
    ratio = y_eval.std(axis=AXES) / y_train.std(axis=AXES)
    course.show("\nstd of eval output / std of train output, per channel", ratio, precision=6)
    print(f"√((m - 1)/m) = √({m - 1}/{m}) = {np.sqrt((m - 1) / m):.6f}")
    course.confirm(np.allclose(ratio, np.sqrt((m - 1) / m), rtol=1e-4),
                   "even with settled estimates, eval divides by the unbiased σ: "
                   "a little less spread")
    course.say("""
        In evaluation the running estimates normalise, so each image's output depends on that
        image alone. Forget model.eval(), and a test image's prediction depends on which other
        images happen to share its batch.""")
    if compare_with_torch:
        compare_with_pytorch(x)


def compare_with_pytorch(x):
    """The same three training steps and one eval step in PyTorch, if it is installed."""
    try:
        import torch
    except ImportError:
        print("\n(PyTorch is not installed, so there is no comparison with it here.)")
        return
    ours = np.zeros(3), np.ones(3)
    theirs = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for step in range(3):
        batch = x * (1 + step)            # three different batches
        y = F.batch_norm(mfa.tensor(batch), *ours, training=True).data
        y_torch = torch.nn.functional.batch_norm(torch.from_numpy(batch), *theirs, training=True)
    y_eval = F.batch_norm(mfa.tensor(x), *ours, training=False).data
    y_eval_torch = torch.nn.functional.batch_norm(torch.from_numpy(x), *theirs, training=False)
    gaps = [np.abs(a - b.numpy()).max() for a, b in
            [(y, y_torch), (ours[0], theirs[0]), (ours[1], theirs[1]), (y_eval, y_eval_torch)]]
    print(f"\nPyTorch {torch.__version__}, the same 3 training steps and an eval step: largest "
          f"differences {max(gaps):.1e}")
    course.confirm(max(gaps) < 1e-12,
                   "outputs and running buffers equal torch.nn.functional.batch_norm's")


def section_3_the_backward(x, gamma, beta):
    course.section("3. The backward, derived and checked")
    rng = np.random.default_rng(1)
    gy = rng.standard_normal(x.shape)
    xt = mfa.tensor(x, requires_grad=True)
    F.batch_norm(xt, None, None, gamma, beta, training=True).backward(gy)
    m = x.size // x.shape[1]
    mean, var = x.mean(axis=AXES), x.var(axis=AXES)
    inv_std = 1 / np.sqrt(var + EPS)
    centred = x - per_channel(mean)
    xhat = centred * per_channel(inv_std)

    # The chain rule one node at a time: y <- x̂ <- (x, μ, v), v <- (x, μ), μ <- x.
    dxhat = gy * per_channel(gamma.data)
    dvar = (dxhat * centred).sum(axis=AXES) * -0.5 * inv_std ** 3
    dmean = -(dxhat * per_channel(inv_std)).sum(axis=AXES)   # via v: Σ -2(x - μ)/m = 0
    dx_steps = dxhat * per_channel(inv_std) + per_channel(dvar) * 2 * centred / m \
        + per_channel(dmean) / m
    # The collapsed formula from the top of the file.
    sum_gy, sum_gy_xhat = gy.sum(axis=AXES), (gy * xhat).sum(axis=AXES)
    dx_formula = per_channel(gamma.data * inv_std / m) * (
        m * gy - per_channel(sum_gy) - xhat * per_channel(sum_gy_xhat))
    print("dx through x̂, v and μ step by step, and by the one-line formula, against the engine:")
    print(f"  step by step:  largest difference {np.abs(dx_steps - xt.grad).max():.1e}")
    print(f"  formula:       largest difference {np.abs(dx_formula - xt.grad).max():.1e}")
    course.confirm(np.allclose(dx_steps, xt.grad, atol=1e-12)
                   and np.allclose(dx_formula, xt.grad, atol=1e-12),
                   "both give the engine's x.grad")
    course.confirm(np.allclose(gamma.grad, sum_gy_xhat) and np.allclose(beta.grad, sum_gy),
                   "dγ = Σ gy·x̂ and dβ = Σ gy")
    sum_dx, sum_dx_xhat = xt.grad.sum(axis=AXES), (xt.grad * xhat).sum(axis=AXES)
    course.show("Σ dx per channel     ", sum_dx)
    course.show("Σ dx·x̂ per channel   ", sum_dx_xhat)
    course.confirm(np.allclose(sum_dx, 0, atol=1e-10),
                   "the gradient ignores a shift of a whole channel")
    predicted = gamma.data * inv_std * sum_gy_xhat * EPS / (var + EPS)
    course.show("γ/σ·Σ(gy·x̂)·ε/(v + ε)", predicted)
    course.confirm(np.allclose(sum_dx_xhat, predicted, rtol=1e-6, atol=1e-12),
                   "and a rescaling too, up to ε: Σ x̂² = m·v/(v + ε), a hair under m")
    course.say("""
        With ε = 0, Σ dx·x̂ would be exactly 0 too. It is largest here in channel 2, whose
        variance (0.05) is the closest to ε.""")

    small = mfa.tensor(rng.standard_normal((2, 3, 3, 1)), requires_grad=True)
    g = mfa.tensor(rng.standard_normal(3), requires_grad=True)
    b = mfa.tensor(rng.standard_normal(3), requires_grad=True)
    ok = mfa.gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                       [small, g, b])
    print("mfa.gradcheck(F.batch_norm, training=True) on x (2, 3, 3, 1), γ, β ->", ok)
    course.confirm(ok, "finite differences agree")

    running_mean, running_var = mean.copy(), var.copy()
    xt.grad = None
    F.batch_norm(xt, running_mean, running_var, gamma, beta, training=False).backward(gy)
    course.confirm(np.allclose(xt.grad, gy * per_channel(gamma.data * inv_std)),
                   "in eval mode, μ and σ are constants: dx = γ·gy/σ")


def merge_lines():
    """welford_merge from kernels/norm.cu."""
    source = kernel_source("norm")
    start = source.rindex("__device__", 0, source.index("void welford_merge("))
    return source[start:source.index("\n}\n", start) + 2].rstrip()


def tree_lines():
    """Step 2 of batch_norm_statistics in kernels/norm.cu: the tree in shared memory."""
    source = kernel_source("norm")
    body = source[source.index("void batch_norm_statistics("):]
    start = body.index("    // Step 2")
    return body[start:body.index("    if (tid == 0)", start)].rstrip()


def statistics_kernel(x):
    """Launch batch_norm_statistics on x (N, C, L) through the emulator: one block per channel."""
    n, c, l = x.shape
    kernel = get_kernel("norm", "batch_norm_statistics", x.dtype, "emu")
    mean, var = np.empty(c, x.dtype), np.empty(c, x.dtype)
    kernel((c,), (reduction_threads(n * l),), (x, mean, var, np.int32(n), np.int32(c), np.int32(l)))
    return mean, var


def section_4_the_reduction_kernel(big):
    course.section("4. The reduction kernel in kernels/norm.cu")
    course.say("""
        Welford's algorithm describes a group of values by (count n, mean, M2 = Σ (x - mean)²);
        the variance is M2/n. Two groups a and b merge exactly, with δ = mean_b - mean_a:""")
    print("    n = n_a + n_b,   mean = mean_a + δ·n_b/n,   M2 = M2_a + M2_b + δ²·n_a·n_b/n")
    print("and adding one value x is merging the group (1, x, 0). In the kernel:\n")
    print(merge_lines())
    print("\nbatch_norm_statistics runs one block per channel. Each thread first merges its share")
    print("of the channel's m values into its (count, mean, M2), one value at a time; then the")
    print("block merges the threads' results pairwise, halving the active threads at each step:\n")
    print(tree_lines())
    threads = reduction_threads(64 * 1024)
    print(f"\nWith {threads} threads (reduction_threads(m), at most NORM_THREADS = "
          f"{NORM_THREADS}),")
    print(f"the tree takes log2({threads}) = {threads.bit_length() - 1} steps, each followed by "
          "__syncthreads():")
    print("no thread reads a partner's result before the partner has written it.")

    rng = np.random.default_rng(2)
    n, l = (64, 32 * 32) if big else (8, 64)
    print(f"\nOne channel of m = {n * l} float32 values, mean + N(0, 1): the variance, three ways")
    print("     mean    float64 (truth)    float32 E[x²] - E[x]²    float32 kernel (Welford)")
    errors = {}
    for offset in (0.0, 1000.0, 10000.0):
        x = (offset + rng.standard_normal((n, 1, l))).astype(np.float32)
        truth = x.astype(np.float64).var()
        naive = (x * x).mean() - x.mean() ** 2
        welford = statistics_kernel(x)[1][0]
        errors[offset] = abs(naive - truth) / truth, abs(welford - truth) / truth
        print(f"  {offset:7.0f}   {truth:14.6f}   {naive:22.6f}   {welford:24.6f}")
    course.confirm(errors[10000.0][0] > 0.5 and max(e[1] for e in errors.values()) < 1e-4,
                   "E[x²] - E[x]² falls apart when the mean is large; "
                   "Welford keeps float32's precision")
    course.say("""
        E[x²] and E[x]² are both about 10^8 there, and float32 stores numbers of that size in
        steps of 8; their difference, the variance of about 1, is lost. Welford's update never
        forms either: it adds up squared deviations from a running mean.""")

    shape = (32, 16, 16, 16) if big else (4, 3, 5, 5)
    x_data = rng.standard_normal(shape).astype(np.float32) * 3 + 2
    gy = rng.standard_normal(shape).astype(np.float32)
    results = {}
    for backend in ("numpy", "emu"):
        x = mfa.tensor(x_data, requires_grad=True)
        g = mfa.tensor(np.ones(shape[1], np.float32), requires_grad=True)
        running = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
        with mfa.use_backend(backend):
            y = F.batch_norm(x, *running, g, None, training=True)
            y.backward(gy)
        results[backend] = (y.data, x.grad, g.grad, *running)
    gap = max(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)
              for a, b in zip(results["numpy"], results["emu"]))
    print(f"\nF.batch_norm on x {shape} float32, forward, backward and running buffers, under")
    print(f'use_backend("emu") vs "numpy": largest relative difference {gap:.1e}')
    course.confirm(gap < 1e-5, "the kernels agree with the NumPy path, to float32's rounding")
    with mfa.use_backend("emu"):
        small = mfa.tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
        ok = mfa.gradcheck(lambda t: F.batch_norm(t, None, None, training=True), [small])
    course.confirm(ok, "and gradcheck passes through the emulated kernels (real_t = double)")


# =============================================================================================
# Exercises. `python lessons/06_batch_norm.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

def running_mean_after(start, batch_mean, steps, momentum=0.1):
    """What F.batch_norm leaves in running_mean after ``steps`` batches of one channel, each
    with the mean ``batch_mean``."""
    running = np.array([start], dtype=np.float64)
    batch = batch_mean + np.array([-1.0, 1.0]).reshape(2, 1)
    for _ in range(steps):
        F.batch_norm(mfa.tensor(batch), running, None, training=True, momentum=momentum)
    return running[0]


@course.exercise("The running mean after k steps", answer="NUMBER")
def exercise_1(answer):
    """running_mean starts at 1.0. Four training steps follow, each on a batch whose mean
    (for this channel) is 3.0; momentum is 0.1. What is running_mean after the fourth step?
    (5 significant digits, or an expression.)"""
    guess = course.number(answer)
    right = running_mean_after(1.0, 3.0, 4)
    if course.is_close(guess, right):
        return "r_k = 3 + (1 - 3)·0.9^k: the distance to the batch mean shrinks by 0.9 a step."
    if course.is_close(guess, right, rtol=1e-2):
        raise course.NotYet("close: give 5 significant digits, or an expression.")
    if course.is_close(guess, running_mean_after(0.0, 3.0, 4)):
        raise course.NotYet("the start value 1.0 still counts, shrinking by 0.9 each step.")
    if course.is_close(guess, running_mean_after(1.0, 3.0, 4, momentum=0.9)):
        raise course.NotYet("momentum is the weight of the new batch, not of the old estimate.")
    raise course.NotYet("apply r <- 0.9·r + 0.1·3.0 four times, starting from r = 1.0.")


@course.exercise("Two variances", answer="BATCH_VAR RUNNING_VAR")
def exercise_2(answer):
    """One channel, one training step, a batch of four values: 1, 2, 3, 6. running_var was
    1.0 and momentum is 0.1. Give the variance v used to normalise this batch (before ε is
    added), and running_var after the step (5 significant digits, or an expression)."""
    v, r = course.numbers(answer, count=2)
    values = np.array([1.0, 2.0, 3.0, 6.0])
    running = np.ones(1)
    F.batch_norm(mfa.tensor(values.reshape(4, 1)), None, running, training=True)
    biased, unbiased = values.var(), values.var(ddof=1)
    if course.is_close(v, unbiased):
        raise course.NotYet("the batch is normalised with the biased variance (divide by m).")
    if not course.is_close(v, biased):
        raise course.NotYet("v is the mean of the squared deviations from the batch mean.")
    if course.is_close(r, 0.9 + 0.1 * biased):
        raise course.NotYet("v is right; the running estimate uses the unbiased variance.")
    if course.is_close(r, running[0], rtol=1e-2) and not course.is_close(r, running[0]):
        raise course.NotYet("v is right, and running_var is close: give 5 significant digits.")
    if not course.is_close(r, running[0]):
        raise course.NotYet("v is right; running_var = 0.9·running_var + 0.1·(unbiased variance).")
    return "Biased to normalise, unbiased to estimate: PyTorch's convention, and the library's."


class Normalize(mfa.Function):
    """Each ROW of x (N, D) normalised to mean 0 and variance 1 (layer normalisation without
    γ and β, as in transformers): x̂ = (x - μ)/σ with μ, σ over the D values of the row."""

    def forward(self, x):
        mean = x.mean(axis=1, keepdims=True)
        self.inv_std = 1 / np.sqrt(x.var(axis=1, keepdims=True) + EPS)
        self.xhat = (x - mean) * self.inv_std
        return self.xhat

    def backward(self, gy):
        # ---- exercise 3: return dL/dx (shaped like x); you have self.xhat and self.inv_std ----
        raise NotImplementedError


@course.exercise("The backward, along the other axis", edit=Normalize.backward)
def exercise_3(backward):
    """Write Normalize.backward (in the lesson file, just before exercise_3). It is batch
    norm's training backward with γ = 1, but the statistics run along each row (axis 1)
    instead of down the batch. The check runs mfa.gradcheck on several shapes."""
    Candidate = type("Normalize", (Normalize,), {"backward": backward})
    rng = np.random.default_rng(6)
    for shape in [(4, 6), (1, 5), (5, 5), (3, 2)]:
        x = mfa.tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
        course.gradcheck_answer(lambda t: Candidate()(t), [x], f"with x of shape {shape}",
                                hint="Which axis do the sums run over, and what is m here?")
    return "The same formula, with the sums along the normalised axis."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
