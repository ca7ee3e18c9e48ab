"""Training-time masking of the two token maps: cosine schedule, one-party full masking, BERT-style corruption."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def cosine_schedule(progress: torch.Tensor | float) -> torch.Tensor:
    """Fraction of tokens still masked at ``progress`` in [0, 1]: cos(progress * pi / 2) (1 -> all masked, 0 -> none)."""
    return torch.cos(torch.as_tensor(progress, dtype=torch.float32) * math.pi / 2)


@dataclass
class MaskingConfig:
    one_party_prob: float = 0.2  # a sample has one party fully masked and the other given (reaction generation)
    random_token_prob: float = 0.1  # of the masked positions, this share gets a random code instead of MASK

    def __post_init__(self):
        for name in ("one_party_prob", "random_token_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"masking.{name} must be in [0, 1], got {getattr(self, name)}")


def num_masked(progress: torch.Tensor, length: int) -> torch.Tensor:
    """Tokens to mask out of ``length`` at ``progress`` (B,): ceil(cosine * length), at least 1."""
    return (cosine_schedule(progress) * length).ceil().clamp(min=1, max=length).long()


def _rank_mask(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """True at the ``counts[b]`` positions with the lowest ``scores[b]`` of each row. scores (B, L)."""
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return ranks < counts[:, None]


def mask_tokens(hand: torch.Tensor, face: torch.Tensor, hand_codebook: int, face_codebook: int,
                config: MaskingConfig, generator: torch.Generator | None = None):
    """Mask hand (B, N_h, T) and face (B, N_f, T) tokens for one training step.

    The MASK id of a party is its codebook size. Returns the corrupted inputs and the boolean loss masks
    ``(hand_in, face_in, hand_loss_mask, face_loss_mask)``.
    """
    b, device = hand.shape[0], hand.device
    lh, lf = hand[0].numel(), face[0].numel()
    length = lh + lf
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(device)  # noqa: E731  (CPU generator)

    counts = num_masked(rand(b), length)
    mask = _rank_mask(rand(b, length), counts)  # (B, L) over [hand, face]
    one_party = rand(b) < config.one_party_prob
    masked_party_is_face = rand(b) < 0.5
    is_face = torch.arange(length, device=device)[None] >= lh  # (1, L)
    full = torch.where(masked_party_is_face[:, None], is_face, ~is_face)  # (B, L)
    mask = torch.where(one_party[:, None], full, mask)

    hand_mask, face_mask = mask[:, :lh].view_as(hand), mask[:, lh:].view_as(face)
    outs = []
    for tokens, m, k in ((hand, hand_mask, hand_codebook), (face, face_mask, face_codebook)):
        corrupt = rand(*tokens.shape) < config.random_token_prob
        random_codes = torch.randint(0, k, tokens.shape, generator=generator).to(device)
        filled = torch.where(corrupt, random_codes, torch.full_like(tokens, k))
        outs.append(torch.where(m, filled, tokens))
    return outs[0], outs[1], hand_mask, face_mask
