"""Figures and affinity numbers of trained MGG-Net runs on the real test faces.

    python benchmarks/real_faces_figures.py --figures runs/real_faces-.../full-seed0 \\
        --affinity full=runs/real_faces-.../full-seed0 --affinity sqrt=runs/.../full-sqrt-seed0

``--figures RUN`` writes to ``docs/figures/``: ``real_faces_masks.jpg`` (the paper's Fig. 2:
the group masks of both blocks over three test faces), ``real_faces_affinity_<block>.png``
(the GCL affinity e_ij averaged over the test faces; row i reads from column j) and
``real_faces_attribute_accuracy.png`` (per-attribute test accuracy, with the majority rule
as a tick). ``--affinity NAME=RUN`` (repeatable) adds the run's mean affinity matrices and
their spread (max − min over j ≠ i of each row; 0 = uniform 1/7) to
``benchmarks/results/real_faces_affinity.md``.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import minifaceattr as mfa  # noqa: E402
from minifaceattr import viz  # noqa: E402
from minifaceattr.data import CelebA, transforms  # noqa: E402
from minifaceattr.data.attributes import ATTRIBUTES, GROUPS  # noqa: E402
from predict import load_model  # noqa: E402


def test_faces(data_root, image_size):
    tf = transforms.Compose([transforms.CenterSquareCrop(), transforms.Resize(image_size),
                             transforms.ToArray(), transforms.Normalize()])
    train, test = CelebA(data_root, "train"), CelebA(data_root, "test")
    return train, test, np.stack([tf(test[i][0]) for i in range(len(test))])


def forward_all(model, images, batch=100):
    """({block: masks (N, G, h, w)}, {block: affinity (N, G, G)}) over all images."""
    masks, affinity = {}, {}
    with mfa.no_grad():
        for start in range(0, len(images), batch):
            out = model(mfa.tensor(images[start:start + batch]))
            for block, m in out.masks.items():
                masks.setdefault(block, []).append(m.numpy())
            for block, e in out.affinity.items():
                affinity.setdefault(block, []).append(e.numpy())
    return ({b: np.concatenate(v) for b, v in masks.items()},
            {b: np.concatenate(v) for b, v in affinity.items()})


def row_spread(e):
    """max − min over j ≠ i of each row of a (G, G) affinity."""
    off = ~np.eye(len(e), dtype=bool)
    return np.ptp(e[off].reshape(len(e), -1), axis=1)


def make_figures(run, data_root, folder):
    model, settings = load_model(Path(run) / "checkpoint.npz")
    train, test, images = test_faces(data_root, settings["image_size"])
    masks, affinity = forward_all(model, images)
    names = list(model.group_names)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [viz.plot_attention_masks(images[:3], {b: m[:3] for b, m in masks.items()}, names,
                                      folder / "real_faces_masks.jpg",
                                      mean=transforms.IMAGENET_MEAN, std=transforms.IMAGENET_STD)]
    for block, e in affinity.items():
        paths.append(viz.plot_affinity(e, names, folder / f"real_faces_affinity_{block}.png",
                                       title=f"GCL affinity at {block}, mean over "
                                             f"{len(e)} real test faces"))
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    majority = (train.labels.mean(axis=0) > 0.5).astype(int)
    majority_acc = {a: float((test.labels[:, k] == majority[k]).mean())
                    for k, a in enumerate(ATTRIBUTES)}
    paths.append(viz.plot_attribute_accuracy(metrics["per_attribute"], GROUPS,
                                             folder / "real_faces_attribute_accuracy.png",
                                             title=f"{Path(run).name}: test accuracy per "
                                                   "attribute, real faces",
                                             baseline=majority_acc, baseline_label="majority rule"))
    return paths


def affinity_lines(name, run, data_root):
    model, settings = load_model(Path(run) / "checkpoint.npz")
    _, _, images = test_faces(data_root, settings["image_size"])
    _, affinity = forward_all(model, images)
    names = list(model.group_names)
    scale = settings.get("gcl_score_scale", 1.0)
    lines = [f"### {name} ({Path(run).name}, gcl_score_scale {scale})", ""]
    for block, e in affinity.items():
        mean = e.mean(axis=0)
        spread = row_spread(mean)
        per_face = np.mean([row_spread(x).mean() for x in e])
        lines += [f"{block}: mean e_ij over {len(e)} test faces; row spread (max − min) mean "
                  f"{spread.mean():.3f}, largest {spread.max():.3f}; per-face row spread mean "
                  f"{per_face:.3f}", "",
                  "| i \\ j | " + " | ".join(names) + " | spread |",
                  "|---" * (len(names) + 2) + "|"]
        for i, row in enumerate(mean):
            cells = ["–" if i == j else f"{v:.3f}" for j, v in enumerate(row)]
            lines.append(f"| {names[i]} | " + " | ".join(cells) + f" | {spread[i]:.3f} |")
        lines.append("")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description="real-face figures and affinity numbers")
    p.add_argument("--figures", help="run folder to draw the README figures from")
    p.add_argument("--affinity", action="append", default=[], help="NAME=RUN_FOLDER")
    p.add_argument("--data-root", default="../shared/data/celeba-10k-half")
    p.add_argument("--out-dir", default="docs/figures")
    args = p.parse_args(argv)
    if args.figures:
        for path in make_figures(ROOT / args.figures, args.data_root, ROOT / args.out_dir):
            print(path)
    if args.affinity:
        lines = ["# GCL affinity on real test faces", ""]
        for spec in args.affinity:
            name, run = spec.split("=", 1)
            lines += affinity_lines(name, ROOT / run, args.data_root)
        out = ROOT / "benchmarks" / "results" / "real_faces_affinity.md"
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
