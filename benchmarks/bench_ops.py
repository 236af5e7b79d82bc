"""Forward + backward time of each operator on ResNet18's real layer shapes, against PyTorch.

    python benchmarks/bench_ops.py --device cpu      # batch 32 at 112×112, float32
    python benchmarks/bench_ops.py --device cuda     # batch 144 at 224×224, float32
    python benchmarks/bench_ops.py --device cpu --only conv2d --repeats 9

For every case the script times minifaceattr and PyTorch (when installed) on the same arrays,
alternating the two so that both see the same machine load (each timed run after an untimed
one of the same framework, so that the other's idle-spinning threads are not counted; the two
still share one process, so bench_train_step.py, which gives each its own, is the better
whole-model comparison). It reports the median of the repeats, the fastest run, and the ratios
ours / PyTorch of the medians and of the fastest runs (on a shared, busy machine the fastest
run is the better estimate of what the code can do). On a GPU each timed run ends with a
device synchronisation. Memory-bound operators also report their achieved bandwidth, the bytes
they must move divided by the median time, next to the bandwidth of a plain device-to-device
copy measured in the same run.
Totals weight each shape by how many times ResNet18 runs it. Results, with the device and the
date, go to benchmarks/results/ops-<device>-<date>.{md,json}.

Adding operators: write a function that takes the run's ``Context`` and yields ``Case``s,
and decorate it with ``@register``; ``Context.shapes`` has ResNet18's layer shapes:

    @register
    def batch_norm_cases(ctx):
        for name, (c, h) in ctx.shapes.activations.items():
            x = ctx.array((ctx.batch, c, h, h))
            ...
            yield Case("batch_norm", name, ours=run_ours, theirs=run_torch or None,
                       bytes_moved=..., count=...)
"""
import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

import minifaceattr as mfa                   # noqa: E402
import minifaceattr.functional as F          # noqa: E402
from minifaceattr.functional.conv import output_size  # noqa: E402

DEFAULTS = {"cpu": dict(batch=32, size=112, repeats=5),
            "cuda": dict(batch=144, size=224, repeats=20)}


