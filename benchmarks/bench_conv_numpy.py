"""The NumPy convolution's pieces on ResNet18's layer shapes, one version against another.

    python benchmarks/bench_conv_numpy.py             # batch 32 at 112×112, as bench_train_step
    python benchmarks/bench_conv_numpy.py --repeat 7 --versions 0 1 2

For each im2col / col2im version (conv_fast.py: 0 is the reference) it times the sum over
ResNet18's 20 convolutions, the versions taking turns repeat by repeat so that all see the
same machine load (the machine this was written on is shared), and prints medians. It also
measures the best single-GEMM rate NumPy reaches here and the step's GEMM FLOPs, whose
ratio is the floor of a training step that spends all its time in BLAS.
"""
import argparse
import os
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minifaceattr.functional import conv_fast  # noqa: E402
from minifaceattr.functional.conv import ConvGeometry, col2im_numpy, im2col_numpy  # noqa: E402

IM2COL = {0: im2col_numpy, **conv_fast.IM2COL_VERSIONS}
COL2IM = {0: col2im_numpy, **conv_fast.COL2IM_VERSIONS}


def resnet18_convs(batch, size):
    """(C_in, C_out, kernel, stride, padding, input size) of each of ResNet18's convolutions."""
    s = (size + 2 * 3 - 7) // 2 + 1           # conv1
    convs = [(3, 64, 7, 2, 3, size)]
    s = (s + 2 - 3) // 2 + 1                  # max pool
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        out = (s + 2 - 3) // stride + 1
        convs += [(cin, cout, 3, stride, 1, s), (cout, cout, 3, 1, 1, out),
                  (cout, cout, 3, 1, 1, out), (cout, cout, 3, 1, 1, out)]
        if stride != 1 or cin != cout:
            convs.append((cin, cout, 1, stride, 0, s))
        cin, s = cout, out
    return [(c, o, k, st, p, sz, ConvGeometry(batch, c, sz, sz, k, k, st, st, p, p, 1, 1))
            for c, o, k, st, p, sz in convs]


CLOCK = time.perf_counter  # --clock cpu: time.process_time, the CPU time of all our threads


def time_once(fn):
    start = CLOCK()
    fn()
    return CLOCK() - start


def compare_versions(convs, versions, repeat, rng):
    """Median seconds of im2col and col2im summed over the convolutions, per version."""
    inputs = [(rng.standard_normal((g.N, g.C, g.H, g.W)).astype(np.float32),
               rng.standard_normal(g.cols_shape).astype(np.float32)) for *_, g in convs]
    times = {(v, piece): [] for v in versions for piece in ("im2col", "col2im")}
    for _ in range(repeat):
        for v in versions:
            kept, seconds = [], {"im2col": 0.0, "col2im": 0.0}
            for (x, cols), (*_, g) in zip(inputs, convs):
                start = CLOCK()
                kept.append(IM2COL[v](x, g))  # the step keeps every layer's columns: so do we
                seconds["im2col"] += CLOCK() - start
                start = CLOCK()
                COL2IM[v](cols, g)
                seconds["col2im"] += CLOCK() - start
            for piece, t in seconds.items():
                times[v, piece].append(t)
    return {key: float(np.median(t)) for key, t in times.items()}


def compare_conv2d(convs, versions, repeat, rng):
    """Median seconds of F.conv2d forward + backward over all the convolutions, per version
    (the whole NumPy path: im2col, GEMMs, layout copies, col2im)."""
    import minifaceattr as mfa
    import minifaceattr.functional as F
    layers = [(mfa.tensor(rng.standard_normal((g.N, c, g.H, g.W)).astype(np.float32),
                          requires_grad=True),
               mfa.tensor(rng.standard_normal((o, c, k, k)).astype(np.float32) * 0.05,
                          requires_grad=True), st, p) for c, o, k, st, p, _, g in convs]
    times = {v: [] for v in versions}

    def run():
        ys = [F.conv2d(x, w, stride=st, padding=p) for x, w, st, p in layers]
        for y in reversed(ys):
            y.backward(np.ones_like(y.data))

    for _ in range(repeat):
        for v in versions:
            with conv_fast.conv_versions(v):
                times[v].append(time_once(run))
    return {v: float(np.median(t)) for v, t in times.items()}


def gemm_flops(convs):
    """Multiply-adds ×2 of the forward GEMMs; a training step does three such GEMMs per conv."""
    return sum(2 * o * g.C * g.KH * g.KW * g.N * g.OH * g.OW for _, o, *_, g in convs)


def best_gemm_rate(rng, repeat):
    """The fastest FLOP/s of one float32 GEMM NumPy reaches here, over a few square sizes."""
    best = 0.0
    for n in (1024, 2048, 3072):
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        a @ b
        seconds = min(time_once(partial(np.matmul, a, b)) for _ in range(repeat))
        best = max(best, 2 * n ** 3 / seconds)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--versions", type=int, nargs="+", default=sorted(IM2COL))
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: count CPU time, not waiting for a core (a shared machine)")
    parser.add_argument("--skip-pieces", action="store_true", help="only whole conv2d layers")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    rng = np.random.default_rng(0)
    convs = resnet18_convs(args.batch, args.size)
    print(f"load average {os.getloadavg()[0]:.2f}; batch {args.batch} at {args.size}x{args.size}, "
          f"{len(convs)} convolutions, medians of {args.repeat}, {args.clock} clock")
    if not args.skip_pieces:
        pieces = compare_versions(convs, args.versions, args.repeat, rng)
        for (v, piece), t in sorted(pieces.items()):
            print(f"  version {v} {piece}: {1000 * t:7.1f} ms")
    for v, t in compare_conv2d(convs, args.versions, args.repeat, rng).items():
        print(f"  version {v} conv2d forward + backward, all layers: {1000 * t:7.1f} ms")
    print(f"load average {os.getloadavg()[0]:.2f}")
    flops = 3 * gemm_flops(convs) - gemm_flops(convs[:1])  # conv1 needs no dx: two GEMMs
    rate = best_gemm_rate(rng, args.repeat)
    print(f"GEMM FLOPs of a training step (3 GEMMs per conv, 2 for conv1): {flops / 1e9:.1f} "
          f"GFLOP; best single GEMM rate {rate / 1e9:.1f} GFLOP/s -> floor "
          f"{1000 * flops / rate:.0f} ms/step")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
