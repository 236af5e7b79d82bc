"""Do MGG-Net's group masks look where their attributes are? Scores for trained runs.

    python benchmarks/mask_localisation.py --train          # train the two drawn-face runs first
    python benchmarks/mask_localisation.py --real full=runs/real_faces-.../full-seed0 \\
        --real independent=runs/real_faces-.../independent-seed0

Drawn faces (SynthFaces, whose drawing code knows each part's true region): for the
``full`` and ``independent`` runs in ``--synthetic-runs`` (trained by ``--train`` with
``SYNTH_ARGS`` when absent), each group mask's share of mass inside its group's region on
the test faces, against a uniform mask's share (ratio 1 = no localisation). For the
independent variant each attribute's mask is scored on its group's region and the scores
are averaged over the group. Holistic has no region and is left out.

Real aligned faces (``--real NAME=RUN``, test split of ``--data-root``): each group's mean
mask mass per horizontal band, top to bottom, and the height of its centre of mass (0 top,
1 bottom; 0.5 for a uniform mask). Results: ``benchmarks/results/mask_localisation.md``.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import minifaceattr as mfa  # noqa: E402
from minifaceattr.data import CelebA, SynthFaces, transforms  # noqa: E402
from minifaceattr.data.attributes import ATTRIBUTES, GROUPS  # noqa: E402
from minifaceattr.localisation import band_profile, mass_centre_height, region_shares  # noqa: E402
from predict import load_model  # noqa: E402

SYNTH_ARGS = ["--image-size", "64", "--width", "16", "--train-size", "2000", "--test-size", "500",
              "--epochs", "4", "--milestones", "3", "--batch-size", "32", "--workers", "1"]
REGION_GROUPS = [g for g in GROUPS if g != "Holistic"]


def masks_of(model, images, batch=100):
    """{block: (N, M, h, w)} masks of ``model`` over ``images`` (N, 3, H, W), no gradients."""
    out = {}
    with mfa.no_grad():
        for start in range(0, len(images), batch):
            result = model(mfa.tensor(images[start:start + batch]))
            for block, m in result.masks.items():
                out.setdefault(block, []).append(m.numpy())
    return {block: np.concatenate(parts) for block, parts in out.items()}


def mask_groups(model):
    """For each mask of the model, the group whose region scores it."""
    if model.variant == "independent":
        owner = {a: g for g, members in GROUPS.items() for a in members}
        return [owner[a] for a in ATTRIBUTES]
    return list(model.group_names)


def synthetic_scores(run, n):
    """{block: {group: (share, uniform, ratio)}} on the first n test faces of the run's data."""
    model, settings = load_model(Path(run) / "checkpoint.npz")
    size = settings["image_size"]
    test = SynthFaces(n, image_size=size, seed=0, split="test", verbose=False)
    norm = transforms.Compose([transforms.ToArray(), transforms.Normalize()])
    images = np.stack([norm(test[i][0]) for i in range(n)])
    owners = mask_groups(model)
    keep = [k for k, g in enumerate(owners) if g in REGION_GROUPS]
    regions = [test.part_regions(i) for i in range(n)]
    region_stack = np.stack([[r[owners[k]] for k in keep] for r in regions])
    scores = {}
    for block, masks in masks_of(model, images).items():
        s = region_shares(masks[:, keep], region_stack)
        scores[block] = {g: tuple(float(np.mean(s[key][[owners[k] == g for k in keep]]))
                                  for key in ("share", "uniform", "ratio"))
                         for g in REGION_GROUPS}
    return scores


def real_profiles(run, data_root):
    """{block: (bands (G, h), centre heights (G,))} over the test faces of ``data_root``."""
    model, settings = load_model(Path(run) / "checkpoint.npz")
    tf = transforms.Compose([transforms.CenterSquareCrop(),
                             transforms.Resize(settings["image_size"]),
                             transforms.ToArray(), transforms.Normalize()])
    test = CelebA(data_root, "test")
    images = np.stack([tf(test[i][0]) for i in range(len(test))])
    owners = np.array(mask_groups(model))
    out = {}
    for block, masks in masks_of(model, images).items():
        bands, centre = band_profile(masks), mass_centre_height(masks)
        out[block] = (np.stack([bands[owners == g].mean(0) for g in GROUPS]),
                      np.array([centre[owners == g].mean() for g in GROUPS]))
    return out


def synthetic_table(name, scores):
    lines = [f"### {name} (drawn faces): mask mass inside the group's region", "",
             "| block | " + " | ".join(REGION_GROUPS) + " | mean ratio |",
             "|---" * (len(REGION_GROUPS) + 2) + "|"]
    for block, by_group in scores.items():
        cells = [f"{s:.2f} / {u:.2f} ({r:.2f}×)" for s, u, r in by_group.values()]
        mean_ratio = np.mean([r for _, _, r in by_group.values()])
        lines.append(f"| {block} | " + " | ".join(cells) + f" | {mean_ratio:.2f} |")
    return lines + ["", "Each cell: share inside / a uniform mask's share (their ratio).", ""]


def real_table(name, profiles):
    lines = [f"### {name} (real faces): centre-of-mass height of each group's mask "
             "(0 top, 1 bottom; uniform 0.50) and mass per band, top to bottom", ""]
    for block, (bands, centre) in profiles.items():
        lines += [f"| {block} | centre | " + " | ".join(f"band {k + 1}" for k in
                                                       range(bands.shape[1])) + " |",
                  "|---" * (bands.shape[1] + 2) + "|"]
        for g, row, c in zip(GROUPS, bands, centre):
            lines.append(f"| {g} | {c:.2f} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
        lines.append("")
    return lines


def train_synthetic(runs_dir):
    for variant in ("full", "independent"):
        out = runs_dir / variant
        if not (out / "metrics.json").is_file():
            subprocess.run([sys.executable, str(ROOT / "examples" / "train_lfwa.py"),
                            "--variant", variant, "--out", str(out), "--device", "cpu",
                            *SYNTH_ARGS], check=True, cwd=ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description="MGG-Net mask localisation scores")
    p.add_argument("--synthetic-runs", default="runs/mask_localisation_synth",
                   help="folder holding the drawn-face runs full/ and independent/")
    p.add_argument("--train", action="store_true", help="train the drawn-face runs if absent")
    p.add_argument("--faces", type=int, default=500, help="drawn test faces to score")
    p.add_argument("--real", action="append", default=[], help="NAME=RUN_FOLDER on real faces")
    p.add_argument("--data-root", default="../shared/data/celeba-10k-half")
    p.add_argument("--out", default="benchmarks/results/mask_localisation.md")
    args = p.parse_args(argv)
    runs_dir = ROOT / args.synthetic_runs
    if args.train:
        train_synthetic(runs_dir)
    lines = ["# MGG-Net mask localisation", "",
             f"Drawn faces: runs trained by `train_lfwa.py {' '.join(SYNTH_ARGS)}`; "
             f"{args.faces} test faces.", ""]
    for variant in ("full", "independent"):
        if (runs_dir / variant / "checkpoint.npz").is_file():
            lines += synthetic_table(variant, synthetic_scores(runs_dir / variant, args.faces))
    for spec in args.real:
        name, run = spec.split("=", 1)
        lines += real_table(name, real_profiles(ROOT / run, args.data_root))
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
