"""The collaborative masked transformer over the hand and face token maps.

Input: hand tokens (B, N_h, T) and face tokens (B, N_f, T), each from its party's codebook with one extra MASK id
(= codebook size). Every block runs, each sub-layer with AdaLN-zero modulation from the condition vector:

1. global self-attention + FFN over the sequence [hand tokens, SEP, face tokens];
2. per-party spatial attention (across the parts of one time step) and temporal attention (across the time steps of
   one part): one attention module reused with two einops patterns, shared by both parties;
3. cross-attention: hand tokens attend to face tokens and face tokens to hand tokens; then an FFN.

Tokens carry a party-type embedding (hand ≠ face), a learned part embedding per party and a sinusoidal time
embedding (so any length works). Condition = class embedding (``NUM_CLASSES`` + 1 entries, the last one null) + a
projection of the 384-d MiniLM sentence embedding (zeros when no text). Each party has its own output head.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from interanimate.motion.representation import FACE_PARTY, HAND, NULL_CLASS


@dataclass
class TransformerConfig:
    hand_codebook: int = 256
    face_codebook: int = 256
    hand_parts: int = HAND.num_parts
    face_parts: int = FACE_PARTY.num_parts
    dim: int = 192
    layers: int = 4
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    num_classes: int = NULL_CLASS + 1  # 18 classes + null
    text_dim: int = 384
    spatial_temporal: bool = True  # ablation switch: per-party spatial + temporal attention
    cross_attention: bool = True  # ablation switch: hand <-> face cross-attention

    def __post_init__(self):
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(L,) positions -> (L, dim) sinusoidal embedding."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[:, None] * freq[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Attention(nn.Module):
    """Multi-head attention; self-attention when ``context`` is None."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q = rearrange(self.to_q(x), "b l (h d) -> b h l d", h=self.heads)
        k, v = rearrange(self.to_kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.out(rearrange(y, "b h l d -> b l (h d)"))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, mult: int, dropout: float):
        super().__init__(nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim))


class AdaLNZero(nn.Module):
    """``x + gate(c) * fn(LN(x) * (1 + scale(c)) + shift(c))`` with the modulation zero-initialised."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.modulation = nn.Linear(dim, 3 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, fn, *args) -> torch.Tensor:
        # x (B, L, D); cond (B, D) or (B*, D) already expanded to x's batch
        shift, scale, gate = self.modulation(F.silu(cond)).unsqueeze(1).chunk(3, dim=-1)
        return x + gate * fn(self.norm(x) * (1 + scale) + shift, *args)


class CollaborativeBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        d = cfg.dim
        self.cfg = cfg
        self.global_attn, self.global_ff = Attention(d, cfg.heads, cfg.dropout), FeedForward(d, cfg.ff_mult, cfg.dropout)
        self.ada_global_attn, self.ada_global_ff = AdaLNZero(d), AdaLNZero(d)
        if cfg.spatial_temporal:
            self.local_attn = Attention(d, cfg.heads, cfg.dropout)  # reused for space and time
            self.ada_spatial, self.ada_temporal = AdaLNZero(d), AdaLNZero(d)
        if cfg.cross_attention:
            self.cross_attn = Attention(d, cfg.heads, cfg.dropout)
            self.ada_cross = AdaLNZero(d)
        self.local_ff, self.ada_local_ff = FeedForward(d, cfg.ff_mult, cfg.dropout), AdaLNZero(d)

    def _local(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Spatial then temporal attention within one party. x (B, N, T, D)."""
        b, n, t, _ = x.shape
        xs = rearrange(x, "b n t d -> (b t) n d")
        xs = self.ada_spatial(xs, cond.repeat_interleave(t, 0), self.local_attn)
        xt = rearrange(xs, "(b t) n d -> (b n) t d", b=b)
        xt = self.ada_temporal(xt, cond.repeat_interleave(n, 0), self.local_attn)
        return rearrange(xt, "(b n) t d -> b n t d", b=b)

    def forward(self, hand, face, sep, cond):
        # hand (B, Nh, T, D), face (B, Nf, T, D), sep (B, 1, D), cond (B, D)
        _, nh, t, _ = hand.shape
        nf = face.shape[1]
        x = torch.cat([rearrange(hand, "b n t d -> b (n t) d"), sep, rearrange(face, "b n t d -> b (n t) d")], 1)
        x = self.ada_global_attn(x, cond, self.global_attn)
        x = self.ada_global_ff(x, cond, self.global_ff)  # (B, Nh*T + 1 + Nf*T, D)
        hand = rearrange(x[:, : nh * t], "b (n t) d -> b n t d", n=nh)
        sep = x[:, nh * t: nh * t + 1]
        face = rearrange(x[:, nh * t + 1:], "b (n t) d -> b n t d", n=nf)
        if self.cfg.spatial_temporal:
            hand, face = self._local(hand, cond), self._local(face, cond)
        h = rearrange(hand, "b n t d -> b (n t) d")
        f = rearrange(face, "b n t d -> b (n t) d")
        if self.cfg.cross_attention:
            h, f = self.ada_cross(h, cond, self.cross_attn, f), self.ada_cross(f, cond, self.cross_attn, h)
        h, f = self.ada_local_ff(h, cond, self.local_ff), self.ada_local_ff(f, cond, self.local_ff)
        hand = rearrange(h, "b (n t) d -> b n t d", n=nh)
        face = rearrange(f, "b (n t) d -> b n t d", n=nf)
        return hand, face, sep


class CollaborativeTransformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.dim
        self.hand_mask_id, self.face_mask_id = cfg.hand_codebook, cfg.face_codebook
        self.hand_embed = nn.Embedding(cfg.hand_codebook + 1, d)
        self.face_embed = nn.Embedding(cfg.face_codebook + 1, d)
        self.hand_part = nn.Embedding(cfg.hand_parts, d)
        self.face_part = nn.Embedding(cfg.face_parts, d)
        self.party = nn.Embedding(2, d)  # 0 = hand, 1 = face
        self.sep = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.class_embed = nn.Embedding(cfg.num_classes, d)
        self.text_proj = nn.Linear(cfg.text_dim, d)
        self.cond_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList([CollaborativeBlock(cfg) for _ in range(cfg.layers)])
        self.final_norm = nn.LayerNorm(d)
        self.hand_head = nn.Linear(d, cfg.hand_codebook)
        self.face_head = nn.Linear(d, cfg.face_codebook)

    def condition(self, class_index: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """class indices (B,) (``NULL_CLASS`` = none) and optional text embeddings (B, 384) -> (B, D)."""
        if text is None:  # no text is the zero vector, as in the null condition of guidance
            text = torch.zeros(class_index.shape[0], self.config.text_dim, device=class_index.device)
        return self.cond_mlp(self.class_embed(class_index) + self.text_proj(text))

    def _embed(self, tokens, embed, part, party_id):
        # tokens (B, N, T) -> (B, N, T, D)
        n, t = tokens.shape[1:]
        pos_t = sinusoid(torch.arange(t, device=tokens.device), self.config.dim)  # (T, D)
        return embed(tokens) + part.weight[:n, None] + pos_t[None] + self.party.weight[party_id]

    def forward(self, hand_tokens: torch.Tensor, face_tokens: torch.Tensor, class_index: torch.Tensor,
                text: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, N_h, T), (B, N_f, T) -> logits (B, N_h, T, K_h), (B, N_f, T, K_f)."""
        if hand_tokens.shape[-1] != face_tokens.shape[-1]:
            raise ValueError(f"hand and face token maps differ in length: {hand_tokens.shape}, {face_tokens.shape}")
        cond = self.condition(class_index, text)  # (B, D)
        hand = self._embed(hand_tokens, self.hand_embed, self.hand_part, 0)
        face = self._embed(face_tokens, self.face_embed, self.face_part, 1)
        sep = self.sep.expand(hand.shape[0], -1, -1)
        for block in self.blocks:
            hand, face, sep = block(hand, face, sep, cond)
        return self.hand_head(self.final_norm(hand)), self.face_head(self.final_norm(face))

    def guided_logits(self, hand_tokens, face_tokens, class_index, text=None, scale: float = 1.0):
        """Classifier-free guidance on logits: ``uncond + scale * (cond - uncond)``; scale 1 is the conditional pass."""
        if scale == 1.0:
            return self(hand_tokens, face_tokens, class_index, text)
        b = hand_tokens.shape[0]
        null = torch.full_like(class_index, NULL_CLASS)
        both_text = None if text is None else torch.cat([text, torch.zeros_like(text)])
        lh, lf = self(hand_tokens.repeat(2, 1, 1), face_tokens.repeat(2, 1, 1), torch.cat([class_index, null]),
                      both_text)
        return tuple(u + scale * (c - u) for c, u in ((lh[:b], lh[b:]), (lf[:b], lf[b:])))
