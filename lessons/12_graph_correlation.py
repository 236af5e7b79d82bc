"""Lesson 12 - Graph correlation learning (GCL)

Run it:   python lessons/12_graph_correlation.py       (about 60 minutes with the exercises)
Needs:    lesson 11 (the 8 groups and their features f_i); lesson 4 (kernels, the emulator);
          lesson 2 (gradient checks); softmax.

The idea
--------
Group attention (lesson 11) gives each of the K = 8 attribute groups its own feature f_i,
pooled from its own part of the face. But attributes in different places go together: Wearing
Lipstick with Wearing Necklace, Male against No_Beard. Graph Correlation Learning lets every
group read the others' features. The groups are the nodes of a complete *directed* graph, and
one GCL step (MGG-Net, Eq. 2) refines every node from its K - 1 neighbours:

    m_ij  = W_gi f_j                                 the message from j to i (W_gi: D x D)
    s_ij  = w_ei^T relu(m_ij)                        how much i wants that message
    e_ij  = exp(s_ij) / sum_{k != i} exp(s_ik)       softmax over the K - 1 others; e_ii = 0
    f_i'  = relu((1 - alpha) f_i + alpha sum_{j != i} e_ij m_ij)

(σ in the paper is relu here.) The affinity e_ij is a row-stochastic matrix with an empty
diagonal: row i sums to 1 over j != i. alpha weighs the messages against the node's own
feature: alpha = 0 keeps relu(f_i), alpha = 1 keeps only what the others say.

Why directed
------------
Both W_gi and w_ei belong to the *receiver* i: each group decides for itself what to ask of
the others and how much each answer is worth. So e_ij (how much i listens to j) and e_ji (how
much j listens to i) are different numbers. Even with a symmetric score s_ij = s_ji they
would differ, because each row is normalised over its own neighbours.

The library's version
---------------------
``F.graph_attention(f, w_g, w_e, alpha)`` (minifaceattr/functional/graph_attention.py) builds
every message m_ij with one batched matrix product, then does the rest (scores, softmax,
weighted sum, residual, relu) in one fused Function: a NumPy expression chain, or the CUDA
kernel in minifaceattr/kernels/graph_attention.cu, one thread block per (sample, receiver)
row. On a machine without a GPU this lesson runs that kernel through the library's CPU
emulator.

What to watch for
-----------------
- The softmax leaves out j = i: K - 1 values per row, not K.
- e is not symmetric, and its columns do not sum to 1: only its rows do.
- relu has a kink at 0: a gradient check with random inputs rarely lands on it, but a
  message exactly at 0 would make the finite differences disagree.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import viz
from minifaceattr.data import GROUPS
from minifaceattr.functional.graph_attention import threads_for
from minifaceattr.backend import to_numpy
from minifaceattr.gradcheck import GradcheckError
from minifaceattr.kernels import get_kernel
from minifaceattr.models.mggnet import GraphCorrelation

K, D, ALPHA = 8, 4, 0.5     # 8 groups with features of 4 numbers (512 in MGG-Net's layer4)


def main(quick=False):
    f, w_g, w_e = small_problem(samples=2)
    section_1_by_hand(f, w_g, w_e)
    section_2_directed(f, w_g, w_e)
    section_3_the_kernel(f, w_g, w_e)
    section_4_gradient_check(samples=1 if quick else 2)
    section_5_the_heatmap(samples=16 if quick else 64)


def small_problem(samples, seed=0):
    """Features f (N, K, D), projections w_g (K, D, D) and score vectors w_e (K, D), float64."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((samples, K, D)), rng.standard_normal((K, D, D)) / np.sqrt(D),
            rng.standard_normal((K, D)))


def softmax_over_others(scores):
    """e[i, j] = exp(s[i, j]) / sum_{k != i} exp(s[i, k]), with e[i, i] = 0. scores: (K, K)."""
    scores = np.where(np.eye(len(scores), dtype=bool), -np.inf, scores)
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))    # exp(-inf) = 0 on the diagonal
    return exp / exp.sum(axis=1, keepdims=True)


def gcl_by_hand(f, w_g, w_e, alpha):
    """One GCL step for one face, f (K, D), written as the equations read: (f', e)."""
    k = len(f)
    messages = np.array([[w_g[i] @ f[j] for j in range(k)] for i in range(k)])   # m[i, j]
    scores = np.array([[w_e[i] @ np.maximum(messages[i, j], 0) for j in range(k)]
                       for i in range(k)])
    e = softmax_over_others(scores)
    refined = np.array([np.maximum((1 - alpha) * f[i] + alpha * sum(e[i, j] * messages[i, j]
                                                                   for j in range(k) if j != i), 0)
                        for i in range(k)])
    return refined, e


