"""Everything ``device="cuda"`` touches, at tiny sizes, against the CPU: the models forward and
backward, moving and saving a model, optimizer steps, ``fit`` with an exact resume, metrics.

The ``cuda`` fixture runs each test through the CuPy stand-in (``tests/cupy_standin.py``) on
every machine, and on real CuPy under ``pytest -m gpu``. The operators' own forward and
backward run on both through the ``backend`` fixture (its "standin" and "cuda" params).
"""
import numpy as np
import pytest

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import models, nn, optim
from minifaceattr.backend import to_numpy
from minifaceattr.data import DataLoader
from minifaceattr.models.hmtnet import HMTNet, HMTNetConfig
from minifaceattr.models.hmtnet_loss import HMTLoss, HMTMetrics
from minifaceattr.models.mggnet import VARIANTS, MGGNet, mggnet_loss
from minifaceattr.serialization import load_checkpoint, save_checkpoint
from minifaceattr.training import evaluate_attributes, fit

HMT_TINY = HMTNetConfig(image_size=48, widths=(3, 4, 5), branch_widths=(4, 3), head_width=6,
                        stem_strides=(1, 1))


def close(gpu, cpu, what, tol=1e-9):
    """The kernels against the NumPy path (float64 unless said): the same sums in another
    order, relative to the array's largest value."""
    gpu, cpu = to_numpy(gpu).astype(np.float64), np.asarray(cpu, np.float64)
    scale = max(np.abs(cpu).max(), 1e-6)
    assert np.abs(gpu - cpu).max() <= tol * scale, f"{what}: max diff {np.abs(gpu - cpu).max()}"


def twin_models(build, dtype=np.float64):
    """The same freshly initialised model twice: one on the CPU, one moved to the GPU; in
    float64, so that a deep network's gradients agree to many digits (float32 batch norm
    over a 2-image batch amplifies rounding beyond any useful tolerance)."""
    mfa.manual_seed(0)
    cpu = build().to(dtype)
    mfa.manual_seed(0)
    gpu = build().to(dtype).to("cuda")
    return cpu, gpu


def images(n, size, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(dtype)


def compare_forward_backward(cpu, gpu, x, loss_of):
    """Forward and backward on both devices; logits, loss, every gradient, every buffer."""
    cpu.train(), gpu.train()
    loss_cpu = loss_of(cpu(mfa.tensor(x)), "cpu")
    loss_gpu = loss_of(gpu(mfa.tensor(x, device="cuda")), "cuda")
    assert loss_gpu.device == "cuda"
    close(loss_gpu.data, loss_cpu.numpy(), "loss")
    loss_cpu.backward(), loss_gpu.backward()
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        assert q.grad is not None and type(q.grad).__module__.split(".")[0] == "cupy", name
        close(q.grad, p.grad, f"grad of {name}", tol=1e-7)
    for (name, b), c in zip(cpu.named_buffers(), gpu.buffers()):
        close(c, b, f"buffer {name}")


def test_resnet18_forward_backward_matches_cpu(cuda):
    cpu, gpu = twin_models(lambda: models.resnet18(num_classes=5, width=4))
    labels = np.random.default_rng(1).integers(0, 2, (2, 5)).astype(np.float64)

    def loss_of(logits, device):
        return F.binary_cross_entropy_with_logits(logits, mfa.tensor(labels, device=device))
    compare_forward_backward(cpu, gpu, images(2, 32), loss_of)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mggnet_forward_backward_matches_cpu(cuda, variant):
    cpu, gpu = twin_models(lambda: MGGNet(variant=variant, width=4, hidden_per_group=2))
    labels = np.random.default_rng(1).integers(0, 2, (2, 40)).astype(np.float64)

    def loss_of(out, device):
        return mggnet_loss(out, mfa.tensor(labels, device=device).data)
    compare_forward_backward(cpu, gpu, images(2, 64), loss_of)


def test_hmtnet_forward_backward_matches_cpu(cuda):
    cpu, gpu = twin_models(lambda: HMTNet(HMT_TINY))
    rng = np.random.default_rng(1)
    targets = {"gender": rng.integers(0, 2, 2), "race": rng.integers(0, 2, 2),
               "score": rng.uniform(1, 5, 2)}

    def loss_of(out, device):
        moved = {k: mfa.tensor(v, device=device).data for k, v in targets.items()}
        return HMTLoss()(out, moved)
    compare_forward_backward(cpu, gpu, images(2, 48), loss_of)
    with mfa.no_grad():
        gpu.eval()
        metrics = HMTMetrics().update(gpu(mfa.tensor(images(2, 48), device="cuda")), {
            k: mfa.tensor(v, device="cuda").data for k, v in targets.items()}).compute()
    assert all(isinstance(v, float) for v in metrics.values()), metrics


def test_module_to_and_back_and_state_dict(cuda):
    model = models.resnet18(num_classes=3, width=4)
    before = model.state_dict()
    params = list(model.parameters())
    model.to("cuda")
    assert all(p.device == "cuda" for p in model.parameters())
    assert all(type(b).__module__.split(".")[0] == "cupy" for b in model.buffers())
    state = model.state_dict()                       # NumPy copies, back from the GPU
    assert all(type(v) is np.ndarray for v in state.values())
    assert all(np.array_equal(state[k], v) for k, v in before.items())
    model.load_state_dict(before)                    # NumPy arrays into a GPU model
    assert all(p.device == "cuda" for p in model.parameters())
    model.to("cpu")
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(type(p.data) is np.ndarray for p in model.parameters())


def test_checkpoint_of_a_gpu_model_round_trips(cuda, tmp_path):
    mfa.manual_seed(0)
    model = models.resnet18(num_classes=3, width=4).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt, 1, size=32)
    save_checkpoint(tmp_path / "ck.npz", model, opt, epoch=1)
    expected = model.state_dict()
    mfa.manual_seed(5)
    other = models.resnet18(num_classes=3, width=4).to("cuda")
    other_opt = optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    assert load_checkpoint(tmp_path / "ck.npz", other, other_opt)["epoch"] == 1
    assert all(p.device == "cuda" for p in other.parameters())
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, expected[k], err_msg=k)
    train_steps(model, opt, 1, size=32)
    train_steps(other, other_opt, 1, size=32)
    for k, v in other.state_dict().items():           # momentum buffers came back too
        np.testing.assert_array_equal(v, model.state_dict()[k], err_msg=k)


