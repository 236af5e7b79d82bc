"""Transfer learning by features (HMTNet's Table 5): a trained network's features plus a
closed-form ridge regression, fitted on another set of (image, score) pairs.

Ridge regression with an unpenalised bias b minimises

    Σ_i (x_iᵀw + b − y_i)² + λ‖w‖².

Setting the derivative in b to zero gives b = ȳ − x̄ᵀw; putting it back leaves ridge on the
centred data X_c = X − x̄, y_c = y − ȳ, whose normal equations are

    (X_cᵀX_c + λI) w = X_cᵀy_c.

We solve that linear system (``np.linalg.solve``: one factorisation, better conditioned and
cheaper than forming the inverse).

    features = extract_features(model, loader)            # relu5, globally average-pooled
    ridge = RidgeRegression(alpha=1.0).fit(features, scores)
    ridge.predict(other_features)
"""
import numpy as np

from .autograd import Tensor, no_grad
from .backend import to_device, to_numpy


def ridge_regression(X, y, alpha=1.0):
    """(w, b) minimising Σ (Xw + b − y)² + alpha·‖w‖²; X (n, d), y (n,). Computed in float64."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64).ravel()
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"ridge_regression expects X (n, d) and y (n,), got {X.shape} "
                         f"and {y.shape}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    x_mean, y_mean = X.mean(axis=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    return w, float(y_mean - x_mean @ w)


class RidgeRegression:
    """Ridge regression with an unpenalised bias: ``fit(X, y)``, then ``predict(X)``."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha
        self.coef_, self.intercept_ = None, None

    def fit(self, X, y):
        self.coef_, self.intercept_ = ridge_regression(X, y, self.alpha)
        return self

    def predict(self, X):
        if self.coef_ is None:
            raise RuntimeError("RidgeRegression: call fit() before predict()")
        return np.asarray(X, np.float64) @ self.coef_ + self.intercept_

    def __repr__(self):
        return f"RidgeRegression(alpha={self.alpha})"


def extract_features(model, loader, device="cpu", features=None):
    """Features of every image of ``loader`` as one (N, d) NumPy array, and the targets (as the
    loader gives them, concatenated). ``features(model, x)`` picks them; by default
    ``model.relu5_features(x)`` (HMTNet's relu5, globally average-pooled). The model runs in
    evaluation mode, without building a graph."""
    features = features or (lambda m, x: m.relu5_features(x))
    was_training = model.training
    model.eval()
    chunks, targets = [], []
    try:
        with no_grad():
            for images, target in loader:
                x = Tensor(to_device(np.asarray(images, np.float32), device))
                chunks.append(to_numpy(features(model, x).data))
                targets.append(target)
    finally:
        model.train(was_training)
    return np.concatenate(chunks), concatenate_targets(targets)


def concatenate_targets(batches):
    """Join a list of batch targets: arrays, or dicts of arrays key by key."""
    if batches and isinstance(batches[0], dict):
        return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    return np.concatenate(batches)