def section_1_by_hand(f, w_g, w_e):
    course.section("1. One GCL step, by hand and by the library")
    print(f"f {f.shape} (N faces, K groups, D numbers), w_g {w_g.shape}, w_e {w_e.shape}, "
          f"alpha = {ALPHA}")
    by_hand = [gcl_by_hand(face, w_g, w_e, ALPHA) for face in f]
    refined, e = F.graph_attention(mfa.tensor(f), mfa.tensor(w_g), mfa.tensor(w_e), ALPHA,
                                   return_affinity=True)
    diff_f = max(np.abs(r - refined.data[n]).max() for n, (r, _) in enumerate(by_hand))
    diff_e = max(np.abs(a - e.data[n]).max() for n, (_, a) in enumerate(by_hand))
    print(f"F.graph_attention(f, w_g, w_e, {ALPHA}, return_affinity=True) -> "
          f"f' {refined.shape}, e {e.shape}")
    print(f"largest difference from the loops above: f' {diff_f:.1e}, e {diff_e:.1e}")
    course.confirm(diff_f < 1e-12 and diff_e < 1e-12,
                   "the library computes Eq. 2 exactly as written")
    nonzero = int((e.data[0] > 0).sum(axis=1)[0])
    print(f"node 0 of face 0 has {nonzero} nonzero affinities (K - 1 = {K - 1}); "
          f"a face has {int((e.data[0] > 0).sum())} = K(K - 1)")
    course.confirm(nonzero == K - 1 and np.allclose(e.data.sum(axis=-1), 1)
                   and np.all(np.diagonal(e.data, axis1=1, axis2=2) == 0),
                   "every row of e sums to 1 over the K - 1 others, and e_ii = 0")
    keep_own = F.graph_attention(mfa.tensor(f), mfa.tensor(w_g), mfa.tensor(w_e), 0.0)
    course.confirm(np.allclose(keep_own.data, np.maximum(f, 0)),
                   "alpha = 0 gives relu(f): the node ignores its neighbours")


