"""Lesson 13 - Training MGG-Net and its ablations, in small

Run it:   python lessons/13_training_mggnet.py       (about 60 minutes with the exercises)
          (slow on a busy machine? OPENBLAS_NUM_THREADS=1 python ... is often much faster)
Needs:    lessons 8-12 (ResNet18, the losses, accuracy, GAL, GCL).

The model
---------
MGG-Net reads a face with a ResNet18 and predicts A = 40 binary attributes from several
heads at once:

    base   Y^B      the last stage (layer4) → global average pool → linear: one logit per attribute
    GAL    Y^GAL_b  at each block b (layer2, layer3): G = 8 attention masks, one per part-based
                    group (eyes, mouth, hair, ...); group g's feature is the masked average of
                    the map, and attribute a is read from its group's feature by a linear
                    classifier θ_a^b
    GCL    Y^GCL_b  the same G group features after one step of directed graph attention
                    between the groups (lesson 12), read by the SAME classifiers θ_a^b
    final  Y        (Eq. 4) the average of Y^B and the B GCL predictions

The loss (Eq. 5) is the sum of the binary cross-entropies of every head: with B = 2 blocks
that is 2B + 2 = 6 heads (base, final, 2 GAL, 2 GCL), each a mean over N·A terms.

The ablations ask what each part adds:

    baseline      the ResNet18 and its linear head alone (Y = Y^B)
    independent   one attention mask per ATTRIBUTE instead of per group (40 masks), no GCL
    no_gcl        8 group masks (GAL) but no graph step; Y averages Y^B and the GAL heads
    full          GAL + GCL

Training is the loop of every network: for each batch, forward → loss → backward → SGD
step, w ← w − lr·b, where b = g at the first step and then b ← 0.9·b + g (momentum: b
keeps adding up the past gradients, each older one weighed 0.9 times less).

What to watch for: reading small results honestly
-------------------------------------------------
The paper trains 12.8 M parameters on 200 000 photos for hours. Here we train a ResNet of
width 8 (about 0.2 M parameters) on a few hundred drawn 32×32 faces for seconds, so that
all four variants fit in well under a minute on a laptop CPU. At that size:

- Most attributes are rare or common (CelebA's rates: 2 % bald, 83 % no beard), so the rule
  "always answer each attribute's most common value" already gets about 80 % mean accuracy
  (lesson 10). Any model must be compared with that rule, and with balanced accuracy, where the rule
  gets 50 %.
- Differences between the variants of a few tenths of a point are what a different random
  seed, or a different test set, would give anyway. The lesson measures both kinds of noise
  and puts them next to the differences. This lesson shows how the pieces train, NOT which
  variant is better: that needs the real data, the full width and many seeds.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import contextlib
import io
import shutil
import time

import numpy as np

import minifaceattr as mfa
from minifaceattr import metrics, optim
from minifaceattr.data import ATTRIBUTE_INDEX, DataLoader, SynthFaces, transforms
from minifaceattr.models.mggnet import VARIANTS, GraphCorrelation, MGGNet, mggnet_loss
from minifaceattr.training import evaluation_mode, fit

IMAGE_SIZE, WIDTH, HIDDEN = 32, 8, 10   # 8 groups x 10 = 40 attributes x 2 hidden channels
FULL = dict(train=640, test=400, epochs=3, batch=32, lr=0.05, seeds=(0, 1))
QUICK = dict(train=64, test=48, epochs=1, batch=32, lr=0.05, seeds=(0,))


def main(quick=False):
    size = QUICK if quick else FULL
    train, test = section_1_data(size)
    section_2_variants()
    section_3_one_forward(train)
    section_4_one_step(train)
    results = section_5_train_variants(train, test, size)
    section_6_reading_the_results(train, test, results)


def image_transform(flip):
    steps = [transforms.RandomHorizontalFlip()] if flip else []
    return transforms.Compose(steps + [transforms.ToArray(), transforms.Normalize()])


def first_batch(dataset, n=16):
    """n images as a (n, 3, H, W) Tensor and their (n, 40) float32 targets."""
    tf = image_transform(flip=False)
    images = np.stack([tf(dataset[i][0]) for i in range(n)])
    return mfa.tensor(images), dataset.labels[:n].astype(np.float32)


def build(variant, seed=0):
    """One variant at this lesson's small size."""
    mfa.manual_seed(seed)
    return MGGNet(variant=variant, width=WIDTH, hidden_per_group=HIDDEN)


