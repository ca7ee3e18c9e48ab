"""Region-amplified diffusion loss (Eq. 10-11): mean(λ(σ) · (1 + α_h·M_h + α_f·M_f) · (ẑ0 − z0)²)."""

from __future__ import annotations

import torch
from torch import Tensor

from interanimate.losses.edm import edm_loss_weight
from interanimate.models.masking import resize_mask


def region_weight(hand_mask: Tensor | None, face_mask: Tensor | None, size: tuple[int, int],
                  alpha_hand: float = 1.0, alpha_face: float = 1.0) -> Tensor | None:
    """1 + α_h·M_h + α_f·M_f at latent resolution ``size`` (nearest): masks (B, F, 1, h_m, w_m) -> (B, F, 1, *size).

    Returns None when both masks are None (weight 1 everywhere). Overlapping hand and face pixels get both terms.
    """
    weight = None
    for mask, alpha in ((hand_mask, alpha_hand), (face_mask, alpha_face)):
        if mask is not None:
            term = alpha * resize_mask(mask.float(), size)  # (B, F, 1, *size)
            weight = term if weight is None else weight + term
    return None if weight is None else 1.0 + weight


def region_diffusion_loss(denoised: Tensor, target: Tensor, sigma: Tensor, hand_mask: Tensor | None = None,
                          face_mask: Tensor | None = None, alpha_hand: float = 1.0, alpha_face: float = 1.0,
                          sigma_data: float = 1.0) -> Tensor:
    """denoised ẑ0, target z0 (B, F, C, h, w); sigma (B,); masks (B, F, 1, h_m, w_m) or None -> scalar (fp32)."""
    err = (denoised.float() - target.float()).pow(2)  # (B, F, C, h, w)
    weight = edm_loss_weight(sigma.float(), sigma_data).reshape(-1, 1, 1, 1, 1)  # (B, 1, 1, 1, 1)
    region = region_weight(hand_mask, face_mask, tuple(target.shape[-2:]), alpha_hand, alpha_face)
    if region is not None:
        weight = weight * region.to(err.device)  # (B, F, 1, h, w)
    return torch.mean(weight * err)
