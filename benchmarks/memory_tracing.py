"""Memory accounting for ``memory_plan.py``: SVD-XT's models built without memory; the live-storage tracer
(``LiveMemory``), ``fake_module`` and the resident-memory counters are :mod:`interanimate.utils.memory`'s,
re-exported here."""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

# the tracer and the resident-memory counters live in the package (the Wan memory plan uses them too)
from interanimate.models.first_stage import CLIP_VIT_H
from interanimate.utils.memory import GiB, LiveMemory, fake_module, reset_peak, rss_status

__all__ = ["GiB", "LiveMemory", "SVD_CLIP", "SVD_VAE", "count", "fake_module", "reset_peak", "rss_status", "svd_models"]

# SVD-XT 1.1's frozen first stage: vae/config.json and image_encoder/config.json of the release
SVD_VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
               block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=768,
               scaling_factor=0.18215, force_upcast=True)
SVD_CLIP = CLIP_VIT_H


# ------------------------------------------------------------------------------------------ fake models
def svd_models(unet_kwargs: dict, unet_dtype: torch.dtype, frozen_dtype: torch.dtype, mode: FakeTensorMode):
    """The InterAnimate UNet of ``unet_kwargs``, SVD-XT's VAE and CLIP ViT-H/14 image tower, as fake modules."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from interanimate.models import InterAnimateUNet

    unet = fake_module(lambda: InterAnimateUNet(**unet_kwargs), unet_dtype, mode)
    vae = fake_module(lambda: AutoencoderKLTemporalDecoder(**SVD_VAE), frozen_dtype, mode)
    clip = fake_module(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**SVD_CLIP)), frozen_dtype, mode)
    return unet, vae.requires_grad_(False).eval(), clip.requires_grad_(False).eval()


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())
