"""Train MGG-Net to recognise 40 facial attributes: on LFWA, or on synthetic faces.

    python examples/train_lfwa.py                          # no dataset: synthetic faces, CPU
    python examples/train_lfwa.py --data-root DATA/lfwa --device cuda   # the paper's protocol

With ``--data-root`` pointing at an LFWA folder (``lfw_att_40.mat``, ``indices_train_test.mat``
and the images; see ``minifaceattr/data/lfwa.py``) it follows the paper: 224×224 input,
random horizontal flip, batch 144, SGD with lr 0.01 for 10 epochs then 0.001 for 5 (on a
GPU; on a CPU the real-data defaults are ``CPU_REAL``: 64×64 input, width 32, batch 64,
lr 0.05 for 4 epochs then 0.005 for 1; each option overrides its default).
Without one it trains a narrower MGG-Net on SynthFaces, drawn faces whose 40 labels follow
CelebA's statistics, small enough to finish in minutes on a laptop CPU.

Outputs go to ``--out`` (default ``runs/train_lfwa/<variant>``, ``runs/train_celeba/<variant>``
for train_celeba.py): metrics.json, log.csv, checkpoint.npz and figures/. A default folder that
holds an earlier run is kept: the new run goes to ``<variant>-2``, ``-3``, ... and says so; an
``--out`` that holds a run is refused unless ``--resume`` (continue it) or ``--overwrite``
(replace it) is given.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# Run from a checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minifaceattr as mfa  # noqa: E402
from minifaceattr import optim, viz  # noqa: E402
from minifaceattr.data import LFWA, CelebA, DataLoader, SynthFaces, transforms  # noqa: E402
from minifaceattr.data.attributes import ATTRIBUTES, GROUPS, group_indices  # noqa: E402
from minifaceattr.models.backbones import BACKBONES  # noqa: E402
from minifaceattr.models.mggnet import VARIANTS, MGGNet, mggnet_loss, positive_weights  # noqa: E402
from minifaceattr.training import (check_lr_with_resume, choose_run_folder,  # noqa: E402
                                   evaluate_attributes, fit, write_metrics_json)
from minifaceattr.training.cli import (require_device, run_command, settings_line,  # noqa: E402
                                       show_defaults)

PAPER = dict(image_size=224, batch_size=144, epochs=15, lr=0.01, milestones=[10], width=64)
# A real dataset on a CPU: about 7 minutes for celeba-10k-half's 6,050 faces on 2 idle cores
CPU_REAL = dict(image_size=64, batch_size=64, epochs=5, lr=0.05, milestones=[4], width=32)
DATASETS = {"LFWA": LFWA, "CelebA": CelebA}
# CelebA's aligned faces are 178×218 (89×109 in a half-size copy): crop the central square first
CROP = {"LFWA": None, "CelebA": transforms.CenterSquareCrop}
SYNTHETIC = dict(image_size=64, batch_size=32, epochs=6, lr=0.05, milestones=[4], width=32,
                 train_size=3000, test_size=1000)
SETTINGS = ("variant", "backbone", "image_size", "width", "epochs", "batch_size", "lr",
            "milestones", "balanced", "train_size", "test_size", "workers", "device", "seed", "out")


def parse_args(argv=None, dataset="LFWA"):
    p = argparse.ArgumentParser(description=f"Train MGG-Net on {dataset} (synthetic faces when "
                                "no --data-root is given)")
    p.add_argument("--data-root", help=f"{dataset} folder; synthetic faces when not given")
    p.add_argument("--variant", default="full", choices=VARIANTS)
    p.add_argument("--backbone", default="resnet18", choices=BACKBONES)
    p.add_argument("--weights", help="ImageNet weights for the backbone (.pth or .npz) on disk")
    p.add_argument("--balanced", action="store_true",
                   help="weighted BCE (positives weighted by the negatives/positives ratio)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--milestones", type=int, nargs="*",
                   help="epochs after which the lr is divided by 10")
    p.add_argument("--width", type=int, help="ResNet width (64 = the paper's ResNet18)")
    p.add_argument("--gcl-score-scale", default="1", help="multiplier of GCL's score vectors: "
                   "1 (default, Eq. 2 as written), a number, or sqrt (√channels; see MGGNet)")
    p.add_argument("--train-size", type=int, help="synthetic training images")
    p.add_argument("--test-size", type=int, help="synthetic test images")
    p.add_argument("--workers", type=int, default=2, help="background threads preparing batches")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in OUT instead of keeping it")
    p.add_argument("--out", help=f"output folder (default runs/train_{dataset.lower()}/<variant>; "
                   "the next free <variant>-2, -3, ... when that holds a run)")
    show_defaults(p, synthetic=SYNTHETIC, paper=PAPER, cpu_real=CPU_REAL)
    args = p.parse_args(argv)
    check_lr_with_resume(args.lr, args.resume)
    args.dataset = dataset
    args.device = ("cuda" if mfa.has_gpu() else "cpu") if args.device == "auto" else args.device
    defaults = (PAPER if args.device == "cuda" else CPU_REAL) if args.data_root else SYNTHETIC
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.out, args.out_note = choose_run_folder(f"train_{dataset.lower()}", args.variant,
                                                args.out, args.resume, args.overwrite)
    require_device(args.device)
    return args


def load_data(args):
    """(train set, test set, a sentence saying what the data is)."""
    if args.data_root:
        reader = DATASETS[args.dataset]
        train, test = reader(args.data_root, "train"), reader(args.data_root, "test")
        crop = "central square, " if CROP[args.dataset] else ""
        return train, test, (f"{args.dataset} from {args.data_root}: {len(train)} train / "
                             f"{len(test)} test images ({crop}resized to {args.image_size}×"
                             f"{args.image_size})")
    train = SynthFaces(args.train_size, image_size=args.image_size, seed=args.seed, split="train")
    test = SynthFaces(args.test_size, image_size=args.image_size, seed=args.seed, split="test")
    return train, test, (f"SYNTHETIC faces (no --data-root given): {len(train)} train / "
                         f"{len(test)} test images at {args.image_size}x{args.image_size}. These "
                         f"are drawn faces, not {args.dataset}; pass --data-root "
                         f"PATH/TO/{args.dataset} for the real dataset.")


def resize_steps(args):
    """Real photos are cropped (CelebA) and resized to the input size; synthetic faces are
    drawn at it."""
    if not args.data_root:
        return []
    crop = [CROP[args.dataset]()] if CROP[args.dataset] else []
    return crop + [transforms.Resize(args.image_size)]


def test_transform(args):
    return transforms.Compose(resize_steps(args) + [transforms.ToArray(), transforms.Normalize()])


def make_loaders(args, train, test):
    train_tf = transforms.Compose(resize_steps(args) + [transforms.RandomHorizontalFlip(),
                                                        transforms.ToArray(),
                                                        transforms.Normalize()])
    test_tf = test_transform(args)
    train_loader = DataLoader(train, args.batch_size, shuffle=True, seed=args.seed, drop_last=True,
                              workers=args.workers, transform=train_tf)
    test_loader = DataLoader(test, args.batch_size, workers=args.workers, transform=test_tf)
    return train_loader, test_loader


def majority_accuracy(train_labels, test_labels):
    """Mean accuracy of always answering each attribute's majority class in the training set."""
    majority = (np.asarray(train_labels).mean(axis=0) > 0.5).astype(int)
    return float((np.asarray(test_labels) == majority).mean())


