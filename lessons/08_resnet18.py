"""Lesson 8 - ResNet18, block by block

Run it:   python lessons/08_resnet18.py       (about 45 minutes with the exercises)
Needs:    lessons 5 (convolution), 6 (batch normalisation) and 7 (pooling).

The idea
--------
ResNet18 (He et al., 2016) is the backbone of MGG-Net: 17 convolutions on its main path and
one linear layer (the 18 layers; 3 more 1 × 1 convolutions sit on shortcuts), built from one
repeated piece, the *basic block*:

    out = relu( bn2(conv2( relu(bn1(conv1(x))) )) + shortcut(x) )

Two 3 × 3 convolutions, each followed by batch norm, and the input added back at the end,
before the last ReLU. The block computes a *residual*, a correction F(x) to its input, so
y = x + F(x). If F = 0 the block is the identity: a deep network of such blocks can be no
worse than a shallower one, and it trains far more easily.

Why the shortcut helps the gradient: ∂y/∂x = I + ∂F/∂x (before the last ReLU). Backward
through a stack of blocks, the gradient reaching the first layer contains the gradient of the
top *unchanged*, through the chain of identities, plus corrections. A plain stack has only
the product of the ∂F/∂x, which shrinks or blows up exponentially with depth.

When the shapes differ. The first block of layer2, layer3 and layer4 halves H and W
(its conv1 has stride 2) and doubles the channels, so x cannot be added as it is. Its shortcut
is then a *downsampling* path: a 1 × 1 convolution with stride 2 (C → 2C) and a batch norm,
called ``downsample`` in torchvision.

The whole network, at 224 × 224 input (a conv or pool of kernel K, stride S, padding P maps a
size H to ⌊(H + 2P − K)/S⌋ + 1, lesson 7):

    conv1 7×7/2 pad 3 → bn1 → relu → maxpool 3×3/2 pad 1     (64, 56, 56)    "stem"
    layer1: 2 blocks,  64 channels                          (64, 56, 56)
    layer2: 2 blocks, 128 channels, first one stride 2      (128, 28, 28)
    layer3: 2 blocks, 256 channels, first one stride 2      (256, 14, 14)
    layer4: 2 blocks, 512 channels, first one stride 2      (512, 7, 7)
    global average pool → fc                                (num_classes,)

Counting parameters: a K × K conv from Cin to Cout channels without bias has K·K·Cin·Cout
weights; a batch norm over C channels has 2C (γ and β; its running mean and variance are
*buffers*, state that is saved but not trained); a linear layer Cin → Cout has Cin·Cout + Cout.

What to watch for
-----------------
- The ReLU after the addition, not before: the shortcut adds to the pre-activation.
- Convolutions followed by batch norm have no bias: β of the batch norm plays its part.
- Parameter and buffer names follow torchvision (``layer2.0.downsample.0.weight``), so
  ImageNet weights load by name.
"""
import _course as course  # the lessons' shared helpers (and it finds minifaceattr)

import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import models, nn
from minifaceattr.models.resnet import BasicBlock, conv1x1

STAGE_CHANNELS = {"stem": 1, "layer1": 1, "layer2": 2, "layer3": 4, "layer4": 8}  # x width


def images(shape, seed=0):
    """Random float32 images (the dtype of the model's weights)."""
    return mfa.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def main(quick=False):
    section_1_the_basic_block()
    section_2_the_downsampling_shortcut()
    section_3_the_stages(width=4 if quick else 8)
    section_4_counting_parameters()
    section_5_torchvision_names()
    section_6_the_identity_path_and_gradients(depths=(1, 4, 16) if quick else (1, 4, 16, 32))


def section_1_the_basic_block():
    course.section("1. The basic block")
    block = BasicBlock(8, 8)
    print(block)
    x = images((2, 8, 6, 6))
    y = block(x)
    out = F.relu(block.bn1(block.conv1(x)))
    by_hand = F.relu(block.bn2(block.conv2(out)) + x)   # the residual, then + x, then relu
    print(f"x {x.shape} -> block(x) {y.shape}")
    course.confirm(np.allclose(y.data, by_hand.data, atol=1e-6),
                   "block(x) = relu(bn2(conv2(relu(bn1(conv1 x)))) + x), computed step by step")
    course.say("""
        Both convolutions are 3 x 3 with padding 1 and stride 1 here, so the residual has
        x's shape and can be added to it.""")


