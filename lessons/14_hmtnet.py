"""Lesson 14 - HMTNet

Run it:   python lessons/14_hmtnet.py       (about 45 minutes with the exercises)
Needs:    lessons 8 (a network, stage by stage) and 9 (the losses, Smooth Huber).

The idea
--------
HMTNet (Xu, Fan, Xiang) answers three questions about a face with one fully convolutional
network: gender (2 classes), race (2 classes) and an attractiveness score in [1, 5]. The
tasks are not equally hard, so they leave the shared trunk at different depths:

    conv1 7×7 ─ pool1 ─ conv2 5×5 ─ pool2 ─ conv3 ─ relu3 ─ conv4 ─ relu4 ─ conv5 ─ relu5
                                                     │                                │
    gender = Branch(relu3)          (an easy task: mid-level features are enough)   │
    A1     = (conv3 + relu3 + relu5) / 3              (Eq. 1, the first aggregation) ┘
    race   = Branch(A1)
    score  = pool5 ─ fc6 ─ fc7 ─ relu7 ─ A2 = (fc6 + fc7 + relu7) / 3 ─ fc8 ─ global average

A Branch (Table 1) is conv 3×3, conv 3×3, max pool, conv 1×1/2 to 2 channels, global
average pool. fc6, fc7 and fc8 are convolutions (fc6's kernel covers the whole pool5 map),
so the network has no fully connected layer at all. The aggregations mix a layer's raw
output (conv3, before its batch norm) with rectified features from two depths: the deeper
heads see both.

The loss (Eq. 6) weighs the three tasks 1, 1, 2:

    L = CE(gender) + CE(race) + 2 · L_a(score),   L_a = mean over the batch of
        log(cosh(d))  where |d| ≤ δ = 0.6,   |d| elsewhere,     d = predicted − true score

The metrics: for the score, MAE = mean |d|, RMSE = sqrt(mean d²) and the Pearson
correlation PC between predicted and true scores; for gender and race, accuracy.

What to watch for
-----------------
- A head trains only what lies between it and the input: the gender loss never reaches
  conv4 or conv5 (section 2 shows it with gradients).
- PC ignores scale and shift: a model that predicts 2·true − 3 has PC = 1 and a poor MAE.
  That is why the paper reports all three.
- The lesson trains a narrow HMTNet at 48 px for a few steps on SynthFBP, drawn faces with
  a hidden beauty score: enough to see the pieces work, not to reproduce the paper.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import metrics, optim
from minifaceattr.data import DataLoader, SynthFBP, transforms
from minifaceattr.models.hmtnet import (HMTNET_224, Aggregate, HMTNet, single_task_net,
                                        small_config)
from minifaceattr.models.hmtnet_loss import HMTLoss
from minifaceattr.training import evaluate_hmtnet

IMAGE_SIZE = 48
CONFIG = small_config(IMAGE_SIZE)   # the library's narrow HMTNet, at 48 px
FULL = dict(train=640, test=200, epochs=3, batch=32, lr=0.01, print_every=5)
QUICK = dict(train=64, test=32, epochs=1, batch=32, lr=0.01, print_every=1)


def main(quick=False):
    size = QUICK if quick else FULL
    train = SynthFBP(size["train"], image_size=IMAGE_SIZE, split="train", verbose=False)
    test = SynthFBP(size["test"], image_size=IMAGE_SIZE, split="test", verbose=False)
    images, targets = first_batch(train, 8)
    model = build()
    section_1_shapes(model, images)
    section_2_branches(model, images, targets)
    section_3_loss(model, images, targets)
    section_4_metrics()
    section_5_training(train, test, size)


def build(config=CONFIG):
    mfa.manual_seed(0)
    return HMTNet(config)


def to_input():
    return transforms.Compose([transforms.ToArray(), transforms.Normalize()])


def first_batch(dataset, n):
    """n images as a Tensor and their targets {"score", "race", "gender"} as arrays."""
    tf = to_input()
    images = np.stack([tf(dataset[i][0]) for i in range(n)])
    targets = {"score": dataset.scores[:n], "race": dataset.races[:n],
               "gender": dataset.genders[:n]}
    return mfa.tensor(images), targets


# --- 1. shapes -------------------------------------------------------------------------------

def section_1_shapes(model, images):
    course.section("1. Through the trunk, shape by shape")
    print(f"config: {CONFIG.image_size} px, widths {CONFIG.widths}, stem strides "
          f"{CONFIG.stem_strides},")
    print(f"  branch widths {CONFIG.branch_widths}, fc6/fc7 {CONFIG.head_width}")
    model.eval()
    with mfa.no_grad():
        x = images
        print(f"  {'input':22s} {tuple(x.shape)}")
        _, x = model.conv1(x)
        print(f"  {'conv1 7x7 + bn + relu':22s} {tuple(x.shape)}")
        x = F.max_pool2d(x, 3, 2)
        print(f"  {'pool1 3/2':22s} {tuple(x.shape)}")
        _, x = model.conv2(x)
        print(f"  {'conv2 5x5 pad 1':22s} {tuple(x.shape)}")
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        print(f"  {'pool2 3/2 (ceil mode)':22s} {tuple(x.shape)}")
        conv3, relu3 = model.conv3(x)
        print(f"  {'conv3, relu3':22s} {tuple(relu3.shape)}   -> the gender branch")
        _, relu4 = model.conv4(relu3)
        _, relu5 = model.conv5(relu4)
        print(f"  {'relu4, relu5':22s} {tuple(relu5.shape)}")
        maps = model.features(images)
    print(f"  {'A1 = aggregate':22s} {tuple(maps['fused'].shape)}   -> race branch, score head")
    course.confirm(np.array_equal(relu3.data, maps["relu3"].data)
                   and relu5.shape == maps["relu5"].shape,
                   "our walk gives the same relu3 as HMTNet.features")
    side = relu3.shape[-1]
    print(f"trunk map: {side}x{side} here ({CONFIG.image_size} px, stem strides 1); the paper's "
          f"{HMTNET_224.image_size} px with strides 2")
    print(f"  gives {HMTNET_224.trunk_size}x{HMTNET_224.trunk_size}, and fc6's kernel is "
          f"{HMTNET_224.head_kernel}x{HMTNET_224.head_kernel} (here {CONFIG.head_kernel}x"
          f"{CONFIG.head_kernel}: pool5 3/2 of the trunk map)")
    course.confirm(side == CONFIG.trunk_size, "the shapes follow the config's arithmetic")
    course.say("""
        Every step shrinks the map by (size + 2·padding − kernel) // stride + 1; pool2 rounds
        up (ceil mode), keeping a last partial window. A branch needs a trunk map of at least
        7x7 (two 3x3 convolutions without padding and a 3x3 pool: 7 -> 5 -> 3 -> 1), and
        HMTNet refuses a smaller one; small_config keeps a margin (at least 9x9), which is
        why 47 px is the smallest input it accepts.""")


# --- 2. branches -----------------------------------------------------------------------------

CHILDREN = ("conv1", "conv2", "conv3", "conv4", "conv5", "gender_branch", "race_branch",
            "score_head")


def reached_by(model, images, targets, task):
    """The parts of the model whose parameters get a gradient from ``task``'s loss alone."""
    model.train()
    model.zero_grad()
    HMTLoss().parts(model(images), targets)[task].backward()
    return [name for name in CHILDREN
            if any(p.grad is not None for p in getattr(model, name).parameters())]


