"""How many of the project's kernels one ResNet18 training step launches on the CUDA path.

    python scripts/count_kernel_launches.py [--batch 2] [--size 32]

On a GPU it counts real CuPy launches; without one it runs through the CuPy stand-in of
``tests/cupy_standin.py`` (the same launches, executed by the emulator). It counts the
hand-written kernels only (``minifaceattr.kernels.LAUNCHES``), not CuPy's own: the cuBLAS
GEMMs and the element-wise array operations of the engine and the optimizer.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=32)
    args = p.parse_args()
    from minifaceattr.backend import has_gpu
    where = "GPU (CuPy)"
    if not has_gpu():
        sys.path.insert(0, str(ROOT / "tests"))
        import cupy_standin
        cupy_standin.install()
        where = "CuPy stand-in (no GPU here)"
    import minifaceattr as mfa
    import minifaceattr.functional as F
    from minifaceattr import models, optim
    from minifaceattr.kernels import LAUNCHES

    mfa.manual_seed(0)
    model = models.resnet18(num_classes=40).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    x = mfa.tensor(rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32),
                   device="cuda")
    t = mfa.tensor(rng.integers(0, 2, (args.batch, 40)).astype(np.float32), device="cuda")

    def step():
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), t).backward()
        opt.step()
    step()                      # the first step compiles; count the second
    LAUNCHES.clear()
    step()
    print(f"ResNet18 training step, batch {args.batch} at {args.size}x{args.size}, on {where}: "
          f"{sum(LAUNCHES.values())} kernel launches")
    for name, count in LAUNCHES.most_common():
        print(f"  {name:28s} {count}")


if __name__ == "__main__":
    main()
