"""Why GCL's affinity stays flat: the sizes that set e_ij, measured at initialisation and
during training, for Eq. 2 as written and for a scaled score.

    python benchmarks/gcl_affinity.py --steps 150                       # c = 1 and c = √C
    python benchmarks/gcl_affinity.py --checkpoint runs/.../checkpoint.npz --seed 0   # trained

e_ij = softmax_j≠i( (c·w_ei)ᵀ relu(W_gi f_j) ) (``GraphCorrelation``). For each GCL block it
prints, averaged over a batch of real faces (``--data-root``; drawn faces when absent):

    |f|        rms entry of the pooled group features f_j
    f spread   rms over groups of f_j − mean_j f_j, over |f| (how different the groups are)
    |m|        rms entry of the messages m_ij = W_gi f_j
    |cw_e|     rms entry of the (scaled) score vectors
    s spread   max_j s_ij − min_j s_ij, mean over faces and receivers i
    e spread   max_j e_ij − min_j e_ij (0 = uniform 1/(K−1)), mean over faces and rows
    |dw_e|     rms entry of the loss gradient reaching w_e (one batch)
    lr·|dw|/|w| the relative change of w_e one SGD step makes (and of W_g, for comparison)
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minifaceattr as mfa  # noqa: E402
from minifaceattr import optim  # noqa: E402
from minifaceattr.data import CelebA, DataLoader, SynthFaces, transforms  # noqa: E402
from minifaceattr.functional.graph_attention import graph_messages  # noqa: E402
from minifaceattr.models.mggnet import MGGNet, mggnet_loss  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from predict import load_model  # noqa: E402


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def block_stats(model, images):
    """The sizes above for every GCL block, from one forward pass (no gradients)."""
    stats = {}
    with mfa.no_grad():
        stages = model.backbone.forward_features(mfa.tensor(images), model.blocks)
        for k, block in enumerate(model.blocks):
            f, _ = model.gal[k](stages[block])
            gcl = model.gcl[k]
            m = graph_messages(f, gcl.weight).data
            w_e = gcl.score.data * gcl.score_scale
            s = (np.maximum(m, 0) * w_e[None, :, None, :]).sum(axis=-1)
            kk = s.shape[1]
            off = ~np.eye(kk, dtype=bool)
            s_off = s[:, off].reshape(len(s), kk, kk - 1)
            _, e = gcl(f)
            e_off = e.data[:, off].reshape(len(s), kk, kk - 1)
            f = f.data
            stats[block] = {"|f|": rms(f), "f spread": rms(f - f.mean(1, keepdims=True)) / rms(f),
                            "|m|": rms(m), "|cw_e|": rms(w_e),
                            "s spread": float(np.ptp(s_off, axis=-1).mean()),
                            "e spread": float(np.ptp(e_off, axis=-1).mean())}
    return stats


def gradient_stats(model, images, targets, lr):
    """|dw_e| and one SGD step's relative change of w_e and W_g, per block."""
    model.zero_grad()
    mggnet_loss(model(mfa.tensor(images)), targets.astype(np.float32)).backward()
    out = {}
    for block, gcl in zip(model.blocks, model.gcl):
        g_e, g_w = gcl.score.grad, gcl.weight.grad
        out[block] = {"|dw_e|": rms(g_e), "lr|dw_e|/|w_e|": lr * rms(g_e) / rms(gcl.score.data),
                      "lr|dW_g|/|W_g|": lr * rms(g_w) / rms(gcl.weight.data)}
    model.zero_grad()
    return out


def report(title, model, images, targets, lr):
    stats = block_stats(model, images)
    grads = gradient_stats(model, images, targets, lr)
    print(title)
    for block in stats:
        row = {**stats[block], **grads[block]}
        print(f"  {block}: " + "  ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    return stats


def initial_scores(model, settings, seed):
    """Put back each GCL block's w_e as it was drawn at initialisation (``manual_seed(seed)``
    then the same MGGNet), keeping everything else trained: what training did to the scores
    alone shows in the difference of the affinity."""
    mfa.manual_seed(seed)
    fresh = MGGNet(variant="full", width=settings["width"],
                   gcl_score_scale=settings.get("gcl_score_scale", 1.0))
    for trained, initial in zip(model.gcl, fresh.gcl):
        trained.score.data[...] = initial.score.data


def load_data(root, size, n):
    tf = transforms.Compose(([transforms.CenterSquareCrop()] if root else [])
                            + [transforms.Resize(size), transforms.ToArray(),
                               transforms.Normalize()])
    if root and Path(root).is_dir():
        train, test = CelebA(root, "train"), CelebA(root, "test")
    else:
        train, test = SynthFaces(n, image_size=size), SynthFaces(256, image_size=size, split="test")
    return train, test, tf


def main(argv=None):
    p = argparse.ArgumentParser(description="GCL affinity: the sizes that keep it flat")
    p.add_argument("--data-root", default="../shared/data/celeba-10k-half")
    p.add_argument("--checkpoint", help="measure this trained MGG-Net (full) instead")
    p.add_argument("--steps", type=int, default=150, help="training steps per scale")
    p.add_argument("--scales", default="1,sqrt", help="score scales c to compare")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="the checkpoint's seed (--checkpoint)")
    args = p.parse_args(argv)
    train, test, tf = load_data(args.data_root, args.image_size, 2000)
    probe_x, probe_y = next(iter(DataLoader(test, 128, transform=tf, workers=0)))
    if args.checkpoint:
        model, settings = load_model(args.checkpoint)
        train, test, tf = load_data(args.data_root, settings["image_size"], 2000)
        probe_x, probe_y = next(iter(DataLoader(test, 128, transform=tf, workers=0)))
        report(f"trained: {args.checkpoint}", model, probe_x, probe_y, args.lr)
        initial_scores(model, settings, args.seed)
        report(f"the same, w_e put back to its value at initialisation (seed {args.seed})",
               model, probe_x, probe_y, args.lr)
        return
    for scale in args.scales.split(","):
        scale = "sqrt" if scale == "sqrt" else float(scale)
        mfa.manual_seed(0)
        model = MGGNet(variant="full", width=args.width, gcl_score_scale=scale)
        opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
        loader = DataLoader(train, 64, shuffle=True, seed=0, drop_last=True, workers=1,
                            transform=transforms.Compose([transforms.RandomHorizontalFlip()]
                                                         + tf.transforms))
        model.eval()
        report(f"c = {scale}, step 0", model, probe_x, probe_y, args.lr)
        step = 0
        while step < args.steps:
            for x, y in loader:
                model.train()
                loss = mggnet_loss(model(mfa.tensor(x)), y.astype(np.float32))
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if step % max(1, args.steps // 3) == 0 or step == args.steps:
                    model.eval()
                    report(f"c = {scale}, step {step} (loss {float(loss.data):.3f})", model,
                           probe_x, probe_y, args.lr)
                if step == args.steps:
                    break


if __name__ == "__main__":
    main()
