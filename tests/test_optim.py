"""Optimisers and schedules: PyTorch's update rules, and exact resume from state_dict."""
import copy

import numpy as np
import pytest

from minifaceattr import nn, optim


def make_params(rng, dtype=np.float64):
    return [nn.Parameter(rng.standard_normal(shape).astype(dtype))
            for shape in ((3, 4), (4,), (2, 1))]


def gradient_sequence(rng, params, steps):
    return [[rng.standard_normal(p.shape) for p in params] for _ in range(steps)]


def run(opt_factory, start, grads):
    """Apply ``opt`` to copies of ``start`` with the given gradients; return the weights."""
    params = [nn.Parameter(p.data.copy()) for p in start]
    opt = opt_factory(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.astype(p.dtype)
        opt.step()
    return [p.data for p in params]


def test_sgd_momentum_by_hand():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    p.grad = np.array([2.0])
    opt.step()                      # g = 2 + 0.5·1 = 2.5; b = 2.5; p = 1 - 0.25
    assert p.data[0] == pytest.approx(0.75)
    p.grad = np.array([2.0])
    opt.step()                      # g = 2 + 0.375 = 2.375; b = 0.9·2.5 + 2.375 = 4.625
    assert p.data[0] == pytest.approx(0.75 - 0.4625)


def test_adam_first_step_moves_by_lr():
    """With bias correction, Adam's first step is lr · sign(g) (up to eps)."""
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.Adam([p], lr=0.01)
    p.grad = np.array([3.0, -0.001])
    opt.step()
    np.testing.assert_allclose(p.data, [0.99, -1.99], rtol=1e-6)


def test_parameters_without_grad_are_skipped_and_groups_have_own_lr(rng):
    a, b = make_params(rng)[:2]
    before = b.data.copy()
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.5)
    a.grad = np.ones_like(a.data)
    opt.step()
    np.testing.assert_array_equal(b.data, before)
    assert [g["lr"] for g in opt.param_groups] == [1.0, 0.5]
    opt.zero_grad()
    assert a.grad is None


def test_invalid_settings_are_refused(rng):
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(make_params(rng), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)


@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
])
def test_state_dict_resume_is_exact(rng, factory):
    start = make_params(rng)
    grads = gradient_sequence(rng, start, 5)
    straight = run(factory, start, grads)

    params = [nn.Parameter(p.data.copy()) for p in start]
    opt = factory(params)
    for step_grads in grads[:2]:
        for p, g in zip(params, step_grads):
            p.grad = g
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    assert all(isinstance(v, (np.ndarray, int))
               for s in saved["state"].values() for v in s.values())
    resumed = factory(params)
    resumed.load_state_dict(saved)
    for step_grads in grads[2:]:
        for p, g in zip(params, step_grads):
            p.grad = g
        resumed.step()
    for a, b in zip(straight, params):
        np.testing.assert_array_equal(a, b.data)


def test_float32_parameters_stay_float32(rng):
    params = make_params(rng, np.float32)
    opt = optim.Adam(params)
    for p in params:
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    assert all(p.dtype == np.float32 for p in params)


def test_step_and_multistep_lr():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.1)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.05, 0.05, 0.025])

    opt = optim.SGD([p], lr=0.01)
    sched = optim.MultiStepLR(opt, milestones=[3, 1], gamma=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_allclose(lrs, [0.01, 0.001, 0.001, 0.0001, 0.0001])


def test_scheduler_resume():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.1)
    sched = optim.MultiStepLR(opt, milestones=[2, 4])
    for _ in range(3):
        sched.step()
    state, opt_state = sched.state_dict(), opt.state_dict()
    opt2 = optim.SGD([p], lr=0.1)
    sched2 = optim.MultiStepLR(opt2, milestones=[2, 4])
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(state)
    for _ in range(3):
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()


# --- against PyTorch ---------------------------------------------------------------------

TORCH_CASES = [  # (optimizer name, lr, settings): each must match torch.optim step for step
    ("SGD", 0.1, dict(momentum=0.9, weight_decay=5e-4)),
    ("SGD", 0.1, dict(momentum=0.9, weight_decay=1e-2, nesterov=True)),
    ("SGD", 0.1, dict(momentum=0.5, dampening=0.3)),
    ("SGD", 0.1, dict()),
    ("Adam", 0.01, dict()),
    ("Adam", 0.01, dict(weight_decay=1e-2, betas=(0.8, 0.99), eps=1e-6)),
    ("AdamW", 0.01, dict()),
    ("AdamW", 0.01, dict(weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, lr, settings", TORCH_CASES)
def test_optimizer_matches_pytorch(rng, name, lr, settings):
    torch = pytest.importorskip("torch")
    start = make_params(rng)
    grads = gradient_sequence(rng, start, 3)
    ours = run(lambda ps: getattr(optim, name)(ps, lr=lr, **settings), start, grads)
    theirs = run_torch(torch, lambda ps: getattr(torch.optim, name)(ps, lr=lr, **settings),
                       start, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_adamw_decay_is_decoupled(rng):
    """With a zero gradient Adam's L2 penalty moves p by about lr (m/√v = 1), AdamW's
    decoupled decay by lr·weight_decay·p: a 100-fold smaller step here."""
    start = [nn.Parameter(np.array([2.0]))]
    zero = [[np.zeros(1)]]
    adam = run(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.5), start, zero)[0]
    adamw = run(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.5), start, zero)[0]
    assert adam[0] == pytest.approx(2.0 - 0.01, rel=1e-6)
    assert adamw[0] == pytest.approx(2.0 * (1 - 0.01 * 0.5), rel=1e-12)


def test_zero_grad_set_to_none_false_keeps_zero_arrays():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.full(3, 2.0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_lr_scheduler_module_holds_every_schedule():
    import minifaceattr.optim.lr_scheduler as lr_scheduler
    assert lr_scheduler is optim.lr_scheduler and lr_scheduler.MultiStepLR is optim.MultiStepLR
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    sched.step()
    assert sched.get_last_lr() == [0.5] and "lr_lambda" not in sched.state_dict()


@pytest.mark.torch
def test_schedules_match_pytorch():
    torch = pytest.importorskip("torch")
    for ours_cls, theirs_cls, kwargs in [(optim.StepLR, torch.optim.lr_scheduler.StepLR,
                                          dict(step_size=3, gamma=0.3)),
                                         (optim.MultiStepLR, torch.optim.lr_scheduler.MultiStepLR,
                                          dict(milestones=[2, 5], gamma=0.1)),
                                         (optim.lr_scheduler.CosineAnnealingLR,
                                          torch.optim.lr_scheduler.CosineAnnealingLR,
                                          dict(T_max=6, eta_min=0.001)),
                                         (optim.lr_scheduler.ExponentialLR,
                                          torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.7))]:
        opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.05)
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        ours, theirs = ours_cls(opt, **kwargs), theirs_cls(topt, **kwargs)
        for _ in range(8):
            assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-12)
            topt.step()
            ours.step()
            theirs.step()


def run_torch(torch, opt_factory, start, grads):
    params = [torch.tensor(p.data.copy(), requires_grad=True) for p in start]
    opt = opt_factory(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]
