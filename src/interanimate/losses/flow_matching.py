"""Wan's flow-matching objective with InterAnimate's region-amplified and orthogonality terms (the Wan backbone).

x_σ = (1 − σ)·x0 + σ·ε, the model predicts the velocity v = ε − x0 at timestep 1000·σ; σ is drawn logit-normal and
shifted as Wan's sampler shifts it (σ' = s·σ / (1 + (s − 1)·σ)), so training sees the noise levels sampling visits.
L = mean((1 + α_h·M_h + α_f·M_f) · (v̂ − v)²) over the generated frames + λ·(L_orth(L_s) + L_orth(L_t)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interanimate.losses.orthogonality import interaction_orthogonality_loss
from interanimate.losses.region import region_weight


def shift_sigmas(sigma: Tensor, shift: float) -> Tensor:
    """Wan's (and diffusers' FlowMatchEulerDiscreteScheduler's) timestep shift."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def sample_flow_sigmas(batch: int, generator: torch.Generator, shift: float = 5.0, device=None) -> Tensor:
    """(B,) noise levels in (0, 1): sigmoid of a standard normal draw, shifted."""
    u = torch.sigmoid(torch.randn(batch, generator=generator))  # (B,)
    return shift_sigmas(u, shift).to(device)


def flow_matching_loss(model: nn.Module, latents: Tensor, sigma: Tensor, noise: Tensor, conditions, *,
                       loss_hand_mask: Tensor | None = None, loss_face_mask: Tensor | None = None,
                       alpha_hand: float = 1.0, alpha_face: float = 1.0, orthogonality_weight: float = 0.01,
                       orthogonality_model: nn.Module | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """One step's loss.

    Args:
        model: an InterAnimate Wan-Animate transformer (possibly wrapped; then give ``orthogonality_model``).
        latents: x0 (B, 16, T' + 1, h, w): the reference latent at frame 0, the clip's after it.
        sigma: (B,) in (0, 1). noise: like ``latents``.
        conditions: a :class:`interanimate.models.wan_conditioning.WanConditions`.
        loss_hand_mask, loss_face_mask: the masks weighting the loss per token frame (B, T' + 1, 1, H, W).
    Returns (loss, logs {"loss_diff", "loss_orth", "loss"} detached). Frame 0 (the given reference) is not scored.
    """
    b = latents.shape[0]
    s = sigma.to(latents.dtype).view(b, 1, 1, 1, 1)
    noisy = (1 - s) * latents + s * noise  # (B, 16, T' + 1, h, w)
    pred = model(timestep=sigma * 1000, return_dict=False, **conditions.model_kwargs(noisy))[0]
    err = (pred.float() - (noise - latents).float()).pow(2)[:, :, 1:]  # (B, 16, T', h, w): the generated frames
    weight = region_weight(None if loss_hand_mask is None else loss_hand_mask[:, 1:],
                           None if loss_face_mask is None else loss_face_mask[:, 1:],
                           tuple(latents.shape[-2:]), alpha_hand, alpha_face)  # (B, T', 1, h, w) or None
    if weight is not None:
        err = err * weight.transpose(1, 2).to(err.device)  # (B, 1, T', h, w) broadcast over channels
    loss_diff = err.mean()
    loss_orth = interaction_orthogonality_loss(orthogonality_model or model)
    if loss_orth is None:
        loss_orth = torch.zeros((), device=loss_diff.device)
    loss = loss_diff + orthogonality_weight * loss_orth.float() if orthogonality_weight else loss_diff
    return loss, {"loss_diff": loss_diff.detach(), "loss_orth": loss_orth.detach(), "loss": loss.detach()}
