"""Lesson 15 - Performance

Run it:   python lessons/15_performance.py       (about 45 minutes with the exercises)
Needs:    lessons 4 (CuPy, kernels), 5 (convolution as im2col + GEMM) and 13 (a training step).

The idea
--------
Before making code faster, measure where its time goes. A training step is a few hundred
operator calls, forward and backward; this lesson times each one (section 1), then asks of
the two kinds of operator how close they come to what the machine can do.

Compute-bound: a convolution is one big matrix product (GEMM). Counting a multiply-add as
2 floating-point operations (FLOPs), a convolution with N images, C_in → C_out channels,
a k×k kernel and an OH×OW output costs

    FLOPs = 2 · N · C_out · OH · OW · C_in · k · k        (forward; the backward has two
                                                           GEMMs of the same size: 2× more)

and its speed is FLOPs / seconds, in GFLOP/s, against the best GEMM the machine runs.

Memory-bound: ReLU does 1 operation per element but must read 4 bytes and write 4 (float32).
Its speed is limited by how fast memory moves bytes: bytes / seconds in GB/s, against a
plain array copy, the simplest operation that moves bytes.

Arithmetic intensity, I = FLOPs / bytes moved, says which limit applies. A machine that does
P GFLOP/s and moves B GB/s is balanced at I = P / B FLOP/byte. Below it, an operator waits
for memory (memory-bound); above it, for arithmetic (compute-bound). That is the roofline
model: attainable GFLOP/s = min(P, B · I).

What to watch for
-----------------
- Timings are measurements, not facts: they change with the machine, its load, and the
  number of BLAS threads (on a busy machine, try OPENBLAS_NUM_THREADS=1). Run the lesson
  twice and compare. This lesson prints timings and never relies on them.
- Time the median of several runs, after a warm-up run (the first call allocates memory).
- On a GPU, work is queued: synchronise before reading the clock, or you time nothing.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import contextlib
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
import minifaceattr.functional.conv as conv_module
from minifaceattr import models, optim
from minifaceattr.autograd import Function
from minifaceattr.backend import import_cupy
from minifaceattr.functional import conv_fast, norm_fast
from minifaceattr.functional.conv import ConvGeometry

FULL = dict(width=32, image=64, batch=32, conv=(32, 64, 64, 16), elements=2 ** 25, gemm=1024,
            repeats=5)
QUICK = dict(width=8, image=32, batch=8, conv=(8, 32, 32, 8), elements=2 ** 20, gemm=256, repeats=3)
DATA_MOVES = ("im2col", "col2im", "channel_major_to_nchw", "nchw_to_channel_major")


def main(quick=False):
    size = QUICK if quick else FULL
    section_1_profile(size)
    conv = section_2_conv_flops(size)
    memory = section_3_memory_bound(size)
    section_4_roofline(conv, memory)
    section_5_gpu(size)
    section_6_ladder(size)


# --- 1. where a training step spends its time ------------------------------------------------

@contextlib.contextmanager
def timed(owner, name, label, seconds):
    """Replace owner.name by a wrapper that adds its run time to seconds[label(*args)]."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[label(*args)] += time.perf_counter() - start

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def forward_label(fn, *args):
    return type(fn).__name__, "forward"


def backward_label(fn, *args):
    return type(fn).__name__, "backward"


def conv_data_label(*args):
    return "conv data movement", "inside"


def profile(step, steps=2):
    """(seconds per (operator, "forward"/"backward"), total seconds) over ``steps`` calls of
    step(), after one warm-up call. Also times the data movement inside the convolutions."""
    step()
    seconds = defaultdict(float)
    with contextlib.ExitStack() as stack:
        stack.enter_context(timed(Function, "__call__", forward_label, seconds))
        stack.enter_context(timed(Function, "run_backward", backward_label, seconds))
        for name in DATA_MOVES:
            stack.enter_context(timed(conv_module, name, conv_data_label, seconds))
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = time.perf_counter() - start
    return seconds, total


def training_step(size):
    """One step of a narrow ResNet18 on random images: forward, BCE over 40 outputs,
    backward, SGD. (benchmarks/bench_train_step.py --profile does this at full size.)"""
    mfa.manual_seed(0)
    model = models.resnet18(num_classes=40, width=size["width"])
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    side = size["image"]
    x = mfa.tensor(rng.standard_normal((size["batch"], 3, side, side)).astype(np.float32))
    y = (rng.random((size["batch"], 40)) < 0.5).astype(np.float32)

    def step():
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    return step


