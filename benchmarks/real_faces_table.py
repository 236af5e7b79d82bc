"""MGG-Net and its ablations on real CelebA faces: train a queue of runs, then tabulate them.

    python benchmarks/real_faces_table.py --data-root ../shared/data/celeba-10k-half   # run + table
    python benchmarks/real_faces_table.py --collect     # only rewrite the table from finished runs

Each run is ``examples/train_celeba.py`` with the settings in ``SETTINGS`` (a CPU budget: 64×64
input, ResNet18 at width 16, batch 64, SGD lr 0.05 with momentum, 3 epochs, lr ÷ 10 after
the 2nd), on the dataset's train split, scored on its test split (other people). The queue
runs one job at a time, most informative first (``full`` and ``baseline`` seeds 0–2, then
``no_gcl`` and ``independent``, then ``full-sqrt`` and ``--balanced``); a finished run (its
metrics.json) is never redone, an interrupted one is resumed from its checkpoint, so the
script can be stopped and started again. ``--only N`` stops after the first N runs of the queue.

The table goes to ``benchmarks/results/real_faces.md`` (and ``real_faces.json``): for each
configuration the mean ± sample standard deviation over its seeds of the mean accuracy,
the balanced accuracy and each group's mean accuracy, the seeds' minimum and maximum, and the
majority rule (always answering each attribute's most common training value).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(image_size=64, width=16, batch_size=64, epochs=3, lr=0.05, milestones=[2])
TAG = "s{image_size}-w{width}-e{epochs}".format(**SETTINGS)
QUEUE = ([(v, s, False) for s in range(3) for v in ("full", "baseline")]
         + [(v, s, False) for s in range(2) for v in ("no_gcl", "independent")]
         + [("full-sqrt", 0, False), ("no_gcl", 2, False), ("independent", 2, False),
            ("full", 0, True), ("baseline", 0, True)]
         + [("full-sqrt", s, False) for s in (1, 2)]
         + [(v, s, True) for s in (1, 2) for v in ("full", "baseline")])
ORDER = ["full", "full-sqrt", "no_gcl", "independent", "baseline"]
# full-sqrt: the full model with GCL's score vectors scaled by √C (MGGNet(gcl_score_scale="sqrt"))


def run_name(variant, seed, balanced):
    return f"{variant}{'-balanced' if balanced else ''}-seed{seed}"


def command(data_root, out, variant, seed, balanced, resume):
    s = SETTINGS
    scale = ["--gcl-score-scale", "sqrt"] if variant == "full-sqrt" else []
    cmd = [sys.executable, str(ROOT / "examples" / "train_celeba.py"), "--data-root", data_root,
           "--variant", variant.split("-")[0], *scale, "--seed", str(seed), "--out", str(out),
           "--device", "cpu",
           "--image-size", str(s["image_size"]), "--width", str(s["width"]),
           "--batch-size", str(s["batch_size"]), "--epochs", str(s["epochs"]),
           "--lr", str(s["lr"]), "--milestones", *map(str, s["milestones"]), "--workers", "1"]
    return cmd + (["--balanced"] if balanced else []) + (["--resume"] if resume else [])


def run_queue(data_root, runs_dir, only=None):
    """Train every run of QUEUE that has no metrics.json yet, one after the other."""
    for k, (variant, seed, balanced) in enumerate(QUEUE[:only]):
        out = runs_dir / run_name(variant, seed, balanced)
        if (out / "metrics.json").is_file():
            continue
        resume = (out / "checkpoint.npz").is_file()
        print(f"[{k + 1}/{len(QUEUE[:only])}] {out.name}{' (resumed)' if resume else ''}",
              flush=True)
        with open(runs_dir / f"{out.name}.log", "a") as log:
            subprocess.run(command(data_root, out, variant, seed, balanced, resume), check=True,
                           stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        write_table(runs_dir)


def load_runs(runs_dir):
    """{(variant, balanced): [metrics of each finished seed]}."""
    found = {}
    for variant, seed, balanced in QUEUE:
        path = runs_dir / run_name(variant, seed, balanced) / "metrics.json"
        if path.is_file():
            found.setdefault((variant, balanced), []).append(json.loads(path.read_text()))
    return found


def summary(values):
    values = 100 * np.asarray(values, float)
    spread = values.std(ddof=1) if len(values) > 1 else float("nan")
    return dict(mean=float(values.mean()), std=float(spread), min=float(values.min()),
                max=float(values.max()), n=len(values))


def pm(s):
    return f"{s['mean']:.2f}" + ("" if s["n"] < 2 else f" ± {s['std']:.2f}")


def summarise(found):
    rows = {}
    for (variant, balanced), runs in sorted(found.items(), key=lambda kv: (kv[0][1],
                                                                            ORDER.index(kv[0][0]))):
        groups = list(runs[0]["groups"])
        rows[variant + ("-balanced" if balanced else "")] = dict(
            seeds=len(runs),
            mean_accuracy=summary([r["mean_accuracy"] for r in runs]),
            balanced_accuracy=summary([r["balanced_accuracy"] for r in runs]),
            groups={g: summary([r["groups"][g]["mean_accuracy"] for r in runs]) for g in groups},
            majority=summary([r["majority_baseline_accuracy"] for r in runs]),
            minutes=float(np.mean([r["seconds"] for r in runs]) / 60))
    return rows


def markdown(rows, data):
    lines = [f"# MGG-Net on real faces ({data})", "",
             "Settings: " + ", ".join(f"{k} {v}" for k, v in SETTINGS.items()) +
             "; SGD momentum 0.9, weight decay 5e-4, random flip; scored on the test people.",
             "Mean ± sample standard deviation over seeds (min–max in brackets), in %.", "",
             "| run | seeds | mean accuracy | balanced accuracy | minutes/run |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        m, b = r["mean_accuracy"], r["balanced_accuracy"]
        lines.append(f"| {name} | {r['seeds']} | {pm(m)} [{m['min']:.2f}–{m['max']:.2f}] | "
                     f"{pm(b)} [{b['min']:.2f}–{b['max']:.2f}] | {r['minutes']:.1f} |")
    if rows:
        majority = next(iter(rows.values()))["majority"]["mean"]
        lines += [f"| majority rule | – | {majority:.2f} | 50.00 | – |", ""]
        groups = list(next(iter(rows.values()))["groups"])
        lines += ["Mean accuracy per group (%):", "",
                  "| run | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
        for name, r in rows.items():
            lines.append(f"| {name} | " + " | ".join(pm(r["groups"][g]) for g in groups) + " |")
    return "\n".join(lines) + "\n"


def write_table(runs_dir, out_dir=ROOT / "benchmarks" / "results"):
    found = load_runs(runs_dir)
    rows = summarise(found)
    data = next(iter(found.values()))[0]["data"] if found else "no runs yet"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "real_faces.md").write_text(markdown(rows, data))
    (out_dir / "real_faces.json").write_text(json.dumps(dict(settings=SETTINGS, rows=rows),
                                                        indent=1))
    return out_dir / "real_faces.md"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data/celeba-10k-half",
                   help="CelebA folder (relative to the repository root, or absolute)")
    p.add_argument("--runs", default=f"runs/real_faces-{TAG}", help="where the runs go")
    p.add_argument("--collect", action="store_true", help="only write the table")
    p.add_argument("--only", type=int, help="stop after the first N runs of the queue")
    args = p.parse_args(argv)
    runs_dir = ROOT / args.runs
    runs_dir.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        run_queue(args.data_root, runs_dir, args.only)
    print(write_table(runs_dir).read_text())


if __name__ == "__main__":
    main()