def section_2_branches(model, images, targets):
    course.section("2. Which layer feeds which branch")
    model.eval()
    with mfa.no_grad():
        maps = model.features(images)
        by_hand = (maps["conv3"].data + maps["relu3"].data + maps["relu5"].data) / 3
        score = score_by_hand(model.score_head, maps["fused"])
        out = model(images)
    course.confirm(np.allclose(maps["fused"].data, by_hand, atol=1e-6),
                   "A1 = (conv3 + relu3 + relu5) / 3, conv3 taken before its batch norm")
    course.confirm(np.allclose(out.score.data, score, atol=1e-5),
                   "score = global average of fc8((fc6 + fc7 + relu7) / 3), the second aggregation")
    reach = {task: reached_by(model, images, targets, task) for task in ("gender", "race", "score")}
    print("Backward from one loss term at a time, and list the parts that got a gradient:")
    print(f"  the gender loss alone trains: {', '.join(reach['gender'])}")
    print("  (the race and score losses: exercise 1 asks you to predict their lists first)")
    course.confirm(reach["gender"] == ["conv1", "conv2", "conv3", "gender_branch"],
                   "gender leaves the trunk after conv3: conv4 and conv5 get nothing from it")
    own = {"gender": "gender_branch", "race": "race_branch", "score": "score_head"}
    course.confirm(all([p for p in parts if not p.startswith("conv")] == [own[task]]
                       for task, parts in reach.items()),
                   "each loss trains its own head and no other head")
    joint = count(model.parameters())
    alone = {t: count(single_task_net(t, CONFIG).parameters()) for t in ("gender", "race", "score")}
    print(f"parameters: joint HMTNet {joint:,}; three single-task networks")
    print("  " + " + ".join(f"{v:,}" for v in alone.values()) + f" = {sum(alone.values()):,}")
    concat = count(HMTNet(CONFIG, aggregator="concat").parameters())
    print(f"with concatenation (Eq. 2) instead of the mean: {concat:,} "
          "(A1 and A2 have 3x the channels)")
    course.say("""
        Sharing the trunk is where a joint network saves: one conv1-conv5 instead of three.
        And the shared layers learn from several losses at once: conv1-conv3 are in the
        gender list, and the race and score heads read A1, which holds conv3, so conv1-conv3
        are trained by the gender, race and score labels together. (Whether that sharing
        helps each task is what the paper's comparison with single-task networks measures;
        this lesson does not.)""")


