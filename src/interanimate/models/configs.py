"""Named model sizes: ``tiny`` (CPU tests, seconds), ``small`` (the bundled demo model), ``svd-xt`` (the paper's).

``get_model_config(name)`` returns a ``ModelConfig`` holding the diffusers UNet arguments and the InterAnimate
options separately; ``build_unet(name)`` builds the InterAnimateUNet, ``build_svd_unet(name)`` the plain diffusers
UNet of the same size (what ``from_svd_unet`` wraps).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from diffusers import UNetSpatioTemporalConditionModel

from interanimate.models.unet import INTERANIMATE_DEFAULTS, InterAnimateUNet

_SVD_DOWN = ("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",)
_SVD_UP = ("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3
_TWO_DOWN = ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal")
_TWO_UP = ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal")
_THREE_DOWN = ("CrossAttnDownBlockSpatioTemporal",) * 2 + ("DownBlockSpatioTemporal",)
_THREE_UP = ("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 2


@dataclass(frozen=True)
class ModelConfig:
    name: str
    unet: dict = field(default_factory=dict)  # UNetSpatioTemporalConditionModel arguments
    interanimate: dict = field(default_factory=dict)  # InterAnimate options (see INTERANIMATE_DEFAULTS)
    notes: str = ""

    def to_kwargs(self) -> dict:
        """All InterAnimateUNet constructor arguments (UNet ∪ InterAnimate)."""
        return {**self.unet, **self.interanimate}

    def with_options(self, **options) -> "ModelConfig":
        """A copy with InterAnimate options overridden (e.g. ablations: use_ris=False)."""
        unknown = sorted(set(options) - set(INTERANIMATE_DEFAULTS))
        if unknown:
            raise KeyError(f"unknown InterAnimate option(s): {', '.join(unknown)}")
        return replace(self, interanimate={**self.interanimate, **options})


MODEL_CONFIGS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        name="tiny",
        unet=dict(block_out_channels=(32, 64), down_block_types=_TWO_DOWN, up_block_types=_TWO_UP,
                  cross_attention_dim=32, num_attention_heads=(2, 4), addition_time_embed_dim=32,
                  projection_class_embeddings_input_dim=96, in_channels=8, out_channels=4, layers_per_block=2,
                  transformer_layers_per_block=1, num_frames=2),
        interanimate=dict(INTERANIMATE_DEFAULTS, pose_channels=(4, 8, 8, 16), n_spatial_latents=16,
                          n_temporal_latents=16, latent_dim=32, branch_dim=32, branch_head_dim=16, id_embed_dim=16,
                          num_id_tokens=2),
        notes="CPU tests: seconds per forward at 32×32 latents × 2 frames.",
    ),
    "small": ModelConfig(
        name="small",
        unet=dict(block_out_channels=(64, 96, 128), down_block_types=_THREE_DOWN, up_block_types=_THREE_UP,
                  cross_attention_dim=256, num_attention_heads=(2, 3, 4), addition_time_embed_dim=32,
                  projection_class_embeddings_input_dim=96, in_channels=8, out_channels=4, layers_per_block=1,
                  transformer_layers_per_block=1, num_frames=16),
        interanimate=dict(INTERANIMATE_DEFAULTS, pose_channels=(16, 32, 64, 128), n_spatial_latents=64,
                          n_temporal_latents=64, latent_dim=128, branch_dim=64, branch_head_dim=32,
                          id_embed_dim=128, num_id_tokens=4),
        notes="Bundled demo: 64×64 or 96×96 video, 16 frames; 10.0M parameters (UNet 8.56M + modules 1.42M); "
              "cross_attention_dim 256 = the small image encoder's projection size; id_embed_dim 128 = dlib.",
    ),
    "svd-xt": ModelConfig(
        name="svd-xt",
        unet=dict(block_out_channels=(320, 640, 1280, 1280), down_block_types=_SVD_DOWN, up_block_types=_SVD_UP,
                  cross_attention_dim=1024, num_attention_heads=(5, 10, 20, 20), addition_time_embed_dim=256,
                  projection_class_embeddings_input_dim=768, in_channels=8, out_channels=4, layers_per_block=2,
                  transformer_layers_per_block=1, num_frames=25, sample_size=96),
        interanimate=dict(INTERANIMATE_DEFAULTS),
        notes="stable-video-diffusion-img2vid-xt-1-1 unet/ config; n = m = 512, d = 1024, ArcFace 512-d.",
    ),
}


def get_model_config(name: str) -> ModelConfig:
    if name not in MODEL_CONFIGS:
        raise KeyError(f"unknown model config {name!r}; known: {', '.join(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[name]


def build_unet(name: str, **options) -> InterAnimateUNet:
    """A randomly initialised InterAnimateUNet of the named size; ``options`` override InterAnimate options."""
    return InterAnimateUNet(**get_model_config(name).with_options(**options).to_kwargs())


def build_svd_unet(name: str) -> UNetSpatioTemporalConditionModel:
    """The plain diffusers UNet of the named size (random weights)."""
    return UNetSpatioTemporalConditionModel(**get_model_config(name).unet)
