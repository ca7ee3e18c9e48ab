"""Region Attention Block (Eq. 1-5), run in parallel with each spatio-temporal transformer of the UNet.

    x (B·F, C, h, w) --GroupNorm, proj_in C->w-------------------------------------------------------------+
    L_s (n, d) --map d->w-->  ls (n, w)       L_t (m, d) --map d->w--> lt (m, w)                          |
    1. quantize:  Ĥ_s = soft_quantize(x, ls, tau)     Ĥ_t = soft_quantize(x, lt, tau)   (raw x if use_quantize off)
    2. SCA:  [optional self-attention over the h·w tokens of each frame] + cross-attention to ls  -> H_s
       TCA:  frame-position embedding, self-attention over the f frames of each position
             + cross-attention to lt                                                            -> H_t
       mixer: H_f = α·H_s + (1-α)·H_t,  α = sigmoid(mix_factor), mix_factor init 0.5 (SVD's AlphaBlender)
    3. mask:  H_r = proj_out(H_f) ⊙ M,  proj_out w->C zero-initialised, M = hand ∪ face at (h, w)

The block works at a small inner width w (``inner_dim``, 128 at full size) rather than at d: the per-block maps take
tokens C->w and latents d->w, so the cost per token is O(K·w) and the whole system stays under 10% of the UNet's
FLOPs (see benchmarks/model_overhead.py and docs/model.md).
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import AlphaBlender
from einops import rearrange
from torch import Tensor, nn

from interanimate.models.attention import MultiHeadAttention
from interanimate.models.quantize import soft_quantize


class RegionAttentionBlock(nn.Module):
    def __init__(self, channels: int, latent_dim: int, inner_dim: int = 128, head_dim: int = 64, tau: float = 0.1,
                 use_quantize: bool = True, spatial_self_attention: bool = False, mixer_alpha: float = 0.5):
        super().__init__()
        if inner_dim % head_dim:
            raise ValueError(f"inner_dim {inner_dim} must be a multiple of head_dim {head_dim}")
        heads = inner_dim // head_dim
        self.tau, self.use_quantize = tau, use_quantize
        self.gradient_checkpointing = False  # set by ModelMixin.enable_gradient_checkpointing
        self.norm = nn.GroupNorm(32 if channels % 32 == 0 else 1, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner_dim)  # per-block map C -> w for tokens
        self.spatial_latent_in = nn.Linear(latent_dim, inner_dim)  # per-block map d -> w for L_s
        self.temporal_latent_in = nn.Linear(latent_dim, inner_dim)  # per-block map d -> w for L_t
        # spatial cross-attention operator (SCA)
        self.spatial_self_norm = nn.LayerNorm(inner_dim) if spatial_self_attention else None
        self.spatial_self_attn = MultiHeadAttention(inner_dim, heads=heads, head_dim=head_dim) \
            if spatial_self_attention else None
        self.spatial_norm = nn.LayerNorm(inner_dim)
        self.spatial_cross_attn = MultiHeadAttention(inner_dim, inner_dim, heads=heads, head_dim=head_dim)
        # temporal cross-attention operator (TCA)
        self.frame_proj = Timesteps(inner_dim, True, 0)
        self.frame_pos_embed = TimestepEmbedding(inner_dim, inner_dim)
        self.temporal_self_norm = nn.LayerNorm(inner_dim)
        self.temporal_self_attn = MultiHeadAttention(inner_dim, heads=heads, head_dim=head_dim)
        self.temporal_norm = nn.LayerNorm(inner_dim)
        self.temporal_cross_attn = MultiHeadAttention(inner_dim, inner_dim, heads=heads, head_dim=head_dim)
        # mixer and zero-initialised output
        self.mixer = AlphaBlender(alpha=mixer_alpha, merge_strategy="learned")
        self.proj_out = nn.Linear(inner_dim, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, hidden_states: Tensor, spatial_latents: Tensor, temporal_latents: Tensor, mask: Tensor,
                num_frames: int) -> Tensor:
        """hidden_states (B·F, C, h, w), latents (n, d) / (m, d), mask (B·F, 1, h, w) -> H_r (B·F, C, h, w)."""
        bf, _, h, w = hidden_states.shape
        x = rearrange(self.norm(hidden_states), "bf c h w -> bf (h w) c")  # (B·F, h·w, C)
        x = self.proj_in(x)  # (B·F, h·w, w_in)
        ls = self.spatial_latent_in(spatial_latents.to(x.dtype))  # (n, w_in)
        lt = self.temporal_latent_in(temporal_latents.to(x.dtype))  # (m, w_in)

        h_s = self._spatial(x, ls)  # (B·F, h·w, w_in)
        h_t = self._temporal(x, lt, num_frames, h * w)  # (B·F, h·w, w_in)
        h_f = self.mixer(h_s, h_t, image_only_indicator=None)  # (B·F, h·w, w_in)

        out = rearrange(self.proj_out(h_f), "bf (h w) c -> bf c h w", h=h, w=w)  # (B·F, C, h, w)
        return out * mask.to(out.dtype)  # (B·F, C, h, w), zero outside hand ∪ face

    def _quantize(self, x: Tensor, latents: Tensor) -> Tensor:
        return soft_quantize(x, latents, self.tau) if self.use_quantize else x

    def _spatial(self, x: Tensor, ls: Tensor) -> Tensor:
        hs = self._quantize(x, ls)  # (B·F, h·w, w_in): queries are the quantized states
        if self.spatial_self_attn is not None:
            hs = hs + self.spatial_self_attn(self.spatial_self_norm(hs))  # attention over the h·w tokens per frame
        return hs + self.spatial_cross_attn(self.spatial_norm(hs), ls)  # keys/values from L_s

    def _temporal(self, x: Tensor, lt: Tensor, num_frames: int, hw: int) -> Tensor:
        ht = self._quantize(x, lt)  # (B·F, h·w, w_in)
        frame_idx = torch.arange(num_frames, device=x.device).repeat(x.shape[0] // num_frames)  # (B·F,)
        pos = self.frame_pos_embed(self.frame_proj(frame_idx).to(x.dtype))  # (B·F, w_in)
        ht = ht + pos[:, None, :]  # (B·F, h·w, w_in)
        ht = rearrange(ht, "(b f) n c -> (b n) f c", f=num_frames)  # (B·h·w, F, w_in)
        ht = ht + self.temporal_self_attn(self.temporal_self_norm(ht))  # attention over the f frames per position
        ht = ht + self.temporal_cross_attn(self.temporal_norm(ht), lt)  # keys/values from L_t
        return rearrange(ht, "(b n) f c -> (b f) n c", n=hw)  # (B·F, h·w, w_in)
