"""HMTNet's multi-task loss (Eq. 6) and its metrics (the loop that evaluates a model on a
test set with them is ``training.evaluate_hmtnet``: a model does not know its training loop).

    L = w_g · CE(gender) + w_r · CE(race) + w_a · L_a(score),   (w_g, w_r, w_a) = (1, 1, 2)

L_a is the smooth Huber loss of Eq. 5 (log cosh d where |d| ≤ δ = 0.6, else |d|), or, for
the paper's Table 4, MSE, L1 or smooth L1. A single-task network's output has one field
set; the loss then is that task's term alone, and the metrics are that task's.
"""
from .. import functional as F
from ..backend import to_device
from ..metrics import ClassificationAccuracy, RegressionMetrics
from .hmtnet import TASKS

# The public names (lessons and users import these; the rest may move).
__all__ = ["HMTLoss", "HMTMetrics", "score_loss", "SCORE_LOSSES"]

SCORE_LOSSES = ("smooth_huber", "mse", "l1", "smooth_l1")
METRIC_KEYS = ("mae", "rmse", "pc", "acc_race", "acc_gender")


def score_loss(name, pred, target, delta=0.6, beta=1.0):
    """The attractiveness loss ``name`` (one of ``SCORE_LOSSES``), averaged over the batch."""
    if name == "smooth_huber":
        return F.smooth_huber_loss(pred, target, delta=delta)
    if name == "mse":
        return F.mse_loss(pred, target)
    if name == "l1":
        return F.l1_loss(pred, target)
    if name == "smooth_l1":
        return F.smooth_l1_loss(pred, target, beta=beta)
    raise ValueError(f"score loss must be one of {SCORE_LOSSES}, got {name!r}")


class HMTLoss:
    """Eq. 6: ``loss(output, targets)`` with ``output`` an ``HMTOutput`` and ``targets`` a
    dict of arrays {"gender", "race", "score"} (what the SCUT-FBP5500 / SynthFBP loaders give).
    ``parts(output, targets)`` returns each task's unweighted term."""

    def __init__(self, weights=(1.0, 1.0, 2.0), score="smooth_huber", delta=0.6, beta=1.0):
        if score not in SCORE_LOSSES:
            raise ValueError(f"score loss must be one of {SCORE_LOSSES}, got {score!r}")
        self.weights = dict(zip(TASKS, weights))
        self.score, self.delta, self.beta = score, delta, beta

    def parts(self, output, targets):
        terms = {}
        for task in TASKS:
            pred = getattr(output, task)
            if pred is None:
                continue
            target = to_device(targets[task], pred.device)
            if task == "score":
                terms[task] = score_loss(self.score, pred, target, self.delta, self.beta)
            else:
                terms[task] = F.cross_entropy(pred, target.astype("int64", copy=False))
        return terms

    def __call__(self, output, targets):
        terms = self.parts(output, targets)
        return sum(self.weights[task] * term for task, term in terms.items())

    def __repr__(self):
        return f"HMTLoss(weights={tuple(self.weights.values())}, score={self.score!r})"


class HMTMetrics:
    """MAE, RMSE, Pearson correlation of the score, race and gender accuracy, over batches:
    ``update(output, targets)``, then ``compute()`` -> {"mae", "rmse", "pc", "acc_race",
    "acc_gender"} (only the keys of the tasks the network has)."""

    def __init__(self):
        self.score = RegressionMetrics()
        self.race, self.gender = ClassificationAccuracy(), ClassificationAccuracy()
        self.seen = set()

    def update(self, output, targets):
        for task in TASKS:
            pred = getattr(output, task)
            if pred is not None:
                getattr(self, task).update(pred, targets[task])
                self.seen.add(task)
        return self

    def compute(self):
        result = {}
        if "score" in self.seen:
            result.update(self.score.compute())
        for task in ("race", "gender"):
            if task in self.seen:
                result[f"acc_{task}"] = getattr(self, task).compute()
        return result