# --- the registry ----------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    """One operator on one shape. ``ours`` and ``theirs`` each run forward + backward once
    (``theirs`` is None where PyTorch has no counterpart or is not installed). ``bytes_moved``
    is the least data that forward + backward must read and write (for memory-bound operators;
    None for compute-bound ones). ``count``: how many times ResNet18 runs this shape."""
    op: str
    shape: str
    ours: Callable[[], None]
    theirs: Optional[Callable[[], None]] = None
    bytes_moved: Optional[int] = None
    count: int = 1


CASE_BUILDERS = []


def register(builder):
    """Add a function ``builder(ctx) -> iterable of Case`` to the benchmark."""
    CASE_BUILDERS.append(builder)
    return builder


# --- ResNet18's shapes -----------------------------------------------------------------------

@dataclasses.dataclass
class ResNet18Shapes:
    """The layers of torchvision's ResNet18 at a given input size.

    convs: (name, C_in, C_out, kernel, stride, padding, H_in, count): each distinct convolution
    and how many times the network runs it. activations: name -> (channels, H) of the feature
    maps (the inputs of batch norm, ReLU, pooling).
    """
    convs: list
    activations: dict

    @classmethod
    def at(cls, size):
        h1 = output_size(size, 7, 2, 3)          # conv1
        h2 = output_size(h1, 3, 2, 1)            # max pool -> layer1
        h3 = output_size(h2, 3, 2, 1)            # layer2
        h4 = output_size(h3, 3, 2, 1)            # layer3
        h5 = output_size(h4, 3, 2, 1)            # layer4
        convs = [("conv1", 3, 64, 7, 2, 3, size, 1),
                 ("layer1", 64, 64, 3, 1, 1, h2, 4),
                 ("layer2.0.conv1", 64, 128, 3, 2, 1, h2, 1),
                 ("layer2.0.downsample", 64, 128, 1, 2, 0, h2, 1),
                 ("layer2", 128, 128, 3, 1, 1, h3, 3),
                 ("layer3.0.conv1", 128, 256, 3, 2, 1, h3, 1),
                 ("layer3.0.downsample", 128, 256, 1, 2, 0, h3, 1),
                 ("layer3", 256, 256, 3, 1, 1, h4, 3),
                 ("layer4.0.conv1", 256, 512, 3, 2, 1, h4, 1),
                 ("layer4.0.downsample", 256, 512, 1, 2, 0, h4, 1),
                 ("layer4", 512, 512, 3, 1, 1, h5, 3)]
        activations = {"conv1": (64, h1), "layer1": (64, h2), "layer2": (128, h3),
                       "layer3": (256, h4), "layer4": (512, h5)}
        return cls(convs, activations)


# --- the run's context -----------------------------------------------------------------------

class Context:
    """What a case builder needs: device, batch, shapes, random float32 arrays on the device,
    PyTorch (or None) and its tensors on the same device."""

    def __init__(self, device, batch, size, use_torch=True):
        self.device, self.batch, self.size = device, batch, size
        self.shapes = ResNet18Shapes.at(size)
        self.rng = np.random.default_rng(0)
        self.xp = np
        if device == "cuda":
            self.xp = mfa.backend.import_cupy()
        self.torch = import_torch() if use_torch else None

    def array(self, shape, scale=1.0):
        """Random normal float32 values of ``shape`` on the device."""
        a = (scale * self.rng.standard_normal(shape)).astype(np.float32)
        return mfa.backend.to_device(a, self.device)

    def tensor(self, array, requires_grad=True):
        """A minifaceattr leaf over ``array`` (no copy)."""
        return mfa.Tensor(array, requires_grad=requires_grad)

    def torch_tensor(self, array, requires_grad=True):
        """A PyTorch leaf with the values of ``array``, on the same device."""
        t = self.torch.as_tensor(mfa.backend.to_numpy(array), device=self.device)
        return t.requires_grad_(requires_grad)

    def sync(self):
        """Wait for queued GPU work (both frameworks), so that a timing covers all of it."""
        if self.device == "cuda":
            self.xp.cuda.Device().synchronize()
            if self.torch is not None:
                self.torch.cuda.synchronize()


def import_torch():
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: timing minifaceattr alone (pip install torch)")
        return None
    return torch


# --- the operators of this file: conv2d and pooling ------------------------------------------

@register
def conv2d_cases(ctx):
    """Every distinct convolution of ResNet18, without bias (it is followed by batch norm).
    conv1's input is the image, which needs no gradient: neither framework computes dx."""
    for name, c_in, c_out, k, stride, pad, h, count in ctx.shapes.convs:
        x, w = ctx.array((ctx.batch, c_in, h, h)), ctx.array((c_out, c_in, k, k), 0.05)
        h_out = output_size(h, k, stride, pad)
        gy = ctx.array((ctx.batch, c_out, h_out, h_out))
        needs_dx = name != "conv1"

        def ours(x=x, w=w, gy=gy, stride=stride, pad=pad, needs_dx=needs_dx):
            y = F.conv2d(ctx.tensor(x, needs_dx), ctx.tensor(w), stride=stride, padding=pad)
            y.backward(gy)

        theirs = None
        if ctx.torch is not None:
            xt, wt, gyt = ctx.torch_tensor(x, needs_dx), ctx.torch_tensor(w), ctx.torch_tensor(gy)

            def theirs(xt=xt, wt=wt, gyt=gyt, stride=stride, pad=pad):
                wt.grad = xt.grad = None
                y = ctx.torch.nn.functional.conv2d(xt, wt, stride=stride, padding=pad)
                y.backward(gyt)

        shape = f"{name} {c_in}→{c_out} {k}×{k}/{stride} @{h}×{h}"
        yield Case("conv2d", shape, ours, theirs, count=count)


