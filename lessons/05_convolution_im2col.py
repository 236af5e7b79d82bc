"""Lesson 5 - Convolution as im2col + GEMM

Run it:   python lessons/05_convolution_im2col.py       (about 60 minutes with the exercises)
Needs:    lessons 3 and 4; matrix products.

The idea
--------
A 2-D convolution slides a small kernel over the image. With x of shape (N, C, H, W), a
weight W of shape (C_out, C, k, k), stride s and zero padding p on each side:

    y[n, o, oh, ow] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x[n, c, oh·s − p + i, ow·s − p + j]

(x counts as 0 outside its H × W). The window of output pixel (oh, ow) starts at row oh·s − p,
and it must end inside the padded image, so the output has

    OH = ⌊(H + 2p − k) / s⌋ + 1        rows, and likewise OW columns.

Written as loops, that is seven nested loops and very slow in Python. The trick every
framework uses: copy each window into a column of a matrix (*im2col*),

    cols[(c, i, j), (n, oh, ow)] = x[n, c, oh·s − p + i, ow·s − p + j]     (C·k·k, N·OH·OW)

and then all the dot products are one matrix product (a GEMM, "general matrix multiply"),
which BLAS or cuBLAS run near the machine's peak speed:

    y2 = W2 @ cols,      W2 = W.reshape(C_out, C·k·k),      y2: (C_out, N·OH·OW)

followed by a reshape to (C_out, N, OH, OW), a transpose to (N, C_out, OH, OW) and the
bias. The price is memory: each pixel
is copied into up to k·k columns.

The backward
------------
With gy2 the output gradient laid out like y2, the GEMM gives

    dW2 = gy2 @ colsᵀ        db = Σ gy2 over its columns        dcols = W2ᵀ @ gy2

and dcols goes back to x through *col2im*, the adjoint (the transpose) of im2col: every
column element is added back to the pixel it was copied from. A pixel copied into several
windows gets the sum of their gradients (lesson 1: a value used several times). Adjoint
means, for every x and every c of the right shapes,

    ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩

which is how we test a col2im without trusting it.

What to watch for
-----------------
- col2im adds (``+=``), it does not assign: windows overlap whenever s < k.
- Padding lives only in the columns: col2im drops the gradient that lands on padding.
- The ⌊ ⌋ in the output size: with stride 2, the last row or column may be left out.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.functional.conv import (ConvGeometry, col2im_kernel, col2im_numpy,
                                          im2col_kernel, im2col_numpy, output_size)
from minifaceattr.kernels import kernel_source


def main(quick=False):
    section_1_output_size()
    x, w, b = small_example()
    section_2_direct_loops(x, w, b)
    section_3_im2col_by_hand()
    section_4_the_gemm(x, w, b)
    section_5_col2im_and_the_backward(x, w, b)
    section_6_the_kernels(big=not quick)


def conv_output_size(size, k, stride, padding):
    """How many windows of size k, moved by ``stride``, fit in size + 2·padding."""
    return (size + 2 * padding - k) // stride + 1


def geometry(x_shape, k, stride, padding):
    """The library's ConvGeometry for a square k×k kernel (no dilation)."""
    return ConvGeometry(*x_shape, k, k, stride, stride, padding, padding, 1, 1)


def section_1_output_size():
    course.section("1. The output size: (H + 2p - k) // s + 1")
    print("    H    k   s   p   (H + 2p - k) / s + 1    OH    F.conv2d gives")
    agree = True
    for H, k, s, p in [(5, 3, 1, 0), (5, 3, 1, 1), (224, 7, 2, 3), (56, 3, 2, 1), (7, 3, 2, 0),
                       (6, 3, 2, 0)]:
        exact = (H + 2 * p - k) / s + 1
        y = F.conv2d(mfa.tensor(np.zeros((1, 1, H, H), np.float32)),
                     mfa.tensor(np.zeros((1, 1, k, k), np.float32)), stride=s, padding=p)
        print(f"  {H:3d}  {k:3d} {s:3d} {p:3d}   {exact:18.1f}    {conv_output_size(H, k, s, p):4d}"
              f"    {y.shape[2:]}")
        agree &= conv_output_size(H, k, s, p) == y.shape[2] == output_size(H, k, s, p)
    course.confirm(agree, "conv_output_size agrees with F.conv2d and the library's output_size")
    course.say("""
        p = (k - 1) / 2 with stride 1 keeps the size ("same" padding: 5 -> 5); with stride 2
        as well, it halves the size (56 -> 28). The floor drops what does not fit: for H = 6,
        k = 3, s = 2, p = 0, the windows start at rows 0 and 2, and one starting at row 4 would
        need a row 6, so the last row (5) is never read. ResNet18's first layer, 7x7 with
        stride 2 and padding 3, takes 224 to 112.""")


