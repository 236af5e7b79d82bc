"""Parameter counts of MGG-Net's variants against the paper's budget (≈ 11 M baseline,
≈ 12.8 M MGG-Net, so ≈ 1.8 M for GAL + GCL).

    python examples/parameter_table.py [--backbone resnet18] [--hidden-per-group 16]

Design choices that set the count, at 224×224 with ResNet18 (layer2: 128 channels,
layer3: 256 channels, G = 8 groups, A = 40 attributes):
- GAL per block: a 3×3 conv C → G·h (h = hidden channels per group) + BN + a per-group 1×1
  conv to one mask: 9·C·G·h + 2·G·h + G·h + G.
- GCL per block: W_g (G, C, C) and w_e (G, C): G·C² + G·C.
- Per-attribute classifiers per block, shared by GAL and GCL: A·C + A.
- Base head: a linear layer 512 → 40.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minifaceattr.models.backbones import BACKBONES  # noqa: E402
from minifaceattr.models.mggnet import MGGNet  # noqa: E402

PAPER = {"baseline": 11.0e6, "full": 12.8e6}


def count(module):
    return sum(p.numel() for p in module.parameters())


def main(argv=None):
    p = argparse.ArgumentParser(description="MGG-Net parameter counts")
    p.add_argument("--backbone", default="resnet18", choices=BACKBONES)
    p.add_argument("--hidden-per-group", type=int, default=32)
    args = p.parse_args(argv)
    print(f"{'variant':<12} {'total':>12} {'backbone':>12} {'GAL':>10} {'GCL':>10} "
          f"{'classif.':>10} {'paper':>8}")
    for variant in ("baseline", "independent", "no_gcl", "full"):
        model = MGGNet(variant=variant, backbone=args.backbone,
                       hidden_per_group=args.hidden_per_group)
        parts = [count(model.backbone) + count(model.fc), count(model.gal), count(model.gcl),
                 count(model.classifiers)]
        in_paper = variant in PAPER and args.backbone == "resnet18"
        paper = f"{PAPER[variant] / 1e6:.1f} M" if in_paper else ""
        print(f"{variant:<12} {count(model):>12,} {parts[0]:>12,} {parts[1]:>10,} {parts[2]:>10,} "
              f"{parts[3]:>10,} {paper:>8}")


if __name__ == "__main__":
    main()