def section_1_profile(size):
    course.section("1. Where a training step spends its time")
    print(f"ResNet18 of width {size['width']}, batch {size['batch']} at "
          f"{size['image']}x{size['image']}, two steps, timed operator by operator:")
    seconds, total = profile(training_step(size))
    shares = print_profile(seconds, total)
    course.confirm(shares["conv data movement"] <= shares["Conv2d"],
                   "the data movement timed inside the convolutions is part of their time")
    if size is not QUICK:
        small = print_profile(*profile(training_step(QUICK)), table=False)
        print(f"the same at width {QUICK['width']}, batch {QUICK['batch']} at "
              f"{QUICK['image']}x{QUICK['image']}: convolutions {small['Conv2d']:.0f} % "
              f"(GEMMs about {small['GEMM']:.0f} %),")
        print(f"  outside operators {small['outside']:.0f} % "
              f"(at the larger size: {shares['outside']:.0f} %)")
    course.say("""
        Each operator's Function is wrapped in a stopwatch (the same trick as
        benchmarks/bench_train_step.py --profile, which adds cProfile). Read the shares, not
        the milliseconds: the shares say what to speed up first. The smaller the arrays, the
        larger the share of the fixed cost of each call (Python, the engine, the optimiser's
        loop over parameters); the larger, the more the GEMMs dominate.""")


def print_profile(seconds, total, table=True):
    """Print the costliest operators; return shares in % of the step: per operator (forward
    and backward together), "conv data movement", "GEMM" (conv minus it) and "outside"."""
    seconds = dict(seconds)
    movement = seconds.pop(("conv data movement", "inside"))
    ops = sorted(seconds.items(), key=lambda kv: -kv[1])
    outside = total - sum(seconds.values())
    if table:
        for (name, direction), s in ops[:8]:
            print(f"  {name:22s} {direction:8s} {1000 * s:8.1f} ms  {100 * s / total:5.1f} %")
        rest = sum(s for _, s in ops[8:])
        print(f"  {'the other operators':31s} {1000 * rest:8.1f} ms  {100 * rest / total:5.1f} %")
        print(f"  {'outside operators (SGD, engine)':31s} {1000 * outside:8.1f} ms  "
              f"{100 * outside / total:5.1f} %")
    shares = defaultdict(float)
    for (name, _), s in seconds.items():
        shares[name] += 100 * s / total
    shares.update({"conv data movement": 100 * movement / total, "outside": 100 * outside / total})
    shares["GEMM"] = shares["Conv2d"] - shares["conv data movement"]
    if table:
        print(f"convolutions: {shares['Conv2d']:.0f} % of the step; inside them, im2col, "
              "col2im and the transposes")
        print(f"  take {shares['conv data movement']:.0f} %, so the GEMMs take about "
              f"{shares['GEMM']:.0f} %")
        if shares["conv data movement"] > shares["GEMM"]:
            print("  here im2col and col2im, which only copy numbers, cost more than the GEMMs")
            print("  that do the arithmetic")
    return shares


# --- 2. FLOPs of a convolution ---------------------------------------------------------------

def conv_flops(n, c_in, c_out, out_h, out_w, k):
    return 2 * n * c_out * out_h * out_w * c_in * k * k


def section_2_conv_flops(size):
    course.section("2. A convolution: FLOPs and GFLOP/s")
    n, c_in, c_out, side = size["conv"]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c_in, side, side)).astype(np.float32)
    w = (0.05 * rng.standard_normal((c_out, c_in, 3, 3))).astype(np.float32)
    g = ConvGeometry(n, c_in, side, side, 3, 3, 1, 1, 1, 1, 1, 1)
    flops = conv_flops(n, c_in, c_out, g.OH, g.OW, 3)
    rows, cols = g.cols_shape
    print(f"conv {c_in}->{c_out} 3x3 pad 1 on {n}x{c_in}x{side}x{side}: the GEMM multiplies")
    print(f"  W2 ({c_out} x {rows}, the weight as a matrix) by the columns ({rows} x {cols}, "
          "im2col's output)")
    course.confirm(flops == 2 * c_out * rows * cols,
                   "FLOPs = 2 × C_out × (C_in·k·k) × (N·OH·OW): twice the product of the "
                   "GEMM's sizes")
    cols_array = conv_module.im2col_numpy(x, g)
    w2 = w.reshape(c_out, -1)
    forward = course.median_seconds(lambda: F.conv2d(mfa.tensor(x), mfa.tensor(w), padding=1),
                             size["repeats"])
    gemm = course.median_seconds(lambda: w2 @ cols_array, size["repeats"])
    xt, wt = mfa.tensor(x, requires_grad=True), mfa.tensor(w, requires_grad=True)
    both = course.median_seconds(lambda: F.conv2d(xt, wt, padding=1).sum().backward(),
                                 size["repeats"])
    m = size["gemm"]
    a = rng.standard_normal((m, m)).astype(np.float32)
    b = rng.standard_normal((m, m)).astype(np.float32)
    square = course.median_seconds(lambda: a @ b, size["repeats"])
    print(f"{flops / 1e6:.1f} MFLOP forward, {3 * flops / 1e6:.1f} MFLOP forward + backward")
    rates = {"conv2d forward": flops / forward, "its GEMM alone": flops / gemm,
             "conv2d forward + backward": 3 * flops / both,
             f"a square {m}x{m} GEMM": 2 * m ** 3 / square}
    for name, rate in rates.items():
        print(f"  {name:28s} {rate / 1e9:7.1f} GFLOP/s")
    course.say("""
        The square GEMM is about the best this machine's BLAS does: our ceiling P. The
        convolution's GEMM has a less friendly shape, and the convolution around it also
        copies every input pixel k·k times into the columns (im2col), which does no
        arithmetic at all.""")
    bytes_moved = 4 * (x.size + w.size + n * c_out * g.OH * g.OW)
    return dict(flops=flops, bytes=bytes_moved, rate=flops / forward, peak=2 * m ** 3 / square)


