"""Train MGG-Net on CelebA (or, with no dataset on disk, on synthetic faces).

    python examples/train_celeba.py --data-root DATA/celeba --device cuda              # accuracy
    python examples/train_celeba.py --data-root DATA/celeba --device cuda --balanced   # balanced

The paper reports two CelebA protocols: plain BCE for mean accuracy (92.00 %), and BCE with
positives weighted by each attribute's imbalance for balanced accuracy (89.19 %); ``--balanced``
selects the second. ``--data-root`` is the folder holding ``list_attr_celeba.txt``,
``list_eval_partition.txt`` and ``img_align_celeba/``; faces are centre-cropped to 178×178 and
resized to 224×224. Every other option is that of ``train_lfwa.py``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_lfwa import main, run_command  # noqa: E402

if __name__ == "__main__":
    run_command(lambda argv: main(argv, dataset="CelebA"))
