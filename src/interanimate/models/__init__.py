"""InterAnimate's model: diffusers' SVD UNet extended with a pose encoder, a region-aware interaction system and an
ID preserver (see docs/model.md)."""

from interanimate.models.configs import (MODEL_CONFIGS, ModelConfig, build_svd_unet, build_unet,
                                         get_model_config)
from interanimate.models.id_preserver import IDCrossAttention, IDTokenProjector
from interanimate.models.interaction_latents import InteractionLatents
from interanimate.models.loading import StrictLoadError, load_svd_unet
from interanimate.models.masking import resize_mask, union_mask
from interanimate.models.pose_encoder import PoseEncoder
from interanimate.models.quantize import soft_assignment, soft_quantize
from interanimate.models.region_attention import RegionAttentionBlock
from interanimate.models.unet import INTERANIMATE_DEFAULTS, InterAnimateUNet, trainable_parameter_groups

__all__ = [
    "INTERANIMATE_DEFAULTS", "IDCrossAttention", "IDTokenProjector", "InterAnimateUNet", "InteractionLatents",
    "MODEL_CONFIGS", "ModelConfig", "PoseEncoder", "RegionAttentionBlock", "StrictLoadError", "build_svd_unet",
    "build_unet", "get_model_config", "load_svd_unet", "resize_mask", "soft_assignment", "soft_quantize",
    "trainable_parameter_groups", "union_mask",
]
