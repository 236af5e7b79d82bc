"""Batch norm and loss cases for ``bench_ops.py``, which adds them with

    import bench_norm_loss
    bench_norm_loss.add_cases(register, Case)

All of them are memory-bound, so each case gives the bytes that forward + backward must move
(float32: 4 bytes an element), and bench_ops.py reports GB/s against a device copy.
"""
import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F

# How many batch norms ResNet18 runs on each feature map: bn1; 2 per block in layer1; and in
# layer2-4, 2 per block plus the downsample's.
BATCH_NORMS = {"conv1": 1, "layer1": 4, "layer2": 5, "layer3": 5, "layer4": 5}


def add_cases(register, Case):
    """Register the builders below with bench_ops.py's ``register`` and ``Case``."""

    @register
    def batch_norm_cases(ctx):
        """Training-mode batch norm on each of ResNet18's feature maps, with γ and β.

        Bytes: batch norm has two phases, so forward reads x twice (the statistics, then
        the normalisation) and writes y; backward reads gy and x twice (the sums, then dx)
        and writes dx: 8 passes over a feature map."""
        for name, (c, h) in ctx.shapes.activations.items():
            shape = (ctx.batch, c, h, h)
            x, gy = ctx.array(shape), ctx.array(shape)
            weight, bias = ctx.array((c,)), ctx.array((c,))
            xp = ctx.xp
            mean, var = xp.zeros(c, np.float32), xp.ones(c, np.float32)

            def ours(x=x, gy=gy, weight=weight, bias=bias, mean=mean, var=var):
                inputs = [ctx.tensor(a) for a in (x, weight, bias)]
                F.batch_norm(inputs[0], mean, var, *inputs[1:], training=True).backward(gy)

            theirs = None
            if ctx.torch is not None:
                xt, wt, bt, gyt = (ctx.torch_tensor(a, r) for a, r in
                                   [(x, True), (weight, True), (bias, True), (gy, False)])
                mt, vt = ctx.torch_tensor(mean, False), ctx.torch_tensor(var, False)

                def theirs(xt=xt, wt=wt, bt=bt, gyt=gyt, mt=mt, vt=vt):
                    xt.grad = wt.grad = bt.grad = None
                    ctx.torch.nn.functional.batch_norm(xt, mt, vt, wt, bt, training=True
                                                       ).backward(gyt)

            yield Case("batch_norm", f"{name} {c}×{h}×{h}, training", ours, theirs,
                       bytes_moved=4 * 8 * int(np.prod(shape)), count=BATCH_NORMS[name])

    @register
    def loss_cases(ctx):
        """The losses on their real shapes (MGG-Net's 40 attributes, an ImageNet-sized
        classifier, HMTNet's beauty score), then BCE over a whole conv1 feature map, large
        enough to measure the fused kernel's bandwidth rather than launch overheads (an
        operator of its own in the totals, since ResNet18 never runs it).

        Bytes: forward reads the inputs (logits and targets; logits only for cross-entropy)
        and writes the gradient, backward reads it and writes dx. (Ours also writes and
        reads back the per-element terms for the sum: not counted, the ideal has none.)"""
        b = ctx.batch
        tf = ctx.torch.nn.functional if ctx.torch is not None else None
        pos_weight = ctx.xp.asarray(np.linspace(0.5, 3.0, 40, dtype=np.float32))
        c1, h1 = ctx.shapes.activations["conv1"]
        binary = ctx.xp.asarray((ctx.rng.random((b, 40)) < 0.3).astype(np.float32))
        big_target = ctx.xp.asarray(ctx.rng.random((b, c1, h1, h1)).astype(np.float32))
        classes = ctx.xp.asarray(ctx.rng.integers(0, 1000, b))
        cases = [
            ("binary_cross_entropy_with_logits", f"MGG-Net {b}×40, pos_weight",
             ctx.array((b, 40), 3.0), binary,
             lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight),
             tf and (lambda x, t: tf.binary_cross_entropy_with_logits(
                 x, t, pos_weight=ctx.torch_tensor(pos_weight, False))), 5),
            ("cross_entropy", f"ImageNet head {b}×1000", ctx.array((b, 1000), 3.0), classes,
             F.cross_entropy, tf and tf.cross_entropy, 4),
            ("smooth_huber_loss", f"HMTNet score {b}", ctx.array((b,)), ctx.array((b,)),
             F.smooth_huber_loss, None, 5),
            ("mse_loss", f"HMTNet score {b}", ctx.array((b,)), ctx.array((b,)),
             F.mse_loss, tf and tf.mse_loss, 5),
            ("bce_bandwidth_probe", f"BCE over conv1's map {b}×{c1}×{h1}×{h1}",
             ctx.array((b, c1, h1, h1), 3.0), big_target,
             F.binary_cross_entropy_with_logits, tf and tf.binary_cross_entropy_with_logits, 5),
        ]
        for op, shape, x, target, fn, torch_fn, passes in cases:
            yield loss_case(ctx, Case, op, shape, x, target, fn, torch_fn,
                            4 * passes * int(np.prod(x.shape)))


def loss_case(ctx, Case, op, shape, x, target, fn, torch_fn, bytes_moved):
    """One loss, forward to a scalar mean and backward from 1."""
    def ours():
        fn(ctx.tensor(x), target).backward()

    theirs = None
    if torch_fn is not None:
        xt = ctx.torch_tensor(x)
        tt = ctx.torch.as_tensor(mfa.backend.to_numpy(target), device=ctx.device)

        def theirs():
            xt.grad = None
            torch_fn(xt, tt).backward()

    return Case(op, shape, ours, theirs, bytes_moved=bytes_moved)