def section_2_directed(f, w_g, w_e):
    course.section("2. A directed graph: e_ij is not e_ji")
    _, e = gcl_by_hand(f[0], w_g, w_e, ALPHA)
    print("the affinity of face 0; row i says how much group i listens to each group j:")
    course.show("e", e, precision=2)
    print(f"rows sum to {e.sum(axis=1).round(6)}")
    print(f"columns sum to {e.sum(axis=0).round(2)}")
    names = list(GROUPS)
    print(f"e[Mouth, Neck] = {e[5, 7]:.3f}  but  e[Neck, Mouth] = {e[7, 5]:.3f};  "
          f"largest |e_ij - e_ji| = {np.abs(e - e.T).max():.3f}")
    course.confirm(not np.allclose(e, e.T), "the affinity is not symmetric")
    symmetric = np.array([[0.0, 2.0, 0.0], [2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    e3 = softmax_over_others(symmetric)
    print("Even a symmetric score matrix s (s_01 = s_10 = 2, s_12 = s_21 = 1, s_02 = s_20 = 0)")
    course.show("gives an asymmetric e", e3, precision=3)
    course.confirm(not np.isclose(e3[0, 1], e3[1, 0]),
                   "each row is normalised over its own neighbours, so e_01 != e_10 even then")
    course.say(f"""
        Read row {names.index('Mouth')} as the Mouth group choosing whom to listen to. Being
        directed is what lets one group lean on another far away on the face (Mouth, where
        the lipstick is, reading Neck, where the necklace is) without that group having to
        lean back.""")
    path = course.output_path("12_affinity_example.png")
    viz.plot_affinity(e, names, path, title="GCL affinity e_ij of face 0 (random w_g, w_e)")
    print("figure written:", course.shown_path(path))


def section_3_the_kernel(f, w_g, w_e):
    course.section("3. The CUDA kernel")
    backend = "cuda" if mfa.has_gpu() else "emu"
    if backend == "emu":
        print("No GPU here: the kernel runs on the CPU through the emulator")
        print("(the same .cu source, compiled by g++).")
    else:
        print("A GPU is present: the kernel runs on it through CuPy.")
    reference, grads_numpy = forward_and_backward(f, w_g, w_e, device="cpu")
    if backend == "emu":
        with mfa.use_backend("emu"):     # NumPy arrays, but operators run their kernels
            y, grads = forward_and_backward(f, w_g, w_e, device="cpu")
    else:
        y, grads = forward_and_backward(f, w_g, w_e, device="cuda")   # CuPy arrays: the GPU
    diff_y = np.abs(y - reference).max()
    diff_g = max(np.abs(g - h).max() for g, h in zip(grads, grads_numpy))
    print(f"kernel against NumPy, float64: forward {diff_y:.1e}, "
          f"backward (all three grads) {diff_g:.1e}")
    course.confirm(diff_y < 1e-12 and diff_g < 1e-12,
                   "the kernel and its NumPy twin agree, both ways")
    launch_by_hand(f, w_g, w_e, reference)


def forward_and_backward(f, w_g, w_e, device):
    """f' and the gradients of sum(f') for f, w_g, w_e, as NumPy arrays."""
    inputs = [mfa.tensor(a, requires_grad=True, device=device) for a in (f, w_g, w_e)]
    y = F.graph_attention(*inputs, ALPHA)
    y.sum().backward()
    return to_numpy(y.data), [to_numpy(t.grad) for t in inputs]


def launch_by_hand(f, w_g, w_e, reference):
    """Launch graph_attention_forward ourselves, through the emulator, as the library does."""
    n = len(f)
    threads = threads_for(D)
    print("\nThe launch, spelled out (through the emulator): one block per (face, receiver) row,")
    print(f"{n} x {K} = {n * K} blocks; {threads} threads per block (a power of two, >= D = {D}, "
          "at most 128)")
    print(f"stride over the D numbers; K = {K} values (the row's scores, then its affinities) sit")
    print("in shared memory. Its inputs are the messages m (N, K, K, D), computed first.")
    m = np.einsum("iod,njd->nijo", w_g, f)                 # every message m[n, i, j] = W_gi f_j
    out, e = np.empty_like(f), np.empty((n, K, K))
    kernel = get_kernel("graph_attention", "graph_attention_forward", np.float64, "emu")
    kernel((n * K,), (threads,), (m, f, w_e, out, e, np.int32(K), np.int32(D), np.float64(ALPHA)),
           shared_mem=K * 8)
    print(f"graph_attention_forward((N*K,), ({threads},), (m, f, w_e, y, e, K, D, alpha), "
          "shared_mem=K*8):")
    print(f"  y differs from f' by {np.abs(out - reference).max():.1e}")
    course.confirm(np.allclose(out, reference, atol=1e-12),
                   "a direct launch of the kernel gives f' too")


def section_4_gradient_check(samples):
    course.section("4. Gradient check")
    f, w_g, w_e = small_problem(samples, seed=4)
    inputs = [mfa.tensor(a, requires_grad=True) for a in (f, w_g, w_e)]
    sizes = " + ".join(str(t.numel()) for t in inputs)
    print(f"mfa.gradcheck on f, w_g, w_e ({sizes} numbers, float64), alpha = {ALPHA}:")
    results = {}
    for backend in ("numpy", "emu"):
        with mfa.use_backend(backend):
            try:
                results[backend] = mfa.gradcheck(
                    lambda a, b, c: F.graph_attention(a, b, c, ALPHA), inputs)
            except GradcheckError as error:
                results[backend] = False
                print(f"  {backend}: {error}")
        print(f"  backend {backend!r}: {results[backend]}")
    course.confirm(all(results.values()),
                   "the hand-written backward (NumPy and kernel) agrees with finite differences")
    course.say("""
        The backward chains two Functions: GraphAttention (the fused part: scores, the
        softmax over the others, the weighted sum, the residual and the relu; exercise 3
        derives the softmax's share) and GraphMessages (the batched matrix product m = W_g f,
        which gives w_g and f their share).""")


def section_5_the_heatmap(samples):
    course.section("5. The affinity heatmap")
    mfa.manual_seed(0)
    gcl = GraphCorrelation(channels=32, num_groups=K, alpha=ALPHA)
    relu_like = np.abs(np.random.default_rng(5).standard_normal((samples, K, 32)))
    features = mfa.tensor(relu_like.astype(np.float32))
    with mfa.no_grad():
        _, e = gcl(features)
    mean_e = e.data.mean(axis=0)
    print(f"MGG-Net's GraphCorrelation module (channels 32, K = {K}) with its initial random "
          "weights,")
    print(f"on {samples} random nonnegative feature sets (as GAL's relu features are):")
    print(f"mean affinity per row ranges {mean_e[~np.eye(K, dtype=bool)].min():.3f} .. "
          f"{mean_e[~np.eye(K, dtype=bool)].max():.3f}; "
          f"uniform would be 1/{K - 1} = {1 / (K - 1):.3f}")
    course.confirm(np.allclose(mean_e.sum(axis=1), 1, atol=1e-5),
                   "the averaged rows still sum to 1")
    course.confirm(np.abs(mean_e - 1 / (K - 1))[~np.eye(K, dtype=bool)].max() < 0.03,
                   "at initialisation every group listens to the others about equally, on average")
    path = course.output_path("12_affinity_untrained.png")
    viz.plot_affinity(e.data, list(GROUPS), path,
                      title=f"GCL affinity e_ij, UNTRAINED module, mean over {samples} inputs")
    print("figure written:", course.shown_path(path))
    course.say("""
        The module starts with small weights (uniform in ±1/sqrt(C)), so its scores are
        small and its softmax is close to uniform: training has to make the affinities
        differ. A trained MGG-Net draws the same figure from its own affinities
        (examples/train_lfwa.py writes figures/affinity_layer2.png and affinity_layer3.png).""")


# =============================================================================================
# Exercises. `python lessons/12_graph_correlation.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Counting affinities", answer="PER_NODE PER_FACE")
def exercise_1(answer):
    """With K = 8 groups, how many affinities e_ij does one node i normalise its softmax over,
    and how many nonzero e_ij does one face have in total, over all nodes?"""
    per_node, total = course.numbers(answer, count=2)
    if (per_node, total) == (K - 1, K * (K - 1)):
        return "7 per node, 56 per face: a complete directed graph with no self-loops."
    if per_node == K:
        raise course.NotYet("the softmax leaves out j = i: a node does not send itself a message.")
    if total == K * (K - 1) / 2:
        raise course.NotYet("the graph is directed: e_ij and e_ji are two different numbers.")
    raise course.NotYet("count the neighbours j != i of one node first, then multiply by the "
                        "nodes.")


def worked_example():
    """The exercise 2 example: K = 3 groups, D = 2, every W_gi the identity."""
    f = np.array([[[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]]])
    w_g = np.stack([np.eye(2)] * 3)
    w_e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return f, w_g, w_e


@course.exercise("A step by hand", answer="E01 F0_FIRST F0_SECOND")
def exercise_2(answer):
    """K = 3 groups with D = 2: f_0 = (1, 0), f_1 = (2, 1), f_2 = (0, 3). Every W_gi is the
    identity, w_e0 = (1, 0), and alpha = 0.5. Work out by hand the affinity e_01 and the two
    numbers of the refined feature f_0'. (4 significant digits.)"""
    guess = course.numbers(answer, count=3)
    f, w_g, w_e = worked_example()
    refined, e = F.graph_attention(mfa.tensor(f), mfa.tensor(w_g), mfa.tensor(w_e), 0.5,
                                   return_affinity=True)
    truth = [e.data[0, 0, 1], *refined.data[0, 0]]
    if all(course.is_close(g, t, rtol=1e-3) for g, t in zip(guess, truth)):
        return "s_01 = 2, s_02 = 0, so e_01 = e^2 / (e^2 + 1); the rest follows."
    with_self = np.exp(2) / (np.exp(2) + np.exp(1) + 1)
    if course.is_close(guess[0], with_self, rtol=1e-3):
        raise course.NotYet("the softmax runs over j != i only: leave s_00 out.")
    if not course.is_close(guess[0], truth[0], rtol=1e-3):
        raise course.NotYet("score each neighbour: s_0j = w_e0 . relu(W_g0 f_j); then a softmax "
                            "over j = 1, 2.")
    raise course.NotYet("e_01 is right. Now f_0' = relu(0.5 f_0 + 0.5 (e_01 f_1 + e_02 f_2)).")


class SoftmaxOverOthers(mfa.Function):
    """e[..., i, j] = softmax over j != i of s[..., i, :], with e[..., i, i] = 0 (exercise 3)."""

    def forward(self, s):
        k = s.shape[-1]
        s = np.where(np.eye(k, dtype=bool), -np.inf, s)
        exp = np.exp(s - s.max(axis=-1, keepdims=True))
        self.e = exp / exp.sum(axis=-1, keepdims=True)
        return self.e

    def backward(self, ge):
        # ---- exercise 3: return dL/ds (shaped like s), given ge = dL/de ----
        raise NotImplementedError


@course.exercise("The backward of the softmax over the others", edit=SoftmaxOverOthers.backward)
def exercise_3(backward):
    """Write SoftmaxOverOthers.backward (in the lesson file, just before exercise_3). For
    one row, de_ij/ds_ik = e_ij (δ_jk - e_ik) for j, k != i; and s_ii does not matter at
    all. The check runs mfa.gradcheck on scores of shape (N, K, K), diagonal included."""
    Candidate = type("SoftmaxOverOthers", (SoftmaxOverOthers,), {"backward": backward})
    rng = np.random.default_rng(7)
    for shape in [(2, 8, 8), (3, 3, 3), (1, 5, 5)]:
        s = mfa.tensor(rng.standard_normal(shape), requires_grad=True)
        course.gradcheck_answer(lambda t: Candidate()(t), [s], f"for s of shape {shape}")
    return "That is the ds line of GraphAttention's backward (and of the kernel's)."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