def score_by_hand(head, fused):
    """ScoreHead.forward, step by step, as a NumPy array."""
    fc6, relu6 = head.fc6(F.max_pool2d(fused, 3, 2))
    fc7, relu7 = head.fc7(relu6)
    a2 = (fc6 + fc7 + relu7) / 3
    return head.fc8(a2).data.mean(axis=(1, 2, 3))


def count(params):
    return int(sum(p.numel() for p in params))


# --- 3. the loss -----------------------------------------------------------------------------

def smooth_huber_by_hand(d, delta=0.6):
    d = np.abs(np.asarray(d, dtype=np.float64))
    return np.where(d <= delta, np.log(np.cosh(d)), d)


def cross_entropy_by_hand(logits, labels):
    z = logits.astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    log_sum = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return float(np.mean(log_sum - z[np.arange(len(labels)), labels]))


def section_3_loss(model, images, targets):
    course.section("3. The loss, Eq. 6")
    model.train()
    out = model(images)
    loss_fn = HMTLoss()
    parts = {k: v.item() for k, v in loss_fn.parts(out, targets).items()}
    total = loss_fn(out, targets).item()
    print(f"{loss_fn}:")
    print("  library: " + ", ".join(f"{k} {v:.4f}" for k, v in parts.items())
          + f";  total {total:.4f}")
    by_hand = {"gender": cross_entropy_by_hand(out.gender.data, targets["gender"]),
               "race": cross_entropy_by_hand(out.race.data, targets["race"]),
               "score": float(smooth_huber_by_hand(out.score.data - targets["score"]).mean())}
    eq6 = by_hand["gender"] + by_hand["race"] + 2 * by_hand["score"]
    print("  by hand: " + ", ".join(f"{k} {v:.4f}" for k, v in by_hand.items())
          + f";  1·gender + 1·race + 2·score = {eq6:.4f}")
    course.confirm(all(np.isclose(parts[k], by_hand[k], rtol=1e-5) for k in parts)
                   and np.isclose(total, eq6, rtol=1e-5),
                   "HMTLoss is CE + CE + 2 x Smooth Huber, term by term")
    d = np.array([0.3, 0.59, 0.61, 1.0, 2.0])
    course.show("d          ", d)
    course.show("SmoothHuber", smooth_huber_by_hand(d))
    far = np.abs(out.score.data - targets["score"]).min()
    course.say(f"""
        Inside |d| <= 0.6 the loss is log cosh d, about d²/2 for small d: smooth, with a
        gradient tanh(d) that fades as the prediction gets close. Outside it is |d|, like L1,
        so outliers pull no harder than any other error. At d = 0.6 it jumps from
        {np.log(np.cosh(0.6)):.3f} to 0.6 (lesson 9 plots it). The untrained score head says
        about {np.abs(out.score.data).mean():.2f} for scores near 3: every sample of this
        batch starts on the |d| side (its smallest |d| is {far:.2f}).""")
    course.confirm(far > 0.6, "at the start every |d| of the batch is above delta = 0.6")


# --- 4. metrics ------------------------------------------------------------------------------

