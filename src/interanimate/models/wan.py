"""InterAnimate on Wan video DiTs: diffusers' ``WanTransformer3DModel`` (I2V/T2V) and ``WanAnimateTransformer3DModel``
(Wan2.2-Animate: pose patches, face motion adapter) plus InterAnimate's interaction latents, region attention and ID
preserver — the paper's region-aware interaction on today's backbone (docs/model.md).

Thin subclasses (no forked code): the parent's forward runs unchanged, and after every ``region_every``-th
transformer block (blocks k-1, 2k-1, …; Wan-Animate adds its face adapter after blocks 0, k, 2k, …) a forward hook
adds

    O = Block(H) + H_r + H_id,   H_r = RegionAttentionBlock(H) ⊙ (hand ∪ face),   H_id = IDCrossAttention(H, ID tokens)

computed from the block's *input* H, as the SVD UNet does per spatio-temporal transformer. The blocks are the
project's own (:mod:`interanimate.models.region_attention`, :mod:`interanimate.models.id_preserver`): Wan's tokens
(B, F'·h'·w', D) are viewed as frames (B·F', D, h', w') for them, F' latent frames of h'×w' patches. Their output
projections start at zero, so at initialisation the model *is* the diffusers model (tested to 1e-6).

Per-call conditioning (the hand ∪ face mask per latent frame, identity tokens) lives in a context set on the instance
by each ``forward`` (Wan's ``attention_kwargs`` do not reach the blocks) and kept until the next one, so that the
hooks see it again when gradient checkpointing recomputes a block in the backward pass. The state dict is Wan's plus
new keys under ``interaction_latents.``, ``region_blocks.``, ``id_projector.`` and ``id_blocks.``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import torch
from diffusers import WanAnimateTransformer3DModel, WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from einops import rearrange
from torch import Tensor, nn

from interanimate.models.id_preserver import IDCrossAttention, IDTokenProjector
from interanimate.models.interaction_latents import InteractionLatents
from interanimate.models.loading import raise_on_key_mismatch, strict_load
from interanimate.models.masking import resize_mask, union_mask
from interanimate.models.region_attention import RegionAttentionBlock

# InterAnimate options beside Wan's, with their defaults (full size: as the SVD recipe's).
WAN_INTERANIMATE_DEFAULTS = dict(
    use_ris=True, use_quantize=True, region_every=5, n_spatial_latents=512, n_temporal_latents=512,
    latent_dim=1024, tau=0.1, branch_dim=128, branch_head_dim=64, mixer_alpha=0.5,
    use_id=True, id_embed_dim=512, num_id_tokens=4,
)
# InterAnimate's modules by trainable group (as ``unet.MODULE_GROUPS``), and Wan-Animate's own streams
MODULE_GROUPS = {"interaction_latents": ("interaction_latents.",), "region": ("region_blocks.",),
                 "id_preserver": ("id_projector.", "id_blocks.")}
NEW_KEY_PREFIXES = tuple(p for prefixes in MODULE_GROUPS.values() for p in prefixes)
WAN_ANIMATE_PREFIXES = ("pose_patch_embedding.", "motion_encoder.", "face_encoder.", "face_adapter.")


def parameter_group_names(names) -> dict[str, set[str]]:
    """Parameter names of each trainable group of an InterAnimate Wan model (training config's
    ``WAN_PARAMETER_GROUPS``): ``transformer`` (the whole base, Wan-Animate's streams included), ``lora``,
    ``wan_animate`` and InterAnimate's modules (``MODULE_GROUPS``)."""
    names = list(names)
    lora = {n for n in names if "lora_" in n}
    base = {n for n in names if n not in lora and not n.startswith(NEW_KEY_PREFIXES)}
    return {"transformer": base, "lora": lora, "wan_animate": {n for n in base if n.startswith(WAN_ANIMATE_PREFIXES)},
            **{g: {n for n in names if n.startswith(prefixes)} for g, prefixes in MODULE_GROUPS.items()}}


@dataclass
class _WanContext:
    grid: tuple[int, int, int]  # (F', h', w'): latent frames and patches per side
    region_mask: Tensor | None = None  # (B·F', 1, h_m, w_m)
    id_tokens: Tensor | None = None  # (B·F', T, D)
    _masks: dict = field(default_factory=dict)

    def mask_at(self, size: tuple[int, int]) -> Tensor:
        if size not in self._masks:
            self._masks[size] = resize_mask(self.region_mask, size)  # (B·F', 1, h', w')
        return self._masks[size]


class _ContextSlot:
    """Holds the latest call's context; a copy (``deepcopy``, pickling) starts empty — the context holds tensors of
    that call's graph, which are neither copyable nor part of the model."""

    __slots__ = ("value",)

    def __init__(self):
        self.value: _WanContext | None = None

    def __deepcopy__(self, memo) -> "_ContextSlot":
        return _ContextSlot()

    def __reduce__(self):
        return (_ContextSlot, ())


class InterAnimateWanMixin:
    """What both InterAnimate Wan classes add to their diffusers parent (``_base``): the modules, the hooks, loading
    from a plain Wan model, strict loading, and the per-call context."""

    _base: type = WanTransformer3DModel

    def _add_interanimate(self, use_ris, use_quantize, region_every, n_spatial_latents, n_temporal_latents,
                          latent_dim, tau, branch_dim, branch_head_dim, mixer_alpha, use_id, id_embed_dim,
                          num_id_tokens) -> None:
        num_layers = self.config.num_layers
        if not 1 <= region_every <= num_layers:
            raise ValueError(f"region_every must be in [1, num_layers={num_layers}], got {region_every}")
        self._context = _ContextSlot()
        width = self.config.num_attention_heads * self.config.attention_head_dim
        keys = [str(i) for i in range(region_every - 1, num_layers, region_every)]  # block indices, as strings
        self.interaction_latents = InteractionLatents(n_spatial_latents, n_temporal_latents, latent_dim) \
            if use_ris else None
        self.region_blocks = nn.ModuleDict({
            k: RegionAttentionBlock(width, latent_dim, branch_dim, branch_head_dim, tau, use_quantize, False,
                                    mixer_alpha) for k in keys}) if use_ris else None
        self.id_projector = IDTokenProjector(id_embed_dim, width, num_id_tokens) if use_id else None
        self.id_blocks = nn.ModuleDict({k: IDCrossAttention(width, width, branch_dim, branch_head_dim)
                                        for k in keys}) if use_id else None
        for k in keys:
            self.blocks[int(k)].register_forward_hook(functools.partial(self._add_branches, k), with_kwargs=True)

    # ------------------------------------------------------------------ construction and loading
    @classmethod
    def from_wan(cls, transformer, **interanimate_config):
        """A new model holding a copy of ``transformer``'s weights (a ``cls._base``) plus freshly initialised
        InterAnimate modules."""
        if not isinstance(transformer, cls._base):
            raise TypeError(f"{cls.__name__}.from_wan takes a {cls._base.__name__}, got {type(transformer).__name__}")
        unknown = sorted(set(interanimate_config) - set(WAN_INTERANIMATE_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown InterAnimate option(s): {', '.join(unknown)}; known: "
                            f"{', '.join(WAN_INTERANIMATE_DEFAULTS)}")
        base = inspect.signature(cls._base.__init__).parameters
        config = {k: v for k, v in transformer.config.items() if k in base and k != "self"}
        param = next(transformer.parameters())
        with torch.device(param.device):
            model = cls(**config, **interanimate_config)
        model.to(param.device)
        if param.dtype != torch.float32:
            model.to(dtype=param.dtype)
        missing, unexpected = model.load_state_dict(transformer.state_dict(), strict=False)
        raise_on_key_mismatch([k for k in missing if not k.startswith(NEW_KEY_PREFIXES)], unexpected,
                              f"the given {cls._base.__name__}", cls.__name__)
        return model

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a folder written by ``save_pretrained`` strictly (any missing or extra key raises)."""
        return strict_load(super().from_pretrained, pretrained_model_name_or_path, cls.__name__, **kwargs)

    # ------------------------------------------------------------------ forward
    def _forward_with_context(self, hidden_states: Tensor, hand_mask: Tensor | None, face_mask: Tensor | None,
                              id_embedding: Tensor | None, run):
        b, _, f, h, w = hidden_states.shape  # (B, C, F', H', W') latents
        p_t, p_h, p_w = self.config.patch_size
        ctx = _WanContext(grid=(f // p_t, h // p_h, w // p_w))
        mask = union_mask(hand_mask, face_mask) if self.region_blocks is not None else None
        if mask is not None:
            if mask.ndim != 5 or tuple(mask.shape[:3]) != (b, ctx.grid[0], 1):
                raise ValueError(f"hand_mask / face_mask must be ({b}, {ctx.grid[0]}, 1, h, w) — one per latent "
                                 f"frame after temporal patching — got {tuple(mask.shape)}")
            ctx.region_mask = mask.flatten(0, 1).to(hidden_states.dtype)  # (B·F', 1, h_m, w_m)
        if id_embedding is not None and self.id_projector is not None:
            tokens = self.id_projector(id_embedding.to(hidden_states.dtype))  # (B, T, D)
            ctx.id_tokens = tokens.repeat_interleave(ctx.grid[0], dim=0)  # (B·F', T, D)
        # kept after the call: under gradient checkpointing the hooks run again in the backward pass (the blocks'
        # recomputation) and must see this call's masks and identity. So a backward belongs to the latest forward —
        # the trainer's order; two checkpointed forwards before one backward are not supported.
        self._context.value = ctx
        return run()

    def _add_branches(self, key: str, module: nn.Module, args: tuple, kwargs: dict, output: Tensor):
        ctx = self._context.value
        if ctx is None or (ctx.region_mask is None and ctx.id_tokens is None):
            return None
        tokens = args[0] if args else kwargs["hidden_states"]  # (B, F'·h'·w', D): the block's input
        f, h, w = ctx.grid
        frames = rearrange(tokens, "b (f h w) d -> (b f) d h w", f=f, h=h, w=w)  # (B·F', D, h', w')
        extra = None
        if ctx.region_mask is not None:
            latents = self.interaction_latents
            extra = self.region_blocks[key](frames, latents.spatial, latents.temporal, ctx.mask_at((h, w)), f)
        if ctx.id_tokens is not None:
            h_id = self.id_blocks[key](frames, ctx.id_tokens)  # (B·F', D, h', w')
            extra = h_id if extra is None else extra + h_id
        extra = rearrange(extra, "(b f) d h w -> b (f h w) d", f=f)  # (B, F'·h'·w', D)
        return output + extra.to(output.dtype)


class InterAnimateWanTransformer(InterAnimateWanMixin, WanTransformer3DModel):
    r"""Wan (I2V/T2V) transformer with InterAnimate's modules. All constructor arguments are saved to ``config.json``.

    Wan arguments: as ``WanTransformer3DModel``. InterAnimate arguments:
        use_ris, use_quantize: the region-aware interaction system, soft quantization (ablations as for the UNet).
        region_every: a region (and ID) branch after every k-th block (k-1, 2k-1, …).
        n_spatial_latents, n_temporal_latents, latent_dim, tau: L_s (n×d), L_t (m×d), soft-quantization temperature.
        branch_dim, branch_head_dim, mixer_alpha: inner width, head size and spatial/temporal blend of the branches.
        use_id, id_embed_dim, num_id_tokens: the ID preserver (identity tokens at the transformer's width).
    """

    _base = WanTransformer3DModel

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        # InterAnimate
        use_ris: bool = True,
        use_quantize: bool = True,
        region_every: int = 5,
        n_spatial_latents: int = 512,
        n_temporal_latents: int = 512,
        latent_dim: int = 1024,
        tau: float = 0.1,
        branch_dim: int = 128,
        branch_head_dim: int = 64,
        mixer_alpha: float = 0.5,
        use_id: bool = True,
        id_embed_dim: int = 512,
        num_id_tokens: int = 4,
    ):
        super().__init__(
            patch_size=patch_size, num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim,
            in_channels=in_channels, out_channels=out_channels, text_dim=text_dim, freq_dim=freq_dim,
            ffn_dim=ffn_dim, num_layers=num_layers, cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps,
            image_dim=image_dim, added_kv_proj_dim=added_kv_proj_dim, rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        self._add_interanimate(use_ris, use_quantize, region_every, n_spatial_latents, n_temporal_latents,
                               latent_dim, tau, branch_dim, branch_head_dim, mixer_alpha, use_id, id_embed_dim,
                               num_id_tokens)

    def forward(self, hidden_states: Tensor, timestep: Tensor, encoder_hidden_states: Tensor,
                encoder_hidden_states_image: Tensor | None = None, return_dict: bool = True,
                attention_kwargs: dict | None = None, *, hand_mask: Tensor | None = None,
                face_mask: Tensor | None = None, id_embedding: Tensor | None = None):
        """Wan's forward, plus: ``hand_mask`` / ``face_mask`` (B, F', 1, h, w) per *latent* frame (any h, w; resized
        to the patch grid), ``id_embedding`` (B, id_embed_dim). Without them the added branches add nothing."""
        return self._forward_with_context(
            hidden_states, hand_mask, face_mask, id_embedding,
            lambda: super(InterAnimateWanTransformer, self).forward(
                hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image,
                return_dict=return_dict, attention_kwargs=attention_kwargs))


class InterAnimateWanAnimateTransformer(InterAnimateWanMixin, WanAnimateTransformer3DModel):
    r"""Wan2.2-Animate's transformer (pose patches added to the video tokens, a face motion adapter after blocks
    0, k, 2k, …) with InterAnimate's modules after blocks k-1, 2k-1, …. Arguments: as
    ``WanAnimateTransformer3DModel``, then InterAnimate's (see :class:`InterAnimateWanTransformer`).

    Latent frames: Wan-Animate's video has the reference image's latent as frame 0 (F' = T + 1), so the masks are
    (B, T + 1, 1, h, w), the reference frame's first."""

    _base = WanAnimateTransformer3DModel

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int | None = 36,
        latent_channels: int | None = 16,
        out_channels: int | None = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = 1280,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        motion_encoder_channel_sizes: dict[str, int] | None = None,
        motion_encoder_size: int = 512,
        motion_style_dim: int = 512,
        motion_dim: int = 20,
        motion_encoder_dim: int = 512,
        face_encoder_hidden_dim: int = 1024,
        face_encoder_num_heads: int = 4,
        inject_face_latents_blocks: int = 5,
        motion_encoder_batch_size: int = 8,
        # InterAnimate
        use_ris: bool = True,
        use_quantize: bool = True,
        region_every: int = 5,
        n_spatial_latents: int = 512,
        n_temporal_latents: int = 512,
        latent_dim: int = 1024,
        tau: float = 0.1,
        branch_dim: int = 128,
        branch_head_dim: int = 64,
        mixer_alpha: float = 0.5,
        use_id: bool = True,
        id_embed_dim: int = 512,
        num_id_tokens: int = 4,
    ):
        super().__init__(
            patch_size=patch_size, num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim,
            in_channels=in_channels, latent_channels=latent_channels, out_channels=out_channels, text_dim=text_dim,
            freq_dim=freq_dim, ffn_dim=ffn_dim, num_layers=num_layers, cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm, eps=eps, image_dim=image_dim, added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len, pos_embed_seq_len=pos_embed_seq_len,
            motion_encoder_channel_sizes=motion_encoder_channel_sizes, motion_encoder_size=motion_encoder_size,
            motion_style_dim=motion_style_dim, motion_dim=motion_dim, motion_encoder_dim=motion_encoder_dim,
            face_encoder_hidden_dim=face_encoder_hidden_dim, face_encoder_num_heads=face_encoder_num_heads,
            inject_face_latents_blocks=inject_face_latents_blocks,
            motion_encoder_batch_size=motion_encoder_batch_size,
        )
        self._add_interanimate(use_ris, use_quantize, region_every, n_spatial_latents, n_temporal_latents,
                               latent_dim, tau, branch_dim, branch_head_dim, mixer_alpha, use_id, id_embed_dim,
                               num_id_tokens)

    def forward(self, hidden_states: Tensor, timestep: Tensor, encoder_hidden_states: Tensor,
                encoder_hidden_states_image: Tensor | None = None, pose_hidden_states: Tensor | None = None,
                face_pixel_values: Tensor | None = None, motion_encode_batch_size: int | None = None,
                return_dict: bool = True, attention_kwargs: dict | None = None, *, hand_mask: Tensor | None = None,
                face_mask: Tensor | None = None, id_embedding: Tensor | None = None):
        """Wan-Animate's forward, plus ``hand_mask`` / ``face_mask`` (B, T + 1, 1, h, w) and ``id_embedding``."""
        return self._forward_with_context(
            hidden_states, hand_mask, face_mask, id_embedding,
            lambda: super(InterAnimateWanAnimateTransformer, self).forward(
                hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image, pose_hidden_states,
                face_pixel_values, motion_encode_batch_size, return_dict=return_dict,
                attention_kwargs=attention_kwargs))
