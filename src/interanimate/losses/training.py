"""One training step's loss: EDM noising + preconditioned InterAnimateUNet call + region and orthogonality terms."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interanimate.losses.edm import edm_precondition
from interanimate.losses.orthogonality import interaction_orthogonality_loss
from interanimate.losses.region import region_diffusion_loss


def diffusion_training_loss(unet: nn.Module, latents: Tensor, sigma: Tensor, noise: Tensor, *,
                            image_latents: Tensor, encoder_hidden_states: Tensor, added_time_ids: Tensor,
                            pose_frames: Tensor | None = None, hand_mask: Tensor | None = None,
                            face_mask: Tensor | None = None, id_embedding: Tensor | None = None,
                            loss_hand_mask: Tensor | None = None, loss_face_mask: Tensor | None = None,
                            alpha_hand: float = 1.0, alpha_face: float = 1.0, orthogonality_weight: float = 0.01,
                            orthogonality_model: nn.Module | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """L = L_diff + λ·(L_orth(L_s) + L_orth(L_t))  (Eq. 13).

    Args:
        unet: an InterAnimateUNet (or a plain diffusers SVD UNet when all InterAnimate inputs are None); may be
            wrapped (DDP/accelerate): then pass the unwrapped model as ``orthogonality_model``.
        latents: z0 (B, F, 4, h, w), VAE latents already multiplied by the VAE scaling factor.
        sigma: (B,) noise levels (``sample_sigmas``). noise: (B, F, 4, h, w) standard normal.
        image_latents: reference latents (B, 4, h, w) or (B, F, 4, h, w), concatenated on channels to every frame.
        encoder_hidden_states (B, 1, D), added_time_ids (B, 3): as the SVD UNet takes them.
        pose_frames, hand_mask, face_mask, id_embedding: InterAnimate inputs (see InterAnimateUNet.forward); the
            masks also weight the loss (α_h, α_f) unless ``loss_hand_mask`` / ``loss_face_mask`` are given
            (e.g. exact silhouettes weighting the loss while the region block gets keypoint masks).
    Returns:
        (loss, logs) with logs {"loss_diff", "loss_orth", "loss"} detached.
    """
    b, f = latents.shape[:2]
    c_skip, c_out, c_in, c_noise = (c.reshape(b, 1, 1, 1, 1) for c in edm_precondition(sigma.to(latents.dtype)))
    noisy = latents + noise * sigma.to(latents.dtype).reshape(b, 1, 1, 1, 1)  # (B, F, 4, h, w)
    if image_latents.ndim == 4:
        image_latents = image_latents[:, None].expand(b, f, *image_latents.shape[1:])  # (B, F, 4, h, w)
    model_input = torch.cat([c_in * noisy, image_latents.to(noisy.dtype)], dim=2)  # (B, F, 8, h, w)
    extra = {k: v for k, v in dict(pose_frames=pose_frames, hand_mask=hand_mask, face_mask=face_mask,
                                   id_embedding=id_embedding).items() if v is not None}
    pred = unet(model_input, c_noise.reshape(b), encoder_hidden_states=encoder_hidden_states,
                added_time_ids=added_time_ids, return_dict=False, **extra)[0]  # (B, F, 4, h, w)
    denoised = c_out * pred + c_skip * noisy  # ẑ0 (B, F, 4, h, w)
    loss_diff = region_diffusion_loss(denoised, latents, sigma, hand_mask if loss_hand_mask is None else loss_hand_mask,
                                      face_mask if loss_face_mask is None else loss_face_mask, alpha_hand, alpha_face)
    loss_orth = interaction_orthogonality_loss(orthogonality_model or unet)
    if loss_orth is None:
        loss_orth = torch.zeros((), device=loss_diff.device)
    loss = loss_diff + orthogonality_weight * loss_orth.float() if orthogonality_weight else loss_diff
    logs = {"loss_diff": loss_diff.detach(), "loss_orth": loss_orth.detach(), "loss": loss.detach()}
    return loss, logs