def count(params):
    return int(sum(p.numel() for p in params))


# --- 1. data ---------------------------------------------------------------------------------

def section_1_data(size):
    course.section("1. The data: tiny synthetic faces, and the rule to beat")
    train = SynthFaces(size["train"], image_size=IMAGE_SIZE, split="train", verbose=False)
    test = SynthFaces(size["test"], image_size=IMAGE_SIZE, split="test", verbose=False)
    print(f"SynthFaces: {len(train)} train / {len(test)} test images of "
          f"{IMAGE_SIZE}x{IMAGE_SIZE} px.")
    print("SYNTHETIC: drawn faces whose 40 labels follow CelebA's statistics, not photos.")
    rates = train.labels.mean(axis=0)
    names = ["Bald", "Eyeglasses", "Male", "Smiling", "No_Beard"]
    print("positive rate in the training labels:\n  " + ", ".join(
        f"{n} {rates[ATTRIBUTE_INDEX[n]]:.2f}" for n in names))
    majority = majority_rule(train.labels, test.labels)
    print(f"majority-class rule on the test set: mean accuracy "
          f"{100 * majority['mean_accuracy']:.2f} %,"
          f" balanced accuracy {100 * majority['balanced_accuracy']:.2f} %")
    course.say("""
        The rule answers, for every face, each attribute's most common value in the training
        labels. It has learned nothing about faces, and yet its mean accuracy is high: most
        attributes are far from 50/50. Its balanced accuracy, (TPR + TNR) / 2, is 50 % for every
        attribute that has both classes in the test set (one of the two rates is 1, the other
        0); an attribute with no positive test face counts its TNR alone, 100 %.""")
    return train, test


def majority_rule(train_labels, test_labels):
    """metrics of predicting each attribute's training majority for every test face."""
    majority = (train_labels.mean(axis=0) > 0.5).astype(np.float64)
    said = np.broadcast_to(majority, test_labels.shape)   # as probabilities 0 or 1
    return metrics.attribute_metrics(said, test_labels)


# --- 2. the variants -------------------------------------------------------------------------

PARTS = {"backbone": "backbone.", "base head": "fc.", "GAL": "gal.",
         "classifiers": "classifiers.", "GCL": "gcl."}


def parameters_by_part(model):
    sizes = dict.fromkeys(PARTS, 0)
    for name, p in model.named_parameters():
        part = next(k for k, prefix in PARTS.items() if name.startswith(prefix))
        sizes[part] += p.numel()
    return sizes


