"""Draw the README's SynthFaces figures into docs/figures/.

    python scripts/synthfaces_figures.py

synthfaces_grid.png: random faces with their positive attributes written under each.
synthfaces_cues.png: one face, then the same face with one attribute switched, for all 40.
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from minifaceattr.data import ATTRIBUTES, SynthFaces  # noqa: E402
from minifaceattr.data.drawing import draw_face  # noqa: E402
from minifaceattr.data.face_style import neutral_style  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
SHORT = {"5_o_Clock_Shadow": "5 o'clock", "Mouth_Slightly_Open": "Mouth open",
         "Wearing_Lipstick": "Lipstick", "Wearing_Necklace": "Necklace",
         "Wearing_Necktie": "Necktie", "Wearing_Earrings": "Earrings", "Wearing_Hat": "Hat",
         "Receding_Hairline": "Receding", "High_Cheekbones": "Cheekbones",
         "Arched_Eyebrows": "Arched brows", "Bushy_Eyebrows": "Bushy brows",
         "Bags_Under_Eyes": "Eye bags"}
COMMON = {"No_Beard", "Young"}          # positive for most faces: listed when absent instead


def describe(labels):
    """Short text for a label vector: its positive attributes, plus 'beard' / 'old'."""
    words = [SHORT.get(a, a.replace("_", " ")) for a, v in zip(ATTRIBUTES, labels)
             if v and a not in COMMON]
    words += [w for a, w in (("No_Beard", "beard"), ("Young", "old"))
              if not labels[ATTRIBUTES.index(a)]]
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) > 27:
            lines.append(line)
            line = ""
        line += (", " if line else "") + w
    return "\n".join(lines + [line])


def save(fig, path):
    """Save as a 256-colour PNG: pixel noise makes full-colour PNGs of faces large."""
    fig.savefig(path)
    plt.close(fig)
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def grid(rows=4, cols=6, size=64):
    data = SynthFaces(rows * cols, image_size=size, seed=1, split="test", cache=False,
                      verbose=False)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.55, rows * 2.15), dpi=100)
    for i, ax in enumerate(axes.flat):
        image, labels = data[i]
        ax.imshow(image, interpolation="lanczos")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel(describe(labels), fontsize=5.5, linespacing=1.1)
    fig.suptitle(f"SynthFaces: {size}x{size} px, synthetic (labels follow CelebA's statistics)",
                 fontsize=9)
    fig.tight_layout(pad=0.4, h_pad=0.2, w_pad=0.3)
    save(fig, OUT / "synthfaces_grid.png")


def cues(size=96):
    base = np.zeros(40, np.int64)
    for name in ("Young", "No_Beard", "Attractive", "Brown_Hair", "Straight_Hair"):
        base[ATTRIBUTES.index(name)] = 1
    style = neutral_style()
    fig, axes = plt.subplots(5, 9, figsize=(9 * 1.0, 5 * 1.2), dpi=100)
    panels = [("base face", base)]
    for k, name in enumerate(ATTRIBUTES):
        flipped = base.copy()
        flipped[k] ^= 1
        panels.append((("+ " if flipped[k] else "- ") + SHORT.get(name, name.replace("_", " ")),
                       flipped))
    for ax, item in zip(axes.flat, panels + [None] * (45 - len(panels))):
        ax.axis("off")
        if item is not None:
            ax.imshow(draw_face(item[1], style, size), interpolation="lanczos")
            ax.set_title(item[0], fontsize=6, pad=2)
    fig.suptitle(f"SynthFaces cues ({size} px): the base face with one attribute switched",
                 fontsize=9)
    fig.tight_layout(pad=0.3, h_pad=0.3, w_pad=0.2, rect=(0, 0, 1, 0.96))
    save(fig, OUT / "synthfaces_cues.png")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    grid()
    cues()
    for name in ("synthfaces_grid.png", "synthfaces_cues.png"):
        print(OUT / name, f"{(OUT / name).stat().st_size / 1024:.0f} KB")
