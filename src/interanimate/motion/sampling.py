"""Iterative masked decoding (MaskGIT-style) with classifier-free guidance, top-k and temperature on the logits.

Start with every unknown token masked. At each of ``steps`` steps: predict logits for all positions (guided), sample
a token everywhere (top-k filtered, temperature-scaled logits), keep already-decoded tokens, and re-mask the least
confident of the newly sampled ones so that ``cosine((s + 1) / steps)`` of the unknown tokens stay masked. Tokens
given by the caller (reaction generation: one party's whole map) are never masked and never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interanimate.motion.masking import cosine_schedule
from interanimate.motion.transformer import CollaborativeTransformer


@dataclass
class SamplingConfig:
    steps: int = 12
    guidance: float = 2.0  # classifier-free guidance scale on logits; 1 = conditional only
    # top-k filtering of the logits. top_k_mode "intermask" (the default, InterMask's and MoMask's ``thres``): keep
    # the most likely max(1, int((1 − top_k)·K)) tokens, so 0.9 keeps 10 % of the codebook; "fraction" (this
    # project's earlier reading): keep round(top_k·K), so 0.9 keeps 90 %. Measured: docs/motion.md, "Top-k".
    top_k: float = 0.9
    temperature: float = 1.0  # divides the LOGITS before softmax; 0 = greedy
    confidence_noise: float = 1.0  # Gumbel noise (× (1 - progress)) on confidences when choosing what to re-mask
    top_k_mode: str = "intermask"
    # after decoding, each visible hand replaced by the articulated hand that fits it best (motion.hand_fit): the
    # hand VQ-VAE's round trip crumples fingers (docs/motion.md, "Hand fitting"); false keeps the decoded points
    hand_fit: bool = True

    def __post_init__(self):
        if self.steps < 1 or not 0.0 <= self.top_k <= 1.0 or self.temperature < 0:
            raise ValueError(f"bad sampling config: steps={self.steps} (>=1), top_k={self.top_k} [0,1], "
                             f"temperature={self.temperature} (>=0)")
        if self.top_k_mode not in TOP_K_MODES:
            raise ValueError(f"bad sampling config: top_k_mode={self.top_k_mode!r}, one of {', '.join(TOP_K_MODES)}")
        if self.top_k_mode == "fraction" and self.top_k == 0:
            raise ValueError("bad sampling config: top_k 0 keeps no token under top_k_mode fraction")


TOP_K_MODES = ("intermask", "fraction")


def kept_tokens(vocabulary: int, top_k: float, mode: str = "intermask") -> int:
    """How many of ``vocabulary`` logits top-k filtering keeps (see ``SamplingConfig.top_k_mode``)."""
    if mode == "intermask":
        return max(1, int((1.0 - top_k) * vocabulary))
    return max(1, int(round(top_k * vocabulary)))


def top_k_filter(logits: torch.Tensor, top_k: float, mode: str = "intermask") -> torch.Tensor:
    """Keep the ``kept_tokens`` largest logits of the last axis, set the rest to -inf."""
    k = kept_tokens(logits.shape[-1], top_k, mode)
    if k >= logits.shape[-1]:
        return logits
    threshold = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def sampling_distribution(logits: torch.Tensor, temperature: float, top_k: float,
                          mode: str = "intermask") -> torch.Tensor:
    """The distribution that tokens are drawn from: softmax(top_k(logits) / temperature). (…, K)."""
    return torch.softmax(top_k_filter(logits, top_k, mode) / max(temperature, 1e-6), dim=-1)


def sample_tokens(logits: torch.Tensor, temperature: float, top_k: float,
                  generator: torch.Generator | list[torch.Generator] | None = None, mode: str = "intermask"):
    """Draw one token per position from (B, …, K) logits; returns tokens (B, …) and their probabilities (B, …).
    ``generator``: one for the whole batch, or a list of B, one per sample (each sample then draws what it would
    draw alone with its generator)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != logits.shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {logits.shape[0]}")
        drawn = [sample_tokens(logits[i:i + 1], temperature, top_k, g, mode) for i, g in enumerate(generator)]
        return torch.cat([t for t, _ in drawn]), torch.cat([c for _, c in drawn])
    probs = sampling_distribution(logits, temperature, top_k, mode)
    flat = probs.reshape(-1, probs.shape[-1])
    if temperature == 0:
        tokens = flat.argmax(-1)
    else:
        if generator is not None and generator.device != flat.device:
            flat = flat.to(generator.device)
        tokens = torch.multinomial(flat, 1, generator=generator).squeeze(-1).to(probs.device)
    conf = flat.to(probs.device).gather(-1, tokens[:, None]).squeeze(-1)
    return tokens.view(probs.shape[:-1]), conf.view(probs.shape[:-1])


