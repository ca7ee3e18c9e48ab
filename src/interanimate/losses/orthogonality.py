"""Orthogonality loss on interaction latents (Algorithm 2, CHOSEN form): ‖L̂ L̂ᵀ − I‖²_F / K², rows L2-normalised."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def orthogonality_loss(latents: Tensor) -> Tensor:
    """latents (K, d) -> scalar; 0 iff the rows are pairwise orthogonal (any non-zero norms)."""
    if latents.ndim != 2:
        raise ValueError(f"latents must be (K, d), got {tuple(latents.shape)}")
    k = latents.shape[0]
    rows = F.normalize(latents, dim=-1)  # (K, d)
    gram = rows @ rows.t()  # (K, K)
    eye = torch.eye(k, device=latents.device, dtype=gram.dtype)
    return (gram - eye).pow(2).sum() / k**2


def interaction_orthogonality_loss(model: nn.Module) -> Tensor | None:
    """L_orth(L_s) + L_orth(L_t) (Eq. 12) of a model's ``interaction_latents``; None when it has none."""
    for wrapper_attr in ("module", "_orig_mod"):  # DDP / accelerate, torch.compile
        model = getattr(model, wrapper_attr, model)
    latents = getattr(model, "interaction_latents", None)
    if latents is None:
        return None
    return orthogonality_loss(latents.spatial) + orthogonality_loss(latents.temporal)
