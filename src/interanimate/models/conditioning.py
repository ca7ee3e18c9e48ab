"""What the UNet is conditioned on — one definition for the trainer and ``InterAnimatePipeline``.

Both build a :class:`UNetConditions` with :func:`encode_reference` and :func:`added_time_ids`, drop conditions with
its methods (``unconditional`` is the classifier-free-guidance rule the trainer's ``drop_all`` and the sampler's
unconditional pass share; ``dropped`` the trainer's per-sample drops), and call the UNet with the arguments
:func:`unet_inputs` makes. Models trained on the residual to the reference (``residual_to_reference``) go through
:func:`to_residual` in training and :func:`from_residual` after sampling.

SVD's conventions are kept: the reference latent is the VAE posterior's mode of the noise-augmented reference,
unscaled (SVD does not multiply it by the scaling factor), repeated over frames and concatenated on channels after the
(preconditioned) noisy latents; the added time ids are ``(fps − 1, motion_bucket_id, noise_aug_strength)``.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import torch
from torch import Tensor

from interanimate.models.first_stage import encode_image

INTERACTION_INPUTS = ("pose_frames", "hand_mask", "face_mask", "id_embedding")
# what the unconditional (CFG) pass drops: the image embedding and the reference latent to zeros, the pose left out;
# the hand/face masks and the identity stay (they say where and who, not what moves)
UNCONDITIONAL_ZEROED = ("image_embeds", "ref_latents")
UNCONDITIONAL_REMOVED = ("pose_frames",)


@dataclass
class UNetConditions:
    """Everything the UNet sees besides the noisy latents and the noise level.

    ``ref_latents`` (B, C, h, w) or per frame (B, F, C, h, w); ``pose_frames`` (B, F, 3, H, W) in [-1, 1];
    ``hand_mask`` / ``face_mask`` (B, F, 1, H', W') in {0, 1} at any resolution; ``id_embedding`` (B, D_id)."""
    image_embeds: Tensor  # (B, 1, D)
    ref_latents: Tensor  # (B, C, h, w) or (B, F, C, h, w), unscaled
    time_ids: Tensor  # (B, 3)
    pose_frames: Tensor | None = None
    hand_mask: Tensor | None = None
    face_mask: Tensor | None = None
    id_embedding: Tensor | None = None

    def unconditional(self) -> "UNetConditions":
        """The conditions of the unconditional pass (and of a training batch dropped whole)."""
        zeroed = {k: torch.zeros_like(getattr(self, k)) for k in UNCONDITIONAL_ZEROED}
        return dataclasses.replace(self, **zeroed, **{k: None for k in UNCONDITIONAL_REMOVED})

    def dropped(self, keep_image: Tensor, keep_latents: Tensor, keep_identity: Tensor) -> "UNetConditions":
        """Per-sample drops to zeros: each ``keep_*`` is (B,) of 0/1."""
        b = self.image_embeds.shape[0]
        lat = keep_latents.view(b, *([1] * (self.ref_latents.ndim - 1))).to(self.ref_latents.dtype)
        ident = self.id_embedding
        if ident is not None:
            ident = ident * keep_identity.view(b, 1).to(ident.dtype)  # (B, D_id)
        return dataclasses.replace(self, image_embeds=self.image_embeds * keep_image.view(b, 1, 1).to(
            self.image_embeds.dtype), ref_latents=self.ref_latents * lat, id_embedding=ident)

    def frames(self, index: Tensor) -> "UNetConditions":
        """The conditions of the frames ``index`` (T,) of the sequence (one fused tile)."""
        per_frame = {k: getattr(self, k)[:, index] for k in ("pose_frames", "hand_mask", "face_mask")
                     if getattr(self, k) is not None}
        ref = self.ref_latents[:, index] if self.ref_latents.ndim == 5 else self.ref_latents
        return dataclasses.replace(self, ref_latents=ref, **per_frame)


def added_time_ids(fps: float, motion_bucket_id: float, noise_aug: Tensor) -> Tensor:
    """SVD's added time ids for noise-augmentation strengths ``noise_aug`` (B,): (B, 3)."""
    return torch.stack([torch.full_like(noise_aug, fps - 1), torch.full_like(noise_aug, motion_bucket_id),
                        noise_aug], dim=1)  # (B, 3)


def encode_reference(vae, image_encoder, reference: Tensor, noise_aug: Tensor, noise: Tensor,
                     image_size: int | None = None) -> tuple[Tensor, Tensor]:
    """reference (B, 3, H, W) in [-1, 1], strengths ``noise_aug`` (B,), ``noise`` like ``reference`` ->
    (CLIP image embeddings (B, 1, D) of the clean reference, VAE latents (B, C, h, w) of the noise-augmented one,
    unscaled as in SVD). ``image_size``: the encoder's input size when it is wrapped (e.g. by DDP)."""
    b = reference.shape[0]
    image_embeds = encode_image(image_encoder, reference, image_size)  # (B, 1, D)
    noisy = reference + noise_aug.view(b, 1, 1, 1).to(reference.dtype) * noise  # (B, 3, H, W)
    ref_latents = vae.encode(noisy.to(vae.dtype)).latent_dist.mode()  # (B, C, h, w)
    return image_embeds, ref_latents


def accepted_inputs(unet) -> tuple[str, ...]:
    """Which of pose / masks / identity the UNet's forward takes (none for a plain diffusers SVD UNet)."""
    forward = getattr(unet, "module", unet).forward  # through a DDP / accelerate wrapper
    params = inspect.signature(forward).parameters
    return tuple(name for name in INTERACTION_INPUTS if name in params)


def unet_inputs(sample: Tensor, cond: UNetConditions, accepted: tuple[str, ...] = INTERACTION_INPUTS,
                dtype: torch.dtype | None = None) -> tuple[Tensor, dict]:
    """The UNet's positional input and keyword arguments (besides the timestep) for ``sample`` (B, F, C, h, w), the
    noisy latents already scaled for the model (EDM's c_in, or the scheduler's ``scale_model_input``):
    (B, F, 2C, h, w) with the reference latents concatenated on channels, and ``encoder_hidden_states``,
    ``added_time_ids`` and the interaction inputs in ``accepted`` that are set, all cast to ``dtype``."""
    b, f = sample.shape[:2]
    dtype = dtype or sample.dtype
    ref = cond.ref_latents
    if ref.ndim == 4:
        ref = ref.unsqueeze(1).expand(b, f, *ref.shape[1:])  # (B, F, C, h, w)
    model_input = torch.cat([sample, ref.to(sample.dtype)], dim=2).to(dtype)  # (B, F, 2C, h, w)
    kwargs = {"encoder_hidden_states": cond.image_embeds.to(dtype), "added_time_ids": cond.time_ids.to(dtype)}
    for name in accepted:
        value = getattr(cond, name)
        if value is not None:
            kwargs[name] = value.to(dtype)
    return model_input, kwargs


def to_residual(latents: Tensor, clean_ref_latents: Tensor, scale: float) -> Tensor:
    """(z − z_ref) / s: latents (B, F, C, h, w) minus the clean reference's (B, C, h, w), both scaled by the VAE's
    scaling factor — the diffusion target of a model trained with ``residual_to_reference``."""
    return (latents - clean_ref_latents.unsqueeze(1)) / scale  # (B, F, C, h, w)


def from_residual(residual: Tensor, clean_ref_latents: Tensor, scale: float) -> Tensor:
    """The inverse of :func:`to_residual`: s · r + z_ref, (B, F, C, h, w)."""
    return residual * scale + clean_ref_latents.unsqueeze(1)  # (B, F, C, h, w)
