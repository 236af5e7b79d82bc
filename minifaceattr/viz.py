"""Figures for training runs and the two papers, drawn with matplotlib.

Each function takes plain data (NumPy arrays, Tensors, dicts, a history list), writes one PNG
to ``path`` and returns that path. They build a ``Figure`` object directly instead of using
``pyplot``: no window opens, nothing is left in a global figure list, and they work on a
server without a display.

    viz.plot_history(history, "runs/demo/figures/curves.png")
    viz.plot_attention_masks(images, out.masks, model.group_names, "masks.png",
                             mean=IMAGENET_MEAN, std=IMAGENET_STD)
"""
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .metrics import as_numpy, mae, pearson, rmse

BOOKKEEPING = ("epoch", "steps", "lr", "seconds", "images_per_second", "eval_seconds")
LOWER_IS_BETTER = ("mae", "rmse", "error")   # metric names (or parts of them) where less is better
RIGHT, WRONG = "#1a7f37", "#cf222e"      # green and red that stay apart for most colour-blind eyes


# --- shared helpers -------------------------------------------------------------------------

def save(fig, path, dpi=110):
    """Write ``fig`` to ``path`` (its folder is created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def display_images(images, mean=None, std=None):
    """(N, 3, H, W) network inputs → (N, H, W, 3) RGB in [0, 1] for ``imshow``.

    With ``mean``/``std`` (per channel) the normalisation is undone; values still outside
    [0, 1] are then rescaled image by image (the picture is for looking at, not measuring).
    """
    x = as_numpy(images).astype(np.float64)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 3, H, W), got shape {x.shape}")
    if std is not None:
        x = x * np.asarray(std, dtype=np.float64).reshape(1, -1, 1, 1)
    if mean is not None:
        x = x + np.asarray(mean, dtype=np.float64).reshape(1, -1, 1, 1)
    low, high = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    outside = (low < 0) | (high > 1)
    x = np.where(outside, (x - low) / np.maximum(high - low, 1e-12), x)
    x = np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x
    return x.transpose(0, 2, 3, 1)


def upsample(maps, size):
    """Bilinear resize of the last two axes of ``maps`` to ``size`` = (H, W), sampling at
    pixel centres (PyTorch's ``align_corners=False``): a coarse 7×7 mask over a 56×56 face."""
    maps = np.asarray(maps, dtype=np.float64)
    for axis, n_out in zip((-2, -1), size):
        n_in = maps.shape[axis]
        position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, n_in - 1)
        weight = position - below
        shape = [1] * maps.ndim
        shape[axis] = n_out
        weight = weight.reshape(shape)
        maps = (np.take(maps, below, axis=axis) * (1 - weight)
                + np.take(maps, above, axis=axis) * weight)
    return maps


def group_colors(names):
    """{name: colour} from the tab10 palette (tab20 past ten groups)."""
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"].colors
    return {name: palette[k % len(palette)] for k, name in enumerate(names)}


# --- training curves ------------------------------------------------------------------------