def main(argv=None, dataset="LFWA"):
    args = parse_args(argv, dataset)
    train, test, description = load_data(args)
    print(description, flush=True)
    print(settings_line(args, SETTINGS), flush=True)
    mfa.manual_seed(args.seed)
    scale = args.gcl_score_scale if args.gcl_score_scale == "sqrt" else float(args.gcl_score_scale)
    model = MGGNet(variant=args.variant, backbone=args.backbone, width=args.width,
                   weights=args.weights, gcl_score_scale=scale)
    model.check_input_size(args.image_size)
    model.to(args.device)
    pos_weight = positive_weights(train.labels).astype(np.float32) if args.balanced else None
    if pos_weight is not None and args.device == "cuda":
        pos_weight = mfa.tensor(pos_weight, device="cuda").data
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    scheduler = optim.MultiStepLR(optimizer, milestones=args.milestones, gamma=0.1)
    train_loader, test_loader = make_loaders(args, train, test)

    def loss_fn(model, images, targets):
        return mggnet_loss(model(images), targets.astype(images.dtype), pos_weight=pos_weight)

    def evaluate(model):
        m = evaluate_attributes(model, test_loader, args.device, groups=group_indices())
        return {"mean_accuracy": m["mean_accuracy"], "balanced_accuracy": m["balanced_accuracy"]}

    n_params = sum(p.numel() for p in model.parameters())
    meta = dict(model="MGGNet", variant=args.variant, backbone=args.backbone, width=args.width,
                image_size=args.image_size, description=description, gcl_score_scale=scale)
    print(f"MGG-Net ({args.variant}, {args.backbone}, width {args.width}): {n_params:,} "
          f"parameters; device {args.device}; {args.epochs} epochs of batch {args.batch_size}",
          flush=True)
    if args.out_note:
        print(args.out_note, flush=True)
    start = time.time()
    history = fit(model, optimizer, train_loader, loss_fn, args.epochs, args.out,
                  evaluate=evaluate, scheduler=scheduler, device=args.device,
                  resume=args.resume, overwrite=args.overwrite, meta=meta)
    metrics = evaluate_attributes(model, test_loader, args.device, groups=group_indices())
    metrics["majority_baseline_accuracy"] = majority_accuracy(train.labels, test.labels)
    metrics.update(data=description, variant=args.variant, seconds=round(time.time() - start, 1))
    write_metrics_json(args.out / "metrics.json", metrics)
    figures = make_figures(args, model, history, metrics, test)
    print_summary(args, metrics, figures)