def pool_case(ctx, op, x_shape, y_shape, ours_fn, torch_fn, bytes_moved, shape):
    """A pooling case: forward on x, backward from a random gradient of the output."""
    x, gy = ctx.array(x_shape), ctx.array(y_shape)

    def ours():
        ours_fn(ctx.tensor(x)).backward(gy)

    theirs = None
    if ctx.torch is not None:
        xt, gyt = ctx.torch_tensor(x), ctx.torch_tensor(gy)

        def theirs():
            xt.grad = None
            torch_fn(xt).backward(gyt)

    return Case(op, shape, ours, theirs, bytes_moved=bytes_moved)


@register
def pooling_cases(ctx):
    """ResNet18's max pool (3×3, stride 2, padding 1, after conv1), an average pool of the same
    window on the same map, and the global average pool before the classifier.

    Bytes moved (float32 and int32 are 4 bytes): max pool reads x and writes y and argmax,
    then reads gy and argmax and writes dx; average pooling has no argmax; GAP reads x and
    writes y, reads gy and writes dx."""
    c, h = ctx.shapes.activations["conv1"]
    h_out = output_size(h, 3, 2, 1)
    x_shape, y_shape = (ctx.batch, c, h, h), (ctx.batch, c, h_out, h_out)
    nx, ny = np.prod(x_shape), np.prod(y_shape)
    tf = ctx.torch.nn.functional if ctx.torch is not None else None
    where = f"after conv1 {c}×{h}×{h}, 3×3/2 pad 1"
    yield pool_case(ctx, "max_pool2d", x_shape, y_shape, lambda x: F.max_pool2d(x, 3, 2, 1),
                    tf and (lambda x: tf.max_pool2d(x, 3, 2, 1)), 4 * (2 * nx + 4 * ny), where)
    yield pool_case(ctx, "avg_pool2d", x_shape, y_shape, lambda x: F.avg_pool2d(x, 3, 2, 1),
                    tf and (lambda x: tf.avg_pool2d(x, 3, 2, 1)), 4 * (2 * nx + 2 * ny), where)

    c, h = ctx.shapes.activations["layer4"]
    x_shape, y_shape = (ctx.batch, c, h, h), (ctx.batch, c)
    nx, ny = np.prod(x_shape), np.prod(y_shape)
    yield pool_case(ctx, "global_avg_pool2d", x_shape, y_shape, F.global_avg_pool2d,
                    tf and (lambda x: tf.adaptive_avg_pool2d(x, 1).flatten(1)),
                    4 * (2 * nx + 2 * ny), f"after layer4 {c}×{h}×{h}")


import bench_norm_loss  # noqa: E402  (batch norm and the losses, in their own file)

bench_norm_loss.add_cases(register, Case)


# --- timing ----------------------------------------------------------------------------------

def time_once(fn, ctx):
    ctx.sync()
    start = time.perf_counter()
    fn()
    ctx.sync()
    return time.perf_counter() - start


def time_pair(case, ctx, repeats):
    """Seconds of each run of ours and theirs, alternated, after one warm-up run of each.

    Every timed run follows an untimed run of the same function: right after a NumPy (BLAS)
    call, OpenBLAS's worker threads keep spinning on the cores for a while, and so do
    PyTorch's after its own; a run timed straight after the other framework's measured
    both (a PyTorch convolution took twice as long right after a NumPy GEMM)."""
    runs = {"ours": case.ours, "theirs": case.theirs}
    runs = {k: f for k, f in runs.items() if f is not None}
    times = {k: [] for k in runs}
    for fn in runs.values():
        fn()                                   # warm-up: kernel compilation, allocator pools
    for _ in range(repeats):
        for k, fn in runs.items():
            fn()                               # settles the other framework's threads
            times[k].append(time_once(fn, ctx))
    return times


