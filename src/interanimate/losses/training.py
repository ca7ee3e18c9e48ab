"""One training step's loss: EDM noising + preconditioned InterAnimateUNet call + region and orthogonality terms."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interanimate.losses.edm import edm_precondition
from interanimate.losses.orthogonality import interaction_orthogonality_loss
from interanimate.losses.region import region_diffusion_loss
from interanimate.models.conditioning import UNetConditions, accepted_inputs, unet_inputs


def diffusion_training_loss(unet: nn.Module, latents: Tensor, sigma: Tensor, noise: Tensor,
                            conditions: UNetConditions, *, loss_hand_mask: Tensor | None = None,
                            loss_face_mask: Tensor | None = None, alpha_hand: float = 1.0, alpha_face: float = 1.0,
                            orthogonality_weight: float = 0.01, orthogonality_model: nn.Module | None = None
                            ) -> tuple[Tensor, dict[str, Tensor]]:
    """L = L_diff + λ·(L_orth(L_s) + L_orth(L_t))  (Eq. 13).

    Args:
        unet: an InterAnimateUNet (or a plain diffusers SVD UNet, which takes none of the interaction inputs); may
            be wrapped (DDP/accelerate): then pass the unwrapped model as ``orthogonality_model``.
        latents: z0 (B, F, C, h, w), VAE latents already multiplied by the VAE scaling factor.
        sigma: (B,) noise levels (``sample_sigmas``). noise: (B, F, C, h, w) standard normal.
        conditions: what the UNet is conditioned on (:mod:`interanimate.models.conditioning`, as the pipeline).
        loss_hand_mask, loss_face_mask: the masks weighting the loss (α_h, α_f), (B, F, 1, H, W); default: the
            conditions' own (e.g. exact silhouettes may weight the loss while the region block gets keypoint masks).
    Returns:
        (loss, logs) with logs {"loss_diff", "loss_orth", "loss"} detached.
    """
    b = latents.shape[0]
    c_skip, c_out, c_in, c_noise = (c.reshape(b, 1, 1, 1, 1) for c in edm_precondition(sigma.to(latents.dtype)))
    noisy = latents + noise * sigma.to(latents.dtype).reshape(b, 1, 1, 1, 1)  # (B, F, C, h, w)
    model_input, kwargs = unet_inputs(c_in * noisy, conditions, accepted_inputs(unet))  # (B, F, 2C, h, w)
    pred = unet(model_input, c_noise.reshape(b), return_dict=False, **kwargs)[0]  # (B, F, C, h, w)
    denoised = c_out * pred + c_skip * noisy  # ẑ0 (B, F, C, h, w)
    hand = conditions.hand_mask if loss_hand_mask is None else loss_hand_mask
    face = conditions.face_mask if loss_face_mask is None else loss_face_mask
    loss_diff = region_diffusion_loss(denoised, latents, sigma, hand, face, alpha_hand, alpha_face)
    loss_orth = interaction_orthogonality_loss(orthogonality_model or unet)
    if loss_orth is None:
        loss_orth = torch.zeros((), device=loss_diff.device)
    loss = loss_diff + orthogonality_weight * loss_orth.float() if orthogonality_weight else loss_diff
    logs = {"loss_diff": loss_diff.detach(), "loss_orth": loss_orth.detach(), "loss": loss.detach()}
    return loss, logs
