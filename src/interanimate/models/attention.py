"""One multi-head attention module reused for spatial, temporal, latent and identity attention.

The layout only changes by the einops pattern the caller applies before the call (lucidrains style): spatial
attention sees ``(b f) (h w) c``, temporal attention ``(b h w) f c``. Attention to a *shared* context (the
interaction latents, (K, c) without a batch axis) is token-wise, so all queries are folded into one sequence and the
keys/values are projected once instead of once per batch row.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    def __init__(self, query_dim: int, context_dim: int | None = None, heads: int = 2, head_dim: int = 64,
                 out_dim: int | None = None, zero_init_out: bool = False):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_out = nn.Linear(inner, out_dim or query_dim)
        if zero_init_out:
            nn.init.zeros_(self.to_out.weight)
            nn.init.zeros_(self.to_out.bias)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x (B, N, Dq); context None (self-attention), (B, M, Dc) or shared (M, Dc) -> (B, N, out_dim)."""
        b, n, _ = x.shape
        context = x if context is None else context
        if context.ndim == 2:  # shared context: one long query sequence
            q = self._split(self.to_q(x).reshape(1, b * n, -1))  # (1, heads, B·N, dh)
            k = self._split(self.to_k(context)[None])  # (1, heads, M, dh)
            v = self._split(self.to_v(context)[None])  # (1, heads, M, dh)
        else:
            q, k, v = self._split(self.to_q(x)), self._split(self.to_k(context)), self._split(self.to_v(context))
        out = F.scaled_dot_product_attention(q, k, v)  # (B or 1, heads, N or B·N, dh)
        out = out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)  # (B, N, heads·dh)
        return self.to_out(out)  # (B, N, out_dim)

    def _split(self, t: Tensor) -> Tensor:
        return t.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)  # (B, L, H·dh) -> (B, H, L, dh)