# --- 3. memory-bound operators ---------------------------------------------------------------

def section_3_memory_bound(size):
    course.section("3. Memory-bound: ReLU and batch norm against a plain copy")
    n = size["elements"]
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    x4 = x.reshape(32, 64, -1, 64)              # as a batch of feature maps
    tx, tx4 = mfa.tensor(x), mfa.tensor(x4)
    cache = largest_cache_mib()
    print(f"{n:,} float32 values ({4 * n / 2 ** 20:.0f} MiB per array); this CPU's largest cache: "
          + (f"{cache:.0f} MiB" if cache else "unknown (Linux reports it in /sys)"))
    if cache and 8 * n / 2 ** 20 < cache:
        print("  the two arrays would fit in that cache (a cache shared by all the cores, and on")
        print("  a virtual machine maybe by other machines), so the GB/s below may be partly the")
        print("  cache's, not main memory's")
    cases = {  # name: (function, bytes it must move at least)
        "copy (np.copyto)": (lambda: np.copyto(out, x), 8 * n),
        "relu into a given array": (lambda: np.maximum(x, 0, out=out), 8 * n),
        "F.relu (new output array)": (lambda: F.relu(tx), 8 * n),
        "F.batch_norm, training": (lambda: F.batch_norm(tx4, None, None, training=True), 12 * n),
    }
    rates = {}
    for name, (fn, moved) in cases.items():
        rates[name] = moved / course.median_seconds(fn, size["repeats"])
    copy = rates["copy (np.copyto)"]
    for name, rate in rates.items():
        print(f"  {name:28s} {rate / 1e9:6.1f} GB/s  ({100 * rate / copy:3.0f} % of the copy)")
    course.say("""
        Bytes counted: a copy and a ReLU read 4 bytes and write 4 per element; batch norm at
        least reads x twice (once for the mean and variance, once to normalise) and writes y:
        12. A new output array costs more than its bytes: fresh memory must be mapped by the
        operating system on first touch. Batch norm in NumPy makes more passes than two, with
        temporary arrays; its CUDA kernels (kernels/norm.cu) make exactly the two: one for the
        mean and variance (Welford's algorithm), one to normalise.""")
    return dict(copy=copy, relu=rates["relu into a given array"])


