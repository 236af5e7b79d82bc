"""Train MGG-Net on CelebA (or, with no dataset on disk, on synthetic faces).

    python examples/train_celeba.py --data-root DATA/celeba --device cuda              # accuracy
    python examples/train_celeba.py --data-root DATA/celeba --device cuda --balanced   # balanced
    python examples/train_celeba.py --data-root ../shared/data/celeba-10k-half         # CPU

The paper reports two CelebA protocols: plain BCE for mean accuracy (92.00 %), and BCE with
positives weighted by each attribute's imbalance for balanced accuracy (89.19 %); ``--balanced``
selects the second. ``--data-root`` is the folder holding ``list_attr_celeba.txt``,
``list_eval_partition.txt`` and ``img_align_celeba/``, at any image size (official 178×218,
or a half-size 89×109 copy), with any partition file in the official format. Faces are
cropped to their central square (178×178, or 89×89) and resized to ``--image-size``.

On a GPU the defaults are the paper's (224×224, ResNet18 width 64, batch 144, lr 0.01 for 10
epochs then 0.001 for 5). On a CPU they are 64×64, width 32, batch 64, lr 0.05 for 4 epochs
then 0.005 for 1: on the 6,050 training faces of ``celeba-10k-half`` the full model measured
74 s an epoch on 2 nearly idle cores, so about 7 minutes in all (``--variant baseline``:
about half that). Every other option is that of ``train_lfwa.py``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_lfwa import main, run_command  # noqa: E402

if __name__ == "__main__":
    run_command(lambda argv: main(argv, dataset="CelebA"))
