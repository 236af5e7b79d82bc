"""A PyTorch user's script of the usual shape runs unchanged but for its import lines: a model,
DataLoader(num_workers=...), BCEWithLogitsLoss, optim.lr_scheduler.MultiStepLR, and accuracy
by (pred == y).float().mean(). With PyTorch installed, the same text runs on PyTorch too."""
import pytest

OURS = """
import minifaceattr as torch
from minifaceattr import nn, optim
from minifaceattr.data import DataLoader
"""
PYTORCH = """
import torch
from torch import nn, optim
from torch.utils.data import DataLoader
"""
SCRIPT = '''
import numpy as np


class Blobs:
    """Points in 8 dimensions; the label is 1 where the first coordinate is positive."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, 8)).astype(np.float32)
        self.y = (self.x[:, :1] > 0).astype(np.float32)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
criterion = nn.BCEWithLogitsLoss()
optimizer = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3], gamma=0.1)
train = DataLoader(Blobs(256, 0), batch_size=32, shuffle=True, num_workers=WORKERS)
test = DataLoader(Blobs(128, 1), batch_size=64)
for epoch in range(5):
    model.train()
    for x, y in train:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    scheduler.step()

model.eval()
correct, seen = 0.0, 0
with torch.no_grad():
    for x, y in test:
        pred = (model(x) > 0).float()
        correct += (pred == y).float().mean().item() * len(x)
        seen += len(x)
accuracy = correct / seen
last_lr = scheduler.get_last_lr()[0]
'''


def run(imports, workers):
    namespace = {"__name__": "__script__"}
    exec(imports + SCRIPT.replace("WORKERS", str(workers)), namespace)
    return namespace


def test_the_script_runs_on_minifaceattr():
    result = run(OURS, workers=2)
    assert result["accuracy"] > 0.9 and result["last_lr"] == pytest.approx(0.05)


@pytest.mark.torch
def test_the_same_script_runs_on_pytorch():
    pytest.importorskip("torch")
    result = run(PYTORCH, workers=0)  # the same text; no worker processes inside pytest
    assert result["accuracy"] > 0.9 and result["last_lr"] == pytest.approx(0.05)
