"""One full ResNet18 training step, minifaceattr against PyTorch, on the same shapes.

A step is what a training loop does per batch: forward, binary cross-entropy with logits
over 40 attribute outputs, backward, SGD (momentum 0.9, weight decay 5e-4). Defaults:
batch 32 at 112×112 on the CPU, batch 144 at 224×224 on the GPU.

    python benchmarks/bench_train_step.py --device cpu
    python benchmarks/bench_train_step.py --device cuda
    python benchmarks/bench_train_step.py --device cpu --profile    # where our time goes

Each framework runs in its own child process (so each one's peak memory is its own), and
the two take their timed steps in turn, so that both see the same machine. Both start from
the same weights, images and labels, and the first losses are printed side by side as a
check that they compute the same thing. Results (images per second, the ratio, peak memory,
device and date) are written to benchmarks/results/. Each step's CPU time (all threads of the
child) is reported beside its wall time: on a shared machine, wall time includes waiting for
a core.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

DEFAULTS = {"cpu": dict(batch=32, size=112), "cuda": dict(batch=144, size=224)}
SGD_SETTINGS = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def make_problem(batch, size, seed=0):
    """Images, 0/1 labels for 40 attributes, and a state dict of float32 ResNet18 weights."""
    import minifaceattr as mfa
    from minifaceattr import models
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    y = (rng.random((batch, 40)) < 0.5).astype(np.float32)
    mfa.manual_seed(seed)
    return x, y, models.resnet18(num_classes=40).state_dict()


def peak_rss_mib():
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- minifaceattr ----------------------------------------------------------------------------

def setup_ours(args):
    """Build our model and data; return (step, synchronise, GPU memory in MiB or None)."""
    import minifaceattr as mfa
    import minifaceattr.functional as F
    from minifaceattr import models, optim
    from minifaceattr.functional import conv_fast, norm_fast
    if args.conv_version is not None:
        conv_fast.IM2COL_VERSION = conv_fast.COL2IM_VERSION = args.conv_version
        norm_fast.VERSION = min(args.conv_version, norm_fast.VERSION)  # 0: all the reference
    x, y, state = make_problem(args.batch, args.size)
    model = models.resnet18(num_classes=40)
    model.load_state_dict(state)
    model.to(args.device).train()
    opt = optim.SGD(model.parameters(), **SGD_SETTINGS)
    x, y = mfa.tensor(x, device=args.device), mfa.tensor(y, device=args.device)
    sync, memory = _cupy_hooks() if args.device == "cuda" else ((lambda: None), None)

    def step():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, sync, memory


def _cupy_hooks():
    import cupy
    pool = cupy.get_default_memory_pool()
    return cupy.cuda.Device().synchronize, lambda: pool.total_bytes() / 2 ** 20


# --- PyTorch (torchvision's ResNet18, written out with torch.nn) ----------------------------

def setup_torch(args):
    """The same for PyTorch."""
    import torch
    import torch.nn as tnn
    x, y, state = make_problem(args.batch, args.size)
    device = torch.device(args.device)
    model = torch_resnet18(tnn, num_classes=40)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), **SGD_SETTINGS)
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    if args.device == "cuda":
        # Plain fp32 on both sides: CuPy's GEMMs do not use TF32 unless told to (CUPY_TF32=1),
        # but PyTorch lets cuDNN convolutions use it by default.
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.torch_tf32
        sync, memory = torch.cuda.synchronize, lambda: torch.cuda.max_memory_reserved() / 2 ** 20
    else:
        sync, memory = (lambda: None), None

    def step():
        opt.zero_grad()
        loss = tnn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, sync, memory


def torch_resnet18(tnn, num_classes):
    class Block(tnn.Module):
        def __init__(self, cin, cout, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)

    def stage(cin, cout, stride):
        down = None if stride == 1 and cin == cout else tnn.Sequential(
            tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))
        return tnn.Sequential(Block(cin, cout, stride, down), Block(cout, cout))

    class ResNet18(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64)
            self.relu, self.maxpool = tnn.ReLU(inplace=True), tnn.MaxPool2d(3, 2, 1)
            self.layer1, self.layer2 = stage(64, 64, 1), stage(64, 128, 2)
            self.layer3, self.layer4 = stage(128, 256, 2), stage(256, 512, 2)
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


# --- timing: two child processes, one step each in turn -------------------------------------
# Each framework runs in its own process, so that each one's peak memory is its own; the
# parent asks them for one step at a time, alternately, so that both run under the same
# conditions even on a machine that other jobs share.

def serve(setup, args):
    """Child process: build, warm up, then time one step per "step" line read from stdin."""
    step, sync, memory = setup(args)
    rss_before = peak_rss_mib()
    losses = [step() for _ in range(args.warmup)]
    sync()
    print(json.dumps({"losses": losses}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = step()
        sync()
        print(json.dumps({"seconds": time.perf_counter() - start, "loss": loss,
                          "cpu_seconds": time.process_time() - cpu_start}), flush=True)
    result = dict(peak_rss_mib=peak_rss_mib(), rss_before_steps_mib=rss_before,
                  versions=versions(args))
    if memory is not None:
        result["gpu_peak_mib"] = memory()
    print(json.dumps(result), flush=True)


def versions(args):
    """Library versions and thread counts of this child process."""
    if args.only == "torch":
        import torch
        return {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    import minifaceattr as mfa
    return {"numpy": np.__version__, "blas_threads": mfa.get_num_threads()}


def same_threads_as_torch():
    """The environment for the children: our BLAS gets as many threads as PyTorch takes by
    default (one per core), unless the user chose; the library's own default (one thread on
    a 2-core machine, minifaceattr/threads.py) would otherwise make this an unequal race."""
    env = dict(os.environ)
    if not any(env.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                          "MKL_NUM_THREADS")):
        env["OPENBLAS_NUM_THREADS"] = str(os.cpu_count() or 1)
    return env


def run_interleaved(args, argv):
    """Start both children, alternate their timed steps, collect what each reports."""
    extra = {f"ours_v{v}": ["--conv-version", str(v)] for v in args.also_conv_versions}
    env = same_threads_as_torch()
    children = {name: subprocess.Popen([sys.executable, __file__, *argv, *extra.get(name, []),
                                        "--only", name.split("_")[0]], text=True, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                for name in ("ours", "torch", *extra)}
    results = {name: {"losses": _answer(child)["losses"], "all_seconds": [],
                      "all_cpu_seconds": []}
               for name, child in children.items()}
    for k in range(args.steps):
        order = list(children) if k % 2 == 0 else list(children)[::-1]
        for name in order:
            children[name].stdin.write("step\n")
            children[name].stdin.flush()
            answer = _answer(children[name])
            results[name]["all_seconds"].append(answer["seconds"])
            results[name]["all_cpu_seconds"].append(answer["cpu_seconds"])
            results[name]["losses"].append(answer["loss"])
    for name, child in children.items():
        child.stdin.write("done\n")
        child.stdin.close()
        results[name].update(_answer(child))
        child.wait()
        results[name]["seconds_per_step"] = float(np.median(results[name]["all_seconds"]))
        cpu = results[name]["all_cpu_seconds"]
        results[name]["cpu_seconds_per_step"] = float(np.median(cpu))
        results[name]["losses"] = results[name]["losses"][:3]
    return results


def _answer(child):
    line = child.stdout.readline()
    if not line:
        raise RuntimeError(f"benchmark child {child.args[-1]} stopped (its error is above)")
    return json.loads(line)


def profile_ours(args):
    """Time two of our steps (after one warm-up) per operator, forward and backward apart,
    then list the 15 costliest Python functions (cProfile)."""
    import cProfile
    import pstats
    from collections import defaultdict
    from minifaceattr.autograd import Function
    step, sync, _ = setup_ours(args)
    step()
    seconds = defaultdict(float)
    call, run_backward = Function.__call__, Function.run_backward

    def timed(method, label):
        def wrapper(fn, *a):
            start = time.perf_counter()
            try:
                return method(fn, *a)
            finally:
                seconds[type(fn).__name__, label] += time.perf_counter() - start
        return wrapper

    Function.__call__ = timed(call, "forward")
    Function.run_backward = timed(run_backward, "backward")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    for _ in range(2):
        profiler.runcall(step)
    sync()
    total = time.perf_counter() - start
    Function.__call__, Function.run_backward = call, run_backward
    print(f"two steps: {total:.2f} s; time per operator (both steps):")
    for (name, label), t in sorted(seconds.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {name:28s} {label:8s} {t:7.3f} s  {100 * t / total:5.1f} %")
    rest = total - sum(seconds.values())
    print(f"  {'(outside operators: optimiser, engine)':37s} {rest:7.3f} s  "
          f"{100 * rest / total:5.1f} %")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def device_description(device):
    if device == "cuda":
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--torch-tf32", action="store_true",
                        help="let PyTorch use TF32 on the GPU (off: compare fp32 with fp32)")
    parser.add_argument("--only", choices=["ours", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--conv-version", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--also-conv-versions", type=int, nargs="*", default=[],
                        help="also time our step with these im2col/col2im versions "
                             "(functional/conv_fast.py; 0 = the reference NumPy path, batch "
                             "norm's included), in turn with the others")
    parser.add_argument("--profile", action="store_true", help="cProfile our step instead")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    args.batch = args.batch or DEFAULTS[args.device]["batch"]
    args.size = args.size or DEFAULTS[args.device]["size"]

    if args.profile:
        return profile_ours(args)
    if args.only:  # a child process (see serve)
        return serve(setup_ours if args.only == "ours" else setup_torch, args)
    report(args, run_interleaved(args, sys.argv[1:]))


def report(args, results):
    ours, theirs = results["ours"], results["torch"]
    summary = dict(benchmark=("resnet18 training step (forward, BCE-with-logits x 40, backward, "
                              "SGD)"),
                   device=args.device, device_name=device_description(args.device),
                   date=datetime.datetime.now().isoformat(timespec="seconds"),
                   batch=args.batch, size=args.size, steps=args.steps, warmup=args.warmup,
                   torch_tf32=args.torch_tf32 if args.device == "cuda" else None,
                   numpy=np.__version__, python=platform.python_version(),
                   load_average_1min=os.getloadavg()[0], ours=ours, torch=theirs,
                   **{name: r for name, r in results.items() if name.startswith("ours_v")})
    lines = [f"ResNet18 training step on {args.device} ({summary['device_name']}), "
             f"batch {args.batch} at {args.size}x{args.size}, "
             f"load average {os.getloadavg()[0]:.1f}"]
    named = [("minifaceattr", ours), ("PyTorch", theirs)]
    named += [(f"ours, conv v{name[6:]}", r) for name, r in results.items()
              if name.startswith("ours_v")]
    for name, r in named:
        r["images_per_second"] = args.batch / r["seconds_per_step"]
        growth = r["peak_rss_mib"] - r["rss_before_steps_mib"]
        memory = (f"GPU pool {r['gpu_peak_mib']:.0f} MiB" if "gpu_peak_mib" in r else
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB (+{growth:.0f} during steps)")
        lines.append(f"  {name:13s} {r['seconds_per_step'] * 1000:9.1f} ms/step  "
                     f"(CPU {r['cpu_seconds_per_step'] * 1000:6.0f} ms)  "
                     f"{r['images_per_second']:8.1f} img/s  {memory}  "
                     f"first losses {[round(v, 5) for v in r['losses']]}")
    summary["time_ratio_ours_over_torch"] = ours["seconds_per_step"] / theirs["seconds_per_step"]
    lines.append(f"  ratio (our time / PyTorch's): {summary['time_ratio_ours_over_torch']:.2f}x")
    for name, r in results.items():
        if name.startswith("ours_v"):
            lines.append(f"  ratio with conv v{name[6:]}: "
                         f"{r['seconds_per_step'] / theirs['seconds_per_step']:.2f}x")
    print("\n".join(lines))
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(args.out, f"train_step_{args.device}_{stamp}.json")
    with open(path, "w") as f:
        json.dump({**summary, "summary": lines}, f, indent=2)
    print(f"written to {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
