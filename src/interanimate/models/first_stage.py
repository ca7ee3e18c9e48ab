"""The first stages (image → latents → image) and the image encoder the pipeline and the trainer share.

SVD's VAE and CLIP image encoder cannot be downloaded here, so the bundled small model brings its own, with the
same classes and interfaces as SVD's so that one pipeline and one trainer serve both:

* **VAE**: a small diffusers ``AutoencoderKLTemporalDecoder`` (SVD's own class) or SD's 2-D ``AutoencoderKL``,
  downsampling by 8 like SVD's (``build_small_vae``; trained by :mod:`interanimate.training.first_stage`).
* **PCA patch autoencoder** (``PatchPCAAutoencoder``): a linear first stage fitted in closed form (principal
  components of 8×8 patches); what the CPU-trained bundled model uses.
* **Image encoder**: a small ``CLIPVisionModelWithProjection`` whose projection width equals the UNet's
  ``cross_attention_dim`` (``build_small_image_encoder``), and ``encode_image``, SVD's CLIP preprocessing + embedding.

Every first-stage class states how many pixels one latent cell covers (``DOWNSAMPLING``, read through
``downsampling_factor`` by the pipeline and by ``animate``'s size check before anything loads). The full (``svd-xt``) configuration loads SVD's own ``vae/`` and ``image_encoder/``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import Tensor, nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _halvings(config) -> int:
    return 2 ** (len(config["block_out_channels"]) - 1)  # each encoder block but the last halves H and W


# Pixels per latent cell (each axis) of every first-stage class, from its config (diffusers' VAEs as diffusers'
# pipelines compute ``vae_scale_factor``; the patch autoencoder: its patch).
DOWNSAMPLING = {
    "PatchPCAAutoencoder": lambda config: int(config["patch_size"]),
    "AutoencoderKL": _halvings,
    "AutoencoderKLTemporalDecoder": _halvings,
}


def downsampling_factor(vae_or_config) -> int:
    """Pixels per latent cell (each axis) of a first stage, or of its ``config.json`` as a dict (``_class_name``
    says which first stage it is; what each states is in ``DOWNSAMPLING``)."""
    if isinstance(vae_or_config, dict):
        config, name = vae_or_config, vae_or_config.get("_class_name")
    else:
        config, name = vae_or_config.config, type(vae_or_config).__name__
    if name not in DOWNSAMPLING:
        from interanimate.errors import UserError
        raise UserError(f"unsupported first stage {name!r}: known {', '.join(DOWNSAMPLING)}")
    return DOWNSAMPLING[name](config)


def build_small_vae(block_out_channels=(32, 64, 128, 128), layers_per_block: int = 1, latent_channels: int = 4,
                    sample_size: int = 128, temporal_decoder: bool = True):
    """SVD's ``AutoencoderKLTemporalDecoder`` (``temporal_decoder=True``) or SD's 2-D ``AutoencoderKL``, small.

    The 2-D one decodes frame by frame; it is several times cheaper to train on a CPU (no 3-D convolutions)."""
    from diffusers import AutoencoderKL, AutoencoderKLTemporalDecoder

    if len(block_out_channels) != 4:
        raise ValueError(f"the VAE must downsample by 8 (4 blocks), got block_out_channels={block_out_channels}")
    common = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * len(block_out_channels),
                  block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
                  latent_channels=latent_channels, sample_size=sample_size, scaling_factor=1.0, force_upcast=False)
    if temporal_decoder:
        return AutoencoderKLTemporalDecoder(**common)
    return AutoencoderKL(up_block_types=("UpDecoderBlock2D",) * len(block_out_channels), **common)


def vae_decode(vae, latents: Tensor, num_frames: int) -> Tensor:
    """Decode (N, C, h, w) latents with either VAE class (the temporal decoder needs ``num_frames``)."""
    if "num_frames" in inspect.signature(vae.decode).parameters:
        return vae.decode(latents, num_frames=num_frames).sample
    return vae.decode(latents).sample


def load_vae(folder, torch_dtype: torch.dtype | None = None):
    """A VAE folder written by ``save_pretrained``, of whichever class its config names (weights cast to
    ``torch_dtype`` when given)."""
    import os

    import diffusers

    from interanimate.errors import UserError
    from interanimate.model_folders import read_json_file
    from interanimate.models.loading import strict_load

    name = read_json_file(Path(folder) / "config.json").get("_class_name")
    if name == PatchPCAAutoencoder.__name__:
        cls = PatchPCAAutoencoder
    elif name in ("AutoencoderKL", "AutoencoderKLTemporalDecoder"):
        cls = getattr(diffusers, name)
    else:
        raise UserError(f"{Path(folder) / 'config.json'}: unsupported VAE class {name!r}")
    return strict_load(cls.from_pretrained, os.fspath(folder), name, torch_dtype=torch_dtype)  # every key, strictly


class PatchPCAAutoencoder(ModelMixin, ConfigMixin):
    """A linear first stage fitted in closed form: each ``patch_size``² patch (pixel-unshuffled to a
    3·p² vector) is projected on the top ``latent_channels`` principal components of SynthHF patches.

    Same interface as diffusers' VAEs (``encode(x).latent_dist`` with ``mode``/``sample``, ``decode(z).sample``,
    ``config.scaling_factor``), a deterministic posterior, downsampling by ``patch_size`` (8, as SVD's VAE). The
    basis is orthonormal, so latent-space MSE is pixel-space MSE within the subspace: the diffusion loss weights
    exactly what PSNR measures. Fitting takes seconds, which is why the CPU-trained bundled model uses it (a VAE
    needs thousands of steps to reconstruct as well; see docs/training.md for the numbers).
    """

    @register_to_config
    def __init__(self, in_channels: int = 3, latent_channels: int = 32, patch_size: int = 8, sample_size: int = 64,
                 scaling_factor: float = 1.0):
        super().__init__()
        dim = in_channels * patch_size**2
        self.mean = nn.Parameter(torch.zeros(dim), requires_grad=False)  # (3·p²,)
        self.basis = nn.Parameter(torch.zeros(latent_channels, dim), requires_grad=False)  # (C, 3·p²), orthonormal

    def encode(self, x: Tensor, return_dict: bool = True):
        """x (N, 3, H, W) in [-1, 1] -> latent_dist over (N, C, H/p, W/p) (deterministic)."""
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
        from diffusers.models.modeling_outputs import AutoencoderKLOutput

        v = F.pixel_unshuffle(x, self.config.patch_size)  # (N, 3·p², h, w)
        z = torch.einsum("cd,ndhw->nchw", self.basis.to(x.dtype), v - self.mean.to(x.dtype).view(1, -1, 1, 1))
        dist = DiagonalGaussianDistribution(torch.cat([z, torch.full_like(z, -30.0)], dim=1), deterministic=True)
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: Tensor, return_dict: bool = True):
        """z (N, C, h, w) -> (N, 3, h·p, w·p)."""
        from diffusers.models.autoencoders.vae import DecoderOutput

        v = torch.einsum("cd,nchw->ndhw", self.basis.to(z.dtype), z) + self.mean.to(z.dtype).view(1, -1, 1, 1)
        x = F.pixel_shuffle(v, self.config.patch_size)  # (N, 3, H, W)
        return DecoderOutput(sample=x) if return_dict else (x,)

    @torch.no_grad()
    def fit(self, images: Tensor) -> "PatchPCAAutoencoder":
        """Set mean and basis from images (N, 3, H, W) in [-1, 1] (principal components of their patches)."""
        v = F.pixel_unshuffle(images.float(), self.config.patch_size)  # (N, 3·p², h, w)
        v = v.permute(0, 2, 3, 1).reshape(-1, v.shape[1])  # (N·h·w, 3·p²)
        mean = v.mean(0)
        cov = (v - mean).T @ (v - mean) / max(len(v) - 1, 1)  # (3·p², 3·p²)
        _, vectors = torch.linalg.eigh(cov.double())  # ascending eigenvalues
        self.mean.copy_(mean)
        self.basis.copy_(vectors.flip(1)[:, :self.config.latent_channels].T.float())
        return self


# The CLIP ViT-H/14 vision tower SVD-XT 1.1 and Wan2.x take (their image_encoder/config.json), for plans built
# on the meta device
CLIP_VIT_H = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32, patch_size=14,
                  image_size=224, projection_dim=1024, hidden_act="gelu")


def build_small_image_encoder(projection_dim: int, hidden_size: int = 64, num_hidden_layers: int = 2,
                              num_attention_heads: int = 4, image_size: int = 64, patch_size: int = 8):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=4 * hidden_size,
                              num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                              image_size=image_size, patch_size=patch_size, projection_dim=projection_dim)
    return CLIPVisionModelWithProjection(config)


def clip_preprocess(images: Tensor, image_size: int) -> Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, 3, S, S) resized (antialiased bicubic) and CLIP-normalised."""
    x = F.interpolate(images.float(), size=(image_size, image_size), mode="bicubic", align_corners=False,
                      antialias=True)  # (N, 3, S, S)
    x = (x.clamp(-1, 1) + 1.0) / 2.0
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(images.dtype)


def encode_image(image_encoder, images: Tensor, image_size: int | None = None) -> Tensor:
    """(B, 3, H, W) in [-1, 1] -> image embeddings (B, 1, D) for the UNet's cross-attention (as SVD).

    ``image_size`` defaults to the encoder's config (give it when the encoder is wrapped, e.g. by DDP)."""
    size = image_size or image_encoder.config.image_size
    pixels = clip_preprocess(images, size).to(dtype=next(image_encoder.parameters()).dtype)
    return image_encoder(pixel_values=pixels).image_embeds.unsqueeze(1)  # (B, 1, D)
