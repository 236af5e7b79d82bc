"""GCL learns a directed affinity: with the scores scaled by √C (``gcl_score_scale``) the
affinity moves away from uniform on data where one group's label lives in another group."""
import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr import optim
from minifaceattr.models.mggnet import AttributeClassifiers, GraphCorrelation, MGGNet

K, D = 4, 16


def correlated_groups(rng, n):
    """Group features |μ_j + noise|; group 0's label is read from group 2's feature."""
    mu = np.random.default_rng(99).normal(0, 1, (K, D))
    f = np.abs(mu[None] + rng.normal(0, 1, (n, K, D)))
    y = (f[:, :, 1] > 0.8).astype(np.float32)
    y[:, 0] = f[:, 2, 0] > np.median(f[:, 2, 0])
    return f.astype(np.float32), y


def trained_affinity(score_scale, steps=100, lr=0.05):
    """Mean affinity e (K, K) on fresh data after training GCL + classifiers with SGD."""
    mfa.manual_seed(0)
    rng = np.random.default_rng(0)
    gcl = GraphCorrelation(D, K, alpha=0.5, score_scale=score_scale)
    classifiers = AttributeClassifiers(D, list(range(K)))
    opt = optim.SGD(list(gcl.parameters()) + list(classifiers.parameters()), lr=lr, momentum=0.9)
    for _ in range(steps):
        f, y = correlated_groups(rng, 64)
        refined, _ = gcl(mfa.tensor(f))
        loss = F.binary_cross_entropy_with_logits(classifiers(refined), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, e = gcl(mfa.tensor(correlated_groups(np.random.default_rng(1), 256)[0]))
    return e.numpy().mean(axis=0)


def test_scaled_scores_learn_where_group_0_should_look():
    plain, scaled = trained_affinity(1.0), trained_affinity(np.sqrt(D))
    spread = [np.ptp(e[0, 1:]) for e in (plain, scaled)]
    assert np.argmax(scaled[0]) == 2 and scaled[0, 2] > 0.5, scaled[0]
    assert spread[1] > 0.3 and spread[1] > 5 * spread[0], spread   # Eq. 2 as written: ≈ flat
    assert np.allclose(scaled.sum(axis=1), 1) and np.allclose(np.diag(scaled), 0)


def test_gcl_score_scale_option():
    mfa.manual_seed(0)
    default = MGGNet(width=8, hidden_per_group=2)
    assert [g.score_scale for g in default.gcl] == [1.0, 1.0]          # the paper's Eq. 2
    mfa.manual_seed(0)
    scaled = MGGNet(width=8, hidden_per_group=2, gcl_score_scale="sqrt")
    assert [g.score_scale for g in scaled.gcl] == [4.0, np.sqrt(32)]    # √C at layer2, layer3
    assert scaled.arch != default.arch
    x = mfa.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    out = scaled(x)
    out.logits.sum().backward()
    assert np.abs(scaled.gcl[0].score.grad).sum() > 0
    assert np.allclose(out.affinity["layer2"].numpy().sum(axis=-1), 1)
