"""metrics: attribute accuracy and balanced accuracy (MGG-Net), MAE / RMSE / Pearson and
class accuracy (HMTNet), on hand-made predictions."""
import math

import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import metrics

# Four faces, three attributes. Probabilities, thresholded at 0.5 (strictly above is "present").
PROBS = np.array([[0.9, 0.2, 0.6],
                  [0.8, 0.4, 0.5],     # 0.5 exactly is "absent"
                  [0.3, 0.1, 0.7],
                  [0.1, 0.7, 0.2]])
TARGETS = np.array([[1, 0, 1],
                    [0, 0, 1],
                    [1, 0, 0],
                    [0, 0, 1]])
# Attribute 0: TP 1 (row 0), FP 1 (row 1), FN 1 (row 2), TN 1 (row 3): acc 1/2, TPR 1/2, TNR 1/2.
# Attribute 1: no positives at all; TN 3, FP 1: acc 3/4, TPR undefined, balanced = TNR = 3/4.
# Attribute 2: TP 1 (row 0), FN 2 (rows 1, 3), FP 1 (row 2): acc 1/4, TPR 1/3, TNR 0, balanced 1/6.


def test_hand_made_batch():
    result = metrics.attribute_metrics(PROBS, TARGETS, names=["a", "b", "c"])
    a, b, c = (result["attributes"][k] for k in "abc")
    assert (a["accuracy"], a["tpr"], a["tnr"], a["balanced_accuracy"]) == (0.5, 0.5, 0.5, 0.5)
    assert b["accuracy"] == 0.75 and math.isnan(b["tpr"]) and b["tnr"] == 0.75
    assert b["balanced_accuracy"] == 0.75 and (b["positives"], b["negatives"]) == (0, 4)
    assert c["accuracy"] == 0.25 and c["tpr"] == pytest.approx(1 / 3) and c["tnr"] == 0
    assert c["balanced_accuracy"] == pytest.approx(1 / 6)
    assert result["samples"] == 4
    assert result["mean_accuracy"] == pytest.approx((0.5 + 0.75 + 0.25) / 3)
    assert result["balanced_accuracy"] == pytest.approx((0.5 + 0.75 + 1 / 6) / 3)


def test_attribute_with_no_negatives_uses_its_true_positive_rate():
    preds = np.array([[0.9], [0.2], [0.7]])
    result = metrics.attribute_metrics(preds, np.ones((3, 1)))
    only = result["attributes"]["0"]
    assert math.isnan(only["tnr"]) and only["balanced_accuracy"] == pytest.approx(2 / 3)


def test_all_correct_and_all_wrong():
    truth = (np.random.default_rng(0).random((20, 6)) > 0.5).astype(int)
    right = metrics.attribute_metrics(truth.astype(float), truth)
    wrong = metrics.attribute_metrics(1.0 - truth, truth)
    assert right["mean_accuracy"] == right["balanced_accuracy"] == 1.0
    assert wrong["mean_accuracy"] == wrong["balanced_accuracy"] == 0.0


def test_streaming_equals_one_batch_and_the_direct_formula(rng):
    probs = rng.random((50, 7))
    targets = (rng.random((50, 7)) < np.linspace(0.05, 0.95, 7)).astype(int)
    meter = metrics.AttributeMetrics()
    for rows in np.array_split(np.arange(50), 4):
        meter.update(probs[rows], targets[rows])
    streamed = meter.compute()
    assert streamed == metrics.attribute_metrics(probs, targets)

    said, pos = probs > 0.5, targets == 1
    accuracy = (said == pos).mean(axis=0)
    tpr = (said & pos).sum(0) / pos.sum(0)
    tnr = (~said & ~pos).sum(0) / (~pos).sum(0)
    np.testing.assert_allclose(meter.accuracy_per_attribute(), accuracy)
    np.testing.assert_allclose(meter.balanced_accuracy_per_attribute(), (tpr + tnr) / 2)
    assert streamed["mean_accuracy"] == pytest.approx(accuracy.mean())
    assert streamed["balanced_accuracy"] == pytest.approx(((tpr + tnr) / 2).mean())


def test_logits_threshold_at_zero_and_signed_targets(rng):
    logits = rng.standard_normal((30, 4))
    targets = (rng.random((30, 4)) > 0.5).astype(int)
    probabilities = 1 / (1 + np.exp(-logits))
    from_probs = metrics.attribute_metrics(probabilities, targets)
    from_logits = metrics.attribute_metrics(logits, 2 * targets - 1, logits=True)   # ±1 labels
    assert from_probs == from_logits