def section_2_the_downsampling_shortcut():
    course.section("2. The downsampling shortcut")
    x = images((2, 8, 6, 6))
    no_shortcut = BasicBlock(8, 16, stride=2)        # halves H and W, doubles the channels
    try:
        no_shortcut(x)
        failed = False
    except ValueError as e:
        failed = True
        print(f"a stride-2, 8 -> 16 block without downsample raises ValueError:\n"
              f"  {str(e).strip()}")
    course.confirm(failed, "the residual (2, 16, 3, 3) cannot be added to x (2, 8, 6, 6)")
    downsample = nn.Sequential(conv1x1(8, 16, stride=2), nn.BatchNorm2d(16))
    block = BasicBlock(8, 16, stride=2, downsample=downsample)
    y = block(x)
    print(f"with downsample = {downsample}:\n  x {x.shape} -> block(x) {y.shape}, "
          f"shortcut {block.downsample(x).shape}")
    course.confirm(y.shape == (2, 16, 3, 3),
                   "the 1 x 1 stride-2 conv + batch norm brings x to the residual's shape")
    course.say("""
        The 1 x 1 conv with stride 2 keeps every other pixel of every other row, and mixes
        the 8 channels into 16. In ResNet18 the first block of layer2, layer3 and layer4
        has one; the seven other blocks add x itself.""")


def shape_by_formula(height, width, stage, channels=64):
    """(C, H, W) after ``stage`` for an image of height x width, from the size formula."""
    def size(s):
        s = (s + 2 * 3 - 7) // 2 + 1           # conv1 7x7 stride 2 padding 3
        s = (s + 2 * 1 - 3) // 2 + 1           # maxpool 3x3 stride 2 padding 1
        for _ in range(max(0, list(STAGE_CHANNELS).index(stage) - 1)):
            s = (s + 2 * 1 - 3) // 2 + 1       # each of layer2..4 starts with a 3x3 stride-2 conv
        return s
    return channels * STAGE_CHANNELS[stage], size(height), size(width)