def make_figures(args, model, history, metrics, test):
    """The curves, per-attribute bars, attention masks, affinities and sample predictions."""
    folder = args.out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    rules = {"mean_accuracy": (metrics["majority_baseline_accuracy"], "majority-class rule"),
             "balanced_accuracy": (0.5, "any constant rule")}
    accuracies = {a: v["accuracy"] for a, v in metrics["attributes"].items()}
    figures = [viz.plot_history(history, folder / "curves.png", references=rules),
               viz.plot_attribute_accuracy(accuracies, GROUPS, folder / "attribute_accuracy.png")]
    tf = test_transform(args)
    images = np.stack([tf(test[i][0]) for i in range(8)])
    targets = np.stack([test[i][1] for i in range(8)])
    model.eval()
    with mfa.no_grad():
        out = model(mfa.tensor(images, device=args.device))
    names = list(model.group_names)
    if out.masks:
        masks = {b: m.numpy() for b, m in out.masks.items()}
        figures.append(viz.plot_attention_masks(images, masks, names,
                                                folder / "attention_masks.png",
                                                mean=transforms.IMAGENET_MEAN,
                                                std=transforms.IMAGENET_STD))
    if out.affinity:
        for block, e in out.affinity.items():
            figures.append(viz.plot_affinity(e.numpy(), names, folder / f"affinity_{block}.png"))
    figures.append(viz.plot_predictions(images, out.probabilities.numpy(), targets, ATTRIBUTES,
                                        folder / "predictions.png",
                                        mean=transforms.IMAGENET_MEAN, std=transforms.IMAGENET_STD))
    return figures


def print_summary(args, metrics, figures):
    print("\n" + "=" * 60)
    print(f"MGG-Net ({args.variant}) on {args.dataset if args.data_root else 'SYNTHETIC faces'}, "
          "test split")
    print(f"  mean accuracy        {100 * metrics['mean_accuracy']:6.2f} %")
    print(f"  balanced accuracy    {100 * metrics['balanced_accuracy']:6.2f} %")
    print(f"  majority-class rule  {100 * metrics['majority_baseline_accuracy']:6.2f} % "
          "(always answer each attribute's most common value)")
    print("  per group (mean accuracy):")
    for group, m in metrics["groups"].items():
        print(f"    {group:<10} {100 * m['mean_accuracy']:6.2f} %")
    print(f"outputs in {args.out}{os.sep}: metrics.json, log.csv, checkpoint.npz, figures/")
    for f in figures:
        print(f"  {f}")



if __name__ == "__main__":
    run_command(main)
