"""Lesson 11 - Group attention learning (GAL)

Run it:   python lessons/11_group_attention.py       (about 45 minutes with the exercises)
Needs:    lesson 8 (ResNet18 and its stages); lesson 7 (global average pooling).

The idea
--------
A ResNet classifier pools its last feature map over the whole face and reads all 40 attributes
from that one vector. But "Goatee" lives at the chin and "Bangs" at the forehead: MGG-Net
(Chen et al.) lets each *group* of attributes look at its own part of the face.

The 40 CelebA attributes fall into 8 part-based groups (minifaceattr/data/attributes.py,
``GROUPS``): Holistic, Hair, Eyes, Nose, Cheek, Mouth, Chin, Neck. Each attribute is in exactly
one group. For every group g, Group Attention Learning makes one spatial mask over a feature map
x of shape (C, H, W), and pools x under it:

    hidden   = relu(BN(conv3x3(x)))                      C -> G*h channels, h per group
    mask_g   = sigmoid(sum_k v_gk * hidden_gk + c_g)      (H, W), values in (0, 1)
    f_g      = (1 / HW) * sum_hw mask_g(hw) * x(:, hw)    a C-vector: the group's feature

So f_g is a *masked average pooling*: with a mask of ones it is global average pooling, and
the mask decides which positions count. Attribute a of group g is then predicted by a linear
classifier from f_g alone (models/mggnet.py, ``AttributeClassifiers``).

MGG-Net does this at two stages of ResNet18: ``layer2`` (conv3_x; 128 channels, 28x28 at a
224x224 input) and ``layer3`` (conv4_x; 256 channels, 14x14). Each downsampling halves the
side: 224 -> 112 (conv1, stride 2) -> 56 (max pool) = layer1 -> 28 = layer2 -> 14 = layer3
-> 7 = layer4. Nobody tells a mask where the eyes are: it is learnt only from the loss of its
group's attributes.

What to watch for
-----------------
- The pooling divides by HW, not by the mask's sum: a mask that is small everywhere makes a
  small feature (the classifier can scale it back), and a mask of ones gives exactly global
  average pooling.
- All 8 groups read the same x: their first convolutions are one convolution with 8*h output
  channels, and all their poolings are one batched matrix product (masks @ x^T).
- The masks of section 5 come from a tiny model trained for a few dozen steps on synthetic
  faces: enough to see them change, not enough for clean part masks.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import time

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import data, optim, viz
from minifaceattr.data import ATTRIBUTES, GROUPS, SynthFaces, group_indices, group_of
from minifaceattr.models.mggnet import GroupAttention, MGGNet, mggnet_loss


def main(quick=False):
    section_1_the_groups()
    gal, x = section_2_one_gal_step()
    section_3_masked_average_pooling(gal, x)
    section_4_shapes_at_224(width=16 if quick else 64)
    section_5_masks_on_faces(steps=0 if quick else 40)


def section_1_the_groups():
    course.section("1. Eight part-based groups of the 40 attributes")
    for name, columns in group_indices().items():
        members = [ATTRIBUTES[c] for c in columns]
        for start in range(0, len(members), 5):      # at most five names to a line
            label = f"{name:>8} ({len(columns):2d}):" if start == 0 else ""
            print(f"  {label:>14} {', '.join(members[start:start + 5])}")
    owner = group_of()
    sizes = [len(c) for c in group_indices().values()]
    print("group_of() gives each attribute column its group's number:")
    print(f"  column 20 (Male) -> {owner[20]} ({list(GROUPS)[owner[20]]}), "
          f"column 15 (Eyeglasses) -> {owner[15]} ({list(GROUPS)[owner[15]]})")
    course.confirm(sum(sizes) == len(ATTRIBUTES) == 40 and sorted(np.concatenate(
                   list(group_indices().values()))) == list(range(40)),
                   "every attribute is in exactly one group: 9+10+5+2+4+5+3+2 = 40")
    course.say("""
        Holistic holds what has no one place (Attractive, Young, Male, Smiling...). The
        paper's 'Independent' ablation gives every attribute its own mask (40 groups of one)
        instead, to show that grouping helps.""")


def section_2_one_gal_step():
    course.section("2. One GAL step on a small feature map")
    mfa.manual_seed(0)
    n, c, h, w, g, hidden = 2, 16, 7, 9, len(GROUPS), 4
    gal = GroupAttention(channels=c, num_groups=g, hidden_per_group=hidden)
    gal.eval()   # batch norm with its running statistics: the same numbers on every call
    x = mfa.tensor(np.random.default_rng(0).standard_normal((n, c, h, w)).astype(np.float32))
    print(f"x: (N, C, H, W) = {x.shape}; GroupAttention(channels={c}, num_groups={g}, "
          f"hidden_per_group={hidden})")
    with mfa.no_grad():
        hidden_map = F.relu(gal.bn(gal.conv(x)))
        per_group = hidden_map.reshape(n, g, hidden, h, w)
        logits = (per_group * gal.mask_weight.reshape(1, g, hidden, 1, 1)).sum(axis=2)
        masks_by_hand = F.sigmoid(logits + gal.mask_bias.reshape(1, g, 1, 1))
        features, masks = gal(x)
    print(f"  hidden = relu(BN(conv3x3(x)))   {hidden_map.shape}   "
          f"({g} groups x {hidden} channels)")
    print(f"  per group                       {per_group.shape}")
    print(f"  mask logits  sum_k v_gk hidden  {logits.shape}")
    print(f"  masks = sigmoid(logits + c_g)   {masks_by_hand.shape}")
    print(f"  the module returns features {features.shape} and masks {masks.shape}")
    course.show("mask of group 0 (Holistic) on sample 0", masks.data[0, 0], precision=2)
    course.confirm(np.allclose(masks.data, masks_by_hand.data, atol=1e-6),
                   "the masks computed step by step are the module's")
    course.confirm(0 < masks.data.min() and masks.data.max() < 1, "every mask value lies in (0, 1)")
    return gal, x


def masked_average_pool(x, masks):
    """f[n, g, c] = (1/HW) sum_hw masks[n, g, hw] * x[n, c, hw], in NumPy."""
    h, w = x.shape[-2:]
    return np.einsum("nghw,nchw->ngc", masks, x) / (h * w)


def section_3_masked_average_pooling(gal, x):
    course.section("3. Masked average pooling, by hand")
    with mfa.no_grad():
        features, masks = gal(x)
    by_hand = masked_average_pool(x.data, masks.data)
    print("np.einsum('nghw,nchw->ngc', masks, x) / (H*W): one C-vector per sample and group")
    print(f"  by hand {by_hand.shape}, the library's {features.shape}, largest difference "
          f"{np.abs(by_hand - features.data).max():.1e}")
    course.confirm(np.allclose(by_hand, features.data, atol=1e-6),
                   "GAL's group features are the masked averages")
    ones = np.ones(masks.shape, dtype=np.float32)
    gap = F.global_avg_pool2d(x).data                  # (N, C)
    difference = np.abs(masked_average_pool(x.data, ones) - gap[:, None, :]).max()
    print("With masks of ones, every group gets the global average:")
    print(f"  largest difference from F.global_avg_pool2d over all 8 groups {difference:.1e}")
    course.confirm(np.allclose(masked_average_pool(x.data, ones), gap[:, None, :], atol=1e-6),
                   "a mask of ones turns masked average pooling into global average pooling")
    top = np.zeros(masks.shape, dtype=np.float32)
    top[:, :, :2, :] = 1.0                             # only the top 2 of 7 rows
    pooled = masked_average_pool(x.data, top)
    region_mean = x.data[:, :, :2, :].mean(axis=(2, 3))
    print(f"A mask of ones on the top 2 of {x.shape[2]} rows: pooled / region mean = "
          f"{(pooled[:, 0] / region_mean).mean():.4f} = 2/{x.shape[2]}")
    course.confirm(np.allclose(pooled[:, 0], region_mean * 2 / x.shape[2], atol=1e-6),
                   "the sum is divided by HW, not by the mask's area")


def section_4_shapes_at_224(width):
    course.section("4. Where GAL sits: shapes at a 224x224 input")
    mfa.manual_seed(0)
    model = MGGNet(width=width)           # width 64: the paper's ResNet18
    model.eval()
    if width != 64:
        print(f"(--quick: a ResNet18 of width {width}, so a quarter of the paper's channels; "
              "the sides are the same)")
    x = mfa.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32))
    with mfa.no_grad():
        stages = model.backbone.forward_features(x, ("layer1", "layer2", "layer3", "layer4"))
        out = model(x)
    for name, t in stages.items():
        gal_here = " <- GAL and GCL" if name in model.blocks else ""
        print(f"  {name}: {t.shape}{gal_here}")
    for block, masks in out.masks.items():
        print(f"  masks at {block}: {masks.shape}   (N, groups, H, W)")
    course.confirm(out.masks["layer2"].shape[2:] == (28, 28)
                   and out.masks["layer3"].shape[2:] == (14, 14),
                   "28x28 masks at layer2 and 14x14 masks at layer3")
    size = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    model, baseline = MGGNet(), MGGNet(variant="baseline")
    print(f"parameters: GAL at layer2 {size(model.gal[0]):,}, at layer3 {size(model.gal[1]):,};")
    print(f"  MGG-Net {size(model) / 1e6:.2f} M against the baseline's "
          f"{size(baseline) / 1e6:.2f} M")
    g, h = len(GROUPS), model.gal[0].hidden            # h = 32 hidden channels per group
    by_hand = {c: c * g * h * 9 + 2 * g * h + g * h + g for c in (128, 256)}
    print(f"By hand, with G = {g} groups and h = {h} (hidden_per_group's default): conv3x3 without"
          " bias C*G*h*9,")
    print(f"  BN 2*G*h (scale, shift), v G*h, c G:  C = 128 -> {by_hand[128]:,},  C = 256 -> "
          f"{by_hand[256]:,}")
    course.confirm(by_hand[128] == size(model.gal[0]) and by_hand[256] == size(model.gal[1]),
                   "GAL's parameters counted by hand are the module's")
    course.confirm(11.0e6 < size(baseline) < 11.4e6 and 12.6e6 < size(model) < 13.0e6,
                   "about 11 M parameters for the baseline, 12.8 M for MGG-Net "
                   "(the paper's budget)")


def synthetic_faces(n, image_size):
    """(images as network inputs (n, 3, S, S) float32, labels (n, 40)) from SynthFaces."""
    faces = SynthFaces(n, image_size=image_size, seed=0, split="train", supersample=2,
                       cache=False, verbose=False)
    prepare = data.Compose([data.ToArray(), data.Normalize()])
    return np.stack([prepare(image) for image in faces.images]), faces.labels.astype(np.float32)


def mask_spread(model, images):
    """The masks, and how much each varies over the image: the std over positions, averaged
    over the faces and the groups, per block (0 for a mask that is the same everywhere)."""
    model.eval()
    with mfa.no_grad():
        masks = model(mfa.tensor(images)).masks
    model.train()
    return masks, {block: float(m.data.std(axis=(2, 3)).mean()) for block, m in masks.items()}


def train_briefly(model, images, labels, steps, batch_size=32):
    """Adam on the MGG-Net loss (Eq. 5) over random batches; returns the first and last losses."""
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        batch = rng.choice(len(images), batch_size, replace=False)
        loss = mggnet_loss(model(mfa.tensor(images[batch])), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def section_5_masks_on_faces(steps):
    course.section("5. Masks on synthetic faces")
    images, labels = synthetic_faces(n=512 if steps else 8, image_size=64)
    mfa.manual_seed(0)
    model = MGGNet(width=8, hidden_per_group=8)     # a tiny MGG-Net: ResNet18 with 8..64 channels
    print(f"SynthFaces: {len(images)} drawn 64x64 faces with CelebA-like labels (no real photos);")
    print("a tiny MGG-Net (width 8): masks 8x8 at layer2 and 4x4 at layer3 at this input size.")
    print("Trained with Adam on mggnet_loss: binary cross-entropy on the 40 attributes' logits")
    print("(lesson 9), summed over the model's heads (lesson 13 writes it out).")
    shown = images[:4]
    before, spread_before = mask_spread(model, shown)
    if steps:
        started = time.perf_counter()
        losses = train_briefly(model, images, labels, steps)
        seconds = time.perf_counter() - started
        masks, spread_after = mask_spread(model, shown)
        print(f"trained for {steps} steps of 32 faces ({seconds:.0f} s): loss {losses[0]:.2f} -> "
              f"{np.mean(losses[-5:]):.2f} (mean of the last 5)")
        for block in masks:
            print(f"  {block}: mask spread over the image {spread_before[block]:.3f} untrained "
                  f"-> {spread_after[block]:.3f} trained")
        course.confirm(np.mean(losses[-5:]) < losses[0], "the loss went down")
        course.confirm(all(spread_after[b] > spread_before[b] for b in masks),
                       "training made the masks vary more over the face")
        course.say(f"""
            Honestly: {steps} steps are enough for the masks to move away from their random
            start, not to become the clean part masks of the paper's Fig. 2: the figure shows
            masks still half shaped by colours and edges. Masks that follow the parts need far
            longer training; python examples/train_lfwa.py trains for minutes and draws its
            masks with the same viz.plot_attention_masks.""")
        what = f"after {steps} training steps"
    else:
        masks = before
        print("--quick: no training; these are the masks of an UNTRAINED model (random weights),")
        print("which follow the image's edges and colours, not its parts.")
        course.confirm(all(0 < m.data.min() and m.data.max() < 1 for m in masks.values()),
                       "the untrained masks are in (0, 1) like any sigmoid output")
        what = "untrained"
    path = course.output_path("11_attention_masks.png")
    viz.plot_attention_masks(shown, masks, model.group_names, path,
                             mean=data.IMAGENET_MEAN, std=data.IMAGENET_STD)
    print(f"figure written: {course.shown_path(path)}")
    print(f"  (masks {what}, one row per face and block)")


# =============================================================================================
# Exercises. `python lessons/11_group_attention.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

QUIZ = ("Sideburns", "Goatee", "Wearing_Earrings", "Narrow_Eyes", "Heavy_Makeup")


@course.exercise("Which group?", answer="GROUP GROUP GROUP GROUP GROUP")
def exercise_1(answer):
    """Name the group (Holistic, Hair, Eyes, Nose, Cheek, Mouth, Chin or Neck) of each of
    these attributes, in this order: Sideburns, Goatee, Wearing_Earrings, Narrow_Eyes,
    Heavy_Makeup. Decide from where on the face each is seen before you look back at the
    list of section 1."""
    said = [w.capitalize() for w in course.words(answer)]
    if len(said) != len(QUIZ):
        raise course.NotYet(f"name {len(QUIZ)} groups, one per attribute, separated by spaces")
    names = list(GROUPS)
    truth = [names[group_of()[ATTRIBUTES.index(a)]] for a in QUIZ]
    unknown = [s for s in said if s not in names]
    if unknown:
        raise course.NotYet(f"{', '.join(unknown)}: not one of the 8 groups ({', '.join(names)})")
    wrong = [a for a, s, t in zip(QUIZ, said, truth) if s != t]
    if wrong:
        raise course.NotYet(f"not yet right for: {', '.join(wrong)}. The groups follow where "
                            "the attribute is seen; an attribute of the whole face is Holistic.")
    return "The mask of each group is learnt from its attributes' losses only."


@course.exercise("The size of a mask", answer="LAYER2_SIDE LAYER3_SIDE")
def exercise_2(answer):
    """MGG-Net gets 160x160 images instead of 224x224. What is the side of its GAL masks at
    layer2, and at layer3? (Follow the downsamplings: conv1, the max pool, layer2, layer3.)"""
    side2, side3 = course.numbers(answer, count=2)
    mfa.manual_seed(0)
    model = MGGNet(width=4, hidden_per_group=1)
    model.eval()
    with mfa.no_grad():
        masks = model(mfa.tensor(np.zeros((1, 3, 160, 160), dtype=np.float32))).masks
    truth = masks["layer2"].shape[2], masks["layer3"].shape[2]
    if (side2, side3) == truth:
        return f"{truth[0]}x{truth[0]} and {truth[1]}x{truth[1]}: 1/8 and 1/16 of the input side."
    if (side2, side3) == (2 * truth[0], 2 * truth[1]):
        raise course.NotYet("count the max pool after conv1: it halves the side too.")
    raise course.NotYet("conv1 (stride 2), the max pool, and layer2 each halve the side; so does "
                        "layer3. layer1 keeps it.")


def my_masked_average_pool(x, masks):
    """x (N, C, H, W) and masks (N, G, H, W), NumPy arrays. Return the group features
    f (N, G, C): f[n, g, c] = (1 / HW) * sum over positions of masks[n, g] * x[n, c]."""
    # ---- exercise 3: your code here (NumPy; do not call masked_average_pool) ----
    raise NotImplementedError


@course.exercise("Masked average pooling", edit=my_masked_average_pool)
def exercise_3(candidate):
    """Write my_masked_average_pool (in the lesson file, just before exercise_3) in NumPy,
    without einsum if you can (a reshape and a matrix product). The check compares it with
    the features of the library's GroupAttention, on maps of several shapes."""
    rng = np.random.default_rng(3)
    for n, c, h, w, g in [(2, 5, 4, 6, 8), (1, 3, 7, 7, 8), (3, 6, 5, 2, 3)]:
        mfa.manual_seed(n)
        gal = GroupAttention(channels=c, num_groups=g, hidden_per_group=2)
        x = mfa.tensor(rng.standard_normal((n, c, h, w)).astype(np.float32))
        with mfa.no_grad():
            features, masks = gal(x)
        mine = np.asarray(candidate(x.data.copy(), masks.data.copy()))
        if mine.shape != features.shape:
            raise course.NotYet(f"for x {x.shape} and masks {masks.shape} the features are "
                                f"(N, G, C) = {features.shape}; you returned {mine.shape}")
        if not np.allclose(mine, features.data, atol=1e-5):
            raise course.NotYet(f"for x {x.shape} the shape is right but not the values: "
                                "multiply, sum over the positions, divide by H*W.")
    return "That is GAL's pooling: one matrix product for all the groups."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
