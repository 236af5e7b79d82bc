"""Correlated binary labels with CelebA's statistics: a Gaussian copula.

Each face gets a hidden Gaussian vector z ~ N(0, R); attribute *i* is on when z_i > t_i, with
the threshold t_i chosen so that P(z_i > t_i) is CelebA's positive rate p_i. The latent
correlation R is fitted pair by pair so that the *thresholded* labels have CelebA's phi
correlation (the Pearson correlation of two 0/1 variables). Fitted pair by pair, R is not a
valid covariance (it has negative eigenvalues: three hair colours cannot all be strongly
anti-correlated), so we then look for the valid R whose labels come closest: R = U U^T with
unit rows u_i, adjusted by gradient descent on the phi error. Sampling is z = U e, e ~ N(0, I).

For two attributes the fit solves one equation in one unknown. With a = t_i, b = t_j,

    P(z_i > a, z_j > b)  =  (1 - Phi(a)) (1 - Phi(b))  +  1/(2 pi) * integral_0^asin(rho)
                            exp(-(a^2 + b^2 - 2ab sin u) / (2 cos^2 u)) du

(the derivative of the bivariate normal orthant probability in rho is the bivariate density;
substituting rho = sin u keeps the integrand smooth), and phi fixes the left side:
P(both on) = phi * sqrt(p_i q_i p_j q_j) + p_i p_j. The right side grows with rho, so bisection
finds it.
"""
import functools
import json
import math
from importlib import resources
from statistics import NormalDist

import numpy as np

from .attributes import ATTRIBUTES

# The public names (lessons and users import these; the rest may move).
__all__ = ["celeba_statistics", "celeba_label_model", "LabelModel"]


def celeba_statistics():
    """CelebA's positive rates (40,) and phi correlation (40, 40), as stored in the package
    (``celeba_stats.json``: the first 20,000 rows of ``list_attr_celeba.txt``)."""
    text = resources.files(__package__).joinpath("celeba_stats.json").read_text()
    stats = json.loads(text)
    if tuple(stats["names"]) != ATTRIBUTES:
        raise ValueError("celeba_stats.json lists the attributes in another order")
    return np.array(stats["positive_rate"]), np.array(stats["phi_correlation"])


def thresholds(rates):
    """t_i with P(z_i > t_i) = p_i for a standard normal z_i."""
    return np.array([NormalDist().inv_cdf(1.0 - p) for p in rates])


def _gauss_legendre(lo, hi, num=24):
    """Nodes and weights for integrating over [lo, hi] (arrays of intervals)."""
    x, w = np.polynomial.legendre.leggauss(num)
    half = (hi - lo)[..., None] / 2
    return lo[..., None] + half * (x + 1), half * w


def orthant_probability(a, b, rho):
    """P(z_1 > a, z_2 > b) for standard normals with correlation rho (arrays broadcast)."""
    a, b, rho = np.broadcast_arrays(*map(np.asarray, (a, b, rho)))
    tail = lambda t: 0.5 * math.erfc(t / math.sqrt(2))  # noqa: E731
    independent = np.vectorize(tail)(a) * np.vectorize(tail)(b)
    u, w = _gauss_legendre(np.zeros(rho.shape), np.arcsin(np.clip(rho, -1, 1)))
    a, b = a[..., None], b[..., None]
    density = np.exp(-(a * a + b * b - 2 * a * b * np.sin(u)) / (2 * np.cos(u) ** 2))
    return independent + (density * w).sum(-1) / (2 * np.pi)


def both_on_probability(rates, phi):
    """P(attribute i on and j on) for every pair, from the rates and the phi correlation,
    clipped to what those two rates allow."""
    p = np.asarray(rates, dtype=float)
    sd = np.sqrt(p * (1 - p))
    joint = phi * np.outer(sd, sd) + np.outer(p, p)
    low = np.maximum(0.0, p[:, None] + p[None, :] - 1)
    return np.clip(joint, low, np.minimum(p[:, None], p[None, :]))


def fit_latent_correlation(rates, phi, iterations=60):
    """The latent correlation R whose thresholded labels have these rates and this phi,
    before any PSD correction (so it may have negative eigenvalues)."""
    t = thresholds(rates)
    target = both_on_probability(rates, phi)
    i, j = np.triu_indices(len(rates), 1)
    lo, hi = np.full(len(i), -1.0), np.full(len(i), 1.0)
    for _ in range(iterations):                      # bisection, all pairs at once
        mid = (lo + hi) / 2
        too_low = orthant_probability(t[i], t[j], mid) < target[i, j]
        lo, hi = np.where(too_low, mid, lo), np.where(too_low, hi, mid)
    R = np.eye(len(rates))
    R[i, j] = R[j, i] = (lo + hi) / 2
    return R


