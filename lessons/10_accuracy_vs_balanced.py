"""Lesson 10 - Accuracy vs balanced accuracy on imbalanced attributes

Run it:   python lessons/10_accuracy_vs_balanced.py       (about 30 minutes with the exercises)
Needs:    lesson 9 (BCE and weighted BCE); what a probability is.

The idea
--------
Most of CelebA's 40 attributes are rare: only 2.3 % of the faces are Bald, 3.9 % have a
Mustache, 6.5 % wear Eyeglasses. A rule that never says "Bald" is right on 97.7 % of the faces,
and it has learnt nothing. Averaged over the 40 attributes, answering every attribute with its
more common value (the *majority-class rule*) already scores about 80 % mean accuracy. MGG-Net's
92.00 % on CelebA must be read against that floor, not against 50 %.

For one attribute, count the four outcomes over N faces:

                       truth: present     truth: absent
    said "present"         TP                 FP
    said "absent"          FN                 TN

    accuracy            = (TP + TN) / N
    TPR (recall)        = TP / (TP + FN)      the share of the present ones that we found
    TNR (specificity)   = TN / (TN + FP)      the share of the absent ones that we left alone
    balanced accuracy   = (TPR + TNR) / 2

Accuracy weighs each class by how common it is: with positive rate p it is
p·TPR + (1 − p)·TNR. Balanced accuracy weighs both classes 1/2 whatever p is, so the
majority rule (TPR = 0, TNR = 1, or the other way round) scores exactly 0.5 on every attribute,
and so does any rule that ignores the face. MGG-Net reports both: 92.00 % mean accuracy
(trained with plain BCE) and 89.19 % mean balanced accuracy (trained with weighted BCE).

Where the two disagree
----------------------
A classifier that outputs a score s and says "present" when s > t trades TPR against TNR as t
moves. The t that maximises accuracy leans towards the common class: for a rare attribute it
says "present" only when very sure. The t that maximises balanced accuracy does not lean.
Section 5 finds both thresholds, by search and by a formula, on labels drawn from the library's
label model (a Gaussian copula with CelebA's rates and correlations, minifaceattr/data/
label_model.py).

What to watch for
-----------------
- An accuracy is only meaningful next to the majority-class rule's accuracy for the same data.
- Balanced accuracy is undefined for an attribute with no positives (or no negatives) in the
  test set; minifaceattr/metrics.py then counts the rate that exists.
- Mean accuracy and mean balanced accuracy average over the 40 attributes: one number per
  attribute first, then the mean.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

from minifaceattr import metrics
from minifaceattr.data import ATTRIBUTES, ATTRIBUTE_INDEX, celeba_label_model, celeba_statistics

SHOWN = ("Bald", "Mustache", "Eyeglasses", "Male", "Attractive", "Young", "No_Beard")
SEPARATION = 2.0   # score model of sections 4-5: s = SEPARATION * y + noise, noise ~ N(0, 1)


def main(quick=False):
    rates = section_1_the_rates()
    section_2_the_majority_rule(rates)
    section_3_a_confusion_table()
    labels = section_4_synthetic_labels(rates, n=4000 if quick else 40000)
    thresholds = section_5_two_thresholds(labels, rates)
    section_6_figure(rates, labels, thresholds)


def section_1_the_rates():
    course.section("1. CelebA's positive rates")
    rates, _ = celeba_statistics()
    print("data.celeba_statistics() reads minifaceattr/data/celeba_stats.json: the share of faces")
    print("with each attribute present, over the first 20,000 rows of list_attr_celeba.txt.")
    order = np.argsort(rates)
    for start in range(0, len(order), 2):   # two attributes per line, rarest first
        print("   ".join(f"{ATTRIBUTES[k]:>20} {rates[k]:6.1%}" for k in order[start:start + 2]))
    rare = int((rates < 0.1).sum())
    common = [ATTRIBUTES[k] for k in np.flatnonzero(rates > 0.5)]
    print(f"{rare} of the 40 attributes are present on fewer than 10 % of the faces;")
    print(f"only {len(common)} on more than half ({', '.join(common)}).")
    course.confirm(rare >= 10 and ATTRIBUTES[int(np.argmin(rates))] == "Bald",
                   "many attributes are rare, and Bald is the rarest")
    return rates


def section_2_the_majority_rule(rates):
    course.section("2. The majority-class rule")
    majority = np.maximum(rates, 1 - rates)
    print("Answer every attribute with its more common value. Its accuracy is max(p, 1 - p):")
    for name in SHOWN:
        p = rates[ATTRIBUTE_INDEX[name]]
        said = "present" if p > 0.5 else "absent"
        print(f"  {name:>11}: p = {p:6.1%}, always '{said}'  ->  accuracy {max(p, 1 - p):6.1%}")
    print(f"Mean over the 40 attributes: {majority.mean():.2%}   (MGG-Net on CelebA: 92.00 %)")
    course.confirm(0.78 < majority.mean() < 0.83,
                   "a rule that never looks at a face scores about 80 % mean accuracy")
    course.say("""
        Its balanced accuracy is 0.5 on every attribute: the common class gets rate 1, the
        rare class rate 0, and (1 + 0) / 2 = 0.5. Section 4 measures it with the library.""")


def section_3_a_confusion_table():
    course.section("3. Balanced accuracy from a confusion table")
    tp, fn, fp, tn = 12, 8, 30, 950           # 20 faces with a mustache, 980 without
    accuracy = (tp + tn) / (tp + fn + fp + tn)
    tpr, tnr = tp / (tp + fn), tn / (tn + fp)
    print(f"TP = {tp}, FN = {fn}, FP = {fp}, TN = {tn}:   {tp + fn} present, {fp + tn} absent")
    print(f"  accuracy = (TP + TN) / N      = {tp + tn}/{tp + fn + fp + tn} = {accuracy:.4f}")
    print(f"  TPR = TP / (TP + FN)          = {tp}/{tp + fn} = {tpr:.4f}")
    print(f"  TNR = TN / (TN + FP)          = {tn}/{tn + fp} = {tnr:.4f}")
    print(f"  balanced = (TPR + TNR) / 2    = {(tpr + tnr) / 2:.4f}")
    predictions, targets = table_as_arrays(tp, fn, fp, tn)
    library = metrics.attribute_metrics(predictions, targets)
    course.say("""
        metrics.attribute_metrics(predictions, targets) takes (N, A) probabilities (it says
        'present' where p > 0.5) and (N, A) 0/1 targets, and returns a dict: 'mean_accuracy'
        and 'balanced_accuracy' (each the mean over the A attributes), and 'attributes': per
        attribute (keyed by the names= you pass, else '0', '1', ...) its accuracy,
        balanced_accuracy, tpr and tnr. metrics.AttributeMetrics() counts the same batch by
        batch: .update(predictions, targets), then .compute() or .accuracy_per_attribute().
        Here A = 1 and the 'probabilities' are 0 or 1.""")
    print(f"metrics.attribute_metrics on the same {len(targets)} rows: accuracy "
          f"{library['mean_accuracy']:.4f}, balanced accuracy {library['balanced_accuracy']:.4f}")
    course.confirm(np.isclose(library["mean_accuracy"], accuracy)
                   and np.isclose(library["balanced_accuracy"], (tpr + tnr) / 2),
                   "the library counts the same four numbers")
    never = metrics.attribute_metrics(np.zeros_like(predictions), targets)
    print(f"Saying 'absent' every time instead: accuracy {never['mean_accuracy']:.4f}, "
          f"balanced accuracy {never['balanced_accuracy']:.4f}")
    course.confirm(never["mean_accuracy"] > library["mean_accuracy"]
                   and never["balanced_accuracy"] < library["balanced_accuracy"],
                   "the rule that finds no mustache wins on accuracy and loses on "
                   "balanced accuracy")


def table_as_arrays(tp, fn, fp, tn):
    """(N, 1) probabilities and 0/1 targets whose confusion counts are the four given."""
    said = np.repeat([1.0, 0.0, 1.0, 0.0], [tp, fn, fp, tn])
    truth = np.repeat([1, 1, 0, 0], [tp, fn, fp, tn])
    return said[:, None], truth[:, None]


def scores_for(labels, seed=1):
    """A classifier's scores: SEPARATION for a present attribute, 0 for an absent one, plus
    standard normal noise. Thresholding them gives the 'classifier' of sections 4-5."""
    rng = np.random.default_rng(seed)
    return SEPARATION * labels + rng.standard_normal(labels.shape)


def section_4_synthetic_labels(rates, n):
    course.section("4. Per attribute, on synthetic labels")
    labels = celeba_label_model().sample(np.random.default_rng(0), n)
    drawn = labels.mean(axis=0)
    print(f"celeba_label_model().sample(rng, {n}) draws {labels.shape} 0/1 labels; their rates")
    print(f"differ from CelebA's by at most {np.abs(drawn - rates).max():.4f}.")
    course.confirm(np.abs(drawn - rates).max() < 4 / np.sqrt(n),
                   "the drawn rates are CelebA's, up to sampling noise")

    majority = np.broadcast_to(drawn > 0.5, labels.shape).astype(float)
    honest = (scores_for(labels) > SEPARATION / 2).astype(float)
    rules = {"majority rule": majority, "scores > 1": honest}
    results = {name: metrics.attribute_metrics(said, labels, names=ATTRIBUTES)
               for name, said in rules.items()}
    print(f"The classifier: score s = {SEPARATION:g}*y + N(0, 1) noise, 'present' when s > 1")
    print("(halfway between the two classes' mean scores, 0 and 2).")
    print(f"{'':>11}  {'rate':>6}   {'majority rule':>17}   {'scores > 1':>17}")
    print(f"{'':>11}  {'':>6}   {'acc':>8} {'bal':>8}   {'acc':>8} {'bal':>8}")
    for name in SHOWN:
        cells = [f"{r['attributes'][name]['accuracy']:8.3f} "
                 f"{r['attributes'][name]['balanced_accuracy']:8.3f}"
                 for r in results.values()]
        print(f"{name:>11}  {drawn[ATTRIBUTE_INDEX[name]]:6.1%}   " + "   ".join(cells))
    cells = [f"{r['mean_accuracy']:8.3f} {r['balanced_accuracy']:8.3f}" for r in results.values()]
    print(f"{'mean of 40':>11}  {'':>6}   " + "   ".join(cells))
    bald = {k: r["attributes"]["Bald"] for k, r in results.items()}
    per_attribute = results["majority rule"]["attributes"].values()
    course.confirm(all(a["balanced_accuracy"] == 0.5 for a in per_attribute),
                   "the majority rule's balanced accuracy is exactly 0.5 on all 40 attributes")
    course.confirm(bald["majority rule"]["accuracy"] > bald["scores > 1"]["accuracy"]
                   and (bald["majority rule"]["balanced_accuracy"]
                        < bald["scores > 1"]["balanced_accuracy"]),
                   "on Bald the rule that never looks wins on accuracy, and loses on balanced")
    return labels


def best_threshold(scores, truth, score_fn, grid):
    """The threshold in ``grid`` at which ``score_fn(TPR, TNR, p)`` is largest."""
    p = truth.mean()
    present, absent = scores[truth == 1], scores[truth == 0]
    values = [score_fn((present > t).mean(), (absent <= t).mean(), p) for t in grid]
    return grid[int(np.argmax(values))]


def accuracy_from_rates(tpr, tnr, p):
    return p * tpr + (1 - p) * tnr


def balanced_from_rates(tpr, tnr, p):
    return (tpr + tnr) / 2


def section_5_two_thresholds(labels, rates):
    course.section("5. The threshold that maximises each")
    course.say(f"""
        With scores N({SEPARATION:g}, 1) for present and N(0, 1) for absent faces, the log of
        the likelihood ratio is d*s - d^2/2 (d = {SEPARATION:g}). Balanced accuracy weighs both
        classes equally, so it is best where that ratio is 1: t = d/2. Accuracy weighs them by
        p and q = 1 - p, so it is best where the ratio equals q/p: t = d/2 + log(q/p)/d.
        A network trained with plain BCE, whose probabilities are calibrated, saying
        'present' above 0.5 sits at the accuracy-best point; weighted BCE with
        pos_weight = q/p (lesson 9) adds log(q/p) to its logits, which moves it to the
        balanced-best point.""")
    scores = scores_for(labels)
    grid = np.linspace(-1.0, 4.0, 201)
    formula = {"accuracy": SEPARATION / 2 + np.log((1 - rates) / rates) / SEPARATION,
               "balanced": np.full(len(rates), SEPARATION / 2)}
    searched = {"accuracy": [], "balanced": []}
    for k in range(len(ATTRIBUTES)):
        searched["accuracy"].append(best_threshold(scores[:, k], labels[:, k],
                                                   accuracy_from_rates, grid))
        searched["balanced"].append(best_threshold(scores[:, k], labels[:, k],
                                                   balanced_from_rates, grid))
    searched = {key: np.array(v) for key, v in searched.items()}
    print(f"{'':>11}  {'rate':>6}   {'best t for accuracy':>20}   {'best t for balanced':>20}")
    print(f"{'':>11}  {'':>6}   {'search':>9} {'formula':>10}   {'search':>9} {'formula':>10}")
    for name in SHOWN:
        k = ATTRIBUTE_INDEX[name]
        print(f"{name:>11}  {rates[k]:6.1%}   "
              f"{searched['accuracy'][k]:9.2f} {formula['accuracy'][k]:10.2f}"
              f"   {searched['balanced'][k]:9.2f} {formula['balanced'][k]:10.2f}")
    rare = rates < 0.1
    course.confirm((searched["accuracy"][rare] > searched["balanced"][rare]).all(),
                   "on every attribute rarer than 10 %, the accuracy-best t is higher "
                   "(fewer 'present')")
    course.say("""
        The searched thresholds scatter around the formula because the curves are flat near
        their top and the rare attributes have few positives; the lean is what matters.""")
    tuned = (scores > formula["accuracy"]).astype(float)
    tuned_result = metrics.attribute_metrics(tuned, labels, names=ATTRIBUTES)
    honest_result = metrics.attribute_metrics((scores > SEPARATION / 2).astype(float), labels)
    print("Thresholding every attribute at its accuracy-best t (the formula's):")
    print(f"  mean accuracy          {tuned_result['mean_accuracy']:.3f}"
          f"   (was {honest_result['mean_accuracy']:.3f} at t = 1)")
    print(f"  mean balanced accuracy {tuned_result['balanced_accuracy']:.3f}"
          f"   (was {honest_result['balanced_accuracy']:.3f} at t = 1)")
    course.confirm(tuned_result["mean_accuracy"] > honest_result["mean_accuracy"]
                   and tuned_result["balanced_accuracy"] < honest_result["balanced_accuracy"],
                   "the same scores, two thresholds: one wins on accuracy, the other on "
                   "balanced accuracy")
    return formula


def section_6_figure(rates, labels, thresholds):
    course.section("6. The picture")
    from matplotlib.figure import Figure

    scores = scores_for(labels)
    rules = {"majority rule": np.broadcast_to(rates > 0.5, labels.shape).astype(float),
             "scores > 1 (balanced-best)": (scores > thresholds["balanced"]).astype(float),
             "accuracy-best threshold": (scores > thresholds["accuracy"]).astype(float)}
    order = np.argsort(rates)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for (name, said), marker in zip(rules.items(), "o^s"):
        meter = metrics.AttributeMetrics().update(said, labels)
        per_attribute = meter.accuracy_per_attribute(), meter.balanced_accuracy_per_attribute()
        for ax, values in zip(axes, per_attribute):
            ax.plot(rates[order], values[order], marker, ms=4, label=name)
    for ax, title in zip(axes, ("accuracy", "balanced accuracy")):
        ax.set_xlim(0, 1)
        ax.set_xlabel("positive rate p of the attribute")
        ax.set_title(f"{title}, one point per attribute")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score")
    axes[0].legend(fontsize=8, loc="lower left")
    course.save_figure(fig, "10_accuracy_vs_balanced.png")
    course.say("""
        Left: the majority rule's accuracy climbs towards 1 as attributes get rarer, and on
        those rarer than about 15 % it is above the classifier's. Right: under balanced
        accuracy it sits at 0.5, and the accuracy-tuned threshold pays on the rare attributes
        for what it gained on the left.""")


# =============================================================================================
# Exercises. `python lessons/10_accuracy_vs_balanced.py --check` lists them. Each docstring is
# the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("The always-negative rule", answer="ACCURACY BALANCED")
def exercise_1(answer):
    """Wearing_Hat is present on 5 % of the faces (p = 0.05). A rule says "no hat" for every
    face. What are its accuracy and its balanced accuracy (as fractions, e.g. 0.5)?"""
    acc, bal = course.numbers(answer, count=2)
    if course.is_close(acc, 0.95) and course.is_close(bal, 0.5):
        return "95 % right, and it has learnt nothing: balanced accuracy says so."
    if acc > 1 or bal > 1:
        raise course.NotYet("give both as fractions between 0 and 1 (0.5, not 50).")
    if course.is_close(acc, 0.05):
        raise course.NotYet("accuracy counts the faces the rule gets right: the ones with no hat.")
    if not course.is_close(acc, 0.95):
        raise course.NotYet("accuracy = (TP + TN) / N; here TP = 0 and TN is every hatless face.")
    raise course.NotYet("accuracy is right. For balanced accuracy, find the TPR (the share of hats "
                        "found) and the TNR (the share of no-hats left alone), then average them.")


@course.exercise("From a confusion table", answer="ACCURACY BALANCED")
def exercise_2(answer):
    """A classifier for Eyeglasses on 1,000 faces: TP = 45, FN = 15, FP = 40, TN = 900.
    Give its accuracy and its balanced accuracy (fractions, at least 3 digits)."""
    acc, bal = course.numbers(answer, count=2)
    tp, fn, fp, tn = 45, 15, 40, 900
    right_acc = (tp + tn) / 1000
    right_bal = (tp / (tp + fn) + tn / (tn + fp)) / 2
    if not course.is_close(acc, right_acc, rtol=2e-3):
        raise course.NotYet("accuracy is (TP + TN) / N.")
    if course.is_close(bal, right_bal, rtol=2e-3):
        return (f"Accuracy {right_acc:.3f}, balanced {right_bal:.4f}: the 60 present faces now "
                "count half.")
    if course.is_close(bal, (tp / (tp + fn) + tp / (tp + fp)) / 2, rtol=2e-3):
        raise course.NotYet("that averages recall and precision. TNR is TN / (TN + FP): a share "
                            "of the faces without glasses.")
    raise course.NotYet("balanced = (TPR + TNR) / 2, TPR = TP / (TP + FN), TNR = TN / (TN + FP).")


def balanced_accuracy(said, truth):
    """Balanced accuracy of each attribute: said and truth are (N, A) arrays of 0/1 (every
    column has both classes in truth). Return an (A,) array of (TPR + TNR) / 2."""
    # ---- exercise 3: your code here (NumPy; do not call minifaceattr.metrics) ----
    raise NotImplementedError


@course.exercise("Write balanced accuracy", edit=balanced_accuracy)
def exercise_3(candidate):
    """Write balanced_accuracy (in the lesson file, just before exercise_3) with NumPy.
    The check compares it with metrics.AttributeMetrics on labels of several rates."""
    rng = np.random.default_rng(3)
    for n, rate, flip in [(500, 0.5, 0.2), (1000, 0.03, 0.1), (300, 0.9, 0.3), (2000, 0.2, 0.05)]:
        truth = (rng.random((n, 5)) < rate * np.linspace(0.5, 1.0, 5)).astype(int)
        truth[0], truth[1] = 1, 0      # both classes in every column
        said = np.where(rng.random(truth.shape) < flip * np.arange(1, 6) / 5, 1 - truth, truth)
        said[:, 4] = 0                 # one column answered by the always-negative rule
        mine = np.asarray(candidate(said.copy(), truth.copy()), dtype=float)
        if mine.shape != (5,):
            raise course.NotYet(f"for (N, A) = {truth.shape} return one number per attribute, "
                                f"shape (5,); you returned shape {mine.shape}")
        library = metrics.AttributeMetrics().update(said, truth).balanced_accuracy_per_attribute()
        if not np.allclose(mine, library):
            raise course.NotYet(f"with positive rate about {rate}, your values {np.round(mine, 3)} "
                                f"differ from the library's. Count TP, FN, FP, TN per column "
                                "(sum over axis 0).")
    return "One column per attribute, both classes weighed equally."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