def test_custom_threshold():
    result = metrics.attribute_metrics(np.array([[0.3], [0.1]]), np.array([[1], [0]]),
                                       threshold=0.2)
    assert result["mean_accuracy"] == 1.0


def test_groups_by_index_or_by_name():
    names = ["a", "b", "c"]
    by_index = metrics.attribute_metrics(PROBS, TARGETS, names, groups={"g1": [0, 1], "g2": [2]})
    by_name = metrics.attribute_metrics(PROBS, TARGETS, names,
                                        groups={"g1": ("a", "b"), "g2": ["c"]})
    assert by_index["groups"] == by_name["groups"]
    assert by_index["groups"]["g1"] == {"mean_accuracy": 0.625, "balanced_accuracy": 0.625}
    assert by_index["groups"]["g2"]["mean_accuracy"] == 0.25


def test_tensor_and_backend_inputs(backend):
    result = metrics.attribute_metrics(backend.tensor(PROBS), backend.asarray(TARGETS))
    np.testing.assert_equal(result, metrics.attribute_metrics(PROBS, TARGETS))  # NaN == NaN here
    assert isinstance(result["mean_accuracy"], float)


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.attribute_metrics(PROBS, 2 * TARGETS), "must be 1"),
    (lambda: metrics.attribute_metrics(PROBS, TARGETS[:, :2]), r"\(N, attributes\)"),
    (lambda: metrics.attribute_metrics(PROBS, TARGETS, names=["a"]), "names were given"),
    (lambda: metrics.attribute_metrics(PROBS, TARGETS, groups={"g": ["x"]}), "no attribute named"),
    (lambda: metrics.attribute_metrics(PROBS, TARGETS, groups={"g": [3]}), "outside"),
    (lambda: metrics.AttributeMetrics().compute(), "call update"),
    (lambda: metrics.AttributeMetrics().update(PROBS, TARGETS).update(PROBS[:, :2], TARGETS[:, :2]),
     "earlier ones had 3"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- HMTNet: scores and classes -----------------------------------------------------------

def test_mae_rmse_by_hand():
    p, t = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 1.0, 4.0])
    assert metrics.mae(p, t) == pytest.approx((0.5 + 0 + 2 + 0) / 4)
    assert metrics.rmse(p, t) == pytest.approx(math.sqrt((0.25 + 4) / 4))
    assert metrics.mae(t, t) == metrics.rmse(t, t) == 0.0


def test_pearson(rng):
    x = rng.standard_normal(40)
    y = 0.5 * x + rng.standard_normal(40)
    assert metrics.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)
    assert metrics.pearson(x, 3 * x + 2) == pytest.approx(1.0)
    assert metrics.pearson(x, -x) == pytest.approx(-1.0)
    assert math.isnan(metrics.pearson(x, np.full(40, 3.0)))
    assert metrics.pearson(x[:, None], y) == metrics.pearson(x, y)   # (N, 1) scores flatten


def test_accuracy_from_indices_and_scores():
    targets = np.array([0, 1, 1, 0, 1])
    assert metrics.accuracy(np.array([0, 1, 0, 0, 0]), targets) == 0.6
    scores = np.array([[2.0, 1.0], [0.1, 0.3], [0.0, -1.0], [5.0, 4.0], [-1.0, 1.0]])
    assert metrics.accuracy(scores, targets) == 0.8
    assert metrics.accuracy(targets, targets) == 1.0
    assert metrics.accuracy(1 - targets, targets) == 0.0
    with pytest.raises(ValueError, match="class indices"):
        metrics.accuracy(np.array([0.2, 0.9, 0.1, 0.3, 0.8]), targets)


def test_streaming_hmtnet_metrics_equal_whole_set(rng):
    scores, truth = rng.random(23) * 4 + 1, rng.random(23) * 4 + 1
    logits, classes = rng.standard_normal((23, 2)), rng.integers(0, 2, 23)
    regression, classification = metrics.RegressionMetrics(), metrics.ClassificationAccuracy()
    for rows in np.array_split(np.arange(23), 3):
        regression.update(mfa.tensor(scores[rows]), truth[rows])
        classification.update(logits[rows], classes[rows])
    assert regression.compute() == pytest.approx(
        {"mae": metrics.mae(scores, truth), "rmse": metrics.rmse(scores, truth),
         "pc": metrics.pearson(scores, truth)}, rel=1e-12)
    assert classification.compute() == metrics.accuracy(logits, classes)


def test_hmtnet_bad_input_is_named():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.mae(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="call update"):
        metrics.RegressionMetrics().compute()
    with pytest.raises(ValueError, match="call update"):
        metrics.ClassificationAccuracy().compute()