def small_example():
    """A small convolution with every complication: batch 2, 3 channels, a non-square image,
    stride 2, padding 1, a bias. float64, so that results agree to ~1e-15."""
    rng = np.random.default_rng(0)
    x = mfa.tensor(rng.standard_normal((2, 3, 5, 6)), requires_grad=True)
    w = mfa.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = mfa.tensor(rng.standard_normal(4), requires_grad=True)
    return x, w, b


STRIDE, PADDING = 2, 1


def conv2d_loops(x, w, b, stride, padding):
    """The definition, loop by loop (plain NumPy arrays in and out)."""
    N, C, H, W = x.shape
    C_out, _, k, _ = w.shape
    OH, OW = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    y = np.zeros((N, C_out, OH, OW))
    for n in range(N):
        for o in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    total = b[o]
                    for c in range(C):
                        for i in range(k):
                            for j in range(k):
                                h, v = oh * stride - padding + i, ow * stride - padding + j
                                if 0 <= h < H and 0 <= v < W:   # outside: zero padding
                                    total += w[o, c, i, j] * x[n, c, h, v]
                    y[n, o, oh, ow] = total
    return y


def section_2_direct_loops(x, w, b):
    course.section("2. The definition, in loops")
    y_loops = conv2d_loops(x.data, w.data, b.data, STRIDE, PADDING)
    y = F.conv2d(x, w, b, stride=STRIDE, padding=PADDING)
    print(f"x {x.shape}, W {w.shape}, stride {STRIDE}, padding {PADDING}  ->  y {y_loops.shape}")
    course.show("y[0, 0] by the loops  ", y_loops[0, 0])
    course.show("y[0, 0] by F.conv2d   ", y.data[0, 0])
    err = np.abs(y_loops - y.data).max()
    print(f"largest difference over all of y: {err:.1e}")
    course.confirm(err < 1e-12, "seven nested loops compute what F.conv2d computes")


