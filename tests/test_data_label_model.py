"""Synthetic labels follow CelebA's positive rates and phi correlations (Gaussian copula)."""
import numpy as np
import pytest

from minifaceattr.data.attributes import ATTRIBUTE_INDEX as I
from minifaceattr.data.label_model import (LabelModel, celeba_label_model, celeba_statistics,
                                           fit_latent_correlation, implied_phi,
                                           orthant_probability)


@pytest.fixture(scope="module")
def model():
    return celeba_label_model()


@pytest.fixture(scope="module")
def labels(model):
    return model.sample(np.random.default_rng(7), 5000)


def test_orthant_probability_matches_monte_carlo():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((400_000, 2))
    for a, b, rho in [(0.5, -0.3, 0.6), (1.2, 0.8, -0.7), (-1.0, 2.0, 0.95)]:
        z2 = rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
        mc = ((z[:, 0] > a) & (z2 > b)).mean()
        assert abs(orthant_probability(a, b, rho) - mc) < 3e-3


def test_pairwise_fit_reproduces_a_feasible_target():
    rates = np.array([0.3, 0.1, 0.6])
    phi = np.array([[1, 0.2, -0.3], [0.2, 1, 0.1], [-0.3, 0.1, 1]])
    R = fit_latent_correlation(rates, phi)
    assert np.abs(implied_phi(rates, R) - phi).max() < 1e-4


def test_positive_rates_within_two_points(model, labels):
    rates, _ = celeba_statistics()
    assert np.abs(labels.mean(0) - rates).max() < 0.02


def test_latent_correlation_is_valid_and_close(model):
    assert np.linalg.eigvalsh(model.latent).min() > -1e-9
    assert np.allclose(np.diag(model.latent), 1)
    # the three mutually exclusive hair colours cannot all be matched by a Gaussian copula
    assert model.phi_error() < 0.08


def test_strongest_correlations_have_the_right_sign(labels):
    _, phi = celeba_statistics()
    got = np.corrcoef(labels.T.astype(float))
    i, j = np.triu_indices(40, 1)
    strongest = np.argsort(-np.abs(phi[i, j]))[:20]
    assert np.all(np.sign(got[i, j][strongest]) == np.sign(phi[i, j][strongest]))
    assert np.abs(got[i, j][strongest] - phi[i, j][strongest]).max() < 0.1
    pairs = [("Wearing_Lipstick", "Wearing_Necklace", 1), ("Male", "No_Beard", -1),
             ("Heavy_Makeup", "Wearing_Lipstick", 1), ("Male", "Wearing_Lipstick", -1)]
    for a, b, sign in pairs:
        assert sign * got[I[a], I[b]] > 0.15, (a, b, got[I[a], I[b]])


def test_rows_do_not_depend_on_n(model):
    long = model.sample(np.random.default_rng(3), 500)
    short = model.sample(np.random.default_rng(3), 50)
    assert np.array_equal(long[:50], short)


def test_sample_given_conditions(model):
    rng = np.random.default_rng(1)
    rows = np.array([model.sample_given(rng, I["Male"], 1) for _ in range(300)])
    assert rows[:, I["Male"]].all()
    assert rows[:, I["Wearing_Lipstick"]].mean() < 0.1      # men rarely wear lipstick here


def test_custom_statistics():
    m = LabelModel(np.array([0.5, 0.2]), np.array([[1.0, 0.4], [0.4, 1.0]]))
    x = m.sample(np.random.default_rng(0), 20000)
    assert abs(x[:, 1].mean() - 0.2) < 0.01
    assert abs(np.corrcoef(x.T.astype(float))[0, 1] - 0.4) < 0.03