def plot_history(history, path, title=None, references=None):
    """Loss, lower-is-better metrics (MAE, RMSE) and higher-is-better ones (accuracies,
    Pearson r) per epoch, each group on its own axes, from ``fit``'s history or the rows of
    log.csv. ``references``: {key: (value, label)}, drawn as a dashed line in the colour of
    that key's curve (e.g. a rule that looks at no image)."""
    if not history:
        raise ValueError("plot_history: the history is empty (no epoch finished)")
    epochs = [row["epoch"] for row in history]
    keys = [k for k in history[0] if k not in BOOKKEEPING]
    lower = [k for k in keys if "loss" not in k and any(w in k for w in LOWER_IS_BETTER)]
    panels = [[k for k in keys if "loss" in k], lower,
              [k for k in keys if "loss" not in k and k not in lower]]
    labels = ("loss", "metric (lower is better)", "metric (higher is better)")
    panels = [(keys, label) for keys, label in zip(panels, labels) if keys]
    fig = Figure(figsize=(5.2 * len(panels), 3.6), layout="constrained")
    for k, (names, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for name in names:
            line, = ax.plot(epochs, [row.get(name, np.nan) for row in history], marker="o",
                            label=name)
            if references and name in references:
                value, what = references[name]
                ax.axhline(value, color=line.get_color(), linestyle="--", linewidth=1,
                           label=f"{what} {value:.3g}")
        ax.set(xlabel="epoch", ylabel=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, path)


# --- MGG-Net --------------------------------------------------------------------------------

def plot_attribute_accuracy(per_attribute, groups, path, title=None, baseline=None,
                            baseline_label="majority class"):
    """One bar per attribute, ordered and coloured by group, with the mean as a dashed line.

    ``per_attribute``: {attribute name: accuracy}. ``groups``: {group: [names or indices]}
    (attributes in no group are shown last as "other"). ``baseline``: optional {name:
    accuracy}, drawn as a black tick on each bar (e.g. always answering the majority class).
    """
    names = list(per_attribute)
    order, owners = [], []
    for group, members in groups.items():
        for m in members:
            name = names[m] if isinstance(m, (int, np.integer)) else m
            if name in per_attribute and name not in order:
                order.append(name)
                owners.append(group)
    others = [n for n in names if n not in order]
    order, owners = order + others, owners + ["other"] * len(others)
    values = np.array([per_attribute[n] for n in order], dtype=np.float64)
    colors = group_colors(list(dict.fromkeys(owners)))

    fig = Figure(figsize=(max(6.0, 0.26 * len(order) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(order))
    ax.bar(x, values, color=[colors[g] for g in owners], width=0.8)
    ax.axhline(np.nanmean(values), color="0.3", linestyle="--", linewidth=1,
               label=f"mean {np.nanmean(values):.3f}")
    if baseline is not None:
        ax.scatter(x, [baseline.get(n, np.nan) for n in order], marker="_", s=90, color="black",
                   zorder=3, label=baseline_label)
    low = np.nanmin(values if baseline is None else np.r_[values, list(baseline.values())])
    ax.set_ylim(max(0.0, np.floor((low - 0.05) * 10) / 10), 1.0)
    ax.set_xticks(x, [n.replace("_", " ") for n in order], rotation=90, fontsize=7)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_ylabel("accuracy")
    ax.grid(axis="y", alpha=0.3)
    swatches = [Patch(color=c, label=g) for g, c in colors.items()]
    ax.legend(handles=swatches + ax.get_legend_handles_labels()[0], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "accuracy per attribute, by group")
    return save(fig, path)


def plot_attention_masks(images, masks_by_block, group_names, path, mean=None, std=None,
                         max_images=4, alpha=0.55, cmap="jet"):
    """The group attention masks over the faces (the MGG-Net paper's Fig. 2).

    ``images`` (N, 3, H, W) network inputs (``mean``/``std`` undo their normalisation);
    ``masks_by_block`` {block: (N, G, h, w)} masks in [0, 1] (``MGGOutput.masks``). One row
    per face and block: the face, then each group's mask upsampled to the face and overlaid.
    The colour scale is fixed to [0, 1], so rows and blocks can be compared.
    """
    faces = display_images(images, mean, std)[:max_images]
    blocks = {b: as_numpy(m)[:len(faces)] for b, m in masks_by_block.items()}
    g = len(group_names)
    for block, masks in blocks.items():
        if masks.ndim != 4 or masks.shape[1] != g:
            raise ValueError(f"masks of {block!r} must be (N, {g}, h, w), got {masks.shape}")
    sizes = ", ".join(f"{b} {m.shape[2]}×{m.shape[3]}" for b, m in blocks.items())
    face_size = "×".join(str(n) for n in faces.shape[1:3])
    rows = [(i, b) for i in range(len(faces)) for b in blocks]
    fig = Figure(figsize=(1.25 * (g + 1) + 0.6, 1.3 * len(rows) + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(len(rows), g + 1, squeeze=False))
    for r, (i, block) in enumerate(rows):
        face = faces[i]
        upsampled = upsample(blocks[block][i], face.shape[:2])
        axes[r, 0].imshow(face)
        axes[r, 0].set_ylabel(f"face {i}\n{block}", fontsize=8)
        for k in range(g):
            axes[r, k + 1].imshow(face)
            shown = axes[r, k + 1].imshow(upsampled[k], cmap=cmap, vmin=0, vmax=1, alpha=alpha)
        for k, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("input" if k == 0 else group_names[k - 1], fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="mask value")
    fig.suptitle(f"group attention masks: sigmoid maps (0 to 1) computed at {sizes}, bilinearly "
                 f"upsampled to the {face_size} face", fontsize=9)
    return save(fig, path)


def plot_affinity(e, group_names, path, title=None):
    """The GCL affinity e_ij as a heatmap: row i is the group being refined, column j the
    group it reads from; each row sums to 1 over j ≠ i. A batch (N, G, G) is averaged over
    its samples. The diagonal (e_ii = 0, no self-loop) is left blank."""
    e = as_numpy(e).astype(np.float64)
    samples = e.shape[0] if e.ndim == 3 else 1
    e = e.mean(axis=0) if e.ndim == 3 else e
    g = len(group_names)
    if e.shape != (g, g):
        raise ValueError(f"affinity must be ({g}, {g}) or (N, {g}, {g}), got {e.shape}")
    shown = np.where(np.eye(g, dtype=bool), np.nan, e)
    fig = Figure(figsize=(0.62 * g + 2.4, 0.55 * g + 1.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    uniform = 1 / (g - 1)   # what a row would hold if every other group counted the same
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(np.nanmax(shown), uniform, 1e-12))
    for i in range(g):
        for j in range(g):
            if i != j:
                bright = shown[i, j] > 0.6 * np.nanmax(shown)
                ax.text(j, i, f"{e[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if bright else "white")
    ax.set_xticks(range(g), group_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(g), group_names, fontsize=8)
    ax.set(xlabel="j: group read from", ylabel="i: group refined")
    averaged = f", mean over {samples} samples" if samples > 1 else ""
    ax.set_title(title or f"GCL affinity e_ij{averaged}\nuniform reference 1/(K−1) = "
                 f"1/{g - 1} = {uniform:.3f}", fontsize=10)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.ax.axhline(uniform, color="white", linestyle="--", linewidth=1.5)
    bar.ax.text(1.05, uniform, " uniform", transform=bar.ax.get_yaxis_transform(), fontsize=7,
                va="center")
    return save(fig, path)


def prediction_lines(probabilities, targets, names, k, threshold):
    """What one face's panel says, as (text, right?) lines: the k attributes predicted present
    with the highest probability (✓ truly present, ✗ absent), then every other error: the
    other attributes wrongly said present, and the present ones missed. Also returns the
    number of attributes right."""
    p, truth = np.asarray(probabilities, dtype=np.float64), np.asarray(targets) == 1
    said = p > threshold
    top = [a for a in np.argsort(-p)[:k] if said[a]]
    lines = [(f"{'✓' if truth[a] else '✗'} {names[a]} {p[a]:.2f}", bool(truth[a])) for a in top]
    wrongly_said = [names[a] for a in np.argsort(-p) if said[a] and not truth[a] and a not in top]
    missed = [names[a] for a in np.argsort(p) if truth[a] and not said[a]]
    for label, errors in (("also said", wrongly_said), ("missed", missed)):
        if errors:
            shown = ", ".join(errors[:3]) + (f" +{len(errors) - 3}" if len(errors) > 3 else "")
            lines.append((f"{label}: {shown}", False))
    return lines, int((said == truth).sum())


def plot_predictions(images, probabilities, targets, names, path, k=5, mean=None, std=None,
                     threshold=0.5, max_images=8, columns=4):
    """A grid of faces, each with the k attributes the model is surest are present, marked
    ✓ (green: truly present) or ✗ (red: absent), its other errors (attributes wrongly said
    present, present ones missed) and how many of all the attributes it got right."""
    faces = display_images(images, mean, std)[:max_images]
    p, t = as_numpy(probabilities)[:len(faces)], as_numpy(targets)[:len(faces)]
    names = [n.replace("_", " ") for n in names]
    panels = []
    for i in range(len(faces)):
        lines, right = prediction_lines(p[i], t[i], names, k, threshold)
        wrapped = [(piece, ok) for line, ok in lines
                   for piece in textwrap.wrap(line, width=30, subsequent_indent="   ")]
        panels.append((wrapped, right))
    rows, cols = int(np.ceil(len(faces) / columns)), min(columns, len(faces))
    most = max(len(lines) for lines, _ in panels)
    text_height = 0.15 * most
    fig = Figure(figsize=(2.3 * cols, rows * (2.2 + text_height)), layout="constrained")
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[2.0, text_height] * rows)
    for i, (face, (lines, right)) in enumerate(zip(faces, panels)):
        r, c = divmod(i, columns)
        ax = fig.add_subplot(grid[2 * r, c])
        ax.imshow(face)
        ax.set_axis_off()
        ax.set_title(f"{right}/{len(names)} right", fontsize=8)
        text = fig.add_subplot(grid[2 * r + 1, c])
        text.set_axis_off()
        for n, (line, ok) in enumerate(lines):
            text.text(0, 1 - n / most, line, fontsize=7, va="top", transform=text.transAxes,
                      color=RIGHT if ok else WRONG)
    fig.suptitle(f"✓ green: said present (p > {threshold}) and present;  ✗ red: said present "
                 "but absent;\n\"also said\": other attributes wrongly said present;  "
                 f"\"missed\": present ones not said;  k/{len(names)} right: all attributes",
                 fontsize=7)
    return save(fig, path)


# --- HMTNet ---------------------------------------------------------------------------------

def plot_score_scatter(pred, true, path, title=None, label="beauty score"):
    """Predicted against true scores, with the y = x line and MAE, RMSE and Pearson r."""
    p, t = as_numpy(pred).astype(np.float64).ravel(), as_numpy(true).astype(np.float64).ravel()
    fig = Figure(figsize=(4.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(t, p, s=10, alpha=0.5, edgecolors="none")
    low, high = min(p.min(), t.min()), max(p.max(), t.max())
    pad = 0.05 * (high - low or 1)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "--", color="0.4", linewidth=1)
    ax.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), aspect="equal",
           xlabel=f"true {label}", ylabel=f"predicted {label}")
    ax.text(0.03, 0.97, f"n = {p.size}\nMAE {mae(p, t):.4f}\nRMSE {rmse(p, t):.4f}\n"
            f"Pearson r {pearson(p, t):.4f}", transform=ax.transAxes, va="top", fontsize=9,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="0.8"))
    ax.grid(alpha=0.3)
    ax.set_title(title or f"predicted vs true {label}")
    return save(fig, path)