def _gumbel(shape, generator, device) -> torch.Tensor:
    if isinstance(generator, (list, tuple)):  # one generator per sample (the first axis)
        return torch.cat([_gumbel((1, *shape[1:]), g, device) for g in generator])
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def generate_tokens(model: CollaborativeTransformer, class_index: torch.Tensor, length: int,
                    config: SamplingConfig = SamplingConfig(), text: torch.Tensor | None = None,
                    hand_given: torch.Tensor | None = None, face_given: torch.Tensor | None = None,
                    generator: torch.Generator | list[torch.Generator] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode hand (B, N_h, length) and face (B, N_f, length) token maps. ``generator``: one, or one per sample.

    ``hand_given`` / ``face_given``: a party's full token map to keep fixed (reaction generation).
    """
    cfg = model.config
    b, device = class_index.shape[0], class_index.device
    hand = hand_given.clone() if hand_given is not None else torch.full(
        (b, cfg.hand_parts, length), model.hand_mask_id, dtype=torch.long, device=device)
    face = face_given.clone() if face_given is not None else torch.full(
        (b, cfg.face_parts, length), model.face_mask_id, dtype=torch.long, device=device)
    lh = hand[0].numel()
    unknown = torch.cat([(hand == model.hand_mask_id).flatten(1), (face == model.face_mask_id).flatten(1)], 1)
    total = unknown.sum(1)  # (B,) tokens to decode
    for step in range(config.steps):
        logits_h, logits_f = model.guided_logits(hand, face, class_index, text, config.guidance)
        tok_h, conf_h = sample_tokens(logits_h, config.temperature, config.top_k, generator, config.top_k_mode)
        tok_f, conf_f = sample_tokens(logits_f, config.temperature, config.top_k, generator, config.top_k_mode)
        tokens = torch.cat([tok_h.flatten(1), tok_f.flatten(1)], 1)  # (B, L)
        conf = torch.cat([conf_h.flatten(1), conf_f.flatten(1)], 1).clamp_min(1e-12).log()
        noise = config.confidence_noise * (1 - (step + 1) / config.steps)
        if noise > 0:
            conf = conf + noise * _gumbel(conf.shape, generator, device)
        current = torch.cat([hand.flatten(1), face.flatten(1)], 1)
        current = torch.where(unknown, tokens, current)  # fill every unknown position
        conf = conf.masked_fill(~unknown, float("inf"))  # known tokens are never re-masked
        keep_masked = (cosine_schedule((step + 1) / config.steps) * total).floor().long()  # (B,)
        ranks = conf.argsort(dim=1).argsort(dim=1)
        remask = ranks < keep_masked[:, None]
        mask_ids = torch.cat([torch.full_like(hand.flatten(1), model.hand_mask_id),
                              torch.full_like(face.flatten(1), model.face_mask_id)], 1)
        current = torch.where(remask, mask_ids, current)
        unknown = remask
        hand, face = current[:, :lh].view_as(hand), current[:, lh:].view_as(face)
    return hand, face
