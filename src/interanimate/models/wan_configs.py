"""Named sizes of the InterAnimate Wan-Animate transformer: ``wan-animate-tiny`` (CPU tests, seconds),
``wan-animate-1.3b`` (Wan2.1-1.3B's widths with Wan-Animate's streams: a one-GPU check), ``wan2.2-animate-14b``
(Wan2.2-Animate-14B's transformer, what the full-size recipe fine-tunes).

``get_wan_config(name)`` returns the diffusers arguments (``wan``) and the InterAnimate options (``interanimate``)
separately; ``build_wan(name)`` builds the InterAnimate model, ``build_wan_base(name)`` the plain diffusers
``WanAnimateTransformer3DModel`` of the same size (what ``from_wan`` wraps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diffusers import WanAnimateTransformer3DModel

from interanimate.models.wan import WAN_INTERANIMATE_DEFAULTS, InterAnimateWanAnimateTransformer

_TINY_MOTION = {str(2 ** i): 16 for i in range(2, 10)}  # motion encoder pyramid 4 … 512 px, 16 channels each


@dataclass(frozen=True)
class WanConfig:
    name: str
    wan: dict = field(default_factory=dict)  # WanAnimateTransformer3DModel arguments
    interanimate: dict = field(default_factory=dict)  # InterAnimate options (WAN_INTERANIMATE_DEFAULTS)
    notes: str = ""

    def to_kwargs(self) -> dict:
        return {**self.wan, **self.interanimate}


WAN_CONFIGS: dict[str, WanConfig] = {
    "wan-animate-tiny": WanConfig(
        name="wan-animate-tiny",
        wan=dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=36,
                 latent_channels=16, out_channels=16, text_dim=32, freq_dim=32, ffn_dim=64, num_layers=4,
                 image_dim=32, rope_max_seq_len=64, motion_encoder_channel_sizes=_TINY_MOTION,
                 motion_encoder_size=32, motion_style_dim=16, motion_dim=8, motion_encoder_dim=16,
                 face_encoder_hidden_dim=32, face_encoder_num_heads=2, inject_face_latents_blocks=2),
        interanimate=dict(WAN_INTERANIMATE_DEFAULTS, region_every=2, n_spatial_latents=8, n_temporal_latents=8,
                          latent_dim=16, branch_dim=16, branch_head_dim=8, id_embed_dim=128, num_id_tokens=2),
        notes="CPU tests: 4 blocks of width 32; image_dim 32 = the small image encoder's hidden size; "
              "id_embed_dim 128 = SynthHF's identity vectors.",
    ),
    "wan-animate-1.3b": WanConfig(
        name="wan-animate-1.3b",
        wan=dict(num_attention_heads=12, attention_head_dim=128, in_channels=36, latent_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, image_dim=1280,
                 added_kv_proj_dim=1536, inject_face_latents_blocks=5),
        interanimate=dict(WAN_INTERANIMATE_DEFAULTS),
        notes="Wan2.1-T2V-1.3B's transformer widths (1536, 30 blocks) with Wan-Animate's pose patches, motion encoder "
              "and face adapter; no published weights: a size for a one-GPU memory and speed check.",
    ),
    "wan2.2-animate-14b": WanConfig(
        name="wan2.2-animate-14b",
        wan=dict(num_attention_heads=40, attention_head_dim=128, in_channels=36, latent_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, image_dim=1280,
                 added_kv_proj_dim=5120, inject_face_latents_blocks=5),
        interanimate=dict(WAN_INTERANIMATE_DEFAULTS),
        notes="Wan2.2-Animate-14B (Wan-AI/Wan2.2-Animate-14B-Diffusers transformer/): width 5120, 40 blocks, "
              "UMT5 text (4096), CLIP ViT-H image tokens (1280); InterAnimate after blocks 4, 9, …, 39.",
    ),
}


def get_wan_config(name: str) -> WanConfig:
    if name not in WAN_CONFIGS:
        raise KeyError(f"unknown Wan config {name!r}; known: {', '.join(WAN_CONFIGS)}")
    return WAN_CONFIGS[name]


def build_wan(name: str, **overrides) -> InterAnimateWanAnimateTransformer:
    """A randomly initialised InterAnimate Wan-Animate transformer of the named size (``overrides``: any argument)."""
    return InterAnimateWanAnimateTransformer(**{**get_wan_config(name).to_kwargs(), **overrides})


def build_wan_base(name: str, **overrides) -> WanAnimateTransformer3DModel:
    """The plain diffusers Wan-Animate transformer of the named size (random weights)."""
    wan = get_wan_config(name).wan
    return WanAnimateTransformer3DModel(**{**wan, **{k: v for k, v in overrides.items() if k in wan}})
