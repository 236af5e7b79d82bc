"""Evaluation metrics for the two papers, as plain Python numbers.

MGG-Net (binary facial attributes), streamed batch by batch:

    meter = AttributeMetrics(names=ATTRIBUTE_NAMES, groups=GROUPS)   # groups: {name: [attributes]}
    for images, labels in loader:
        meter.update(model(images).probabilities, labels)
    meter.compute()["mean_accuracy"]

HMTNet (attractiveness score, gender, race): ``mae``, ``rmse``, ``pearson`` and ``accuracy`` on
whole arrays, or ``RegressionMetrics`` and ``ClassificationAccuracy`` to stream them.

Every function takes NumPy or CuPy arrays or Tensors, and computes on the CPU in float64.
"""
import numpy as np

from .autograd import Tensor
from .backend import to_numpy


def as_numpy(x):
    """A NumPy array of ``x`` (a Tensor, a NumPy or CuPy array, a list or a number)."""
    return to_numpy(x.data if isinstance(x, Tensor) else x)


# --- binary attributes (MGG-Net) ---------------------------------------------------------

def predicted_positive(predictions, threshold=0.5, logits=False):
    """Which predictions say "present": p > threshold for probabilities (0.5 by default), or
    z > 0 for logits (the same decision, as sigmoid(z) > 0.5 exactly when z > 0)."""
    return as_numpy(predictions) > (0 if logits else threshold)


def actual_positive(targets):
    """Which targets are positive: 1 is present; 0 and -1 (CelebA's files) are absent."""
    targets = as_numpy(targets)
    if not np.isin(targets, (-1, 0, 1)).all():
        bad = targets[~np.isin(targets, (-1, 0, 1))].flat[0]
        raise ValueError(f"attribute targets must be 1 (present) or 0 / -1 (absent), found {bad}")
    return targets == 1


def balanced_rate(tpr, tnr):
    """(TPR + TNR) / 2; where one rate is undefined (NaN: the data have no positives, or no
    negatives, for that attribute) the rate that exists, alone."""
    both = (tpr + tnr) / 2
    return np.where(np.isnan(tpr), tnr, np.where(np.isnan(tnr), tpr, both))


def ratio(part, whole):
    """part / whole as floats, NaN where whole is 0."""
    part, whole = np.asarray(part, dtype=float), np.asarray(whole, dtype=float)
    return np.divide(part, whole, out=np.full_like(part, np.nan), where=whole > 0)


class AttributeMetrics:
    """Per-attribute confusion counts, accumulated over batches.

    ``update(predictions, targets)`` takes (N, A) arrays: probabilities (or logits with
    ``logits=True``; see ``predicted_positive``) and targets in {1, 0} or {1, -1}.
    ``compute()`` returns a dict:

        samples             the number of rows seen
        mean_accuracy       mean over attributes of (TP + TN) / N
        balanced_accuracy   mean over attributes of (TPR + TNR) / 2, TPR = TP / positives and
                            TNR = TN / negatives; an attribute with no positives in the data
                            counts TNR alone, one with no negatives TPR alone
        attributes          {name: {accuracy, balanced_accuracy, tpr, tnr, positives, negatives}}
                            (tpr or tnr is NaN where undefined)
        groups              {group: {mean_accuracy, balanced_accuracy}}, means over the
                            group's attributes

    ``names`` name the A attributes (default "0", "1", ...); ``groups`` maps a group name to
    its attributes, given as indices or names.
    """

    def __init__(self, names=None, groups=None, threshold=0.5, logits=False):
        self.names = None if names is None else list(names)
        self.groups = dict(groups or {})
        self.threshold, self.logits = threshold, logits
        self.reset()

    def reset(self):
        """Forget every batch seen so far."""
        self.tp = self.tn = self.fp = self.fn = None
        self.samples = 0

    def update(self, predictions, targets):
        """Add a batch of (N, A) predictions and targets to the counts."""
        said = predicted_positive(predictions, self.threshold, self.logits)
        truth = actual_positive(targets)
        self._check_batch(said, truth)
        counts = [(said & truth), (~said & ~truth), (said & ~truth), (~said & truth)]
        counts = [c.sum(axis=0).astype(np.int64) for c in counts]
        if self.tp is None:
            self.tp, self.tn, self.fp, self.fn = counts
        else:
            for total, batch in zip((self.tp, self.tn, self.fp, self.fn), counts):
                total += batch
        self.samples += said.shape[0]
        return self

    def _check_batch(self, said, truth):
        if said.shape != truth.shape or said.ndim != 2:
            raise ValueError(f"predictions and targets must both be (N, attributes), got "
                             f"{said.shape} and {truth.shape}")
        a = said.shape[1]
        if self.tp is not None and a != len(self.tp):
            raise ValueError(f"this batch has {a} attributes, earlier ones had {len(self.tp)}")
        if self.names is not None and a != len(self.names):
            raise ValueError(f"this batch has {a} attributes, but {len(self.names)} names "
                             "were given")

    # --- per-attribute arrays ---
    def accuracy_per_attribute(self):
        """(TP + TN) / N for each attribute, as a NumPy array."""
        self._check_seen()
        return (self.tp + self.tn) / self.samples

    def balanced_accuracy_per_attribute(self):
        """(TPR + TNR) / 2 for each attribute (the rate that exists when one does not)."""
        return balanced_rate(*self.rates())

    def rates(self):
        """(TPR, TNR) arrays; NaN for an attribute with no positives (TPR) or negatives (TNR)."""
        self._check_seen()
        return ratio(self.tp, self.tp + self.fn), ratio(self.tn, self.tn + self.fp)

    def _check_seen(self):
        if not self.samples:
            raise ValueError("no predictions yet: call update() before compute()")

    # --- the summary ---
    def compute(self):
        """All the metrics, as a dict of plain floats (see the class docstring)."""
        accuracy = self.accuracy_per_attribute()
        balanced = self.balanced_accuracy_per_attribute()
        tpr, tnr = self.rates()
        names = self.names or [str(k) for k in range(len(accuracy))]
        attributes = {
            name: {"accuracy": float(accuracy[k]), "balanced_accuracy": float(balanced[k]),
                   "tpr": float(tpr[k]), "tnr": float(tnr[k]),
                   "positives": int(self.tp[k] + self.fn[k]),
                   "negatives": int(self.tn[k] + self.fp[k])}
            for k, name in enumerate(names)}
        groups = {}
        for group, members in self.groups.items():
            index = [self._index(m, names, group) for m in members]
            groups[group] = {"mean_accuracy": float(accuracy[index].mean()),
                             "balanced_accuracy": float(balanced[index].mean())}
        return {"samples": self.samples,
                "mean_accuracy": float(accuracy.mean()),
                "balanced_accuracy": float(balanced.mean()),
                "attributes": attributes,
                "groups": groups}

    @staticmethod
    def _index(member, names, group):
        """An attribute of a group, given by index or by name, as an index."""
        if isinstance(member, str):
            if member not in names:
                raise ValueError(f"group {group!r}: no attribute named {member!r}")
            return names.index(member)
        if not 0 <= int(member) < len(names):
            raise ValueError(f"group {group!r}: attribute index {member} is outside "
                             f"0..{len(names) - 1}")
        return int(member)


