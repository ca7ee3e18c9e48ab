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

INTERACTION_INPUTS = ("pose_frames", "hand_mask", "face_mask", "id_embedding", "hand_prior", "pose_keep",
                      "pose_features")
# what the unconditional (CFG) pass drops: the image embedding and the reference latent to zeros, the pose (and the
# hand prior drawn from it) left out; the hand/face masks and the identity stay (they say where and who, not what moves)
UNCONDITIONAL_ZEROED = ("image_embeds", "ref_latents")
UNCONDITIONAL_REMOVED = ("pose_frames", "hand_prior", "pose_features")
PER_FRAME = ("pose_frames", "hand_mask", "face_mask", "hand_prior", "pose_features")


@dataclass
class UNetConditions:
    """Everything the UNet sees besides the noisy latents and the noise level.

    ``ref_latents`` (B, C, h, w) or per frame (B, F, C, h, w); ``pose_frames`` (B, F, 3, H, W) in [-1, 1];
    ``hand_mask`` / ``face_mask`` (B, F, 1, H', W') in {0, 1} at any resolution; ``id_embedding`` (B, D_id);
    ``hand_prior`` (B, F, C, h, w): :func:`hand_prior_latents`, for a UNet built with ``hand_prior``;
    ``pose_keep`` (B,) in {0, 1}: which samples the pose (and hand prior) reach — 0 is the unconditional pass's
    "left out", per sample (None: all of them); ``pose_features`` (B, F, C0, h, w): the UNet's encoding of the pose
    and hand prior (:meth:`pose_encoded`), in their place."""
    image_embeds: Tensor  # (B, 1, D)
    ref_latents: Tensor  # (B, C, h, w) or (B, F, C, h, w), unscaled
    time_ids: Tensor  # (B, 3)
    pose_frames: Tensor | None = None
    hand_mask: Tensor | None = None
    face_mask: Tensor | None = None
    id_embedding: Tensor | None = None
    hand_prior: Tensor | None = None
    pose_keep: Tensor | None = None
    pose_features: Tensor | None = None

    def unconditional(self) -> "UNetConditions":
        """The conditions of the unconditional pass (and of a training batch dropped whole)."""
        zeroed = {k: torch.zeros_like(getattr(self, k)) for k in UNCONDITIONAL_ZEROED}
        return dataclasses.replace(self, **zeroed, **{k: None for k in UNCONDITIONAL_REMOVED})

    def pose_encoded(self, unet) -> "UNetConditions":
        """The pose and the hand prior replaced by the UNet's encoding of them (``encode_pose``, frame by frame),
        computed once: a sampler's steps and fused tiles then slice it instead of encoding the same frames again.
        Returned as they are for a UNet without ``encode_pose`` or when there is nothing to encode."""
        encode = getattr(unet, "encode_pose", None)
        if encode is None or (self.pose_frames is None and self.hand_prior is None):
            return self
        features = encode(self.pose_frames, self.hand_prior, self.pose_keep, unet.dtype)  # (B, F, C0, h, w)
        return dataclasses.replace(self, pose_frames=None, hand_prior=None, pose_features=features)

    def with_unconditional(self) -> "UNetConditions":
        """The conditions and their :meth:`unconditional` pass in one batch of 2B (conditioned samples first), for
        one UNet call per guided step as diffusers' pipelines make it: the left-out pose and hand prior become
        ``pose_keep`` 0 (their tensors repeated so that shapes stay whole; the UNet does not read them there)."""
        uncond = self.unconditional()
        b = self.image_embeds.shape[0]
        keep = torch.ones(b, device=self.image_embeds.device) if self.pose_keep is None else self.pose_keep
        merged = {}
        for field in dataclasses.fields(self):
            name = field.name
            value, other = getattr(self, name), getattr(uncond, name)
            if name == "pose_keep":
                merged[name] = torch.cat([keep, torch.zeros_like(keep)])  # (2B,)
            elif value is None:
                merged[name] = None
            else:  # a removed field's own values stand in for the unconditional half (pose_keep 0 hides them)
                merged[name] = torch.cat([value, value if other is None else other])  # (2B, ...)
        return UNetConditions(**merged)

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
        per_frame = {k: getattr(self, k)[:, index] for k in PER_FRAME if getattr(self, k) is not None}
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


