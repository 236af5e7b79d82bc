"""ResNet18 against PyTorch, with the same weights: logits, gradients, SGD steps, .pth files.

torchvision is not needed: ``torch_resnet18`` below is torchvision's ResNet18, written with
torch.nn modules under torchvision's names. Skipped when PyTorch is not installed.
"""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr import models, optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
tnn = torch.nn


class TorchBasicBlock(tnn.Module):
    def __init__(self, cin, cout, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchResNet18(tnn.Module):
    def __init__(self, num_classes=1000, width=64):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(width)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        cin = width
        for k, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if k == 0 else 2
            down = None
            if stride != 1 or cin != cout:
                down = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                      tnn.BatchNorm2d(cout))
            setattr(self, f"layer{k + 1}", tnn.Sequential(TorchBasicBlock(cin, cout, stride, down),
                                                          TorchBasicBlock(cout, cout)))
            cin = cout
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(8 * width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def twin_models(num_classes=40, width=64, seed=0):
    """Our ResNet18 and PyTorch's, in float64, with our random weights copied into theirs."""
    mfa.manual_seed(seed)
    ours = models.resnet18(num_classes=num_classes, width=width).double()
    theirs = TorchResNet18(num_classes, width).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def assert_close(ours, theirs, name, rtol=1e-8):
    """Relative agreement, measured against the size of the whole array."""
    ours, theirs = np.asarray(ours), theirs.detach().numpy()
    error = np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300)
    assert error < rtol, f"{name}: relative error {error:.2e}"


def test_state_dict_names_shapes_and_order_match_torchvision():
    ours, theirs = twin_models(num_classes=1000)
    theirs_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_state)
    for k, v in ours.state_dict().items():
        assert v.shape == tuple(theirs_state[k].shape), k
    assert sum(p.numel() for p in theirs.parameters()) == 11_689_512


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_logits_and_every_gradient_match(rng, mode):
    ours, theirs = twin_models()
    getattr(ours, mode)()
    getattr(theirs, mode)()
    x = rng.standard_normal((2, 3, 32, 32))
    v = rng.standard_normal((2, 40))  # a random cotangent: loss = Σ v · logits

    logits = ours(mfa.tensor(x))
    (logits * mfa.tensor(v)).sum().backward()
    tlogits = theirs(torch.from_numpy(x))
    (tlogits * torch.from_numpy(v)).sum().backward()

    assert_close(logits.data, tlogits, "logits")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs_params[name].grad, f"grad of {name}")
    theirs_state = theirs.state_dict()
    for name, value in ours.state_dict().items():  # running statistics, updated in train mode
        assert_close(value, theirs_state[name], name)


def test_three_sgd_steps_match(rng):
    ours, theirs = twin_models(width=8)
    settings = dict(lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    opt = optim.SGD(ours.parameters(), **settings)
    topt = torch.optim.SGD(theirs.parameters(), **settings)
    for _ in range(3):
        x, v = rng.standard_normal((4, 3, 32, 32)), rng.standard_normal((4, 40))
        opt.zero_grad()
        (ours(mfa.tensor(x)) * mfa.tensor(v)).sum().backward()
        opt.step()
        topt.zero_grad()
        (theirs(torch.from_numpy(x)) * torch.from_numpy(v)).sum().backward()
        topt.step()
    theirs_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        assert_close(value, theirs_state[name], name)


def test_pth_saved_by_pytorch_loads_as_weights(tmp_path, rng):
    torch.manual_seed(0)
    theirs = TorchResNet18(num_classes=1000, width=16).eval()
    torch.save(theirs.state_dict(), tmp_path / "resnet18.pth")
    ours = models.resnet18(num_classes=1000, width=16, weights=tmp_path / "resnet18.pth").eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close(ours(mfa.tensor(x)).data, expected, "logits", rtol=1e-5)
    with pytest.warns(UserWarning, match="fc.bias, fc.weight"):
        head40 = models.resnet18(num_classes=40, width=16, weights=tmp_path / "resnet18.pth")
    np.testing.assert_array_equal(head40.conv1.weight.data, theirs.conv1.weight.detach().numpy())