def section_4_metrics():
    course.section("4. MAE, RMSE and Pearson")
    true = np.array([2.0, 3.5, 3.0, 4.5, 2.5])
    pred = np.array([2.5, 3.0, 3.0, 4.0, 3.5])
    d = pred - true
    mae, rmse = np.abs(d).mean(), np.sqrt((d ** 2).mean())
    dp, dt = pred - pred.mean(), true - true.mean()
    pc = (dp * dt).sum() / np.sqrt((dp ** 2).sum() * (dt ** 2).sum())
    course.show("true", true)
    course.show("pred", pred)
    print(f"by hand:           MAE {mae:.4f}  RMSE {rmse:.4f}  PC {pc:.4f}")
    library = metrics.mae(pred, true), metrics.rmse(pred, true), metrics.pearson(pred, true)
    print(f"minifaceattr.metrics: MAE {library[0]:.4f}  RMSE {library[1]:.4f}  PC {library[2]:.4f}")
    course.confirm(np.allclose([mae, rmse, pc], library),
                   "the library's metrics are these formulas")
    course.confirm(rmse >= mae, "RMSE >= MAE always (squaring weighs the big errors more)")
    stretched = 2 * pred - 2
    print(f"pred' = 2*pred - 2: MAE {metrics.mae(stretched, true):.4f}, "
          f"PC {metrics.pearson(stretched, true):.4f}")
    course.confirm(np.isclose(metrics.pearson(stretched, true), pc)
                   and metrics.mae(stretched, true) > mae,
                   "stretching and shifting the predictions keeps PC and changes MAE: report both")


# --- 5. a few training steps -----------------------------------------------------------------

def section_5_training(train, test, size):
    course.section("5. A few training steps on tiny SynthFBP")
    print(f"SynthFBP: {len(train)} train / {len(test)} test faces at {IMAGE_SIZE} px.")
    print("SYNTHETIC: drawn faces with a hidden beauty score, not SCUT-FBP5500.")
    model = build()
    opt = optim.SGD(model.parameters(), lr=size["lr"], momentum=0.9, weight_decay=5e-4)
    loss_fn = HMTLoss()
    loader = DataLoader(train, size["batch"], shuffle=True, drop_last=True, transform=to_input())
    print(" step   total   gender    race   score")
    step = 0
    model.train()
    for _ in range(size["epochs"]):
        for images, targets in loader:
            opt.zero_grad()
            out = model(mfa.tensor(images))
            parts = loss_fn.parts(out, targets)
            loss = sum(loss_fn.weights[task] * term for task, term in parts.items())
            loss.backward()
            opt.step()
            step += 1
            if step % size["print_every"] == 0 or step == 1:
                print(f"{step:5d} {loss.item():7.3f} "
                      + " ".join(f"{parts[t].item():7.3f}" for t in ("gender", "race", "score")))
    found, _ = evaluate_hmtnet(model, DataLoader(test, 80, transform=to_input()))
    compare_with_trivial(found, train, test, step)


def compare_with_trivial(found, train, test, steps):
    """The model's test metrics next to rules that look at no image."""
    mean_score = np.full(len(test), train.scores.mean())
    trivial = {"mae": metrics.mae(mean_score, test.scores),
               "rmse": metrics.rmse(mean_score, test.scores),
               "pc": float("nan"),
               "acc_gender": majority_accuracy(train.genders, test.genders),
               "acc_race": majority_accuracy(train.races, test.races)}
    print(f"\n{'test set':28s}{'MAE':>8s}{'RMSE':>8s}{'PC':>8s}{'gender':>9s}{'race':>8s}")
    for name, m in (("HMTNet, a few steps", found), ("no image (mean / majority)", trivial)):
        print(f"{name:28s}{m['mae']:8.3f}{m['rmse']:8.3f}{m['pc']:8.3f}"
              f"{100 * m['acc_gender']:8.1f}%{100 * m['acc_race']:7.1f}%")
    better = [k[4:] for k in ("acc_gender", "acc_race") if found[k] > trivial[k]]
    course.say(f"""
        The rules that look at no image: predict the training set's mean score for every face
        (its PC is undefined: a constant has no spread), and each class task's majority
        class. After {steps} steps, on these {len(test)} test faces, the network beats the
        majority class on: {" and ".join(better) or "nothing yet"}; its MAE is
        {"below" if found["mae"] < trivial["mae"] else "not below"} the mean rule's. The score is
        the hardest task and the last to learn; the paper's PC of 0.88 takes the full network,
        the real SCUT-FBP5500 and many epochs (examples/train_hmtnet.py).""")


