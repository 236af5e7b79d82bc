"""The real-faces baseline trained by PyTorch with the same recipe, data and first weights.

    python benchmarks/real_faces_torch.py --seeds 0 1 2       # needs torch (optional elsewhere)

For each seed: this project's ``MGGNet(variant="baseline")`` (ResNet18 at the table's width
with a linear head on layer4) is built with ``manual_seed(seed)``, its weights are copied into
the same network written in ``torch.nn``, and PyTorch trains it exactly as
``benchmarks/real_faces_table.py`` trains ours (``SETTINGS``: SGD momentum 0.9, weight decay
5e-4, lr ÷ 10 at the milestones, BCE with logits; the batches of this project's DataLoader
with the same seed, so the same faces, flips and order). Scored on the test people with this
project's metrics; results in ``benchmarks/results/real_faces_torch.json`` next to the
table's baseline rows. torch uses one thread, as our runs do.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import minifaceattr as mfa  # noqa: E402
from minifaceattr.data.attributes import group_indices  # noqa: E402
from minifaceattr.metrics import AttributeMetrics  # noqa: E402
from minifaceattr.models.mggnet import MGGNet  # noqa: E402
from real_faces_table import SETTINGS  # noqa: E402


def torch_resnet(tnn, width, num_classes=40):
    """ResNet18 at ``width`` under torchvision's names (= this project's backbone + fc)."""
    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(cout), tnn.ReLU()
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None if stride == 1 and cin == cout else tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1, self.relu, self.maxpool = tnn.BatchNorm2d(width), tnn.ReLU(), \
                tnn.MaxPool2d(3, 2, 1)
            cin = width
            for k in range(4):
                cout = width * 2 ** k
                setattr(self, f"layer{k + 1}", tnn.Sequential(Block(cin, cout, 1 if k == 0 else 2),
                                                              Block(cout, cout, 1)))
                cin = cout
            self.fc = tnn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean(dim=(2, 3)))

    return ResNet()


def run_seed(torch, seed, data_root):
    import train_lfwa
    s = SETTINGS
    args = train_lfwa.parse_args(["--data-root", data_root, "--image-size", str(s["image_size"]),
                                  "--width", str(s["width"]), "--batch-size",
                                  str(s["batch_size"]), "--seed", str(seed), "--workers", "1",
                                  "--device", "cpu"], "CelebA")
    train, test, _ = train_lfwa.load_data(args)
    train_loader, test_loader = train_lfwa.make_loaders(args, train, test)
    mfa.manual_seed(seed)
    ours = MGGNet(variant="baseline", width=s["width"])
    model = torch_resnet(torch.nn, s["width"])
    state = {k.removeprefix("backbone."): torch.from_numpy(np.array(v))
             for k, v in ours.state_dict().items()}
    model.load_state_dict(state)
    opt = torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=s["milestones"], gamma=0.1)
    start = time.time()
    for epoch in range(s["epochs"]):
        train_loader.set_epoch(epoch)
        model.train()
        for images, targets in train_loader:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(torch.from_numpy(images)), torch.from_numpy(targets.astype(np.float32)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    meter = AttributeMetrics(groups=group_indices(), logits=True)
    model.eval()
    with torch.no_grad():
        for images, targets in test_loader:
            meter.update(model(torch.from_numpy(images)).numpy(), targets)
    m = meter.compute()
    return dict(seed=seed, mean_accuracy=m["mean_accuracy"],
                balanced_accuracy=m["balanced_accuracy"], seconds=round(time.time() - start, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description="the real-faces baseline, trained by PyTorch")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-root", default="../shared/data/celeba-10k-half")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    out = ROOT / "benchmarks" / "results" / "real_faces_torch.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    for seed in args.seeds:
        results[str(seed)] = run_seed(torch, seed, args.data_root)
        out.write_text(json.dumps(results, indent=1))
        print(results[str(seed)], flush=True)


if __name__ == "__main__":
    main()