def section_3_the_stages(width):
    course.section("3. The stages, shape by shape")
    model = models.resnet18(width=width)   # the paper's network is width 64
    model.eval()
    with mfa.no_grad():
        stages = model.forward_features(images((1, 3, 224, 224)), tuple(STAGE_CHANNELS))
    print(f"Shapes at 224 x 224: by formula for width 64, and from a width-{width} ResNet18 run on")
    print(f"a 224 x 224 image (its channels are 64/{width} = {64 // width} times fewer)")
    print("   stage    by formula (width 64)   library (width {})".format(width))
    agree = []
    for stage, out in stages.items():
        c, h, w = shape_by_formula(224, 224, stage)
        print(f"  {stage:7s}  {str((c, h, w)):>20s}   {str(out.shape[1:]):>18s}")
        agree.append(out.shape[1:] == (c * width // 64, h, w))
    course.confirm(all(agree),
                   "the library's stage shapes follow the formula (channels x width/64)")
    print("After layer4, global average pooling and fc: logits",
          model(images((1, 3, 224, 224))).shape)


def conv_params(k, c_in, c_out):
    return k * k * c_in * c_out


def bn_params(c):
    return 2 * c    # γ and β; the running mean and variance are buffers


def block_params(c_in, c):
    """One BasicBlock from c_in to c channels, with a downsample when the channels change."""
    main_path = conv_params(3, c_in, c) + bn_params(c) + conv_params(3, c, c) + bn_params(c)
    shortcut = conv_params(1, c_in, c) + bn_params(c) if c_in != c else 0
    return main_path + shortcut


def params_by_hand(width=64, num_classes=1000):
    """{part: parameter count} for ResNet18, from the formulas above."""
    counts = {"stem": conv_params(7, 3, width) + bn_params(width)}
    c_in = width
    for k, stage in enumerate(["layer1", "layer2", "layer3", "layer4"]):
        c = width * 2 ** k
        counts[stage] = block_params(c_in, c) + block_params(c, c)
        c_in = c
    counts["fc"] = c_in * num_classes + num_classes
    return counts


def params_by_library(model):
    """{part: parameter count}, summing p.numel() over model.named_parameters() by prefix."""
    counts = {}
    for name, p in model.named_parameters():
        part = name.split(".")[0]
        part = "stem" if part in ("conv1", "bn1") else part
        counts[part] = counts.get(part, 0) + p.numel()
    return counts


def section_4_counting_parameters():
    course.section("4. Counting the parameters")
    model = models.resnet18(num_classes=1000)
    hand, library = params_by_hand(), params_by_library(model)
    print("  part       by hand       library")
    for part in hand:
        print(f"  {part:7s} {hand[part]:11,d}   {library[part]:11,d}")
    total_hand, total = sum(hand.values()), sum(p.numel() for p in model.parameters())
    print(f"  total   {total_hand:11,d}   {total:11,d}   "
          "(sum(p.numel() for p in model.parameters()))")
    course.confirm(hand == library and total == 11_689_512,
                   "counted by hand, part by part: 11,689,512 parameters, torchvision's number")
    print(f"layer4 alone holds {library['layer4'] / total:.0%} of them: the 3 x 3 convs at "
          f"512 channels have {conv_params(3, 512, 512):,} weights each.")
    forty = sum(params_by_hand(num_classes=40).values())
    print(f"With 40 attribute outputs (CelebA), fc shrinks to {512 * 40 + 40:,}: {forty:,} in all\n"
          "(the 'about 11 M' baseline of MGG-Net).")
    course.confirm(forty == sum(p.numel() for p in models.resnet18(num_classes=40).parameters()),
                   "the 40-class count agrees with the library too")


def section_5_torchvision_names():
    course.section("5. Names and shapes: torchvision's")
    model = models.resnet18()
    state = model.state_dict()
    params = dict(model.named_parameters())
    for name in ["conv1.weight", "bn1.weight", "bn1.running_var", "bn1.num_batches_tracked",
                 "layer1.0.conv1.weight", "layer2.0.conv1.weight", "layer2.0.downsample.0.weight",
                 "layer2.0.downsample.1.running_mean", "layer4.1.bn2.bias", "fc.weight", "fc.bias"]:
        kind = "parameter" if name in params else "buffer"
        print(f"  {name:36s} {str(state[name].shape):18s} {kind}")
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    n_buffers = len(state) - len(params)
    print(f"state_dict: {len(state)} entries = {len(params)} parameters + {n_buffers} "
          f"buffers\n  ({n_bn} batch norms x running_mean, running_var, num_batches_tracked)")
    course.confirm(len(state) == 122 and len(params) == 62 and len(state) - len(params) == 3 * n_bn,
                   "122 entries, as in torchvision's resnet18().state_dict()")
    course.say("""
        "layer2.0.downsample.0.weight" reads: stage layer2, block 0, its shortcut, module 0
        (the 1 x 1 conv). With the same names and shapes, an ImageNet .pth file loads into
        this model (README.md, "ImageNet weights and checkpoints").""")


class PlainBlock(BasicBlock):
    """A BasicBlock without its shortcut: relu(bn2(conv2(relu(bn1(conv1 x)))))."""

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


def first_layer_gradient(block_type, depth, seed):
    """|dL/dW| of the first conv of a stem + ``depth`` blocks (8 channels, 8 x 8 images)."""
    mfa.manual_seed(seed)
    stem = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
    blocks = nn.Sequential(*[block_type(8, 8) for _ in range(depth)])
    features = blocks(stem(images((8, 3, 8, 8), seed)))
    loss = (features * images(features.shape, seed + 100)).mean()   # a fixed random loss
    loss.backward()
    return float(np.linalg.norm(stem.weight.grad))


def section_6_the_identity_path_and_gradients(depths):
    course.section("6. Why the identity path helps the gradient")
    course.say("""
        A stem conv, then a stack of blocks (8 channels, 8 x 8 images, batch 8, freshly
        initialised, batch norm in training mode), with and without their shortcuts. We
        measure the gradient's norm at the first conv's weights, averaged over 3 seeds.""")
    print("  blocks     plain   residual")
    norms = {}
    for depth in depths:
        for block_type in (PlainBlock, BasicBlock):
            norms[block_type, depth] = np.mean([first_layer_gradient(block_type, depth, s)
                                                for s in range(3)])
        print(f"  {depth:6d} {norms[PlainBlock, depth]:9.3g} {norms[BasicBlock, depth]:10.3g}")
    first, last = depths[0], depths[-1]
    plain_growth = norms[PlainBlock, last] / norms[PlainBlock, first]
    residual_growth = norms[BasicBlock, last] / norms[BasicBlock, first]
    print(f"from {first} to {last} blocks the gradient grows {plain_growth:.3g}x without "
          f"shortcuts, {residual_growth:.3g}x with them")
    before = depths[-2]
    per_block = (norms[PlainBlock, last] / norms[PlainBlock, before]) ** (1 / (last - before))
    print(f"without shortcuts, from {before} to {last} blocks: x{per_block:.2f} per block added, "
          "on average")
    course.confirm(plain_growth > 10 * residual_growth,
                   "the first layer's gradient grows far faster with depth without shortcuts")
    course.say("""
        In a plain stack the gradient is a product of one Jacobian per block. Here, with
        batch norm, the factors enlarge it and it explodes (deep plain nets without batch
        norm tend to make it vanish instead); either way the first layers take steps of the
        wrong size. With shortcuts each factor is I + dF/dx, and the identity carries the
        gradient from the top to the bottom unchanged.""")


# =============================================================================================
# Exercises. `python lessons/08_resnet18.py --check` lists them. Each docstring is the
# question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("The parameters of one block", answer="NUMBER")
def exercise_1(answer):
    """How many parameters does the first block of layer3 of ResNet18 (width 64) have,
    model.layer3[0]? It goes from 128 to 256 channels with stride 2.
    (Count every conv, every batch norm and the shortcut; buffers are not parameters.)"""
    mine = course.number(answer)
    block = models.resnet18().layer3[0]
    truth = sum(p.numel() for p in block.parameters())
    if mine == truth:
        return "Two 3 x 3 convs, three batch norms and a 1 x 1 conv: most of it in conv2."
    if mine == truth - (128 * 256 + 2 * 256):
        raise course.NotYet("the first block of a stage changes the shape: its shortcut has "
                            "parameters too.")
    if mine == truth + 3 * 2 * 256:
        raise course.NotYet("the running mean and variance are buffers, not parameters.")
    if mine == truth + 3 * 256:
        raise course.NotYet("convolutions followed by batch norm have no bias.")
    raise course.NotYet("a K x K conv from Cin to Cout has K*K*Cin*Cout weights; a batch norm "
                        "over C channels 2*C parameters. Which Cin does each conv have?")


@course.exercise("The shape of layer3", answer="C H W")
def exercise_2(answer):
    """A ResNet18 (width 64) gets an image batch of shape (1, 3, 200, 150).
    What is the shape (C, H, W) of layer3's output?"""
    mine = tuple(course.numbers(answer, count=3))
    width = 4   # the same shapes as width 64 with 16 times fewer channels, much faster
    model = models.resnet18(width=width)
    model.eval()
    with mfa.no_grad():
        out = model.forward_features(images((1, 3, 200, 150)), ("layer3",))["layer3"]
    truth = (out.shape[1] * 64 // width, *out.shape[2:])
    if mine == truth:
        return "Four halvings (conv1, maxpool, layer2, layer3), each rounding up an odd size."
    if mine[0] != truth[0]:
        raise course.NotYet("count the channels first: layer1 has 64, and each later stage "
                            "doubles.")
    if mine[1:] == (200 // 16, 150 // 16):
        raise course.NotYet("200 / 16 rounded down is not what the layers do: apply "
                            "(H + 2P - K) // S + 1 at each of the four strided layers.")
    raise course.NotYet("go layer by layer: conv1 (7, stride 2, padding 3), maxpool (3, 2, 1), "
                        "then the stride-2 3 x 3 convs (padding 1) of layer2 and layer3.")


def my_block_forward(block, x):
    """block(x) for a BasicBlock, written with its modules: block.conv1, block.bn1,
    block.conv2, block.bn2 and block.downsample (None, or the shortcut's Sequential),
    and F.relu."""
    # ---- exercise 3: your code here ----
    raise NotImplementedError


@course.exercise("Write the block's forward", edit=my_block_forward)
def exercise_3(forward):
    """Write my_block_forward (in the lesson file, just before exercise_3): the forward of
    a BasicBlock, from its modules. The check compares it with block(x) on a block that
    keeps the shape and on one with a downsampling shortcut."""
    downsample = nn.Sequential(conv1x1(4, 8, stride=2), nn.BatchNorm2d(8))
    for block, x in [(BasicBlock(4, 4), images((2, 4, 5, 5), 1)),
                     (BasicBlock(4, 8, stride=2, downsample=downsample), images((2, 4, 6, 5), 2))]:
        what = ("the downsampling block" if block.downsample is not None
                else "the block without downsample")
        mine = forward(block, x)
        if not isinstance(mine, mfa.Tensor) or mine.shape != block(x).shape:
            raise course.NotYet(f"for {what}, return a Tensor shaped like block(x), "
                                f"{block(x).shape}")
        if not np.allclose(mine.data, block(x).data, atol=1e-5):
            raise course.NotYet(f"for {what}, your output differs from block(x): where does the "
                                "shortcut join, and which ReLU comes after it?")
    return "That is ResNet's forward, one block at a time."


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