def copy_bandwidth(ctx, megabytes=256, repeats=10):
    """GB/s of a device-to-device copy (read + write counted), the ceiling for memory-bound
    operators on this machine."""
    xp = ctx.xp
    src = xp.ones(megabytes * 2**20 // 4, np.float32)
    dst = xp.empty_like(src)
    times = []
    for _ in range(repeats + 1):
        times.append(time_once(lambda: xp.copyto(dst, src), ctx))
    return 2 * src.nbytes / statistics.median(times[1:]) / 1e9


def describe_device(ctx):
    """The machine in words, for the results file."""
    if ctx.device == "cuda":
        props = ctx.xp.cuda.runtime.getDeviceProperties(0)
        return f"{props['name'].decode()} (CuPy {ctx.xp.__version__})"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    blas = np.show_config("dicts")["Build Dependencies"]["blas"]["name"]
    return f"{model}, {os.cpu_count()} CPUs, NumPy {np.__version__} ({blas})"


def run(args):
    ctx = Context(args.device, args.batch, args.size, use_torch=not args.no_torch)
    if ctx.torch is not None and args.device == "cpu":
        ctx.torch.set_num_threads(os.cpu_count())
    if ctx.torch is not None and args.device == "cuda":
        # Like for like: our GEMMs are plain float32 (cuBLAS SGEMM through CuPy), while
        # PyTorch lets cuDNN convolutions use TF32 tensor cores by default.
        ctx.torch.backends.cudnn.allow_tf32 = False
        ctx.torch.backends.cuda.matmul.allow_tf32 = False
    copy_gbs = copy_bandwidth(ctx)
    print(f"{describe_device(ctx)}; batch {args.batch} at {args.size}×{args.size}, float32; "
          f"device-to-device copy {copy_gbs:.1f} GB/s")
    rows = []
    for builder in CASE_BUILDERS:
        for case in builder(ctx):
            if args.only and args.only not in f"{case.op} {case.shape}":
                continue
            times = time_pair(case, ctx, args.repeats)
            row = summarise(case, times, copy_gbs)
            rows.append(row)
            print(format_row(row), flush=True)
    return ctx, copy_gbs, rows


def summarise(case, times, copy_gbs):
    ours = statistics.median(times["ours"])
    row = dict(op=case.op, shape=case.shape, count=case.count, ours_ms=1e3 * ours,
               ours_min_ms=1e3 * min(times["ours"]))
    if "theirs" in times:
        theirs = statistics.median(times["theirs"])
        row.update(torch_ms=1e3 * theirs, torch_min_ms=1e3 * min(times["theirs"]),
                   ratio=ours / theirs, ratio_of_fastest=min(times["ours"]) / min(times["theirs"]))
    if case.bytes_moved:
        row.update(ours_gbs=case.bytes_moved / ours / 1e9,
                   copy_fraction=case.bytes_moved / ours / 1e9 / copy_gbs)
        if "theirs" in times:
            row["torch_gbs"] = case.bytes_moved / theirs / 1e9
    return row


def format_row(r):
    text = f"{r['op']:<18} {r['shape']:<42} ours {r['ours_ms']:9.2f} ms"
    if "torch_ms" in r:
        text += (f"  torch {r['torch_ms']:9.2f} ms  ratio {r['ratio']:5.2f} "
                 f"({r['ratio_of_fastest']:.2f})")
    if "ours_gbs" in r:
        text += f"  {r['ours_gbs']:7.1f} GB/s ({100 * r['copy_fraction']:.0f}% of copy)"
    return text


def totals(rows):
    """Per operator: Σ count × time over its shapes (ResNet18's total time in that operator),
    medians and fastest runs, for ours and, where every shape has one, PyTorch."""
    out = {}
    for op in dict.fromkeys(r["op"] for r in rows):
        mine = [r for r in rows if r["op"] == op]
        entry = dict(ours_ms=sum(r["count"] * r["ours_ms"] for r in mine))
        entry["ours_min_ms"] = sum(r["count"] * r["ours_min_ms"] for r in mine)
        if all("torch_ms" in r for r in mine):
            entry["torch_ms"] = sum(r["count"] * r["torch_ms"] for r in mine)
            entry["torch_min_ms"] = sum(r["count"] * r["torch_min_ms"] for r in mine)
            entry["ratio"] = entry["ours_ms"] / entry["torch_ms"]
            entry["ratio_of_fastest"] = entry["ours_min_ms"] / entry["torch_min_ms"]
        out[op] = entry
    return out


def write_results(args, ctx, copy_gbs, rows):
    """benchmarks/results/ops-<device>-<date>.md and .json."""
    now = datetime.datetime.now()
    torch_version = ctx.torch.__version__ if ctx.torch is not None else "not installed"
    meta = dict(device=describe_device(ctx), date=now.isoformat(timespec="seconds"),
                batch=args.batch, size=args.size, repeats=args.repeats, dtype="float32",
                torch=torch_version, copy_gbs=copy_gbs,
                torch_tf32="off (like-for-like float32)" if args.device == "cuda" else "n/a")
    summary = totals(rows)
    folder = os.path.join(HERE, "results")
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, f"ops-{args.device}-{now:%Y%m%d-%H%M%S}")
    with open(stem + ".json", "w") as f:
        json.dump(dict(meta=meta, rows=rows, totals=summary), f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(meta, rows, summary))
    return stem


