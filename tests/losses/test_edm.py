import math

import torch

from interanimate.losses import edm_loss_weight, edm_precondition, sample_sigmas


def test_preconditioning_matches_svds_v_prediction_formulas():
    sigma = torch.tensor([0.002, 0.5, 1.0, 3.0, 700.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = edm_precondition(sigma)
    torch.testing.assert_close(c_skip, 1 / (sigma**2 + 1))
    torch.testing.assert_close(c_out, -sigma / (sigma**2 + 1).sqrt())
    torch.testing.assert_close(c_in, 1 / (sigma**2 + 1).sqrt())
    torch.testing.assert_close(c_noise, 0.25 * sigma.log())
    assert c_skip[2].item() == 0.5 and math.isclose(c_out[2].item(), -math.sqrt(0.5))


def test_preconditioned_identity_denoiser_is_exact_for_the_v_target():
    """With F = v = (c_skip·x − z0)/(−c_out)… the denoiser returns z0 exactly (v-prediction consistency)."""
    g = torch.Generator().manual_seed(0)
    z0, noise = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    sigma = torch.tensor([0.1, 1.0, 5.0, 50.0])[:, None]
    x = z0 + sigma * noise
    c_skip, c_out, _, _ = edm_precondition(sigma)
    v = (z0 - c_skip * x) / c_out
    torch.testing.assert_close(c_skip * x + c_out * v, z0)


def test_loss_weight_is_one_plus_sigma_squared_over_sigma_squared():
    sigma = torch.tensor([0.5, 1.0, 2.0])
    torch.testing.assert_close(edm_loss_weight(sigma), torch.tensor([5.0, 2.0, 1.25]))
    c_skip, c_out, _, _ = edm_precondition(sigma)
    torch.testing.assert_close(edm_loss_weight(sigma) * c_out**2, torch.ones(3))  # unit weight on F


def test_sigma_sampling_is_lognormal_and_reproducible():
    a = sample_sigmas(20000, torch.Generator().manual_seed(0))
    b = sample_sigmas(20000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (20000,) and (a > 0).all()
    log = a.log()
    assert abs(log.mean().item() - 0.7) < 0.05 and abs(log.std().item() - 1.6) < 0.05
    c = sample_sigmas(10, torch.Generator().manual_seed(0), p_mean=0.0, p_std=1.0, dtype=torch.float64)
    assert c.dtype == torch.float64
