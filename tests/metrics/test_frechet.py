"""Fréchet distance against scipy.linalg.sqrtm, self-distance and few-sample covariances."""

import numpy as np
import pytest
import scipy.linalg

from interanimate.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_features


def scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("seed,dim", [(0, 8), (1, 32), (2, 64)])
def test_matches_scipy_sqrtm(seed, dim):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(500, dim)) @ rng.normal(size=(dim, dim))
    b = rng.normal(loc=0.3, size=(400, dim)) @ rng.normal(size=(dim, dim))
    ref = scipy_frechet(*feature_statistics(a), *feature_statistics(b))
    ours = frechet_distance_from_features(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_self_distance_is_zero():
    feats = np.random.default_rng(3).normal(size=(300, 48))
    mu, sigma = feature_statistics(feats)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(sigma)


@pytest.mark.parametrize("n", [2, 3, 5, 17])
def test_few_samples_near_singular_is_finite(n):
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, 256)), rng.normal(size=(n, 256))  # rank ≤ n-1 covariances of 256-d features
    value = frechet_distance_from_features(a, b)
    assert np.isfinite(value) and value >= 0
    assert frechet_distance_from_features(a, a) == pytest.approx(0.0, abs=1e-7 * np.trace(np.cov(a, rowvar=False)))


def test_exactly_singular_and_scalar():
    sigma = np.zeros((4, 4))
    assert frechet_distance(np.zeros(4), sigma, np.ones(4), sigma) == pytest.approx(4.0)
    assert frechet_distance(0.0, 1.0, 0.0, 4.0) == pytest.approx(1.0)  # 1 + 4 - 2·2


def test_needs_two_samples_and_matching_shapes():
    with pytest.raises(ValueError, match="at least 2"):
        feature_statistics(np.ones((1, 3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
