"""What the InterAnimate Wan-Animate transformer is conditioned on — built by one function,
:func:`build_wan_conditions`, for training (``training/wan_backbone.py``) and sampling (``pipelines/wan_pipeline.py``),
as :mod:`interanimate.models.conditioning` does for the UNet.

Wan-Animate's conventions (diffusers' ``WanAnimatePipeline``): a segment of F = 4k + 1 frames is T' = k + 1 latent
frames (Wan's VAE, stride 4×8×8); the token video has the reference image's latent in front, F' = T' + 1 frames. The
transformer's input is the noisy latents (16 channels) beside the "reference" channels (20): an I2V mask (4: which of
the 4 pixel frames of a latent frame are given) and the given latents — the reference image at frame 0, then the
previous segment's last frames where the segment continues one (zeros elsewhere). The pose video (the keypoint
rendering, with the dense hand map drawn in when given) is VAE-encoded into ``pose_hidden_states`` (added to the
patches of frames 1…T'); the face video (a square crop of the face in every frame) feeds Wan-Animate's motion encoder
and face adapter. InterAnimate adds the hand ∪ face masks per token frame (the reference frame's empty) and the
identity vector.

The unconditional pass of classifier-free guidance follows Wan-Animate (empty text, a blank face video: every pixel
−1) and drops InterAnimate's conditions (no masks: the region branch is off; no identity); the reference and the pose
stay, as in Wan-Animate.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from interanimate.models.first_stage import clip_preprocess

TEMPORAL = 4  # Wan VAE's temporal stride
FACE_MARGIN = 1.4  # the face crop's side over the face box's larger side


def latent_frame_count(num_frames: int) -> int:
    """Latent frames of a ``num_frames`` video (4k + 1 → k + 1)."""
    if num_frames < 1 or (num_frames - 1) % TEMPORAL:
        raise ValueError(f"Wan's VAE takes 4k + 1 frames (1, 5, 9, …, 77, 81), got {num_frames}")
    return (num_frames - 1) // TEMPORAL + 1


def _stats(vae, like: Tensor) -> tuple[Tensor, Tensor]:
    mean = torch.tensor(vae.config.latents_mean, device=like.device, dtype=like.dtype).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=like.device, dtype=like.dtype).view(1, -1, 1, 1, 1)
    return mean, std


def encode_video(vae, video: Tensor) -> Tensor:
    """video (B, F, 3, H, W) in [-1, 1] -> normalised latents (B, C, T', H/8, W/8) (the posterior's mode, as
    Wan-Animate's ``sample_mode="argmax"``)."""
    z = vae.encode(video.transpose(1, 2).to(vae.dtype)).latent_dist.mode()  # (B, C, T', h, w)
    mean, std = _stats(vae, z)
    return (z - mean) / std


def decode_latents(vae, latents: Tensor) -> Tensor:
    """Normalised latents (B, C, T', h, w) -> video (B, F, 3, H, W) in [-1, 1]."""
    mean, std = _stats(vae, latents)
    video = vae.decode((latents * std + mean).to(vae.dtype)).sample  # (B, 3, F, H, W)
    return video.transpose(1, 2).clamp(-1, 1)


_BLANK_SEGMENTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # vae -> {shape key: latents}


def blank_segment_latents(vae, frames: int, size: tuple[int, int], device) -> Tensor:
    """Normalised latents (1, C, T', h, w) of a segment where no frame is given (every pixel 0), as the I2V channels
    hold them: a constant of the VAE and the shape, encoded once per VAE (it was a full VAE pass every step)."""
    key = (frames, *size, vae.dtype, str(device))
    cache = _BLANK_SEGMENTS.setdefault(vae, {})
    if key not in cache:
        cache[key] = encode_video(vae, torch.zeros(1, frames, 3, *size, device=device, dtype=vae.dtype))
    return cache[key]


def i2v_mask(batch: int, latent_frames: int, size: tuple[int, int], known: int, device, dtype) -> Tensor:
    """(B, 4, T', h, w): 1 where a pixel frame is given (the first ``known`` of the segment), as Wan's I2V mask: the
    first latent frame stands for one pixel frame, repeated 4 times."""
    frames = torch.zeros(batch, 1, (latent_frames - 1) * TEMPORAL + 1, *size, device=device, dtype=dtype)
    frames[:, :, :known] = 1
    frames = torch.cat([frames[:, :, :1].repeat_interleave(TEMPORAL, dim=2), frames[:, :, 1:]], dim=2)
    return frames.view(batch, latent_frames, TEMPORAL, *size).transpose(1, 2)  # (B, 4, T', h, w)


def latent_frame_masks(mask: Tensor) -> Tensor:
    """Per-pixel-frame masks (B, F, 1, H, W) -> per-latent-frame (B, T', 1, H, W): frame 0 alone, then the union of
    each following group of 4 (what a latent frame encodes)."""
    b, f = mask.shape[:2]
    latent_frame_count(f)
    rest = mask[:, 1:].unflatten(1, (-1, TEMPORAL)).amax(dim=2)  # (B, T' - 1, 1, H, W)
    return torch.cat([mask[:, :1], rest], dim=1)


def token_frame_masks(mask: Tensor | None) -> Tensor | None:
    """(B, F, 1, H, W) -> (B, T' + 1, 1, H, W): an empty mask for the reference's token frame in front."""
    if mask is None:
        return None
    latent = latent_frame_masks(mask.float())
    return torch.cat([torch.zeros_like(latent[:, :1]), latent], dim=1)


def face_video(frames: Tensor, face_mask: Tensor | None, size: int) -> Tensor:
    """frames (B, F, 3, H, W) in [-1, 1], face masks (B, F, 1, H, W) -> (B, 3, F, S, S): per clip one square crop
    around the union of its face masks (``FACE_MARGIN`` × the box, clamped to the frame; the whole frame when the
    mask is empty), resized to S — the face video Wan-Animate's motion encoder reads."""
    b, f, _, h, w = frames.shape
    crops = []
    for i in range(b):
        box = None
        if face_mask is not None and face_mask[i].any():
            ys, xs = torch.nonzero(face_mask[i].amax(dim=(0, 1)) > 0.5, as_tuple=True)
            if len(ys):
                cy, cx = (ys.min() + ys.max()).item() / 2, (xs.min() + xs.max()).item() / 2
                side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1).item() * FACE_MARGIN
                side = int(min(max(side, 8), h, w))
                top = int(min(max(round(cy - side / 2), 0), h - side))
                left = int(min(max(round(cx - side / 2), 0), w - side))
                box = (top, left, side)
        clip = frames[i] if box is None else frames[i][..., box[0]:box[0] + box[2], box[1]:box[1] + box[2]]
        crops.append(F.interpolate(clip.float(), size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=True))  # (F, 3, S, S)
    return torch.stack(crops).transpose(1, 2).to(frames.dtype)  # (B, 3, F, S, S)


