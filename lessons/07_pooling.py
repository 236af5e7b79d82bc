"""Lesson 7 - Pooling and global average pooling

Run it:   python lessons/07_pooling.py       (about 30 minutes with the exercises)
Needs:    lesson 3 (max and mean, and their gradients), lesson 5 (windows sliding over an image).

The idea
--------
A pooling layer slides a kh × kw window over each (n, c) plane of an image, stepping by a
stride, and replaces each window by one number: its maximum (max pooling) or its mean
(average pooling). It has no weights; it makes the image smaller and each number of the
output summarise a neighbourhood. Along one axis, a plane of H rows padded with P on each
side gives

    OH = ⌊(H + 2P − kh) / S⌋ + 1         (the windows that fit; leftover rows are dropped)

Max pooling, forward and backward. y = max of the window. Only the largest value decided y,
so the derivative of y is 1 at that position and 0 elsewhere: the backward *routes* gy to the
winner of each window and gives every other pixel nothing. The forward saves where each
winner was (``argmax``, a flat index h·W + w in the plane), and the backward is a scatter-add:

    dx[argmax(o)] += gy[o]     for every output pixel o

"+=": when windows overlap (ResNet's 3 × 3 stride-2 pool), one pixel can win several windows
and collects all their gradients. When a window holds two equal maxima, the library (like
PyTorch) gives the whole gradient to the first one in row-major order; ``F.max`` of lesson 3
split ties evenly instead. Both are valid "subgradients"; a tie is a kink.

Average pooling: y = Σ window / (kh·kw), so every pixel of the window gets gy / (kh·kw): the
gradient is spread evenly. With padding, the zeros of the padding are counted in the
divisor (PyTorch's count_include_pad=True).

Global average pooling (GAP): one window as large as the whole plane, (N, C, H, W) → (N, C).
It is the bridge from feature maps to the classifier: ResNet's last stage gives 512 maps of
7 × 7, GAP turns them into 512 numbers, and a linear layer into class scores. Each pixel gets
gy / (H·W) back. Since GAP removes H and W, the same classifier works at any image size.

What to watch for
-----------------
- The output size rounds down: a 5 × 5 plane pooled 2 × 2 / 2 ignores its last row and
  column, which then get no gradient at all.
- Gradient checks and ties: at a tie, max is not differentiable. Random inputs avoid ties.
- The kernels in ``minifaceattr/kernels/pooling.cu`` run one thread per *input* pixel in the
  backward, gathering from the windows that contain it, instead of scattering with atomics.
  Without a GPU they run through the CPU emulator; this lesson compares them with NumPy.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import models
from minifaceattr.backend import get_array_module, to_numpy

X_SMALL = np.array([[1.0, 3.0, 2.0, 0.0],
                    [4.0, 2.0, 1.0, 5.0],
                    [0.0, 6.0, 7.0, 1.0],
                    [2.0, 1.0, 3.0, 8.0]])


def as_image(array, requires_grad=True):
    """A (H, W) array as a float64 tensor of shape (1, 1, H, W): one image, one channel."""
    return mfa.tensor(np.asarray(array, dtype=np.float64)[None, None], requires_grad=requires_grad)


def main(quick=False):
    section_1_max_pooling_forward()
    section_2_output_size()
    section_3_the_routed_gradient()
    section_4_average_pooling()
    section_5_global_average_pooling(quick)
    section_6_gradient_checks_and_kernels(quick)


def section_1_max_pooling_forward():
    course.section("1. Max pooling: the largest value of each window")
    x = as_image(X_SMALL)
    y = F.max_pool2d(x, kernel_size=2)        # stride defaults to the kernel size
    course.show("x", X_SMALL)
    course.show("F.max_pool2d(x, 2)", y.data[0, 0])
    # By hand: cut the 4 x 4 plane into 2 x 2 blocks (axes 1 and 3 run inside a block).
    by_hand = X_SMALL.reshape(2, 2, 2, 2).max(axis=(1, 3))
    course.confirm(np.array_equal(y.data[0, 0], by_hand),
                   "each output pixel is the maximum of its 2 x 2 block")


def pooled_size(size, kernel, stride, padding):
    """⌊(size + 2·padding − kernel) / stride⌋ + 1: the number of windows along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def section_2_output_size():
    course.section("2. The output size")
    print("   H  kernel stride padding   formula  library")
    matches = []
    for h, k, s, p in [(4, 2, 2, 0), (5, 2, 2, 0), (7, 3, 2, 1), (112, 3, 2, 1), (7, 7, 1, 0)]:
        by_formula = pooled_size(h, k, s, p)
        library = F.max_pool2d(mfa.tensor(np.zeros((1, 1, h, h))), k, s, p).shape[2]
        matches.append(by_formula == library)
        print(f"{h:4d} {k:6d} {s:6d} {p:7d} {by_formula:9d} {library:8d}")
    course.confirm(all(matches), "OH = (H + 2P - K) // S + 1 gives the library's output size")
    course.say("""
        112 -> 56 is ResNet's stem: the 3 x 3, stride-2, padding-1 max pool after the first
        convolution. The 5 x 5 row shows the rounding down: two windows of 2 fit, and row 4
        and column 4 belong to no window.""")
    x = mfa.tensor(np.random.default_rng(0).standard_normal((1, 1, 5, 5)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    course.show("x.grad for the 5 x 5 plane", x.grad[0, 0], precision=0)
    course.confirm(not x.grad[0, 0, 4, :].any() and not x.grad[0, 0, :, 4].any(),
                   "the dropped row and column receive no gradient at all")


def routed_by_hand(x, gy, kernel, stride):
    """Max pooling's backward written out: each window sends its gy to its first maximum."""
    gx = np.zeros_like(x)
    for oh in range(gy.shape[0]):
        for ow in range(gy.shape[1]):
            top, left = oh * stride, ow * stride
            window = x[top:top + kernel, left:left + kernel]
            i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum
            gx[top + i, left + j] += gy[oh, ow]
    return gx


def section_3_the_routed_gradient():
    course.section("3. Max pooling's backward routes gy to the winner")
    x = as_image(X_SMALL)
    y = F.max_pool2d(x, 2)
    argmax = y.creator.argmax.ravel()   # saved by the forward (backward frees it)
    print("what the forward saved: argmax =", argmax, "(flat positions h*4 + w of the winners)")
    gy = np.array([[1.0, 10.0], [100.0, 1000.0]])   # one value per window, to tell them apart
    y.backward(gy[None, None])
    course.show("gy", gy, precision=0)
    course.show("x.grad", x.grad[0, 0], precision=0)
    course.confirm(np.count_nonzero(x.grad) == 4
                   and x.grad.ravel()[argmax].tolist() == gy.ravel().tolist(),
                   "each gy lands on its window's maximum (at argmax); the 12 others get 0")

    print("\nOverlapping windows: 3 x 3, stride 1, on a 4 x 5 plane; L = y.sum(), so gy = 1:")
    x_overlap = np.array([[0.0, 1.0, 2.0, 1.0, 0.0],
                          [1.0, 9.0, 3.0, 2.0, 1.0],
                          [0.0, 2.0, 4.0, 3.0, 8.0],
                          [1.0, 0.0, 1.0, 2.0, 0.0]])
    x = as_image(x_overlap)
    y = F.max_pool2d(x, 3, stride=1)
    y.sum().backward()
    course.show("x", x_overlap, precision=0)
    course.show("y", y.data[0, 0], precision=0)
    course.show("x.grad", x.grad[0, 0], precision=0)
    course.confirm(x.grad[0, 0, 1, 1] == 4 and x.grad[0, 0, 2, 4] == 2
                   and x.grad.sum() == y.numel(),
                   "9 wins four windows and 8 wins two: each collects the sum of their gradients")

    print("\nTies: a plane of equal values, one 2 x 2 window:")
    x = as_image(np.full((2, 2), 7.0))
    F.max_pool2d(x, 2).sum().backward()
    ties_split = as_image(np.full((2, 2), 7.0))
    F.max(ties_split.reshape(4), axis=0).backward()
    course.show("max_pool2d: x.grad", x.grad[0, 0], precision=2)
    course.show("F.max (lesson 3): x.grad", ties_split.grad[0, 0], precision=2)
    course.confirm(x.grad[0, 0, 0, 0] == 1 and np.count_nonzero(x.grad) == 1,
                   "max pooling gives a tie's whole gradient to the first maximum (row-major)")

    rng = np.random.default_rng(1)
    plane = rng.integers(0, 4, size=(7, 9)).astype(float)   # small integers: many ties
    x = as_image(plane)
    y = F.max_pool2d(x, 3, stride=2)
    gy = rng.standard_normal(y.shape[2:])
    y.backward(gy[None, None])
    by_hand = routed_by_hand(plane, gy, kernel=3, stride=2)
    print("\nA 7 x 9 plane of small integers (many ties), 3 x 3 windows, stride 2, random gy:")
    course.confirm(np.allclose(x.grad[0, 0], by_hand),
                   "routed_by_hand (a loop over the windows, np.argmax) gives the library's x.grad")


def section_4_average_pooling():
    course.section("4. Average pooling: the gradient is spread evenly")
    x = as_image(X_SMALL)
    y = F.avg_pool2d(x, 2)
    gy = np.array([[1.0, 10.0], [100.0, 1000.0]])
    y.backward(gy[None, None])
    course.show("F.avg_pool2d(x, 2)", y.data[0, 0])
    course.show("x.grad (same gy as in section 3)", x.grad[0, 0], precision=2)
    course.confirm(np.allclose(x.grad[0, 0], np.kron(gy, np.ones((2, 2))) / 4),
                   "every pixel of a window gets gy / 4")

    print("\nWith padding 1, a 3 x 3 stride-2 window at the corner covers 4 pixels and 5 zeros:")
    x = as_image(X_SMALL)
    y = F.avg_pool2d(x, 3, stride=2, padding=1)
    corner = X_SMALL[:2, :2].sum()
    print(f"y[0, 0] = {y.data[0, 0, 0, 0]:.4f};  the corner's four pixels sum to {corner:.0f}, "
          f"and {corner:.0f} / 9 = {corner / 9:.4f}")
    course.confirm(np.isclose(y.data[0, 0, 0, 0], corner / 9),
                   "the padding's zeros count in the divisor (count_include_pad=True)")
    y.sum().backward()
    windows_covering = 9 * x.grad[0, 0]
    course.show("9 * x.grad for L = y.sum()", windows_covering, precision=0)
    course.confirm(np.allclose(windows_covering[1], [2, 4, 2, 2]) and windows_covering[0, 0] == 1,
                   "9 * x.grad counts the windows covering each pixel")
    print("(Row 1 and column 1 lie in two windows, rows -1..1 and 1..3; pixel (1, 1) in all four.)")


def section_5_global_average_pooling(quick):
    course.section("5. Global average pooling: from feature maps to the classifier")
    rng = np.random.default_rng(2)
    x = mfa.tensor(rng.standard_normal((2, 3, 5, 4)), requires_grad=True)
    y = F.global_avg_pool2d(x)
    print(f"x {x.shape} -> F.global_avg_pool2d(x) {y.shape}")
    same = F.avg_pool2d(x, (5, 4)).data[:, :, 0, 0]
    course.confirm(np.allclose(y.data, x.data.mean(axis=(2, 3))) and np.allclose(y.data, same),
                   "GAP is the mean of each plane: avg_pool2d with one window the size of "
                   "the plane")
    gy = rng.standard_normal((2, 3))
    y.backward(gy)
    course.confirm(np.allclose(x.grad, gy[:, :, None, None] / 20 * np.ones((1, 1, 5, 4))),
                   "each of the 5 x 4 = 20 pixels of plane (n, c) gets gy[n, c] / 20")

    model = models.resnet18(num_classes=5, width=8)   # a narrow ResNet18 (64 in the paper)
    model.eval()
    print(f"\nResNet's head: {model.avgpool}  (GAP, as a layer)\n  then {model.fc}")
    sizes = (32, 48) if quick else (64, 96)
    for size in sizes:
        image = mfa.tensor(rng.standard_normal((1, 3, size, size)).astype(np.float32))
        with mfa.no_grad():
            maps = model.forward_features(image)["layer4"]
            logits = model(image)
        print(f"  a {size} x {size} image: layer4 gives {maps.shape}, GAP {maps.shape[:2]}, "
              f"fc logits {logits.shape}")
    course.confirm(logits.shape == (1, 5),
                   "GAP removes H and W, so the classifier takes any image size")
    flatten_weights, gap_weights = 512 * 7 * 7 * 1000, 512 * 1000
    print(f"At 224 x 224, flattening ResNet18's 512 x 7 x 7 maps into 1000 classes would need\n"
          f"{flatten_weights:,} weights; after GAP the fc layer has {gap_weights:,}.")


def pooling_cases():
    """Awkward shapes for gradient checks: batch 1, odd and non-square planes, stride, padding."""
    return [("max_pool2d 3x2/2 pad 1", lambda t: F.max_pool2d(t, (3, 2), 2, 1), (1, 2, 5, 7)),
            ("max_pool2d 3x3/2 pad 1 (ResNet)", lambda t: F.max_pool2d(t, 3, 2, 1), (2, 1, 6, 5)),
            ("avg_pool2d 2x3/(1,2) pad (1,0)", lambda t: F.avg_pool2d(t, (2, 3), (1, 2), (1, 0)),
             (1, 3, 4, 7)),
            ("global_avg_pool2d", F.global_avg_pool2d, (2, 3, 3, 5))]


def forward_and_backward(fn, x_data, is_on_gpu=False, gy_seed=3):
    """y = fn(x) and dL/dx for a fixed random gy, as NumPy arrays."""
    x = mfa.tensor(x_data, requires_grad=True, device="cuda" if is_on_gpu else "cpu")
    y = fn(x)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(x_data.dtype)
    y.backward(get_array_module(x.data).asarray(gy))
    return to_numpy(y.data), to_numpy(x.grad)


def section_6_gradient_checks_and_kernels(quick):
    course.section("6. Gradient checks, and the CUDA kernels against NumPy")
    rng = np.random.default_rng(4)
    results = []
    for backend in ("numpy", "emu"):
        with mfa.use_backend(backend):   # "emu": the operators run pooling.cu's kernels
            for name, fn, shape in pooling_cases():
                x = mfa.tensor(rng.standard_normal(shape), requires_grad=True)
                results.append(mfa.gradcheck(fn, [x]))   # True, or raises GradcheckError
                print(f"  gradcheck, backend {backend:5s}: {name:32s} x {shape}: {results[-1]}")
    course.confirm(all(results), "every pooling backward agrees with finite differences (float64),")
    print("  in the NumPy path and in pooling.cu's kernels run by the emulator.")

    gpu = mfa.has_gpu()
    where = ("A GPU is present: they run on it through CuPy." if gpu else
             "No GPU here (mfa.has_gpu() is False): the same .cu source runs on the CPU through "
             "the emulator, with the same grid, blocks and threads.")
    course.say(f"""
        Now the kernels in float32, the type used for training, against their NumPy twins,
        on larger inputs (in the full run, 56 x 56 planes as in ResNet's first stage). {where}""")
    shape = (2, 8, 14, 14) if quick else (4, 16, 56, 56)
    x_data = rng.standard_normal(shape).astype(np.float32)
    print(f"x {shape}, float32; largest differences from the NumPy path:")
    worst = 0.0
    for name, fn, _ in pooling_cases():
        reference = forward_and_backward(fn, x_data)
        if gpu:
            theirs = forward_and_backward(fn, x_data, is_on_gpu=True)
        else:
            with mfa.use_backend("emu"):
                theirs = forward_and_backward(fn, x_data)
        dy, dx = (np.abs(a - b).max() for a, b in zip(reference, theirs))
        worst = max(worst, dy, dx)
        print(f"  {name:32s}  y {dy:.1e},  dx {dx:.1e}")
    course.confirm(worst < 1e-5,
                   "the kernels agree with NumPy to float32 rounding, forward and backward")
    course.say("""
        Read max_pool2d_backward in pooling.cu: one thread per input pixel, which looks at
        every window containing it and adds gy where the saved argmax points at it. That is
        the scatter-add of section 3 turned into a gather: no two threads write one address.""")


# =============================================================================================
# Exercises. `python lessons/07_pooling.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

EXERCISE_1_X = np.array([[1.0, 3.0, 3.0, 0.0],
                         [2.0, 0.0, 1.0, 4.0],
                         [5.0, 2.0, 2.0, 1.0]])


@course.exercise("Who gets the gradient?", answer="G00 G01 ... G23")
def exercise_1(answer):
    """x is the 3 x 4 plane
           1 3 3 0
           2 0 1 4
           5 2 2 1
    y = F.max_pool2d(x, kernel_size=2, stride=1) (windows overlap), and L = y.sum().
    Give x.grad: its 12 numbers, row by row."""
    mine = np.array(course.numbers(answer, count=12)).reshape(3, 4)
    x = as_image(EXERCISE_1_X)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    truth = x.grad[0, 0]
    if np.allclose(mine, truth):
        return "Routed to the winners, added where a pixel wins twice, ties to the first."
    if np.isclose(mine.sum(), truth.sum()) and np.count_nonzero(mine) > np.count_nonzero(truth):
        raise course.NotYet("the total is right, but too many pixels got some: how does max "
                            "pooling break a tie between two equal maxima?")
    if np.isclose(mine.sum(), truth.sum()) and np.count_nonzero(mine) == np.count_nonzero(truth):
        raise course.NotYet("the total is right, but some went to the wrong pixel: look again at "
                            "the windows whose maximum appears twice.")
    if mine.sum() < truth.sum():
        raise course.NotYet("L = y.sum() gives every window a gradient of 1, and every window "
                            "sends it somewhere: count the windows, and let a pixel that wins "
                            "several of them collect them all.")
    raise course.NotYet("list the windows (there are 6), find each one's maximum, and give it 1.")


@course.exercise("Output size", answer="H W")
def exercise_2(answer):
    """x has shape (2, 8, 15, 20). It goes through
           F.max_pool2d(x, kernel_size=3, stride=2, padding=1), then
           F.avg_pool2d(., kernel_size=2)
    What are the height and width of the result?"""
    h, w = course.numbers(answer, count=2)
    x = mfa.tensor(np.zeros((2, 8, 15, 20)))
    truth = F.avg_pool2d(F.max_pool2d(x, 3, stride=2, padding=1), 2).shape[2:]
    if (h, w) == truth:
        return "One formula, applied twice, each axis on its own."
    if (h, w) == (3, 4):
        raise course.NotYet("did you count the padding? It adds P rows on each side.")
    if (h, w) == (7, 9):
        raise course.NotYet("avg_pool2d's stride defaults to its kernel size (and if 7 x 9 is the "
                            "max pool's output: count its padding, P rows on each side).")
    if (h, w) == (8, 10):
        raise course.NotYet("that is after the max pool; then comes the average pool.")
    raise course.NotYet("use OH = (H + 2P - K) // S + 1 for each layer; avg_pool2d's stride "
                        "defaults to its kernel size.")


class MaxPool2x2(mfa.Function):
    """Max pooling with 2 x 2 windows and stride 2, for (N, C, H, W) with H and W even."""

    def forward(self, x):
        n, c, h, w = x.shape
        self.x_shape = x.shape
        self.windows = x.reshape(n, c, h // 2, 2, w // 2, 2)   # axes 3 and 5 run inside a window
        self.y = self.windows.max(axis=(3, 5))                 # (N, C, H/2, W/2)
        return self.y

    def backward(self, gy):
        # ---- exercise 3: return dL/dx, shaped like x (gy = dL/dy has y's shape) ----
        raise NotImplementedError


@course.exercise("Write max pooling's backward", edit=MaxPool2x2.backward)
def exercise_3(backward):
    """MaxPool2x2 (in the lesson file, just before exercise_3) has a forward that keeps
    self.windows (x reshaped so that axes 3 and 5 run inside a window) and self.y.
    Write its backward in NumPy: each window's gy goes to the position of its maximum.
    (Random inputs have no ties.) The check runs mfa.gradcheck on it."""
    Candidate = type("MaxPool2x2", (MaxPool2x2,), {"backward": backward})
    rng = np.random.default_rng(5)
    for shape in [(1, 1, 2, 2), (2, 3, 4, 6)]:
        x = mfa.tensor(rng.standard_normal(shape), requires_grad=True)
        course.gradcheck_answer(lambda t: Candidate()(t), [x], f"with x of shape {shape}",
                                hint="Which pixels of a window should get anything at all, "
                                     "and how much?")
        if x.grad.shape != shape:
            raise course.NotYet(f"your gradient has shape {x.grad.shape}, x has {shape}")
    return "Your backward routes each gy to its window's winner, as the library does."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
