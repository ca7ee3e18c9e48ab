"""Soft quantization of hidden states against a set of interaction latents (Algorithm 1, CHOSEN form).

For tokens h_i and latents l_j, both L2-normalised (so ``tau`` is scale-free),

    A_ij = softmax_j( -||ĥ_i - l̂_j||² / tau ),      quantized_i = Σ_j A_ij · l_j   (un-normalised latents).

Because ||ĥ - l̂||² = 2 - 2 ĥ·l̂ for unit vectors, the constant drops out of the softmax and the whole operation is
one attention call with queries ĥ, keys l̂, values L and scale 2/tau. ``soft_quantize`` uses that form so it runs
through PyTorch's fused, memory-efficient attention kernels (the N×K assignment matrix is never stored at full
resolution); ``soft_assignment`` returns A explicitly for tests and analysis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

NORM_EPS = 1e-6


def soft_assignment(hidden: Tensor, latents: Tensor, tau: float) -> Tensor:
    """A = softmax_j(-||ĥ_i - l̂_j||² / tau): hidden (..., d), latents (K, d) -> A (..., K); rows sum to 1."""
    _check(hidden, latents, tau)
    h = F.normalize(hidden, dim=-1, eps=NORM_EPS)  # (..., d)
    l = F.normalize(latents, dim=-1, eps=NORM_EPS)  # (K, d)
    sq_dist = (h.pow(2).sum(-1, keepdim=True) + l.pow(2).sum(-1) - 2.0 * h @ l.t()).clamp_min(0.0)  # (..., K)
    return torch.softmax(-sq_dist / tau, dim=-1)  # (..., K)


def soft_quantize(hidden: Tensor, latents: Tensor, tau: float) -> Tensor:
    """Soft nearest-latent lookup: hidden (..., d), latents (K, d) -> A·L (..., d).

    Differentiable in both ``hidden`` and ``latents``; ``tau -> 0`` gives the hard nearest-latent (cosine) lookup.
    """
    _check(hidden, latents, tau)
    lead, d = hidden.shape[:-1], hidden.shape[-1]
    h = F.normalize(hidden, dim=-1, eps=NORM_EPS).reshape(1, -1, d)  # (1, N, d), N = prod(lead)
    l_hat = F.normalize(latents, dim=-1, eps=NORM_EPS).unsqueeze(0)  # (1, K, d)
    out = F.scaled_dot_product_attention(h, l_hat.to(h.dtype), latents.unsqueeze(0).to(h.dtype), scale=2.0 / tau)
    return out.reshape(*lead, d)  # (..., d)


def _check(hidden: Tensor, latents: Tensor, tau: float) -> None:
    if latents.ndim != 2 or hidden.shape[-1] != latents.shape[-1]:
        raise ValueError(f"soft_quantize: hidden (..., d) and latents (K, d) needed, got {tuple(hidden.shape)} "
                         f"and {tuple(latents.shape)}")
    if not tau > 0:
        raise ValueError(f"soft_quantize: tau must be > 0, got {tau}")
