"""Train HMTNet for gender, race and facial attractiveness: on SCUT-FBP5500, or on synthetic faces.

    python examples/train_hmtnet.py                       # no dataset: synthetic faces, CPU
    python examples/train_hmtnet.py --data-root DATA/SCUT-FBP5500_v2 --device cuda   # the paper

With ``--data-root`` pointing at a SCUT-FBP5500 folder (``Images/`` and ``train_test_files/``;
see ``minifaceattr/data/scut.py``) it follows the paper on the 60/40 split (``--fold k`` for
cross-validation fold k): the authors' HMTNet at 224×224, resize to 256 then random crop 224,
rotation up to 30°, colour jitter; batch 32, SGD (momentum 0.9, weight decay 5e-2) with lr
0.001 divided by 10 every 50 epochs, 170 epochs. Testing uses the centre crop.
Without one it trains the small HMTNet (64×64, narrow layers) on SynthFBP, drawn faces with a
race, a gender and a beauty score, in a few minutes on a laptop CPU.

``--task`` trains a standalone single-task network (the paper's "without joint training",
Table 3); ``--loss`` picks the attractiveness loss (Table 4); ``--aggregator`` the fusion
(Eq. 1 mean, Eq. 2 concatenation). Outputs go to ``--out`` (default
``runs/train_hmtnet/<task>``; ``<task>-2``, ``-3``, ... when that holds an earlier run, which is
kept; an ``--out`` holding a run needs ``--resume`` or ``--overwrite``):
metrics.json (mae, rmse, pc, acc_race, acc_gender on the test split; null for a task the
network does not have), log.csv, checkpoint.npz and figures/.
"""
import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

# run from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minifaceattr as mfa  # noqa: E402
from minifaceattr import optim, viz  # noqa: E402
from minifaceattr.data import SCUTFBP5500, DataLoader, SynthFBP, transforms  # noqa: E402
from minifaceattr.models.hmtnet import (AGGREGATORS, HMTNET_224, TASKS, HMTNet,  # noqa: E402
                                        small_config)
from minifaceattr.models.hmtnet_loss import SCORE_LOSSES, HMTLoss  # noqa: E402
from minifaceattr.training import (check_lr_with_resume, choose_run_folder,  # noqa: E402
                                   evaluate_hmtnet, fit, write_metrics_json)
from minifaceattr.training.cli import (require_device, run_command, settings_line,  # noqa: E402
                                       show_defaults)
from minifaceattr.training.evaluation import to_batch_device  # noqa: E402

PAPER = dict(image_size=224, batch_size=32, epochs=170, lr=0.001, step_size=50,
             weight_decay=5e-2, widths="paper")
SYNTHETIC = dict(image_size=64, batch_size=32, epochs=4, lr=0.01, step_size=3,
                 weight_decay=5e-4, widths="small", train_size=1100, test_size=440)
SETTINGS = ("task", "loss", "aggregator", "widths", "image_size", "epochs", "batch_size", "lr",
            "step_size", "weight_decay", "fold", "train_size", "test_size", "workers", "device",
            "seed", "out")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="SCUT-FBP5500 folder; synthetic faces when not given")
    p.add_argument("--fold", type=int, choices=(1, 2, 3, 4, 5),
                   help="cross-validation fold (default: the 60/40 split)")
    p.add_argument("--task", default="joint", choices=("joint",) + TASKS,
                   help="joint: HMTNet; or one task's standalone network")
    p.add_argument("--loss", default="smooth_huber", choices=SCORE_LOSSES,
                   help="attractiveness loss (Table 4)")
    p.add_argument("--aggregator", default="avg", choices=AGGREGATORS,
                   help="avg (Eq. 1) or concat (Eq. 2)")
    p.add_argument("--widths", choices=("paper", "small"),
                   help="the authors' channel widths, or the narrow CPU network")
    p.add_argument("--image-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--step-size", type=int, help="divide the lr by 10 every this many epochs")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--train-size", type=int, help="synthetic training images")
    p.add_argument("--test-size", type=int, help="synthetic test images")
    p.add_argument("--workers", type=int, default=2, help="background threads preparing batches")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in OUT instead of keeping it")
    p.add_argument("--out", help="output folder (default runs/train_hmtnet/<task>; the next free "
                   "<task>-2, -3, ... when that holds a run)")
    show_defaults(p, synthetic=SYNTHETIC, paper=PAPER)
    args = p.parse_args(argv)
    check_lr_with_resume(args.lr, args.resume)
    defaults = PAPER if args.data_root else SYNTHETIC
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.out, args.out_note = choose_run_folder("train_hmtnet", args.task, args.out,
                                                args.resume, args.overwrite)
    args.device = ("cuda" if mfa.has_gpu() else "cpu") if args.device == "auto" else args.device
    require_device(args.device)
    return args