def section_2_variants():
    course.section("2. Four variants, and what each part costs")
    print(f"width {WIDTH} (the paper: 64), {HIDDEN} hidden channels per group mask")
    print(f"{'variant':12s}" + "".join(f"{p:>12s}" for p in PARTS) + f"{'total':>10s}")
    models = {v: build(v) for v in VARIANTS}
    for v, model in models.items():
        sizes = parameters_by_part(model)
        print(f"{v:12s}" + "".join(f"{sizes[p]:12,d}" for p in PARTS)
              + f"{count(model.parameters()):10,d}")
    hidden = {v: models[v].gal[0].conv.out_channels for v in ("no_gcl", "independent")}
    print(f"GAL hidden channels at layer2: no_gcl {hidden['no_gcl']} (8 groups x {HIDDEN}), "
          f"independent {hidden['independent']} (40 attributes x {hidden['independent'] // 40})")
    course.confirm(hidden["no_gcl"] == hidden["independent"],
                   "independent and no_gcl have the same hidden channels: they differ in grouping")
    paper = {v: count(MGGNet(variant=v).parameters()) for v in ("baseline", "full")}
    extra = 100 * (paper["full"] / paper["baseline"] - 1)
    print(f"the paper's sizes (width 64, 32 hidden per group): baseline "
          f"{paper['baseline'] / 1e6:.2f} M, full {paper['full'] / 1e6:.2f} M, +{extra:.0f} %")
    course.confirm(abs(paper["full"] / 12.8e6 - 1) < 0.01 and 11.0e6 < paper["baseline"] < 11.3e6,
                   "the paper's budget: baseline about 11 M, MGG-Net about 12.8 M")
    small = count(models["full"].parameters()) / count(models["baseline"].parameters()) - 1
    print(f"at width {WIDTH} the heads add {100 * small:.0f} % to the backbone and its linear "
          "head: a tiny\nResNet makes the extra parts relatively bigger.")


# --- 3. one forward pass ---------------------------------------------------------------------

def section_3_one_forward(train):
    course.section("3. One forward pass: six heads, Eq. 4 and Eq. 5")
    model = build("full")
    images, targets = first_batch(train)
    out = model(images)
    for name, logits in out.heads():
        print(f"  head {name:12s} logits {tuple(logits.shape)}")
    for block, m in out.masks.items():
        print(f"  masks at {block}: {tuple(m.shape)}  (images, groups, H, W)   "
              f"affinity e_ij: {tuple(out.affinity[block].shape)}")
    by_eq4 = ((out.base_logits.data + sum(y.data for y in out.gcl_logits.values()))
              / (1 + len(out.gcl_logits)))
    course.confirm(np.allclose(out.logits.data, by_eq4, atol=1e-6),
                   "Eq. 4: the final logits are the mean of Y^B and the GCL logits")
    loss = mggnet_loss(out, targets)
    by_hand = sum(bce_by_hand(logits.data, targets) for _, logits in out.heads())
    print(f"mggnet_loss = {loss.item():.5f};  "
          f"the sum of the six heads' BCE by hand = {by_hand:.5f}")
    course.confirm(np.isclose(loss.item(), by_hand, rtol=1e-5),
                   "Eq. 5: the loss is the sum over heads of the mean BCE with logits")
    print("the heads each variant's loss sums over (out.heads(), on 2 faces):")
    two, _ = first_batch(train, 2)
    for variant in VARIANTS:
        with mfa.no_grad():
            names = [name for name, _ in build(variant)(two).heads()]
        print(f"  {variant:12s} {len(names)}: {', '.join(names)}")
    course.say("""
        Each head's BCE starts near log 2 = 0.69 (an untrained head says about 50 % for every
        attribute), so the first loss of the full model is near 6 x 0.69, and the baseline's,
        with one head, near 0.69: loss values of different variants are not comparable.""")