def unit_loadings(R):
    """Unit vectors u_i (rows of U) with U U^T close to R: clip R's negative eigenvalues to 0,
    factor, and normalise each row so the diagonal is exactly 1."""
    values, vectors = np.linalg.eigh(R)
    U = vectors * np.sqrt(np.maximum(values, 0.0))
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def bivariate_density(a, b, rho):
    """The standard bivariate normal density at (a, b): d/drho of the orthant probability."""
    rho = np.clip(rho, -0.999999, 0.999999)
    quad = (a * a + b * b - 2 * rho * a * b) / (2 * (1 - rho * rho))
    return np.exp(-quad) / (2 * np.pi * np.sqrt(1 - rho * rho))


def refine_loadings(U, rates, phi, steps=80, lr=0.05, momentum=0.9):
    """Gradient descent (with momentum) on the unit rows of U to reduce
    sum_{i<j} (phi_ij(U) - target_ij)^2, where phi_ij(U) is the phi correlation of labels
    thresholded from N(0, U U^T). Each step moves u_i along the sphere and renormalises."""
    p = np.asarray(rates, dtype=float)
    t = thresholds(p)
    a, b = t[:, None], t[None, :]
    sd = np.outer(np.sqrt(p * (1 - p)), np.sqrt(p * (1 - p)))
    velocity = np.zeros_like(U)
    for _ in range(steps):
        R = U @ U.T
        error = (orthant_probability(a, b, R) - np.outer(p, p)) / sd - phi
        grad_R = error * bivariate_density(a, b, R) / sd      # d loss / d R_ij (up to 2)
        np.fill_diagonal(grad_R, 0.0)
        grad = grad_R @ U
        grad -= (grad * U).sum(1, keepdims=True) * U          # stay on the unit sphere
        velocity = momentum * velocity - lr * grad
        U = U + velocity
        U /= np.linalg.norm(U, axis=1, keepdims=True)
    return U


def implied_phi(rates, R):
    """The phi correlation of labels thresholded from N(0, R): what the model will produce."""
    p = np.asarray(rates, dtype=float)
    t = thresholds(p)
    joint = orthant_probability(t[:, None], t[None, :], R)
    sd = np.sqrt(p * (1 - p))
    phi = (joint - np.outer(p, p)) / np.outer(sd, sd)
    np.fill_diagonal(phi, 1.0)
    return phi


class LabelModel:
    """Samples 0/1 label vectors whose positive rates and pairwise phi correlations follow
    ``rates`` and ``phi`` (CelebA's by default).

        model = LabelModel()
        labels = model.sample(np.random.default_rng(0), 5000)   # (5000, 40) int8
    """

    def __init__(self, rates=None, phi=None):
        if rates is None or phi is None:
            rates, phi = celeba_statistics()
        self.rates = np.asarray(rates, dtype=float)
        self.phi = np.asarray(phi, dtype=float)
        self.thresholds = thresholds(self.rates)
        pairwise = fit_latent_correlation(self.rates, self.phi)
        self.loadings = refine_loadings(unit_loadings(pairwise), self.rates, self.phi)
        self.latent = self.loadings @ self.loadings.T

    def sample(self, rng, n):
        """(n, K) int8 labels. Row k depends only on the generator's stream up to row k, so
        the first rows are the same whatever n is."""
        z = rng.standard_normal((n, len(self.rates))) @ self.loadings.T
        return (z > self.thresholds).astype(np.int8)

    def sample_given(self, rng, column, value):
        """One label vector (K,) drawn from the model conditioned on ``labels[column] == value``
        (by rejection: draw until it holds)."""
        while True:
            row = self.sample(rng, 1)[0]
            if row[column] == value:
                return row

    def phi_error(self):
        """Largest |phi the model produces - target phi| over all pairs (nonzero because no
        valid latent correlation reproduces every CelebA pair)."""
        return float(np.abs(implied_phi(self.rates, self.latent) - self.phi).max())


@functools.lru_cache(maxsize=1)
def celeba_label_model():
    """The LabelModel with CelebA's statistics, fitted once per process (about half a second)."""
    return LabelModel()