def im2col_by_hand(x, k, stride, padding):
    """cols[(c, i, j), (n, oh, ow)] = x[n, c, oh·s − p + i, ow·s − p + j], 0 in the padding."""
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((C * k * k, N * OH * OW), x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                top, left = oh * stride, ow * stride       # in the padded image
                window = padded[n, :, top:top + k, left:left + k]      # (C, k, k)
                cols[:, (n * OH + oh) * OW + ow] = window.ravel()      # row (c*k + i)*k + j
    return cols


def section_3_im2col_by_hand():
    course.section("3. im2col: one column per window")
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    course.show("a 4x4 image x", x[0, 0])
    cols = im2col_by_hand(x, k=3, stride=1, padding=0)
    print("im2col with a 3x3 kernel, stride 1, no padding: 4 windows, each flattened to a column")
    course.show("cols", cols)
    course.say("""
        Column 0 is the top-left window (rows 0-2, columns 0-2 of x), column 1 the window one
        step right, and so on. Row r of cols holds what kernel tap r = i*3 + j sees in each
        window: row 4, the centre tap, reads 5, 6, 9, 10.""")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    mine = im2col_by_hand(x, 3, STRIDE, PADDING)
    library = im2col_numpy(x, geometry(x.shape, 3, STRIDE, PADDING))
    print(f"\nOn x of shape {x.shape}, k = 3, stride {STRIDE}, padding {PADDING}: "
          f"cols {mine.shape}")
    course.confirm(np.array_equal(mine, library),
                   "im2col_by_hand equals the library's im2col_numpy (functional/conv.py) exactly")
    print("(The library's version copies one kernel tap (i, j) at a time: 9 vectorised copies")
    print(" instead of one per window.)")


def section_4_the_gemm(x, w, b):
    course.section("4. The convolution is one matrix product")
    N, C, H, W = x.shape
    C_out, _, k, _ = w.shape
    cols = im2col_by_hand(x.data, k, STRIDE, PADDING)
    W2 = w.data.reshape(C_out, C * k * k)
    y2 = W2 @ cols                                         # (C_out, N*OH*OW)
    OH, OW = conv_output_size(H, k, STRIDE, PADDING), conv_output_size(W, k, STRIDE, PADDING)
    y = y2.reshape(C_out, N, OH, OW).transpose(1, 0, 2, 3) + b.data.reshape(1, C_out, 1, 1)
    print(f"W2 {W2.shape} @ cols {cols.shape} = y2 {y2.shape}  ->  y {y.shape}")
    err = np.abs(y - F.conv2d(x, w, b, stride=STRIDE, padding=PADDING).data).max()
    print(f"largest difference from F.conv2d: {err:.1e}")
    course.confirm(err < 1e-12, "im2col, one GEMM and a reshape give the convolution")
    macs = C_out * (C * k * k) * (N * OH * OW)
    print(f"multiply-adds: C_out x (C*k*k) x (N*OH*OW) = {C_out} x {C * k * k} x "
          f"{N * OH * OW} = {macs}")
    print(f"memory: cols has {cols.size} elements, x has {x.numel()}: "
          f"{cols.size / x.numel():.2f} times as "
          "many (each pixel is\ncopied into up to k*k = 9 columns, and the padding's zeros are "
          "stored too)")
    course.say("""
        The GEMM does all the arithmetic; im2col only moves data. Every multiply-add of the
        seven loops happens exactly once inside W2 @ cols, in an order BLAS chooses.""")


def section_5_col2im_and_the_backward(x, w, b):
    course.section("5. col2im, the adjoint, and the backward")
    rng = np.random.default_rng(2)
    g = geometry(x.shape, 3, STRIDE, PADDING)
    a = rng.standard_normal(x.shape)
    c = rng.standard_normal(g.cols_shape)
    left = np.sum(im2col_numpy(a, g) * c)
    right = np.sum(a * col2im_numpy(c, g))
    print(f"<im2col(a), c> = {left:.12f}")
    print(f"<a, col2im(c)> = {right:.12f}")
    course.confirm(abs(left - right) < 1e-10, "col2im is the adjoint of im2col")

    g1 = geometry((1, 1, 5, 5), 3, 1, 1)
    copies = col2im_numpy(np.ones(g1.cols_shape), g1)
    print("col2im(ones) counts how many windows read each pixel (5x5, k = 3, s = 1, p = 1):")
    course.show("  col2im(ones)", copies[0, 0], precision=0)
    print("A corner pixel sits in 4 windows, an edge pixel in 6, an inner one in all 9: those")
    print("are the number of gradient shares col2im adds up for it.")

    y = F.conv2d(x, w, b, stride=STRIDE, padding=PADDING)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    C_out = w.shape[0]
    gy2 = gy.transpose(1, 0, 2, 3).reshape(C_out, -1)       # laid out like y2
    cols = im2col_numpy(x.data, g)
    W2 = w.data.reshape(C_out, -1)
    dw = (gy2 @ cols.T).reshape(w.shape)
    db = gy2.sum(axis=1)
    dx = col2im_numpy(W2.T @ gy2, g)
    print("\ndW = gy2 @ cols^T,  db = sum of gy2's columns,  dx = col2im(W2^T @ gy2):")
    for name, mine, engine in [("dW", dw, w.grad), ("db", db, b.grad), ("dx", dx, x.grad)]:
        print(f"  {name}: largest difference from the engine's backward "
              f"{np.abs(mine - engine).max():.1e}")
    course.confirm(all(np.allclose(m, e, atol=1e-12) for m, e in
                       [(dw, w.grad), (db, b.grad), (dx, x.grad)]),
                   "three formulas give F.conv2d's gradients")
    small = [mfa.tensor(rng.standard_normal(s), requires_grad=True)
             for s in [(1, 2, 5, 6), (3, 2, 3, 3), (3,)]]
    ok = mfa.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), small)
    print("mfa.gradcheck(F.conv2d, stride 2, padding 1, batch 1, a 5x6 image) ->", ok)
    course.confirm(ok, "the backward agrees with finite differences")