def markdown(meta, rows, summary):
    lines = [f"# Operator benchmark: {meta['device']}", "",
             f"{meta['date']}; batch {meta['batch']} at {meta['size']}×{meta['size']}, float32, "
             f"forward + backward, median of {meta['repeats']} runs (fastest run in brackets); "
             f"PyTorch {meta['torch']}; device-to-device copy {meta['copy_gbs']:.1f} GB/s.", "",
             "| operator | shape | × in ResNet18 | ours ms | PyTorch ms | ours / PyTorch "
             "(fastest runs) | GB/s (% of copy) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        torch_ms = f"{r['torch_ms']:.2f} ({r['torch_min_ms']:.2f})" if "torch_ms" in r else "–"
        ratio = f"{r['ratio']:.2f} ({r['ratio_of_fastest']:.2f})" if "ratio" in r else "–"
        gbs = f"{r['ours_gbs']:.1f} ({100 * r['copy_fraction']:.0f}%)" if "ours_gbs" in r else ""
        lines.append(f"| {r['op']} | {r['shape']} | {r['count']} | {r['ours_ms']:.2f} "
                     f"({r['ours_min_ms']:.2f}) | {torch_ms} | {ratio} | {gbs} |")
    lines += ["", "Totals over ResNet18 (Σ count × median; fastest runs in brackets):", ""]
    for op, t in summary.items():
        versus = (f", PyTorch {t['torch_ms']:.1f} ms ({t['torch_min_ms']:.1f}), ratio "
                  f"{t['ratio']:.2f} ({t['ratio_of_fastest']:.2f})") if "ratio" in t else ""
        lines.append(f"- {op}: ours {t['ours_ms']:.1f} ms ({t['ours_min_ms']:.1f}){versus}")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, help="default: 32 on cpu, 144 on cuda")
    p.add_argument("--size", type=int, help="input height and width; default 112 cpu, 224 cuda")
    p.add_argument("--repeats", type=int, help="timed runs per case; default 5 cpu, 20 cuda")
    p.add_argument("--only", help="run the cases whose 'op shape' contains this text")
    p.add_argument("--no-torch", action="store_true", help="time minifaceattr alone")
    p.add_argument("--no-save", action="store_true", help="print only; write no results file")
    args = p.parse_args(argv)
    for key, value in DEFAULTS[args.device].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    ctx, copy_gbs, rows = run(args)
    for op, t in totals(rows).items():
        versus = (f"  torch {t['torch_ms']:9.1f} ms  ratio {t['ratio']:5.2f} "
                  f"({t['ratio_of_fastest']:.2f})") if "ratio" in t else ""
        print(f"total {op:<18} (ResNet18, Σ count × median)  ours {t['ours_ms']:9.1f} ms{versus}")
    if not args.no_save:
        print("results:", write_results(args, ctx, copy_gbs, rows) + ".{md,json}")


if __name__ == "__main__":
    main()
