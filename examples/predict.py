"""Attribute probabilities for face images from a trained MGG-Net, with its attention masks.

    python examples/predict.py runs/train_lfwa/full/checkpoint.npz face1.jpg face2.png
    python examples/predict.py runs/train_lfwa/full/checkpoint.npz --synthetic 4   # drawn faces

The checkpoint (written by train_lfwa.py / train_celeba.py) records the model's variant,
backbone, width and input size, so the same network is rebuilt here. Images are resized to
that size (use aligned, roughly centred faces, as in training). Prints, per image, the
attributes predicted present with their probabilities, and saves the group attention masks
over the faces to ``--out`` (default: the checkpoint's folder).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minifaceattr as mfa  # noqa: E402
from minifaceattr import viz  # noqa: E402
from minifaceattr.data import SynthFaces, load_rgb, transforms  # noqa: E402
from minifaceattr.data.attributes import ATTRIBUTES  # noqa: E402
from minifaceattr.models.mggnet import MGGNet  # noqa: E402
from minifaceattr.serialization.checkpoint import model_state_of, read_checkpoint  # noqa: E402
from minifaceattr.training.cli import run_command  # noqa: E402


def load_model(path):
    """The MGG-Net saved in checkpoint ``path`` and the settings it was trained with."""
    header, arrays = read_checkpoint(path)
    settings = header["meta"].get("meta")
    settings = settings if isinstance(settings, dict) else {}
    if settings.get("model") != "MGGNet":
        raise ValueError(f"{path}: not an MGG-Net checkpoint from train_lfwa.py "
                         f"(its settings say model={settings.get('model')!r})")
    missing = [k for k in ("variant", "backbone", "width", "image_size") if k not in settings]
    if missing:
        raise ValueError(f"{path}: the checkpoint does not record the model's "
                         f"{', '.join(missing)}")
    model = MGGNet(variant=settings["variant"], backbone=settings["backbone"],
                   width=settings["width"], gcl_score_scale=settings.get("gcl_score_scale", 1.0))
    try:
        model.load_state_dict(model_state_of(arrays))
    except RuntimeError as e:
        raise ValueError(f"{path}: {e}") from e
    model.eval()
    return model, settings


def load_images(args, image_size):
    """(names, HWC uint8 images) from the files given, or drawn synthetic test faces."""
    if args.synthetic:
        faces = SynthFaces(args.synthetic, image_size=image_size, seed=1, split="test")
        names = [f"synthetic test face {i}" for i in range(len(faces))]
        return names, [faces[i][0] for i in range(len(faces))]
    if not args.images:
        raise SystemExit("give image files, or --synthetic N for drawn faces")
    return [str(p) for p in args.images], [load_rgb(p) for p in args.images]


def main(argv=None):
    p = argparse.ArgumentParser(description="MGG-Net attribute predictions for face images")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("images", nargs="*", type=Path)
    p.add_argument("--synthetic", type=int, default=0, help="predict N drawn test faces instead")
    p.add_argument("--out", type=Path, help="folder for the attention figure")
    args = p.parse_args(argv)
    model, settings = load_model(args.checkpoint)
    size = settings["image_size"]
    names, images = load_images(args, size)
    prepare = transforms.Compose([transforms.Resize(size), transforms.ToArray(),
                                  transforms.Normalize()])
    batch = np.stack([prepare(image) for image in images])
    with mfa.no_grad():
        out = model(mfa.tensor(batch))
    probabilities = out.probabilities.numpy()
    for name, p_row in zip(names, probabilities):
        present = sorted((p, a) for a, p in zip(ATTRIBUTES, p_row) if p > 0.5)[::-1]
        print(f"{name}:")
        print("  " + ", ".join(f"{a} {p:.2f}" for p, a in present) if present
              else "  (no attribute above 0.5)")
    if out.masks:
        folder = args.out or args.checkpoint.parent
        masks = {b: m.numpy() for b, m in out.masks.items()}
        figure = viz.plot_attention_masks(batch, masks, list(model.group_names),
                                          folder / "predict_attention.png",
                                          mean=transforms.IMAGENET_MEAN,
                                          std=transforms.IMAGENET_STD)
        print(f"attention masks: {figure}")


if __name__ == "__main__":
    run_command(main)