def majority_accuracy(train_labels, test_labels):
    majority = int(np.bincount(train_labels).argmax())
    return float((test_labels == majority).mean())


# =============================================================================================
# Exercises. `python lessons/14_hmtnet.py --check` lists them. Each docstring is the question;
# the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Which layer feeds which head", answer="GENDER RACE SCORE")
def exercise_1(answer):
    """For each head, gender, race and score (in that order), name the deepest of the five
    trunk convolutions (conv1 ... conv5) whose weights get a gradient from that head's
    loss term alone. (Section 2 lists gender's; predict race and score from the diagram
    in the docstring before you check.)"""
    said = [w.lower() for w in course.words(answer)]
    if len(said) != 3:
        raise course.NotYet("give three names, e.g. conv2 conv4 conv1")
    model = build()
    images, targets = first_batch_of_noise()
    right = []
    for task in ("gender", "race", "score"):
        reached = [p for p in reached_by(model, images, targets, task) if p.startswith("conv")]
        right.append(reached[-1])
    if said == right:
        return "Gender leaves the trunk after conv3; race and score need conv5 (through A1)."
    if said[0] != right[0]:
        raise course.NotYet("gender: which map does its branch read, and which convolution "
                            "made it?")
    raise course.NotYet("race and score read A1 = (conv3 + relu3 + relu5) / 3: what is the deepest "
                        "layer inside relu5?")


def first_batch_of_noise(n=4):
    rng = np.random.default_rng(0)
    images = mfa.tensor(rng.standard_normal((n, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32))
    return images, {"score": np.full(n, 3.0, np.float32), "race": np.arange(n) % 2,
                    "gender": np.arange(n) // 2 % 2}


@course.exercise("Metrics for a small vector", answer="MAE RMSE PC")
def exercise_2(answer):
    """True scores t = [3, 2, 4, 5], predicted p = [3.5, 2, 3.5, 4]. Work out the MAE,
    the RMSE and the Pearson correlation PC of p against t (to 3 digits)."""
    mae, rmse, pc = course.numbers(answer, count=3)
    t, p = np.array([3.0, 2, 4, 5]), np.array([3.5, 2, 3.5, 4])
    right = metrics.mae(p, t), metrics.rmse(p, t), metrics.pearson(p, t)
    wrong = [name for name, mine, true in zip(("MAE", "RMSE", "PC"), (mae, rmse, pc), right)
             if not course.is_close(mine, true, rtol=5e-3)]
    if not wrong:
        return "PC is high though one error is a whole point: it ignores scale and shift."
    if "RMSE" in wrong and course.is_close(rmse, right[1] ** 2, rtol=5e-3):
        raise course.NotYet("that is the mean squared error; RMSE is its square root.")
    raise course.NotYet(f"{' and '.join(wrong)} not right yet. Differences d = p − t first; for PC "
                        "subtract each vector's own mean before multiplying.")


def aggregate(maps, mode):
    """Fuse a list of feature maps (Tensors of one shape (N, C, H, W)): "avg" (Eq. 1, the
    element-wise mean) or "concat" (Eq. 2, stacked along the channels). Return a Tensor."""
    # ---- exercise 3: use Tensor arithmetic, or F.concat(list, axis=...) ----
    raise NotImplementedError


@course.exercise("The aggregation, yourself", edit=aggregate)
def exercise_3(aggregate):
    """Write aggregate (in the lesson file, just before exercise_3): both of HMTNet's ways
    of fusing maps, the mean (Eq. 1) and the depth-wise concatenation (Eq. 2). The check
    compares it with the library's Aggregate module on the conv3, relu3, relu5 maps."""
    model = build()
    model.eval()
    with mfa.no_grad():
        maps = model.features(first_batch_of_noise()[0])
        three = [maps["conv3"], maps["relu3"], maps["relu5"]]
        for mode in ("avg", "concat"):
            mine, theirs = aggregate(three, mode), Aggregate(mode)(*three)
            mine = mine.data if isinstance(mine, mfa.Tensor) else np.asarray(mine)
            if mine.shape != theirs.shape:
                raise course.NotYet(f"{mode}: shape {mine.shape}, expected {theirs.shape}")
            if not np.allclose(mine, theirs.data, atol=1e-6):
                order = " (keep the maps in the order given)" if mode == "concat" else ""
                raise course.NotYet(f"{mode}: the shape is right but the values differ{order}")
    return "A mean keeps C channels; a concatenation makes 3C, and the layers after it grow."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
