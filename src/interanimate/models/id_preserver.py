"""ID Preserver (Eq. 6-9): identity embedding -> projection P -> identity tokens -> cross-attention.

``IDTokenProjector`` (one per model) maps an identity embedding of any size (512 for ArcFace, 128 for the offline
dlib model) to ``num_tokens`` tokens; ``IDCrossAttention`` (one per spatio-temporal transformer) lets the block's
hidden states (queries, W_q) attend to the tokens (W_k, W_v). Its output projection is zero-initialised, and the
output is added beside the region block: O = H + H_r + H_id.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from interanimate.models.attention import MultiHeadAttention


class IDTokenProjector(nn.Module):
    def __init__(self, embed_dim: int, token_dim: int, num_tokens: int = 4):
        super().__init__()
        self.num_tokens, self.token_dim = num_tokens, token_dim
        self.proj = nn.Sequential(nn.Linear(embed_dim, token_dim), nn.GELU(),
                                  nn.Linear(token_dim, num_tokens * token_dim))
        self.norm = nn.LayerNorm(token_dim)

    def forward(self, id_embedding: Tensor) -> Tensor:
        """id_embedding (B, D_id) -> identity tokens (B, T, D_tok)."""
        tokens = self.proj(id_embedding).reshape(-1, self.num_tokens, self.token_dim)  # (B, T, D_tok)
        return self.norm(tokens)


class IDCrossAttention(nn.Module):
    def __init__(self, channels: int, token_dim: int, inner_dim: int = 128, head_dim: int = 64):
        super().__init__()
        self.gradient_checkpointing = False  # set by ModelMixin.enable_gradient_checkpointing
        self.norm = nn.GroupNorm(32 if channels % 32 == 0 else 1, channels, eps=1e-6)
        self.attn = MultiHeadAttention(channels, token_dim, heads=inner_dim // head_dim, head_dim=head_dim,
                                       out_dim=channels, zero_init_out=True)

    def forward(self, hidden_states: Tensor, id_tokens: Tensor) -> Tensor:
        """hidden_states (B·F, C, h, w), id_tokens (B·F, T, D_tok) -> H_id (B·F, C, h, w)."""
        _, _, h, w = hidden_states.shape
        x = rearrange(self.norm(hidden_states), "bf c h w -> bf (h w) c")  # (B·F, h·w, C)
        out = self.attn(x, id_tokens.to(x.dtype))  # (B·F, h·w, C)
        return rearrange(out, "bf (h w) c -> bf c h w", h=h, w=w)  # (B·F, C, h, w)