def largest_cache_mib():
    """The CPU's largest cache in MiB, as Linux lists it under /sys; None elsewhere."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip()
        scale = {"K": 1 / 1024, "M": 1, "G": 1024}.get(text[-1:], None)
        if scale and text[:-1].isdigit():
            sizes.append(int(text[:-1]) * scale)
    return max(sizes, default=None)


# --- 4. arithmetic intensity and the roofline ------------------------------------------------

def section_4_roofline(conv, memory):
    course.section("4. Arithmetic intensity: compute-bound or memory-bound?")
    peak, bandwidth = conv["peak"], memory["copy"]
    balance = peak / bandwidth
    intensity = {"conv2d (section 2)": conv["flops"] / conv["bytes"], "relu": 1 / 8}
    print(f"measured: P = {peak / 1e9:.1f} GFLOP/s (square GEMM), B = {bandwidth / 1e9:.1f} GB/s "
          "(copy);")
    print(f"  balance P/B = {balance:.1f} FLOP/byte")
    for name, i in intensity.items():
        bound = "memory-bound" if i < balance else "compute-bound"
        print(f"  {name:20s} I = {i:8.3f} FLOP/byte -> {bound:13s}; roofline allows "
              f"{min(peak, bandwidth * i) / 1e9:.1f} GFLOP/s")
    course.confirm(intensity["conv2d (section 2)"] > 100 * intensity["relu"],
                   "a 3x3 convolution does over a hundred times more arithmetic per byte than ReLU")
    draw_roofline(peak, bandwidth, intensity, {"conv2d (section 2)": conv["rate"],
                                              "relu": memory["relu"] / 8})
    course.say("""
        Speeding up ReLU's arithmetic would gain nothing: it waits for memory. What helps a
        memory-bound operator is moving fewer bytes: fusing it with its neighbour (conv +
        batch norm + ReLU in one pass), or working in place. What helps a compute-bound one
        is a better GEMM, or a GPU.""")


def draw_roofline(peak, bandwidth, intensity, achieved):
    import matplotlib
    matplotlib.use("Agg")  # draw to a file; no window needed
    import matplotlib.pyplot as plt

    i = np.logspace(-2, 3, 200)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.loglog(i, np.minimum(peak, bandwidth * i) / 1e9, "k-", label="roofline min(P, B·I)")
    for name, value in intensity.items():
        ax.loglog([value], [achieved[name] / 1e9], "o", label=f"{name}, measured")
    ax.set_xlabel("arithmetic intensity I (FLOP/byte)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("Roofline of this CPU (measured P and B)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    course.save_figure(fig, "15_roofline.png")


# --- 5. the GPU ------------------------------------------------------------------------------

def section_5_gpu(size):
    course.section("5. On the GPU")
    if not mfa.has_gpu():
        print("No GPU here (mfa.has_gpu() is False): the GPU part was SKIPPED, nothing measured.")
        course.say("""
            The CUDA kernels can still run on this machine through the CPU emulator (lesson 4),
            but its timings say nothing about a GPU's speed. On a machine with CuPy and a GPU,
            this section times the same convolution and ReLU there, with a synchronisation
            before each reading of the clock.""")
        return
    cupy = import_cupy()
    sync = cupy.cuda.Device().synchronize
    n, c_in, c_out, side = size["conv"]
    rng = np.random.default_rng(1)
    x = mfa.tensor(rng.standard_normal((n, c_in, side, side)).astype(np.float32), device="cuda")
    w = mfa.tensor((0.05 * rng.standard_normal((c_out, c_in, 3, 3))).astype(np.float32),
                   device="cuda")
    flops = conv_flops(n, c_in, c_out, side, side, 3)
    conv = course.median_seconds(lambda: F.conv2d(x, w, padding=1), size["repeats"], sync)
    elements = 4 * size["elements"]                      # full run: 512 MiB per array
    a = cupy.random.standard_normal(elements, dtype=cupy.float32)
    b, ta = cupy.empty_like(a), mfa.Tensor(a)
    copy = 8 * elements / course.median_seconds(lambda: cupy.copyto(b, a), size["repeats"], sync)
    relu = 8 * elements / course.median_seconds(lambda: F.relu(ta), size["repeats"], sync)
    print(f"GPU conv2d forward: {flops / conv / 1e9:.1f} GFLOP/s; copy {copy / 1e9:.0f} GB/s,")
    print(f"  F.relu (our kernel) {relu / 1e9:.0f} GB/s ({100 * relu / copy:.0f} % of the copy)")
    course.confirm(mfa.has_gpu(),
                   "these timings ran on the GPU, synchronised before each clock reading")


# --- 6. the ladder: from the reference NumPy path to today's ----------------------------------

@contextlib.contextmanager
def numpy_versions(conv, norm):
    """Run conv2d with im2col/col2im version ``conv`` and batch norm with version ``norm``."""
    saved, norm_fast.VERSION = norm_fast.VERSION, norm
    try:
        with conv_fast.conv_versions(conv):
            yield
    finally:
        norm_fast.VERSION = saved


def section_6_ladder(size):
    course.section("6. The ladder: each faster NumPy version, measured")
    rungs = [("reference: im2col_numpy, col2im_numpy, batch norm saving x", 0, 0),
             ("conv v1: direct copies into reused buffers", 1, 0),
             ("conv v2: v1 with the copies on two threads", 2, 0),
             ("batch norm v1 (saves x-hat) on conv v1: the default", 1, 1)]
    step = training_step(size)
    results = []
    for name, conv, norm in rungs:
        with numpy_versions(conv, norm):
            results.append((name, course.median_seconds(step, size["repeats"])))
    print(f"the training step of section 1, median of {size['repeats']}:")
    for name, seconds in results:
        print(f"  {name:56s} {seconds:7.3f} s  ({results[0][1] / seconds:4.2f}x the reference)")
    course.confirm(conv_fast.IM2COL_VERSION == 1 and norm_fast.VERSION == 1,
                   "the last rung is what conv2d and batch_norm run by default")
    course.say("""
        Each rung is a separate, named function in minifaceattr/functional/conv_fast.py and
        norm_fast.py, tested against the reference (tests/test_conv_fast.py): the same
        numbers, fewer passes over memory. Version 1 skips the padded copy and keeps its
        buffers from step to step (a fresh 50 MB array costs the operating system a page
        fault per 4 KiB on first touch). Version 2 only pays on idle cores; on a shared
        machine it can lose. On small arrays (--quick) the rungs barely differ: there the
        fixed cost per call dominates. benchmarks/bench_train_step.py --also-conv-versions 0
        measures the same ladder at ResNet18's full size against PyTorch.""")