def kernel_lines(name, first_line, count):
    """``count`` lines of kernels/conv.cu, from the one that contains ``first_line``,
    inside kernel ``name``."""
    source = kernel_source("conv")
    body = source[source.index(f"void {name}("):]
    lines = body.splitlines()
    start = next(n for n, line in enumerate(lines) if first_line in line)
    return "\n".join(lines[start:start + count])


def section_6_the_kernels(big):
    course.section("6. The kernels in kernels/conv.cu, through the emulator")
    gpu = "a GPU is present, but " if mfa.has_gpu() else ""
    print(f"Here {gpu}the kernels get NumPy arrays, so they run on the CPU, through the emulator;")
    print("F.conv2d on a tensor with device=\"cuda\" launches the same kernels with CuPy.\n")
    print("im2col has one thread per element of cols; it peels its flat index into")
    print("(c, i, j, n, oh, ow) and copies one pixel or writes a 0. SH, SW are the strides,")
    print("PH, PW the paddings, DH, DW the dilations (spacing between kernel taps; 1 here):\n")
    print(kernel_lines("im2col", "int ow = idx % OW", 6))
    print("\ncol2im has one thread per pixel of x; it gathers the column elements copied from it")
    print("(no two threads write the same pixel, so it needs no atomicAdd); (n, c, h, w) is its")
    print("pixel, and columns = N*OH*OW is the length of one row of cols:\n")
    print(kernel_lines("col2im", "for (int i = 0; i < KH; i++)", 12))
    rng = np.random.default_rng(3)
    shape, c_out = ((8, 16, 32, 32), 32) if big else ((2, 3, 7, 9), 4)
    for stride, padding in [(1, 1), (2, 0)]:
        x = rng.standard_normal(shape)
        g = geometry(shape, 3, stride, padding)
        cols_gap = np.abs(im2col_kernel(x, g) - im2col_numpy(x, g)).max()
        c = rng.standard_normal(g.cols_shape)
        x_gap = np.abs(col2im_kernel(c, g) - col2im_numpy(c, g)).max()
        print(f"\nx {shape}, k = 3, stride {stride}, padding {padding}: cols {g.cols_shape}")
        print(f"  im2col kernel vs NumPy: largest difference {cols_gap:.1e}")
        print(f"  col2im kernel vs NumPy: largest difference {x_gap:.1e}")
        course.confirm(cols_gap == 0 and x_gap < 1e-12,
                       "the kernels match their NumPy twins, for both strides")
    x = mfa.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    w = mfa.tensor(0.1 * rng.standard_normal((c_out, shape[1], 3, 3)).astype(np.float32),
                   requires_grad=True)
    results = {}
    for backend in ("numpy", "emu"):
        x.grad = w.grad = None
        with mfa.use_backend(backend):
            y = F.conv2d(x, w, stride=1, padding=1)
            y.backward(np.ones_like(y.data))
        results[backend] = (y.data, x.grad, w.grad)
    gaps = [np.abs(a - e).max() / np.abs(a).max() for a, e in zip(results["numpy"], results["emu"])]
    print(f"\nF.conv2d in float32 on x {shape}, forward and backward, under use_backend(\"emu\")")
    print(f"vs \"numpy\": relative differences y {gaps[0]:.1e}, dx {gaps[1]:.1e}, dW {gaps[2]:.1e}")
    course.confirm(max(gaps) < 1e-5, "the whole operator agrees, to float32's rounding")


