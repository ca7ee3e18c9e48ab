"""EDM pieces as SVD uses them (v-prediction, sigma_data = 1), each a small pure function.

Karras et al. 2022 preconditioning with SVD's v-prediction parameterisation (the same formulas StableAnimator's
trainer and diffusers' EulerDiscreteScheduler(prediction_type="v_prediction", timestep_type="continuous") use):

    D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise),
    c_skip = σd² / (σ² + σd²),  c_out = −σ·σd / √(σ² + σd²),  c_in = 1 / √(σ² + σd²),  c_noise = ¼ ln σ,
    λ(σ) = (σ² + σd²) / (σ·σd)²   (= (1 + σ²) / σ² for σd = 1), which makes the effective weight on F uniform.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Log-normal sigma sampling, ln σ ~ N(P_MEAN, P_STD²). EDM's image default is (-1.2, 1.2); SVD fine-tuning moves
# the mass to more noise for high-resolution video: the widely used SVD fine-tuning code (SVD_Xtend, and the
# MimicMotion/StableAnimator training recipes derived from it) samples with loc 0.7, scale 1.6 (median σ ≈ 2.0).
P_MEAN = 0.7
P_STD = 1.6


def edm_precondition(sigma: Tensor, sigma_data: float = 1.0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """sigma (...) -> (c_skip, c_out, c_in, c_noise), each shaped like ``sigma`` (v-prediction)."""
    total = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / total
    c_out = -sigma * sigma_data / total.sqrt()
    c_in = 1.0 / total.sqrt()
    c_noise = 0.25 * sigma.log()
    return c_skip, c_out, c_in, c_noise


def sample_sigmas(batch: int, generator: torch.Generator | None = None, p_mean: float = P_MEAN,
                  p_std: float = P_STD, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """(batch,) noise levels with ln σ ~ N(p_mean, p_std²). The generator decides the device of the draw."""
    gen_device = generator.device if generator is not None else "cpu"
    normal = torch.randn(batch, generator=generator, device=gen_device, dtype=torch.float32)
    return (normal * p_std + p_mean).exp().to(device=device or gen_device, dtype=dtype)


def edm_loss_weight(sigma: Tensor, sigma_data: float = 1.0) -> Tensor:
    """λ(σ) = (σ² + σd²) / (σ·σd)², shaped like ``sigma``."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