# =============================================================================================
# Exercises. `python lessons/15_performance.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("FLOPs of a convolution", answer="FLOPS")
def exercise_1(answer):
    """A convolution takes 8 images of 64 channels at 56x56 to 128 channels, with a 3x3
    kernel, stride 2 and padding 1. How many FLOPs does its forward pass take (a
    multiply-add counts 2)?"""
    value = course.number(answer)
    right = conv_flops(8, 64, 128, 28, 28, 3)
    if course.is_close(value, right, rtol=1e-3):
        return f"{right:,} FLOPs: about 0.9 GFLOP for one layer of 8 images."
    if course.is_close(value, right / 2, rtol=1e-3):
        raise course.NotYet("a multiply-add is two operations.")
    if course.is_close(value, 4 * right, rtol=1e-3):
        raise course.NotYet("the count uses the OUTPUT size: with stride 2, 56 becomes 28.")
    raise course.NotYet("2 · N · C_out · OH · OW · C_in · k · k; find OH = OW first.")


@course.exercise("Bytes moved by ReLU", answer="FORWARD BACKWARD")
def exercise_2(answer):
    """ReLU on a float32 tensor of shape (32, 64, 56, 56). How many bytes must its forward
    move at least (read x, write y), and its backward (read gy and x, write dx)?"""
    forward, backward = course.numbers(answer, count=2)
    n = 32 * 64 * 56 * 56
    if course.is_close(forward, 8 * n) and course.is_close(backward, 12 * n):
        return (f"{8 * n / 2 ** 20:.0f} MiB and {12 * n / 2 ** 20:.0f} MiB for one ReLU: "
                "that is why fusing pays.")
    if course.is_close(forward, 4 * n) or course.is_close(forward, 16 * n):
        raise course.NotYet("float32 is 4 bytes, and the forward both reads and writes every "
                            "element.")
    raise course.NotYet("count the elements, then 4 bytes for each array read or written.")


@course.exercise("Compute- or memory-bound?", answer="I_CONV BOUND I_RELU BOUND")
def exercise_3(answer):
    """Take the convolution of exercise 1 and count its bytes as x, the weight and y each
    moved once (float32); take ReLU's forward as 1 FLOP per element. Give each one's
    arithmetic intensity (FLOP/byte) followed by "compute" or "memory": which bound it
    is under on a machine that does 200 GFLOP/s and moves 20 GB/s."""
    tokens = course.words(answer)
    if len(tokens) != 4:
        raise course.NotYet("four things: a number, compute/memory, a number, compute/memory")
    i_conv, i_relu = course.number(tokens[0]), course.number(tokens[2])
    bounds = [tokens[1].lower(), tokens[3].lower()]
    conv_bytes = 4 * (8 * 64 * 56 * 56 + 128 * 64 * 9 + 8 * 128 * 28 * 28)
    right = conv_flops(8, 64, 128, 28, 28, 3) / conv_bytes, 1 / 8
    if not course.is_close(i_conv, right[0], rtol=5e-3):
        raise course.NotYet("the convolution: its FLOPs from exercise 1, divided by 4 bytes times "
                            "the elements of x (8x64x56x56), the weight and y (8x128x28x28).")
    if not course.is_close(i_relu, right[1], rtol=5e-3):
        raise course.NotYet("ReLU: 1 FLOP per element, and how many bytes per element?")
    if bounds != ["compute", "memory"]:
        raise course.NotYet("the machine's balance is 200 / 20 = 10 FLOP/byte: compare each "
                            "intensity with it.")
    return "The convolution sits far right of the balance point, ReLU far left."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
