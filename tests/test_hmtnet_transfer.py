"""Transfer (Table 5): closed-form ridge regression, and relu5 features of an HMTNet."""
import numpy as np
import pytest

import minifaceattr as mfa
from minifaceattr.data import DataLoader
from minifaceattr.models.hmtnet import HMTNet, HMTNetConfig, single_task_net
from minifaceattr.transfer import RidgeRegression, extract_features, ridge_regression

TINY = HMTNetConfig(image_size=48, widths=(3, 4, 5), branch_widths=(4, 3), head_width=6,
                    stem_strides=(1, 1))


def normal_equations(X, y, alpha):
    """The textbook solution on [X, 1]: (AᵀA + P)⁻¹Aᵀy with P = diag(alpha, ..., alpha, 0),
    so the bias (the last coefficient) is not penalised."""
    A = np.hstack([X, np.ones((len(X), 1))])
    P = alpha * np.eye(A.shape[1])
    P[-1, -1] = 0
    theta = np.linalg.inv(A.T @ A + P) @ A.T @ y
    return theta[:-1], theta[-1]


@pytest.mark.parametrize("n,d,alpha", [(50, 5, 0.0), (50, 5, 3.0), (20, 40, 1.0), (7, 1, 0.5)])
def test_ridge_equals_the_normal_equation_solution(n, d, alpha):
    rng = np.random.default_rng(n + d)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.standard_normal(d)
    y = X @ rng.standard_normal(d) + 2.5 + 0.1 * rng.standard_normal(n)
    w, b = ridge_regression(X, y, alpha)
    w_ref, b_ref = normal_equations(X, y, alpha)
    np.testing.assert_allclose(w, w_ref, rtol=1e-8, atol=1e-8)
    assert b == pytest.approx(b_ref, rel=1e-8, abs=1e-8)


def test_ridge_gradient_is_zero_at_the_solution_and_bias_is_unpenalised():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30) + 100.0
    w, b = ridge_regression(X, y, alpha=10.0)
    residual = X @ w + b - y
    np.testing.assert_allclose(X.T @ residual + 10.0 * w, 0, atol=1e-9)   # ∂/∂w
    assert residual.sum() == pytest.approx(0, abs=1e-9)                   # ∂/∂b: no penalty
    assert b == pytest.approx(100.0, abs=1.0)


def test_ridge_shrinks_towards_zero_and_checks_its_input():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 3.0])
    norms = [np.linalg.norm(ridge_regression(X, y, a)[0]) for a in (0.0, 10.0, 1000.0)]
    assert norms[0] > norms[1] > norms[2]
    model = RidgeRegression(alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-9)
    with pytest.raises(ValueError):
        ridge_regression(X, y[:-1])
    with pytest.raises(RuntimeError):
        RidgeRegression().predict(X)


class PairsDataset:
    """A few (image, score) pairs: images (3, 48, 48) float32, one score each."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.standard_normal((n, 3, 48, 48)).astype(np.float32)
        self.scores = rng.uniform(1, 5, n).astype(np.float32)

    def __len__(self):
        return len(self.scores)

    def __getitem__(self, i):
        return self.images[i], self.scores[i]


def test_relu5_features_and_a_ridge_fit_on_them():
    mfa.manual_seed(0)
    model = HMTNet(TINY)
    data = PairsDataset(10)
    features, scores = extract_features(model, DataLoader(data, batch_size=4))
    assert features.shape == (10, 5) and (features >= 0).all()
    np.testing.assert_array_equal(scores, data.scores)
    assert model.training                           # put back as it was
    ridge = RidgeRegression(alpha=1e-3).fit(features, scores)
    assert ridge.predict(features).shape == (10,)
    with pytest.raises(ValueError, match="gender-only"):
        single_task_net("gender", TINY).relu5_features(mfa.tensor(data.images[:2]))