def bce_by_hand(z, y):
    """mean over all terms of -[y log σ(z) + (1 - y) log(1 - σ(z))], written stably."""
    z = z.astype(np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


# --- 4. one training step --------------------------------------------------------------------

def section_4_one_step(train):
    course.section("4. One training step, written out")
    model = build("full")
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    images, targets = first_batch(train, 32)
    weight = model.gcl[0].weight
    before = weight.data.copy()

    opt.zero_grad()                                 # forget the previous step's gradients
    loss = mggnet_loss(model(images), targets)      # forward, then the loss (Eq. 5)
    loss.backward()                                 # every parameter's .grad
    opt.step()                                      # w <- w - lr * (grad + weight_decay * w)

    missing = [n for n, p in model.named_parameters() if p.grad is None]
    print(f"loss {loss.item():.4f}; parameters without a gradient: {missing or 'none'}")
    course.confirm(not missing,
                   "every parameter (backbone, GAL, GCL, classifiers, heads) got a gradient")
    expected = before - 0.05 * (weight.grad + 5e-4 * before)   # the first step: no momentum yet
    course.confirm(np.allclose(weight.data, expected, atol=1e-7),
                   "the first SGD step moved the GCL weight by exactly -lr * (grad + wd * w)")
    with mfa.no_grad():
        after = mggnet_loss(model(images), targets).item()
    print(f"the same batch after the step: loss {after:.4f} (it was {loss.item():.4f})")
    course.say("""
        That is the whole of training. `fit` (minifaceattr/training/loop.py, train_step) runs
        these four lines for every batch, and around them checks that the loss is finite,
        keeps a log.csv, saves a checkpoint every epoch and can resume.""")


# --- 5. training the four variants -----------------------------------------------------------

def train_variant(variant, train, size, seed=0, quiet=False):
    """Train one variant with the library's fit; return (model, history, seconds).
    ``quiet``: keep fit's log lines off the screen (log.csv still has them)."""
    model = build(variant, seed)
    opt = optim.SGD(model.parameters(), lr=size["lr"], momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(train, size["batch"], shuffle=True, seed=seed, drop_last=True,
                        transform=image_transform(flip=True))

    def loss_fn(model, images, targets):
        return mggnet_loss(model(images), targets.astype(np.float32))

    out_dir = course.output_path("13_runs") / f"{variant}-seed{seed}"
    shutil.rmtree(out_dir, ignore_errors=True)     # this lesson's previous run of the same variant
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        history = fit(model, opt, loader, loss_fn, size["epochs"], out_dir,
                      progress=False, log_every=10 ** 6, description="SYNTHETIC faces (SynthFaces)")
    return model, history, time.perf_counter() - started


def test_logits(model, test):
    """The final logits on the whole test set, in eval mode, as a NumPy array."""
    loader = DataLoader(test, 100, transform=image_transform(flip=False))
    with evaluation_mode(model):
        return np.concatenate([model(mfa.tensor(x)).logits.numpy() for x, _ in loader])


def section_5_train_variants(train, test, size):
    course.section("5. Training the four variants, the same way")
    seeds = size["seeds"]
    print(f"each: {size['epochs']} epoch(s) of batch {size['batch']}, SGD lr {size['lr']}, "
          "momentum 0.9, weight decay 5e-4, random flips;")
    print(f"the same data; seeds {seeds}")
    print("fit's own log, for the first run (the others write theirs to log.csv only):")
    results = {variant: [] for variant in VARIANTS}
    for seed in seeds:
        for variant in VARIANTS:
            quiet = (seed, variant) != (seeds[0], VARIANTS[0])
            model, history, seconds = train_variant(variant, train, size, seed, quiet)
            logits = test_logits(model, test)
            m = metrics.attribute_metrics(logits, test.labels, logits=True)
            results[variant].append(dict(
                params=count(model.parameters()), seconds=seconds, logits=logits,
                first_loss=history[0]["train_loss"], last_loss=history[-1]["train_loss"],
                mean=m["mean_accuracy"], balanced=m["balanced_accuracy"]))
    print_results(results, majority_rule(train.labels, test.labels))
    return results


def print_results(results, majority):
    print(f"\n{'':14s}{'parameters':>11s}{'train s':>9s}{'loss, epoch 1 -> last':>23s}"
          f"{'mean acc % per seed':>21s}{'balanced %':>12s}")
    for variant, runs in results.items():
        first = runs[0]
        losses = f"{first['first_loss']:.3f} -> {first['last_loss']:.3f}"
        accuracies = "  ".join(f"{100 * r['mean']:.2f}" for r in runs)
        balanced = np.mean([r["balanced"] for r in runs])
        print(f"{variant:14s}{first['params']:11,d}{first['seconds']:9.1f}{losses:>23s}"
              f"{accuracies:>21s}{100 * balanced:12.2f}")
    print(f"{'majority rule':14s}{0:11d}{0:9.1f}{'':23s}{100 * majority['mean_accuracy']:21.2f}"
          f"{100 * majority['balanced_accuracy']:12.2f}")
    print("(train seconds and losses of the first seed; balanced accuracy averaged over seeds)")


# --- 6. reading the results ------------------------------------------------------------------

def per_image_accuracy(logits, labels):
    """For each test face, the fraction of its 40 attributes predicted right."""
    return ((logits > 0) == (labels == 1)).mean(axis=1)


def paired_difference(a, b, labels):
    """(mean, standard error) of the per-face accuracy difference a − b, in points."""
    d = 100 * (per_image_accuracy(a, labels) - per_image_accuracy(b, labels))
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def section_6_reading_the_results(train, test, results):
    course.section("6. Reading the results honestly")
    labels = test.labels
    majority = 100 * majority_rule(train.labels, labels)["mean_accuracy"]
    accuracy = {v: 100 * np.mean([r["mean"] for r in runs]) for v, runs in results.items()}
    print("gain over the majority rule, in points of mean accuracy (mean over the seeds):")
    print("  " + ", ".join(f"{v} {a - majority:+.2f}" for v, a in accuracy.items()))
    print("each variant minus the baseline, first seed: the per-face accuracy difference on the\n"
          "same test faces, its mean over the faces ± its standard error:")
    gaps = {}
    for variant in ("independent", "no_gcl", "full"):
        mean, se = paired_difference(results[variant][0]["logits"],
                                     results["baseline"][0]["logits"], labels)
        gaps[variant] = (mean, se)
        print(f"  {variant:12s} {mean:+.2f} ± {se:.2f} points")
    within = [v for v, (mean, se) in gaps.items() if abs(mean) < 2 * se]
    print(f"within two standard errors of the baseline: {', '.join(within) or 'none'}")
    spread = {v: 100 * abs(runs[1]["mean"] - runs[0]["mean"])
              for v, runs in results.items() if len(runs) > 1}
    if spread:
        print("the same variant, seed 1 against seed 0, points apart:")
        print("  " + ", ".join(f"{v} {s:.2f}" for v, s in spread.items()))
        between = max(accuracy.values()) - min(accuracy.values())
        verdict = "smaller than" if between < max(spread.values()) else "not smaller than"
        print(f"the spread of the variants' two-seed means, {between:.2f} points, is {verdict}")
        print(f"the largest change a seed alone made, {max(spread.values()):.2f} points")
    explain_noise(gaps, accuracy, results, majority)


def explain_noise(gaps, accuracy, results, majority):
    largest = max(abs(mean) for mean, _ in gaps.values())
    gains = [a - majority for a in accuracy.values()]
    balanced = [100 * r["balanced"] for runs in results.values() for r in runs]
    learned = ("in seconds of training they learn the base rates and little more" if min(gains) > 0
               else "not all of them have even learned the base rates yet")
    course.say(f"""
        What these numbers can say. The four models differ from the majority rule by
        {min(gains):+.1f} to {max(gains):+.1f} points of mean accuracy, with balanced accuracies
        of {min(balanced):.0f} to {max(balanced):.0f} %: {learned}.

        The standard error counts only the luck of which faces are in the test set; the
        second seed (in the full run) shows how far the same model moves with other initial
        weights and batch order, and two seeds are themselves a rough estimate of that. Nor is
        "trained the same way" quite the same: the full model's loss sums six heads and the
        baseline's one, so at one learning rate the backbone of the full model takes larger
        steps. Gaps of {largest:.1f} points or less in this tiny setting (a width-8 network,
        a few hundred 32 px drawings) are not evidence that GAL or GCL help, or hurt, in the
        paper's setting. To see what each part adds, train at full width on CelebA or LFWA,
        or at least on thousands of SynthFaces for many epochs (examples/train_lfwa.py
        --variant ...), with several seeds per variant.""")


# =============================================================================================
# Exercises. `python lessons/13_training_mggnet.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Counting the loss terms", answer="FULL NO_GCL")
def exercise_1(answer):
    """Suppose GAL (and GCL) were attached to three blocks (layer1, layer2, layer3) instead
    of two, with the 40 attributes. How many binary cross-entropy terms per image does
    Eq. 5 sum for the full model, and how many for the no_gcl variant?
    (Count every head's logit for every attribute; section 3 lists each variant's heads.)"""
    full, no_gcl = course.numbers(answer, count=2)
    attributes, blocks = 40, 3
    right = attributes * (2 * blocks + 2), attributes * (blocks + 2)
    if (full, no_gcl) == right:
        return "A·(2B+2) with GCL; without it the GCL heads go, the base and final heads stay."
    if full == attributes * (2 * 2 + 2):
        raise course.NotYet("that is the count with two blocks; redo it with B = 3.")
    if full == attributes * 2 * blocks or no_gcl == attributes * blocks:
        raise course.NotYet("the base head Y^B and the final head Y are heads too.")
    if full != right[0]:
        raise course.NotYet("the full model: per block one GAL and one GCL head, plus base and "
                            "final.")
    raise course.NotYet("no_gcl: per block one GAL head only, plus base and final.")


@course.exercise("What GCL costs at full width", answer="PARAMETERS")
def exercise_2(answer):
    """At the paper's width 64, layer2 has 128 channels and layer3 has 256, with G = 8
    groups. GraphCorrelation holds, per block, one C×C matrix W_g per group and one
    C-vector w_e per group (Eq. 2). How many more parameters has the full MGG-Net than
    the no_gcl variant?"""
    value = course.number(answer)
    right = sum(count(GraphCorrelation(c, 8).parameters()) for c in (128, 256))
    if value == right:
        return f"{right:,} parameters: G·C·(C+1) per block, about 0.66 M of the 12.8 M."
    if value == 8 * (128 ** 2 + 256 ** 2):
        raise course.NotYet("you counted the matrices W_g; each group also has its vector w_e.")
    if value == 8 * 256 * 257:
        raise course.NotYet("that is layer3's GCL alone; layer2 has one too.")
    raise course.NotYet("per block: G matrices of C×C and G vectors of C; add both blocks.")


def final_prediction(output):
    """Eq. 4 for the full model and for no_gcl: the final (N, 40) logits Tensor, from
    output.base_logits and the dicts output.gcl_logits / output.gal_logits {block: logits}."""
    # ---- exercise 3: average the right heads (no_gcl has no GCL heads: it uses GAL) ----
    raise NotImplementedError


@course.exercise("Eq. 4 yourself", edit=final_prediction)
def exercise_3(final_prediction):
    """Write final_prediction (in the lesson file, just before exercise_3): the final
    logits of Eq. 4, the mean of the base logits and the GCL logits of every block; for
    the no_gcl variant, which has no GCL heads, the mean of the base and GAL logits.
    The check compares it with the model's own output.logits on both variants."""
    rng = np.random.default_rng(3)
    images = mfa.tensor(rng.standard_normal((2, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32))
    for variant in ("full", "no_gcl"):
        model = build(variant)
        with evaluation_mode(model):
            out = model(images)
        mine = final_prediction(out)
        mine = mine.data if isinstance(mine, mfa.Tensor) else np.asarray(mine)
        if mine.shape != out.logits.shape:
            raise course.NotYet(f"{variant}: shape {mine.shape}, expected {out.logits.shape}")
        if not np.allclose(mine, out.logits.data, atol=1e-5):
            raise course.NotYet(f"{variant}: your logits differ from the model's. Average logits "
                                "(not probabilities): base plus one head per block, divided by "
                                "the number of heads averaged.")
    return "Both variants agree with MGGNet.forward."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
