"""DataLoader: every sample once per epoch, seeded reshuffles, drop_last, workers agree."""
import numpy as np
import pytest

from minifaceattr.data import Compose, DataLoader, RandomCrop, RandomHorizontalFlip, ToArray


class Numbers:
    """Sample i: an image filled with i, target i (or a dict / tuple of targets)."""

    def __init__(self, n, kind="array"):
        self.n, self.kind = n, kind

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = np.full((6, 6, 3), i % 256, np.uint8)
        image[0, 0, 0] = i // 256
        if self.kind == "dict":
            return image, {"score": np.float32(i / 10), "race": np.int64(i % 2)}
        if self.kind == "tuple":
            return image, (i, np.array([i, -i]))
        return image, np.array([i, 2 * i])


def ids(loader):
    return [y[:, 0].tolist() for _, y in loader]


def test_every_sample_once_per_epoch_and_reshuffled():
    loader = DataLoader(Numbers(23), batch_size=5, shuffle=True, seed=1)
    assert len(loader) == 5
    first, second = ids(loader), ids(loader)
    assert sorted(sum(first, [])) == list(range(23)) == sorted(sum(second, []))
    assert [len(b) for b in first] == [5, 5, 5, 5, 3]
    assert first != second                                   # a new order each epoch


def test_order_follows_seed_and_epoch():
    a = DataLoader(Numbers(30), batch_size=4, shuffle=True, seed=3)
    b = DataLoader(Numbers(30), batch_size=4, shuffle=True, seed=3)
    c = DataLoader(Numbers(30), batch_size=4, shuffle=True, seed=4)
    assert ids(a) == ids(b) and ids(a) == ids(b)            # epochs 0 and 1 agree
    assert ids(DataLoader(Numbers(30), batch_size=4, shuffle=True, seed=3)) != ids(c)
    plain = DataLoader(Numbers(10), batch_size=4)
    assert sum(ids(plain), []) == list(range(10))


def test_set_epoch_resumes_exactly():
    loader = DataLoader(Numbers(20), batch_size=3, shuffle=True, seed=0,
                        transform=Compose([RandomCrop(4), ToArray()]))
    runs = [[(x.copy(), y.copy()) for x, y in loader] for _ in range(3)]
    resumed = DataLoader(Numbers(20), batch_size=3, shuffle=True, seed=0,
                         transform=Compose([RandomCrop(4), ToArray()]))
    resumed.set_epoch(2, start_batch=4)
    again = list(resumed)
    assert len(again) == len(runs[2]) - 4
    for (x, y), (x2, y2) in zip(runs[2][4:], again):
        assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert resumed.state_dict()["epoch"] == 3


def test_drop_last():
    loader = DataLoader(Numbers(23), batch_size=5, shuffle=True, drop_last=True)
    batches = ids(loader)
    assert len(loader) == 4 and [len(b) for b in batches] == [5] * 4
    assert len(set(sum(batches, []))) == 20


@pytest.mark.parametrize("workers, kind", [(1, "thread"), (3, "thread"), (2, "process")])
def test_workers_give_identical_batches(workers, kind):
    tf = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip(), ToArray()])
    serial, threaded = (DataLoader(Numbers(37), batch_size=4, shuffle=True, seed=9, workers=w,
                                   transform=tf, worker_type=kind) for w in (0, workers))
    for _ in range(2):
        for (x, y), (x2, y2) in zip(serial, threaded, strict=True):
            assert np.array_equal(x, x2) and np.array_equal(y, y2)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_stops_early_without_hanging(kind):
    loader = DataLoader(Numbers(100), batch_size=2, workers=2, worker_type=kind)
    for k, _ in enumerate(loader):
        if k == 3:
            break
    assert len(list(loader)) == 50                           # the next epoch is complete


def test_dict_and_tuple_targets_are_stacked():
    x, y = next(iter(DataLoader(Numbers(8, "dict"), batch_size=4)))
    assert x.shape == (4, 6, 6, 3) and x.dtype == np.uint8
    assert y["score"].dtype == np.float32 and y["race"].tolist() == [0, 1, 0, 1]
    x, (a, b) = next(iter(DataLoader(Numbers(8, "tuple"), batch_size=4)))
    assert a.tolist() == [0, 1, 2, 3] and b.shape == (4, 2)


def test_plain_callable_transform():
    loader = DataLoader(Numbers(4), batch_size=2, transform=lambda im: im[:2, :2])
    assert next(iter(loader))[0].shape == (2, 2, 2, 3)