# =============================================================================================
# Exercises. `python lessons/05_convolution_im2col.py --check` lists them. Each docstring is
# the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("The output shape", answer="OH OW")
def exercise_1(answer):
    """x has shape (8, 3, 100, 75). A convolution with a 5x5 kernel, stride 3 and padding 2
    gives y of shape (8, C_out, OH, OW). What are OH and OW?"""
    oh, ow = course.numbers(answer, count=2)
    right = output_size(100, 5, 3, 2), output_size(75, 5, 3, 2)
    if (oh, ow) == right:
        return "Floor, then plus one: the last window must fit inside the padded image."
    if (oh, ow) == (output_size(100, 5, 3, 0), output_size(75, 5, 3, 0)):
        raise course.NotYet("the padding seems forgotten.")
    if (oh, ow) == (output_size(100, 5, 3, 1), output_size(75, 5, 3, 1)):
        raise course.NotYet("the padding goes on both sides: 2p.")
    if (oh, ow) == ((100 + 4 - 5) // 3, (75 + 4 - 5) // 3):
        raise course.NotYet("that counts the steps between windows; count the windows.")
    raise course.NotYet("use OH = (H + 2p - k) // s + 1 for each axis.")


@course.exercise("Count the multiply-adds", answer="NUMBER")
def exercise_2(answer):
    """A layer of ResNet18's first stage: 64 input channels, 64 output channels, a 3x3
    kernel, stride 1, padding 1, on one image of 56x56 pixels. How many multiply-adds does
    its GEMM W2 @ cols do? (Work out the shapes of W2 and cols first.)"""
    guess = course.number(answer)
    c_out, c, k, n_pixels = 64, 64, 3, output_size(56, 3, 1, 1) ** 2
    right = c_out * (c * k * k) * n_pixels
    if guess == right:
        return f"{right / 1e6:.1f} million for one layer and one image: why GEMM speed matters."
    if guess == c_out * k * k * n_pixels:
        raise course.NotYet("each output sums over the input channels too: W2 has C*k*k columns.")
    if guess == c_out * (c * k * k) * 54 * 54:
        raise course.NotYet("with padding 1 and stride 1, a 3x3 kernel keeps the size 56x56.")
    raise course.NotYet("W2 is (C_out, C*k*k), cols is (C*k*k, OH*OW): a product of an "
                        "(a, b) and a (b, c) matrix does a*b*c multiply-adds.")


def my_col2im(cols, x_shape, k, stride, padding):
    """The adjoint of im2col_by_hand: an array of shape x_shape = (N, C, H, W) in which every
    element of cols has been added to the pixel im2col_by_hand copied it from."""
    # ---- exercise 3: your code here (plain NumPy; section 3's im2col_by_hand, backwards) ----
    raise NotImplementedError


@course.exercise("Write col2im", edit=my_col2im)
def exercise_3(candidate):
    """Write my_col2im (in the lesson file, just before exercise_3): walk the windows as
    im2col_by_hand does, and add each column back where it came from. The check compares
    it with the library's col2im on overlapping windows, padding and strides."""
    rng = np.random.default_rng(5)
    for shape, k, stride, padding in [((1, 1, 4, 4), 3, 1, 0), ((2, 3, 5, 6), 3, 1, 1),
                                      ((1, 2, 7, 5), 3, 2, 1), ((2, 1, 6, 6), 2, 2, 0)]:
        g = geometry(shape, k, stride, padding)
        cols = rng.standard_normal(g.cols_shape)
        mine = np.asarray(candidate(cols.copy(), shape, k, stride, padding))
        setting = f"for x of shape {shape}, k = {k}, stride {stride}, padding {padding}"
        if mine.shape != shape:
            raise course.NotYet(f"{setting} you returned shape {mine.shape}: drop the padding "
                                "at the end.")
        if not np.allclose(mine, col2im_numpy(cols, g)):
            raise course.NotYet(f"{setting} the values are wrong. Where windows overlap, a pixel "
                                "gets the sum of all the column elements copied from it.")
    return "That is the backward of im2col: dx = col2im(W2^T @ gy2)."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
