"""Region masks (hand ∪ face) resized to a feature map's resolution, shared by the model and the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def union_mask(hand_mask: Tensor | None, face_mask: Tensor | None) -> Tensor | None:
    """Elementwise max of the given masks (B, F, 1, h, w); None when both are None."""
    if hand_mask is None:
        return face_mask
    if face_mask is None:
        return hand_mask
    if hand_mask.shape != face_mask.shape:
        raise ValueError(f"hand_mask {tuple(hand_mask.shape)} and face_mask {tuple(face_mask.shape)} differ in shape")
    return torch.maximum(hand_mask, face_mask)


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest resize of a mask (..., 1, h, w) to (..., 1, *size); values are kept (no blending)."""
    if mask.ndim < 4 or mask.shape[-3] != 1:
        raise ValueError(f"mask must be (..., 1, h, w), got {tuple(mask.shape)}")
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    lead = mask.shape[:-3]
    flat = mask.reshape(-1, 1, *mask.shape[-2:])  # (prod(lead), 1, h, w)
    out = F.interpolate(flat.float(), size=tuple(size), mode="nearest").to(mask.dtype)  # (prod(lead), 1, *size)
    return out.reshape(*lead, 1, *size)  # (..., 1, *size)
