"""Evaluation helpers: run a model over a loader without gradients and score it."""
import contextlib

import numpy as np

from ..autograd import Tensor, no_grad
from ..backend import to_device, to_numpy
from ..data.attributes import ATTRIBUTES
from ..metrics import AttributeMetrics
from ..models.hmtnet_loss import METRIC_KEYS, HMTMetrics


def to_batch_device(images, targets, device):
    """Images as a Tensor on ``device``; targets moved there too: an array, or each array
    inside a dict / tuple / list of them. Anything else (a list of names, ...) is left.
    An empty batch is refused (batch norm and the mean losses would give NaN)."""
    if len(images) == 0:
        raise ValueError("a batch with no images: check the dataset and the batch size "
                         "(each batch needs at least 1 sample)")
    return Tensor(to_device(images.data if isinstance(images, Tensor) else images, device)), \
        move_targets(targets, device)


def move_targets(targets, device):
    if isinstance(targets, dict):
        return {key: move_targets(value, device) for key, value in targets.items()}
    if isinstance(targets, (tuple, list)):
        return type(targets)(move_targets(value, device) for value in targets)
    if hasattr(targets, "shape") and hasattr(targets, "dtype"):
        return to_device(targets, device)
    return targets


@contextlib.contextmanager
def evaluation_mode(model):
    """``model.eval()`` and ``no_grad()`` inside the block; the model's mode is put back."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        model.train(was_training)


def logits_of(output):
    """The (N, A) logits of a model's output: ``output.logits`` (MGG-Net), or the output."""
    logits = getattr(output, "logits", output)
    if not isinstance(logits, Tensor):
        raise TypeError(f"the model returned a {type(output).__name__}; evaluate_attributes "
                        "needs a logits Tensor or an object with a .logits Tensor")
    return logits


def default_names(count):
    """CelebA's attribute names when there are 40 attributes, else "0", "1", ..."""
    return list(ATTRIBUTES) if count == len(ATTRIBUTES) else [str(k) for k in range(count)]


def evaluate_attributes(model, loader, device="cpu", groups=None, names=None):
    """Accuracy of a multi-attribute model over every batch of ``loader``, in eval mode.

    ``groups``: {group: [attribute names or indices]} for per-group means; ``names``: the
    attribute names (default: CelebA's 40 when the model predicts 40, else "0", "1", ...).
    Returns ``AttributeMetrics.compute()`` (``mean_accuracy``, ``balanced_accuracy``,
    ``attributes``, ``groups``, ``samples``) plus ``per_attribute``: {name: accuracy}.
    """
    meter = None
    with evaluation_mode(model):
        for images, targets in loader:
            images, targets = to_batch_device(images, targets, device)
            logits = logits_of(model(images))
            if meter is None:
                names = list(names) if names is not None else default_names(logits.shape[1])
                meter = AttributeMetrics(names=names, groups=groups, logits=True)
            meter.update(logits, targets)
    if meter is None:
        raise ValueError("evaluate_attributes: the loader gave no batches")
    metrics = meter.compute()
    metrics["per_attribute"] = {name: m["accuracy"] for name, m in metrics["attributes"].items()}
    return metrics


def evaluate_hmtnet(model, loader, device="cpu"):
    """Run ``model`` over ``loader`` in eval mode without gradients. Returns (metrics,
    scores): ``HMTMetrics`` on every batch, with NaN for the keys of tasks the model does not
    have (so every run reports the same five keys), and {"pred", "true"} score arrays (None
    for a network without the score head)."""
    meter, predicted, true = HMTMetrics(), [], []
    with evaluation_mode(model):
        for images, targets in loader:
            images, targets = to_batch_device(images, targets, device)
            output = model(images)
            meter.update(output, targets)
            if output.score is not None:
                predicted.append(to_numpy(output.score.data))
                true.append(to_numpy(targets["score"]))
    if not meter.seen:
        raise ValueError("evaluate_hmtnet: the loader gave no batches")
    metrics = {key: float("nan") for key in METRIC_KEYS}
    metrics.update(meter.compute())
    if not predicted:
        return metrics, None
    return metrics, {"pred": np.concatenate(predicted), "true": np.concatenate(true)}