# ---------------------------------------------------------------------------------------------- the hand prior
# CHOSEN beyond the paper (docs/model.md): the reference image with the hand shape map's silhouette painted in the
# person's skin tone, encoded by the first stage into the space the model diffuses in. A render-then-refine input,
# as RealisDance feeds rendered HaMeR hands and HandRefiner a rendered hand depth map: it tells the UNet what a hand
# there looks like in that person's colours, which a thin skeleton (or a shape map alone) leaves it to learn.
SKIN_MIN_PIXELS = 16  # fewer face-mask pixels than this: the skin tone is the median of the whole image
HAND_SHAPE_SLICE = slice(3, 5)  # the hand shape map's left/right shape channels within ``pose_frames``


def hand_alpha(pose_frames: Tensor) -> Tensor:
    """The hand silhouette's coverage (B, F, 1, H, W) in [0, 1] from ``pose_frames`` (B, F, 3 + K, H, W) in [-1, 1]
    whose channels 3 and 4 are the hand shape map's left and right shapes (0 outside a hand, ≥ 128/255 inside:
    :mod:`interanimate.keypoints.hand_map`); area-averaged edges keep their partial coverage."""
    if pose_frames.shape[2] < HAND_SHAPE_SLICE.stop:
        raise ValueError(f"pose_frames {tuple(pose_frames.shape)} carry no hand shape map (channels 3 and 4)")
    from interanimate.keypoints.hand_map import PALM_VALUE

    shapes = (pose_frames[:, :, HAND_SHAPE_SLICE].float() + 1) * 127.5  # (B, F, 2, H, W) in [0, 255]
    return (shapes.amax(dim=2, keepdim=True) / PALM_VALUE).clamp(0, 1)  # (B, F, 1, H, W)


def skin_tone(reference: Tensor, face_mask: Tensor) -> Tensor:
    """The median colour (B, 3) of ``reference`` (B, 3, H, W) inside ``face_mask`` (B, 1, H', W') (nearest-resized);
    the whole image's where the mask holds fewer than ``SKIN_MIN_PIXELS`` pixels."""
    from interanimate.models.masking import resize_mask

    b = reference.shape[0]
    mask = resize_mask(face_mask.float().unsqueeze(1), tuple(reference.shape[-2:]))[:, 0, 0] > 0.5  # (B, H, W)
    colours = []
    for i in range(b):
        pixels = reference[i].flatten(1)  # (3, H·W)
        inside = mask[i].flatten()  # (H·W,)
        if int(inside.sum()) >= SKIN_MIN_PIXELS:
            pixels = pixels[:, inside]  # (3, N)
        colours.append(pixels.float().median(dim=1).values)  # (3,)
    return torch.stack(colours).to(reference.dtype)  # (B, 3)


def hand_prior_latents(vae, reference: Tensor, pose_frames: Tensor, face_mask: Tensor,
                       residual_scale: float | None = None, clean_ref_latents: Tensor | None = None) -> Tensor:
    """The hand prior: ``reference`` (B, 3, H, W) in [-1, 1] with the silhouette of ``pose_frames``' hand shape map
    (:func:`hand_alpha`) painted per frame in the reference's skin tone (:func:`skin_tone` inside frame 0 of
    ``face_mask`` (B, F, 1, H', W')), encoded by ``vae`` (posterior mode × scaling factor): (B, F, C, h, w) in the
    space the model diffuses in — with ``residual_scale`` (a ``residual_to_reference`` model) the residual
    ``to_residual`` makes, against ``clean_ref_latents`` (B, C, h, w), scaled (computed when not given)."""
    b, f = pose_frames.shape[:2]
    sf = vae.config.scaling_factor
    alpha = hand_alpha(pose_frames).to(reference.dtype)  # (B, F, 1, H, W)
    skin = skin_tone(reference, face_mask[:, 0])  # (B, 3)
    painted = reference.unsqueeze(1) * (1 - alpha) + skin.view(b, 1, 3, 1, 1) * alpha  # (B, F, 3, H, W)
    z = vae.encode(painted.flatten(0, 1).to(vae.dtype)).latent_dist.mode().float() * sf  # (B·F, C, h, w)
    z = z.unflatten(0, (b, f))  # (B, F, C, h, w)
    if residual_scale is None:
        return z
    if clean_ref_latents is None:
        clean_ref_latents = vae.encode(reference.to(vae.dtype)).latent_dist.mode().float() * sf  # (B, C, h, w)
    return to_residual(z, clean_ref_latents.float(), residual_scale)  # (B, F, C, h, w)
