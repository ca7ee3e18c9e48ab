"""InterAnimateUNet: diffusers' SVD UNet plus pose encoder, region-aware interaction system and ID preserver.

A thin subclass of ``diffusers.UNetSpatioTemporalConditionModel`` (no forked code): the parent's forward runs
unchanged; the new modules are attached with PyTorch forward hooks registered in ``__init__``:

* ``conv_in`` hook: adds the pose encoder's features (B·F, C0, h, w) to conv_in's output;
* one hook per ``TransformerSpatioTemporalModel`` (16 in SVD): adds H_r (region attention block) and H_id (ID
  cross-attention), both computed from the transformer's *input*, i.e. in parallel: O = T(H) + H_r + H_id.

The diffusers modules keep their names, so the state dict is the SVD state dict plus new keys under
``pose_encoder.``, ``interaction_latents.``, ``region_blocks.``, ``id_projector.`` and ``id_blocks.``. Per-call
conditioning (pose features, the hand ∪ face mask, identity tokens) lives in a ``_ForwardContext`` held on the
instance for the duration of ``forward`` only.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import torch
from diffusers import UNetSpatioTemporalConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.transformers.transformer_temporal import (TransformerSpatioTemporalModel,
                                                                TransformerTemporalModelOutput)
from torch import Tensor, nn

from interanimate.keypoints.hand_map import HAND_MAP_CHANNELS
from interanimate.models.id_preserver import IDCrossAttention, IDTokenProjector
from interanimate.models.interaction_latents import InteractionLatents
from interanimate.models.loading import StrictLoadError, raise_on_key_mismatch, strict_load
from interanimate.models.masking import resize_mask, union_mask
from interanimate.models.pose_encoder import DOWNSAMPLE_FACTOR, PoseEncoder, scale_as_vector, widen_input
from interanimate.models.region_attention import RegionAttentionBlock
from interanimate.models.temporal_conv import use_frame_axis_convs

# InterAnimate options (constructor arguments beside the diffusers UNet's), with their defaults (svd-xt values).
INTERANIMATE_DEFAULTS: dict = dict(
    use_pose=True, pose_channels=(16, 32, 64, 128), pose_scale_init=2.0, hand_map_channels=0, hand_prior=False,
    use_ris=True, use_quantize=True, n_spatial_latents=512, n_temporal_latents=512, latent_dim=1024, tau=0.1,
    branch_dim=128, branch_head_dim=64, spatial_self_attention=False, mixer_alpha=0.5,
    use_id=True, id_embed_dim=512, num_id_tokens=4, id_token_dim=None,
)
# Prefixes of the state-dict keys the InterAnimate modules add; everything else is the diffusers UNet ("unet").
MODULE_GROUPS = {"pose_encoder": ("pose_encoder.", "hand_prior_in."), "interaction_latents": ("interaction_latents.",),
                 "region": ("region_blocks.",), "id_preserver": ("id_projector.", "id_blocks.")}
NEW_KEY_PREFIXES = tuple(p for prefixes in MODULE_GROUPS.values() for p in prefixes)
POSE_CHANNELS = 3  # the rendered RGB skeleton; dense hand guidance adds ``hand_map_channels`` after it


@dataclass
class _ForwardContext:
    num_frames: int
    pose_features: Tensor | None = None  # (B·F, C0, h, w), with the hand prior's
    region_mask: Tensor | None = None  # (B·F, 1, h_m, w_m), hand ∪ face at the caller's resolution
    id_tokens: Tensor | None = None  # (B·F, T, D_tok)
    _masks: dict = field(default_factory=dict)  # (h, w) -> (B·F, 1, h, w)

    def mask_at(self, size: tuple[int, int]) -> Tensor:
        size = tuple(size)
        if size not in self._masks:
            self._masks[size] = resize_mask(self.region_mask, size)
        return self._masks[size]


def _module_key(name: str) -> str:
    return name.replace(".", "_")  # "down_blocks.0.attentions.1" -> "down_blocks_0_attentions_1"


class InterAnimateUNet(UNetSpatioTemporalConditionModel):
    r"""SVD UNet with InterAnimate's modules. All constructor arguments are saved to ``config.json``.

    Diffusers arguments: as ``UNetSpatioTemporalConditionModel``. InterAnimate arguments:
        use_pose, pose_channels, pose_scale_init: pose encoder (added after conv_in).
        hand_map_channels: dense hand guidance, CHOSEN beyond the paper: 0 (the paper: the RGB skeleton only) or
            ``keypoints.hand_map.HAND_MAP_CHANNELS``, the hand shape map's channels the pose encoder also takes
            after the skeleton's three (``pose_frames`` then has 3 + that many channels).
        hand_prior: the hand prior, CHOSEN beyond the paper (needs the hand map): ``hand_prior`` latents (B, F,
            out_channels, h, w) (:func:`interanimate.models.conditioning.hand_prior_latents`) through a zero-initialised
            3×3 convolution added after conv_in, as the pose features are (ControlNet's zero convolution).
        use_ris: region-aware interaction system on/off ("w/o RIS" ablation).
        use_quantize: soft quantization on/off ("w/o quantize": cross-attention on raw hidden states).
        n_spatial_latents, n_temporal_latents, latent_dim: L_s (n×d), L_t (m×d).
        tau: soft-quantization temperature on L2-normalised vectors.
        branch_dim, branch_head_dim: inner width w and head size of the region / ID attention (per-block maps C->w).
        spatial_self_attention: add self-attention over the h·w tokens of each frame to the spatial operator
            (off by default: it roughly doubles the system's FLOPs at high resolution).
        mixer_alpha: initial mix factor of the learned spatial/temporal blend (SVD's AlphaBlender).
        use_id, id_embed_dim, num_id_tokens, id_token_dim: ID preserver ("w/o ID" ablation); id_token_dim
            defaults to cross_attention_dim.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = ("CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                                             "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types: tuple[str, ...] = ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                                           "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int] = 2,
        cross_attention_dim: int | tuple[int] = 1024,
        transformer_layers_per_block: int | tuple = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 25,
        # InterAnimate
        use_pose: bool = True,
        pose_channels: tuple[int, ...] = (16, 32, 64, 128),
        pose_scale_init: float = 2.0,
        hand_map_channels: int = 0,
        hand_prior: bool = False,
        use_ris: bool = True,
        use_quantize: bool = True,
        n_spatial_latents: int = 512,
        n_temporal_latents: int = 512,
        latent_dim: int = 1024,
        tau: float = 0.1,
        branch_dim: int = 128,
        branch_head_dim: int = 64,
        spatial_self_attention: bool = False,
        mixer_alpha: float = 0.5,
        use_id: bool = True,
        id_embed_dim: int = 512,
        num_id_tokens: int = 4,
        id_token_dim: int | None = None,
    ):
        super().__init__(
            sample_size=sample_size, in_channels=in_channels, out_channels=out_channels,
            down_block_types=down_block_types, up_block_types=up_block_types, block_out_channels=block_out_channels,
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            layers_per_block=layers_per_block, cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block, num_attention_heads=num_attention_heads,
            num_frames=num_frames,
        )
        if hand_map_channels not in (0, HAND_MAP_CHANNELS):
            raise ValueError(f"hand_map_channels must be 0 or {HAND_MAP_CHANNELS} (the hand shape map's channels), "
                             f"got {hand_map_channels}")
        if hand_prior and not hand_map_channels:
            raise ValueError("hand_prior needs the hand shape map (hand_map_channels > 0): the prior is drawn from it")
        self._context: _ForwardContext | None = None
        transformers = {name: m for name, m in self.named_modules() if isinstance(m, TransformerSpatioTemporalModel)}
        widths = {_module_key(name): m.in_channels for name, m in transformers.items()}

        self.pose_encoder = PoseEncoder(block_out_channels[0], tuple(pose_channels), pose_scale_init,
                                        in_channels=POSE_CHANNELS + hand_map_channels) if use_pose else None
        self.hand_prior_in = _zero_conv(out_channels, block_out_channels[0]) if hand_prior else None
        self.interaction_latents = InteractionLatents(n_spatial_latents, n_temporal_latents, latent_dim) \
            if use_ris else None
        self.region_blocks = nn.ModuleDict({
            key: RegionAttentionBlock(c, latent_dim, branch_dim, branch_head_dim, tau, use_quantize,
                                      spatial_self_attention, mixer_alpha)
            for key, c in widths.items()}) if use_ris else None
        if id_token_dim is None:
            id_token_dim = cross_attention_dim if isinstance(cross_attention_dim, int) else cross_attention_dim[0]
        self.id_projector = IDTokenProjector(id_embed_dim, id_token_dim, num_id_tokens) if use_id else None
        self.id_blocks = nn.ModuleDict({
            key: IDCrossAttention(c, id_token_dim, branch_dim, branch_head_dim)
            for key, c in widths.items()}) if use_id else None

        use_frame_axis_convs(self)  # SVD's (3, 1, 1) temporal convolutions through the CPU's fast 2-D kernel
        self.conv_in.register_forward_hook(self._add_pose_features)
        for name, module in transformers.items():
            module.register_forward_hook(functools.partial(self._add_branches, _module_key(name)), with_kwargs=True)

    # ------------------------------------------------------------------ construction and loading
    @classmethod
    def from_svd_unet(cls, unet: UNetSpatioTemporalConditionModel, **interanimate_config) -> "InterAnimateUNet":
        """A new InterAnimateUNet holding a copy of ``unet``'s weights plus freshly initialised modules."""
        unknown = sorted(set(interanimate_config) - set(INTERANIMATE_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown InterAnimate option(s): {', '.join(unknown)}; known: "
                            f"{', '.join(INTERANIMATE_DEFAULTS)}")
        base_params = inspect.signature(UNetSpatioTemporalConditionModel.__init__).parameters
        unet_config = {k: v for k, v in unet.config.items() if k in base_params and k != "self"}
        param = next(unet.parameters())
        with torch.device(param.device):
            model = cls(**unet_config, **interanimate_config)
        model.to(param.device)  # diffusers' AlphaBlender builds torch.Tensor([alpha]), which ignores the context
        if param.dtype != torch.float32:
            model.to(dtype=param.dtype)
        missing, unexpected = model.load_state_dict(unet.state_dict(), strict=False)
        raise_on_key_mismatch([k for k in missing if not k.startswith(NEW_KEY_PREFIXES)], unexpected,
                              "the given UNet", cls.__name__)
        return model

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "InterAnimateUNet":
        """Load a folder written by ``save_pretrained`` strictly (any missing or extra key raises)."""
        return strict_load(super().from_pretrained, pretrained_model_name_or_path, cls.__name__, **kwargs)

    @classmethod
    def with_hand_map(cls, unet: "InterAnimateUNet", channels: int) -> "InterAnimateUNet":
        """A copy of a (trained) ``unet`` whose pose encoder also takes ``channels`` hand-map channels, with zero
        weights for them: the copy's output equals ``unet``'s whatever the hand map holds (tested), and training
        then learns to use it. ``unet`` is returned as it is when it already takes that many."""
        if unet.config.hand_map_channels == channels:
            return unet
        if unet.pose_encoder is None:
            raise ValueError("a UNet without a pose encoder (use_pose=False) cannot take a hand map")
        param = next(unet.parameters())
        with torch.device(param.device):
            model = cls.from_config(unet.config, hand_map_channels=channels)
        model.to(device=param.device, dtype=param.dtype)  # AlphaBlender ignores the device context
        state = unet.state_dict()
        widen_input(state, "pose_encoder.", POSE_CHANNELS + channels)
        model.load_state_dict(state, strict=True)
        return model

    @classmethod
    def with_hand_prior(cls, unet: "InterAnimateUNet") -> "InterAnimateUNet":
        """A copy of a (trained) ``unet`` that also takes the hand prior, through a zero convolution: the copy's
        output equals ``unet``'s whatever the prior holds (tested). ``unet`` is returned when it already takes it."""
        if unet.config.hand_prior:
            return unet
        param = next(unet.parameters())
        with torch.device(param.device):
            model = cls.from_config(unet.config, hand_prior=True)
        model.to(device=param.device, dtype=param.dtype)  # AlphaBlender ignores the device context
        missing, unexpected = model.load_state_dict(unet.state_dict(), strict=False)
        raise_on_key_mismatch([k for k in missing if not k.startswith("hand_prior_in.")], unexpected,
                              "the given UNet", cls.__name__)
        return model

    def _fix_state_dict_keys_on_load(self, state_dict) -> None:
        """diffusers' hook on a loaded (unsharded) state dict: older folders stored ``pose_encoder.scale`` 0-d."""
        super()._fix_state_dict_keys_on_load(state_dict)
        scale_as_vector(state_dict, "pose_encoder.scale")

    # ------------------------------------------------------------------ forward
    def forward(self, sample: Tensor, timestep: Tensor | float | int, encoder_hidden_states: Tensor,
                added_time_ids: Tensor, return_dict: bool = True, *, pose_frames: Tensor | None = None,
                hand_mask: Tensor | None = None, face_mask: Tensor | None = None,
                id_embedding: Tensor | None = None, hand_prior: Tensor | None = None,
                pose_keep: Tensor | None = None, pose_features: Tensor | None = None):
        """The diffusers SVD UNet forward plus InterAnimate's optional conditioning (None = branch off).

        Args:
            sample: (B, F, C_in, h, w) noisy latents (c_in-scaled) concatenated with the reference latents.
            timestep, encoder_hidden_states (B, 1, D), added_time_ids (B, 3), return_dict: as diffusers.
            pose_frames: (B, F, 3 + hand_map_channels, 8h, 8w) rendered pose (and hand map) in [-1, 1].
            hand_mask, face_mask: (B, F, 1, h_m, w_m) float in {0, 1} at any resolution (nearest-resized per block).
            id_embedding: (B, id_embed_dim) identity embedding.
            hand_prior: (B, F, out_channels, h, w) the hand prior's latents (a UNet built with ``hand_prior``).
            pose_keep: (B,) in {0, 1}: the samples the pose and the hand prior reach (None: all); the others get
                exactly what ``pose_frames=None`` gives them — the unconditional half of a guided batch.
            pose_features: (B, F, C0, h, w) what :meth:`encode_pose` made of ``pose_frames`` and ``hand_prior``,
                given instead of them (a sampler encodes the pose once for all its steps and tiles).
        Returns:
            ``UNetSpatioTemporalConditionOutput`` with ``.sample`` (B, F, C_out, h, w), or a 1-tuple.
        """
        b, f, _, h, w = sample.shape
        ctx = _ForwardContext(num_frames=f)
        if pose_features is not None and (pose_frames is not None or hand_prior is not None):
            raise ValueError("give pose_features, or pose_frames / hand_prior to encode, not both")
        if pose_features is None:
            if pose_frames is not None and self.pose_encoder is not None:
                expected = (b, f, self.pose_encoder.in_channels, DOWNSAMPLE_FACTOR * h, DOWNSAMPLE_FACTOR * w)
                if tuple(pose_frames.shape) != expected:
                    raise ValueError(f"pose_frames must be {expected} for sample {tuple(sample.shape)}, "
                                     f"got {tuple(pose_frames.shape)}")
            if hand_prior is not None and self.hand_prior_in is not None:
                if tuple(hand_prior.shape) != (b, f, self.hand_prior_in.in_channels, h, w):
                    raise ValueError(f"hand_prior must be {(b, f, self.hand_prior_in.in_channels, h, w)}, "
                                     f"got {tuple(hand_prior.shape)}")
            pose_features = self.encode_pose(pose_frames, hand_prior, pose_keep, sample.dtype)
        else:
            if tuple(pose_features.shape) != (b, f, self.conv_in.out_channels, h, w):
                raise ValueError(f"pose_features must be {(b, f, self.conv_in.out_channels, h, w)}, "
                                 f"got {tuple(pose_features.shape)}")
            if pose_keep is not None:
                pose_features = pose_features * pose_keep.to(pose_features.dtype).view(b, 1, 1, 1, 1)
        if pose_features is not None:
            ctx.pose_features = pose_features.flatten(0, 1).to(sample.dtype)  # (B·F, C0, h, w)
        mask = union_mask(hand_mask, face_mask) if self.region_blocks is not None else None
        if mask is not None:
            if mask.ndim != 5 or tuple(mask.shape[:3]) != (b, f, 1):
                raise ValueError(f"hand_mask / face_mask must be ({b}, {f}, 1, h, w), got {tuple(mask.shape)}")
            ctx.region_mask = mask.flatten(0, 1).to(sample.dtype)  # (B·F, 1, h_m, w_m)
        if id_embedding is not None and self.id_projector is not None:
            tokens = self.id_projector(id_embedding.to(sample.dtype))  # (B, T, D_tok)
            ctx.id_tokens = tokens.repeat_interleave(f, dim=0)  # (B·F, T, D_tok)
        self._context = ctx
        try:
            return super().forward(sample, timestep, encoder_hidden_states, added_time_ids, return_dict=return_dict)
        finally:
            self._context = None

    def encode_pose(self, pose_frames: Tensor | None = None, hand_prior: Tensor | None = None,
                    pose_keep: Tensor | None = None, dtype: torch.dtype | None = None) -> Tensor | None:
        """What the pose branch adds after ``conv_in``, (B, F, C0, h, w): the pose encoder on ``pose_frames``
        (B, F, 3 + K, 8h, 8w) plus the hand prior's zero convolution on ``hand_prior`` (B, F, C, h, w), zeros for the
        samples ``pose_keep`` (B,) leaves out; None when neither input is given (or the UNet has no such branch).
        Frame by frame, so a sampler computes it once for all its steps and fused tiles (``forward(pose_features=)``).
        """
        features = None
        if pose_frames is not None and self.pose_encoder is not None:
            features = _kept_samples(self.pose_encoder, pose_frames.to(dtype or pose_frames.dtype), pose_keep)
        if hand_prior is not None and self.hand_prior_in is not None:
            prior = _kept_samples(self.hand_prior_in, hand_prior.to(dtype or hand_prior.dtype), pose_keep)
            if prior is not None:
                features = prior if features is None else features + prior  # (B, F, C0, h, w)
        return features

    def _add_pose_features(self, module: nn.Module, args: tuple, output: Tensor) -> Tensor | None:
        ctx = self._context
        if ctx is None or ctx.pose_features is None:
            return None
        return output + ctx.pose_features  # (B·F, C0, h, w)

    def _add_branches(self, key: str, module: nn.Module, args: tuple, kwargs: dict, output):
        ctx = self._context
        if ctx is None:
            return None
        hidden = args[0] if args else kwargs["hidden_states"]  # (B·F, C, h, w): the transformer's input
        extra = None
        if ctx.region_mask is not None:
            latents = self.interaction_latents
            extra = _maybe_checkpoint(self.region_blocks[key], hidden, latents.spatial, latents.temporal,
                                      ctx.mask_at(hidden.shape[-2:]), ctx.num_frames)  # (B·F, C, h, w)
        if ctx.id_tokens is not None:
            h_id = _maybe_checkpoint(self.id_blocks[key], hidden, ctx.id_tokens)  # (B·F, C, h, w)
            extra = h_id if extra is None else extra + h_id
        if extra is None:
            return None
        if isinstance(output, tuple):
            return (output[0] + extra, *output[1:])
        return TransformerTemporalModelOutput(sample=output.sample + extra)


def _kept_samples(encoder: nn.Module, frames: Tensor, keep: Tensor | None) -> Tensor | None:
    """``encoder`` frame by frame on the frames (B, F, C, H, W) of the samples ``keep`` (B,) marks (all when None),
    zeros for the others: (B, F, C0, h, w), or None when no sample is kept. Adding those zeros leaves a sample exactly
    as no input would."""
    b, f = frames.shape[:2]
    if keep is None:
        return encoder(frames.flatten(0, 1)).unflatten(0, (b, f))  # (B·F, C, H, W) -> (B, F, C0, h, w)
    kept = keep.to(torch.bool)
    if not bool(kept.any()):
        return None
    features = encoder(frames[kept].flatten(0, 1))  # (K·F, C0, h, w)
    out = features.new_zeros((b, f, *features.shape[1:]))  # (B, F, C0, h, w)
    out[kept] = features.unflatten(0, (-1, f))  # (K, F, C0, h, w)
    return out


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3×3 convolution with zero weight and bias: an added input that changes nothing until trained."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _maybe_checkpoint(block: nn.Module, *args):
    if torch.is_grad_enabled() and getattr(block, "gradient_checkpointing", False):
        return block._gradient_checkpointing_func(block, *args)
    return block(*args)


def trainable_parameter_groups(model: InterAnimateUNet, named: bool = False) -> dict[str, list]:
    """Parameters split into {"unet", "pose_encoder", "interaction_latents", "region", "id_preserver"}.

    Every parameter lands in exactly one group; groups of disabled modules are empty lists. With ``named=True``
    the lists hold ``(name, parameter)`` pairs.
    """
    groups: dict[str, list] = {"unet": [], **{g: [] for g in MODULE_GROUPS}}
    for name, param in model.named_parameters():
        group = next((g for g, prefixes in MODULE_GROUPS.items() if name.startswith(prefixes)), "unet")
        groups[group].append((name, param) if named else param)
    return groups


__all__ = ["InterAnimateUNet", "INTERANIMATE_DEFAULTS", "StrictLoadError", "trainable_parameter_groups"]