def load_data(args):
    """(train set, test set, a sentence saying what the data is)."""
    if args.data_root:
        train = SCUTFBP5500(args.data_root, "train", fold=args.fold)
        test = SCUTFBP5500(args.data_root, "test", fold=args.fold)
        split = f"fold {args.fold}" if args.fold else "the 60/40 split"
        return train, test, (f"SCUT-FBP5500 from {args.data_root}, {split}: {len(train)} train / "
                             f"{len(test)} test images")
    train = SynthFBP(args.train_size, image_size=args.image_size, seed=args.seed, split="train")
    test = SynthFBP(args.test_size, image_size=args.image_size, seed=args.seed, split="test")
    return train, test, synthetic_notice(args)


def synthetic_notice(args):
    return (f"SYNTHETIC faces (SynthFBP; no --data-root given): {args.train_size} train / "
            f"{args.test_size} test images at {args.image_size}x{args.image_size}. These are drawn "
            "faces, not SCUT-FBP5500; pass --data-root PATH/TO/SCUT-FBP5500_v2 for the real "
            "dataset.")


def make_loaders(args, train, test):
    """The paper's augmentation on real photos (resize to 256/224 of the input, random crop,
    rotation, colour jitter); on synthetic faces a small shift and the same jitter."""
    size = args.image_size
    normalise = [transforms.ToArray(), transforms.Normalize()]
    jitter = transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2)
    if args.data_root:
        resize = transforms.Resize(round(size * 256 / 224))
        train_tf = [resize, transforms.RandomCrop(size), transforms.RandomRotation(30), jitter]
        test_tf = [resize, transforms.CenterCrop(size)]
    else:
        train_tf, test_tf = [transforms.RandomCrop(size, padding=size // 16), jitter], []
    train_loader = DataLoader(train, args.batch_size, shuffle=True, seed=args.seed, drop_last=True,
                              workers=args.workers,
                              transform=transforms.Compose(train_tf + normalise))
    test_loader = DataLoader(test, args.batch_size, workers=args.workers,
                             transform=transforms.Compose(test_tf + normalise))
    return train_loader, test_loader


def model_config(args):
    """The authors' widths (``--widths paper``) or the narrow ones, at ``--image-size``, with
    the stem strides that suit that size (at 224 px with the paper's widths: HMTNET_224)."""
    small = small_config(args.image_size)
    if args.widths == "small":
        return small
    return dataclasses.replace(HMTNET_224, image_size=args.image_size,
                               stem_strides=small.stem_strides)


def build_model(args, train_scores):
    tasks = TASKS if args.task == "joint" else (args.task,)
    model = HMTNet(model_config(args), args.aggregator, tasks)
    if "score" in tasks:           # start at the mean score: epochs go to the faces, not to 3.0
        model.score_head.fc8.bias.data[...] = float(np.mean(train_scores))
    return model


def main(argv=None):
    args = parse_args(argv)
    if not args.data_root:
        print(synthetic_notice(args), flush=True)          # the first line says what the data is
    train, test, description = load_data(args)
    if args.data_root:
        print(description, flush=True)
    print(settings_line(args, SETTINGS), flush=True)
    mfa.manual_seed(args.seed)
    model = build_model(args, train.scores)
    model.to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                          weight_decay=args.weight_decay)
    scheduler = optim.StepLR(optimizer, step_size=args.step_size, gamma=0.1)
    train_loader, test_loader = make_loaders(args, train, test)
    criterion = HMTLoss(score=args.loss)

    def loss_fn(model, images, targets):
        return criterion(model(images), targets)

    def evaluate(model):
        metrics, _ = evaluate_hmtnet(model, test_loader, args.device)
        return {key: value for key, value in metrics.items() if np.isfinite(value)}

    if args.device == "cpu" and args.data_root:
        print(cpu_cost(args, model, loss_fn, train_loader), flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    meta = dict(model="HMTNet", task=args.task, loss=args.loss, aggregator=args.aggregator,
                widths=args.widths, image_size=args.image_size, description=description)
    print(f"HMTNet ({args.task}, {args.aggregator} aggregation, {args.loss} loss, {args.widths} "
          f"widths, {args.image_size} px): {n_params:,} parameters; device {args.device}; "
          f"{args.epochs} epochs of batch {args.batch_size}", flush=True)
    if args.out_note:
        print(args.out_note, flush=True)
    start = time.time()
    history = fit(model, optimizer, train_loader, loss_fn, args.epochs, args.out,
                  evaluate=evaluate, scheduler=scheduler, device=args.device,
                  resume=args.resume, overwrite=args.overwrite, meta=meta)
    metrics, scores = evaluate_hmtnet(model, test_loader, args.device)
    rules = rule_baselines(train, test)
    write_metrics_json(args.out / "metrics.json", {
        **metrics, "rule_baselines": rules, "data": description, "task": args.task,
        "loss": args.loss,
        "aggregator": args.aggregator, "image_size": args.image_size,
        "epochs": args.epochs, "seconds": round(time.time() - start, 1)})
    figures = make_figures(args, history, scores, rules)
    print_summary(args, metrics, figures, rules)


def cpu_cost(args, model, loss_fn, train_loader):
    """What the run will cost on this CPU, from one timed training step of a copy of the model
    (the paper's settings take days here), and the settings that fit a CPU."""
    probe = copy.deepcopy(model).train()
    images, targets = to_batch_device(*next(iter(train_loader)), args.device)
    start = time.perf_counter()
    loss_fn(probe, images, targets).backward()
    step = time.perf_counter() - start
    epoch = step * len(train_loader)
    return (f"on this CPU one training step (batch {args.batch_size}, {args.image_size} px, "
            f"{args.widths} widths) took {step:.1f} s: about {hours(epoch)} an epoch, "
            f"{hours(epoch * args.epochs)} for {args.epochs} epochs. On a CPU try --widths small "
            "--image-size 64 --epochs 10, or use --device cuda.")


def hours(seconds):
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def rule_baselines(train, test):
    """What rules that look at no image score on the test split: the training set's majority
    race and gender, and its mean score predicted for every face."""
    majority = lambda labels: np.bincount(np.asarray(labels)).argmax()  # noqa: E731
    mean_score = float(np.mean(train.scores))
    error = np.asarray(test.scores, dtype=np.float64) - mean_score
    return {"acc_race": float(np.mean(np.asarray(test.races) == majority(train.races))),
            "acc_gender": float(np.mean(np.asarray(test.genders) == majority(train.genders))),
            "mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error ** 2).mean())),
            "mean_score": mean_score}


RULE_NAMES = {"acc_race": "majority race", "acc_gender": "majority gender",
              "mae": "mean-score rule", "rmse": "mean-score rule"}


def make_figures(args, history, scores, rules):
    folder = args.out / "figures"
    references = {key: (rules[key], name) for key, name in RULE_NAMES.items()}
    figures = [viz.plot_history(history, folder / "curves.png", title="HMTNet",
                                references=references)]
    if scores is not None:
        figures.append(viz.plot_score_scatter(scores["pred"], scores["true"],
                                              folder / "score_scatter.png",
                                              title="test split: predicted vs true"))
    return figures


def print_summary(args, metrics, figures, rules):
    data = "SCUT-FBP5500" if args.data_root else "SYNTHETIC faces (SynthFBP)"
    print("\n" + "=" * 60)
    print(f"HMTNet ({args.task}) on {data}, test split")
    for key, label in (("mae", "MAE"), ("rmse", "RMSE"), ("pc", "Pearson r"),
                       ("acc_race", "race accuracy"), ("acc_gender", "gender accuracy")):
        if np.isfinite(metrics[key]):
            value = (f"{100 * metrics[key]:6.2f} %" if key.startswith("acc")
                     else f"{metrics[key]:.4f}")
            print(f"  {label:<16} {value}")
    print("  rules that look at no image:")
    print(f"    majority race {100 * rules['acc_race']:.2f} %, majority gender "
          f"{100 * rules['acc_gender']:.2f} %")
    print(f"    the training mean score {rules['mean_score']:.3f} for every face: "
          f"MAE {rules['mae']:.4f}, RMSE {rules['rmse']:.4f}")
    print(f"outputs in {args.out}: metrics.json, log.csv, checkpoint.npz, figures/")
    for f in figures:
        print(f"  {f}")


if __name__ == "__main__":
    run_command(main)