def train_steps(model, opt, steps, size=8, seed=3):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = mfa.tensor(rng.standard_normal((2, 3, size, size)).astype(np.float32), device="cuda")
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3)], ids=["sgd", "adam"])
def test_optimizer_steps_match_cpu(cuda, make):
    cpu, gpu = twin_models(lambda: nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)))
    opts = make(list(cpu.parameters())), make(list(gpu.parameters()))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((3, 5)).astype(np.float32)
        for model, opt, device in [(cpu, opts[0], "cpu"), (gpu, opts[1], "cuda")]:
            opt.zero_grad()
            (model(mfa.tensor(x, device=device)) ** 2).mean().backward()
            opt.step()
    assert all(p.device == "cuda" for p in gpu.parameters())
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        close(q.data, p.data, name)


class Points:
    def __init__(self, n=24):
        rng = np.random.default_rng(7)
        self.x = rng.standard_normal((n, 6)).astype(np.float32)
        self.y = (self.x[:, :3] > 0).astype(np.int64)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def bce(model, x, targets):
    assert x.device == "cuda" and type(targets).__module__.split(".")[0] == "cupy"
    return F.binary_cross_entropy_with_logits(model(x), targets.astype(np.float32))


def run_fit(out_dir, epochs, resume=False):
    mfa.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(8, 3)).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(Points(), batch_size=8, shuffle=True, seed=5)
    fit(model, opt, loader, bce, epochs, out_dir, device="cuda", resume=resume, progress=False,
        meta={"model": "tiny"})
    return model


def test_fit_on_the_gpu_resumes_exactly(cuda, tmp_path):
    straight = run_fit(tmp_path / "straight", 2).state_dict()
    run_fit(tmp_path / "resumed", 1)
    resumed = run_fit(tmp_path / "resumed", 2, resume=True).state_dict()
    for k, v in straight.items():
        np.testing.assert_array_equal(resumed[k], v, err_msg=k)


def test_evaluate_attributes_of_a_gpu_model(cuda):
    mfa.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 3))
    loader = DataLoader(Points(), batch_size=8)
    on_cpu = evaluate_attributes(model, loader)
    on_gpu = evaluate_attributes(model.to("cuda"), loader, device="cuda")
    assert set(on_cpu) == set(on_gpu)
    for k in on_cpu:
        if isinstance(on_cpu[k], float):
            assert on_gpu[k] == pytest.approx(on_cpu[k], abs=1e-6), k
