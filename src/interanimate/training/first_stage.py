"""Training the small model's own first stage (the models themselves live in :mod:`interanimate.models.first_stage`).

A small VAE is trained here on SynthHF clips before the diffusion stage with an L1 + L2 reconstruction loss weighted
up inside the hand∪face region and a small KL term; its ``scaling_factor`` is then set to 1 / std of the latents, as
SD's 0.18215 was. The small CLIP image encoder is trained jointly with the UNet (parameter group ``image_encoder``)
instead of being frozen, since a frozen random tower would only add noise; the VAE latent of the reference,
concatenated on channels, carries most of the appearance in any case.

The names re-exported below keep pipeline folders written before the move loading: their ``model_index.json`` names
``interanimate.training.first_stage.PatchPCAAutoencoder``.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import torch
from torch import Tensor

from interanimate.models.first_stage import (CLIP_MEAN, CLIP_STD, PatchPCAAutoencoder,  # noqa: F401 (re-exported)
                                             build_small_image_encoder, build_small_vae, clip_preprocess,
                                             encode_image, load_vae, vae_decode)


def vae_loss(vae, clips: Tensor, region: Tensor | None, kl_weight: float, region_weight: float,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
    """clips (B, F, 3, H, W) in [-1, 1], region (B, F, 1, H, W) -> weighted reconstruction + KL loss."""
    b, f = clips.shape[:2]
    x = clips.flatten(0, 1)  # (B·F, 3, H, W)
    posterior = vae.encode(x).latent_dist
    z = posterior.sample(generator=generator)  # (B·F, C, h, w)
    recon = vae_decode(vae, z, f)  # (B·F, 3, H, W)
    weight = 1.0 if region is None else 1.0 + region_weight * region.flatten(0, 1)  # (B·F, 1, H, W)
    err = (recon - x).abs() + (recon - x).square()
    rec = (weight * err).mean()
    kl = posterior.kl().mean() / (x.shape[-1] * x.shape[-2])
    return rec + kl_weight * kl, {"rec": float(rec.detach()), "kl": float(kl.detach())}


@torch.no_grad()
def latent_scaling_factor(vae, batches: list[Tensor]) -> float:
    """1 / std of the VAE's latent means over ``batches`` of (N, 3, H, W) images: unit-variance diffusion latents."""
    latents = torch.cat([vae.encode(x).latent_dist.mode().float().flatten() for x in batches])
    return float(1.0 / latents.std().clamp_min(1e-6))


def train_vae(vae, batches: Iterator[dict], steps: int, lr: float, kl_weight: float, region_weight: float,
              device: torch.device, generator: torch.Generator,
              log: Callable[[int, dict], None] | None = None, log_every: int = 50) -> None:
    """Train the first stage for ``steps`` steps on batches with ``frames`` (B, F, 3, H, W), ``hand_mask``,
    ``face_mask`` (B, F, 1, H, W). Adam with a cosine decay; gradient clipping at 1."""
    vae.train().to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    start = time.time()
    for step in range(1, steps + 1):
        batch = next(batches)
        clips = batch["frames"].to(device)
        region = torch.maximum(batch["hand_mask"], batch["face_mask"]).to(device)
        loss, parts = vae_loss(vae, clips, region, kl_weight, region_weight, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if log is not None and (step % log_every == 0 or step == steps):
            log(step, {"vae_loss": loss.item(), **{f"vae_{k}": v for k, v in parts.items()},
                       "sec": time.time() - start})
    vae.eval()