def image_tokens(image_encoder, images: Tensor, image_size: int | None = None) -> Tensor:
    """(B, 3, H, W) in [-1, 1] -> the CLIP image tokens Wan takes: the penultimate layer's hidden states (B, N, D)."""
    size = image_size or image_encoder.config.image_size
    pixels = clip_preprocess(images, size).to(dtype=next(image_encoder.parameters()).dtype)
    return image_encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]


@torch.no_grad()
def encode_prompt(text_encoder, tokenizer, prompt: str, max_length: int, text_dim: int) -> Tensor:
    """(1, L, text_dim) embeddings of ``prompt`` as Wan's pipelines compute them (UMT5, padded with zeros to
    ``max_length``); without a text encoder, (1, 1, text_dim) zeros: Wan's empty condition."""
    if text_encoder is None:
        return torch.zeros(1, 1, text_dim)
    tokens = tokenizer([prompt], padding="max_length", max_length=max_length, truncation=True,
                       add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    device = next(text_encoder.parameters()).device
    hidden = text_encoder(tokens.input_ids.to(device), tokens.attention_mask.to(device)).last_hidden_state
    length = int(tokens.attention_mask.sum())
    out = torch.zeros(1, max_length, hidden.shape[-1], device=device, dtype=hidden.dtype)
    out[:, :length] = hidden[:, :length]  # Wan zeroes the padding positions
    return out


def add_hand_map(pose: Tensor) -> Tensor:
    """Pose frames (B, F, 3 + K, H, W) whose channels after the skeleton's three are the dense hand shape map
    (:mod:`interanimate.keypoints.hand_map`) -> (B, F, 3, H, W): the map drawn into the rendering (where it covers a
    pixel, its first three channels replace the skeleton's), so that it joins Wan-Animate's RGB pose stream. Three
    channels pass unchanged."""
    if pose.shape[2] == 3:
        return pose
    skeleton, shape = pose[:, :, :3], pose[:, :, 3:]
    cover = (shape > -1 + 1e-3).any(dim=2, keepdim=True)  # (B, F, 1, H, W): where the map draws
    colour = shape[:, :, :3] if shape.shape[2] >= 3 else shape[:, :, :1].expand_as(skeleton)
    return torch.where(cover, colour, skeleton)


@dataclass
class WanConditions:
    """Everything the transformer takes besides the noisy latents and the timestep (shapes for batch B, a segment of
    F = 4k + 1 frames, T' = k + 1 latent frames)."""
    reference: Tensor  # (B, 20, T' + 1, h, w): I2V mask (4) + given latents (16); the reference image at frame 0
    pose_latents: Tensor  # (B, 16, T', h, w)
    face_pixels: Tensor  # (B, 3, F, S, S) in [-1, 1]
    text: Tensor  # (B, L, text_dim)
    image_tokens: Tensor | None = None  # (B, N, image_dim)
    hand_mask: Tensor | None = None  # (B, T' + 1, 1, H, W)
    face_mask: Tensor | None = None  # (B, T' + 1, 1, H, W)
    id_embedding: Tensor | None = None  # (B, D_id)

    def dropped(self, keep_image: Tensor, keep_face: Tensor, keep_identity: Tensor) -> "WanConditions":
        """Per-sample conditioning dropout (1 keep, 0 drop; each (B,)): image tokens to zeros, the face video blank,
        the identity to zeros."""
        def blend(x, keep, fill):
            if x is None:
                return None
            k = keep.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
            return x * k + fill * (1 - k)
        return replace(self, image_tokens=blend(self.image_tokens, keep_image, 0.0),
                       face_pixels=blend(self.face_pixels, keep_face, -1.0),
                       id_embedding=blend(self.id_embedding, keep_identity, 0.0))

    def unconditional(self) -> "WanConditions":
        """The CFG unconditional pass: empty text, blank face video, no masks, no identity (see the module doc)."""
        return replace(self, text=torch.zeros_like(self.text), face_pixels=torch.full_like(self.face_pixels, -1.0),
                       hand_mask=None, face_mask=None, id_embedding=None)

    def model_kwargs(self, noisy: Tensor) -> dict:
        """The transformer's keyword arguments for noisy latents (B, 16, T' + 1, h, w)."""
        return dict(hidden_states=torch.cat([noisy, self.reference.to(noisy.dtype)], dim=1),  # (B, 36, T'+1, h, w)
                    encoder_hidden_states=self.text.to(noisy.dtype),
                    encoder_hidden_states_image=None if self.image_tokens is None
                    else self.image_tokens.to(noisy.dtype),
                    pose_hidden_states=self.pose_latents.to(noisy.dtype),
                    face_pixel_values=self.face_pixels.to(noisy.dtype),
                    hand_mask=self.hand_mask, face_mask=self.face_mask, id_embedding=self.id_embedding)


def build_wan_conditions(vae, image_encoder, reference: Tensor, pose: Tensor, text: Tensor, *,
                         face_frames: Tensor | None = None, hand_mask: Tensor | None = None,
                         face_mask: Tensor | None = None, id_embedding: Tensor | None = None,
                         previous: Tensor | None = None, face_size: int = 512,
                         image_size: int | None = None) -> WanConditions:
    """The conditions of one segment.

    Args:
        reference: the portrait (B, 3, H, W) in [-1, 1].
        pose: the pose rendering (B, F, 3 [+ K hand-map channels], H, W) in [-1, 1], F = 4k + 1.
        text: text embeddings (B or 1, L, text_dim).
        face_frames: frames to crop the face video from (B, F, 3, H, W) — the clip itself in training, a driving
            video when there is one; None: the reference repeated (a still face).
        hand_mask, face_mask: (B, F, 1, H, W) per frame, for the region branch and the face crop.
        id_embedding: (B, D_id) or None.
        previous: the previous segment's last frames (B, P, 3, H, W) this one continues from, or None.
    """
    b, f, _, h, w = pose.shape
    t_lat = latent_frame_count(f)
    with torch.no_grad():
        ref_latents = encode_video(vae, reference.unsqueeze(1))  # (B, 16, 1, h', w')
        size = tuple(ref_latents.shape[-2:])
        known = 0 if previous is None else previous.shape[1]
        if known:  # the segment's frames: the previous segment's last ones, zeros after them
            given = torch.zeros(b, f, 3, h, w, device=reference.device, dtype=reference.dtype)
            given[:, :known] = previous.to(given.dtype)
            seg_latents = encode_video(vae, given)  # (B, 16, T', h', w')
        else:
            seg_latents = blank_segment_latents(vae, f, (h, w), reference.device).expand(b, -1, -1, -1, -1)
        dev, dt = ref_latents.device, ref_latents.dtype
        ref_part = torch.cat([i2v_mask(b, 1, size, 1, dev, dt), ref_latents], dim=1)  # (B, 20, 1, h', w')
        seg_part = torch.cat([i2v_mask(b, t_lat, size, known, dev, dt), seg_latents], dim=1)  # (B, 20, T', h', w')
        pose_latents = encode_video(vae, add_hand_map(pose))  # (B, 16, T', h', w')
    face_source = face_frames if face_frames is not None else reference.unsqueeze(1).expand(b, f, -1, -1, -1)
    crop_mask = face_mask if face_frames is not None else (None if face_mask is None else face_mask[:, :1])
    if crop_mask is not None and crop_mask.shape[1] != face_source.shape[1]:
        crop_mask = crop_mask.expand(-1, face_source.shape[1], -1, -1, -1)
    return WanConditions(
        reference=torch.cat([ref_part, seg_part], dim=2),  # (B, 20, T' + 1, h', w')
        pose_latents=pose_latents, face_pixels=face_video(face_source, crop_mask, face_size),
        text=text.expand(b, -1, -1) if text.shape[0] == 1 else text,
        image_tokens=None if image_encoder is None else image_tokens(image_encoder, reference, image_size),
        hand_mask=token_frame_masks(hand_mask), face_mask=token_frame_masks(face_mask), id_embedding=id_embedding)