def attribute_metrics(predictions, targets, names=None, groups=None, threshold=0.5, logits=False):
    """``AttributeMetrics`` on one (N, A) batch: the same dict as its ``compute()``."""
    return AttributeMetrics(names, groups, threshold, logits).update(predictions, targets).compute()


# --- scores and classes (HMTNet) ------------------------------------------------------------

def paired(predictions, targets):
    """Both as flat float64 arrays of the same length."""
    p = as_numpy(predictions).astype(np.float64).ravel()
    t = as_numpy(targets).astype(np.float64).ravel()
    if p.size != t.size:
        raise ValueError(f"predictions and targets differ in size: {p.size} and {t.size}")
    if p.size == 0:
        raise ValueError("no predictions to score")
    return p, t


def mae(predictions, targets):
    """Mean absolute error: mean |p − t|."""
    p, t = paired(predictions, targets)
    return float(np.abs(p - t).mean())


def rmse(predictions, targets):
    """Root mean squared error: sqrt(mean (p − t)²)."""
    p, t = paired(predictions, targets)
    return float(np.sqrt(((p - t) ** 2).mean()))


def pearson(predictions, targets):
    """Pearson correlation r = Σ (p − p̄)(t − t̄) / sqrt(Σ (p − p̄)² · Σ (t − t̄)²), in [−1, 1];
    NaN when either side is constant (the correlation is undefined)."""
    p, t = paired(predictions, targets)
    dp, dt = p - p.mean(), t - t.mean()
    spread = np.sqrt((dp * dp).sum() * (dt * dt).sum())
    return float((dp * dt).sum() / spread) if spread > 0 else float("nan")


def predicted_class(predictions):
    """Class indices: (N,) integers as they are, or the argmax of (N, C) scores (logits or
    probabilities)."""
    predictions = as_numpy(predictions)
    if predictions.ndim == 2:
        return predictions.argmax(axis=1)
    if predictions.ndim != 1 or predictions.dtype.kind not in "iub":
        raise ValueError(f"predictions must be (N,) class indices or (N, C) scores, got "
                         f"shape {predictions.shape} of {predictions.dtype}")
    return predictions


def correct_count(predictions, targets):
    """(number correct, number of samples) for class predictions against (N,) indices."""
    said, truth = predicted_class(predictions), as_numpy(targets).ravel()
    if said.shape != truth.shape:
        raise ValueError(f"{said.shape[0]} predictions for {truth.shape[0]} targets")
    return int((said == truth).sum()), int(truth.size)


def accuracy(predictions, targets):
    """The fraction of samples whose predicted class (index or argmax) equals the target."""
    correct, total = correct_count(predictions, targets)
    if total == 0:
        raise ValueError("no predictions to score")
    return correct / total


class ClassificationAccuracy:
    """``accuracy`` over many batches: ``update(predictions, targets)``, then ``compute()``."""

    def __init__(self):
        self.correct = self.total = 0

    def update(self, predictions, targets):
        correct, total = correct_count(predictions, targets)
        self.correct += correct
        self.total += total
        return self

    def compute(self):
        if self.total == 0:
            raise ValueError("no predictions yet: call update() before compute()")
        return self.correct / self.total


class RegressionMetrics:
    """MAE, RMSE and Pearson correlation over many batches. It keeps every prediction (a
    test set's scores are small), so the result equals the functions on the whole set.

    ``compute()`` returns {"mae": ..., "rmse": ..., "pc": ...} (HMTNet's names)."""

    def __init__(self):
        self.predictions, self.targets = [], []

    def update(self, predictions, targets):
        p, t = paired(predictions, targets)
        self.predictions.append(p)
        self.targets.append(t)
        return self

    def compute(self):
        if not self.predictions:
            raise ValueError("no predictions yet: call update() before compute()")
        p, t = np.concatenate(self.predictions), np.concatenate(self.targets)
        return {"mae": mae(p, t), "rmse": rmse(p, t), "pc": pearson(p, t)}
