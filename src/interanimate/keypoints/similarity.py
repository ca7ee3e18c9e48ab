"""Least-squares 2D similarity transforms (rotation, uniform scale, shift) between point sets, batched.

Used by the motion representation (head motion of a face track) and by retargeting (driving face onto the
reference face): one implementation of Umeyama's fit and of applying it.
"""

from __future__ import annotations

import numpy as np


def fit_similarities(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarities (Umeyama 1991, no reflection) taking ``src`` (..., N, 2) onto ``dst`` (..., N, 2),
    batched over the leading axes -> (..., 2, 3). Degenerate (coincident) point sets give the identity."""
    src, dst = np.broadcast_arrays(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    src_mean, dst_mean = src.mean(-2, keepdims=True), dst.mean(-2, keepdims=True)  # (..., 1, 2)
    src_c, dst_c = src - src_mean, dst - dst_mean  # (..., N, 2)
    src_var = (src_c**2).sum(-1).mean(-1)  # (...,)
    cov = np.einsum("...ni,...nj->...ij", dst_c, src_c) / src.shape[-2]  # (..., 2, 2)
    u, sigma, vt = np.linalg.svd(cov)  # (..., 2, 2), (..., 2), (..., 2, 2)
    det = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign = np.stack([np.ones_like(det), np.where(det == 0, 1.0, det)], -1)  # (..., 2): forbid a reflection
    rotation = u @ (sign[..., :, None] * vt)  # (..., 2, 2)
    ok = src_var > 1e-12
    scale = np.where(ok, (sigma * sign).sum(-1) / np.where(ok, src_var, 1.0), 1.0)  # (...,)
    rotation = np.where(ok[..., None, None], rotation, np.eye(2))
    linear = scale[..., None, None] * rotation  # (..., 2, 2)
    shift = dst_mean[..., 0, :] - np.einsum("...ij,...j->...i", linear, src_mean[..., 0, :])  # (..., 2)
    return np.concatenate([linear, shift[..., None]], -1)  # (..., 2, 3)


def apply_similarity(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points (..., N, 2) moved by ``matrix`` (2, 3), or one matrix per leading index (..., 2, 3) -> (..., N, 2)."""
    points, matrix = np.asarray(points, np.float64), np.asarray(matrix, np.float64)
    moved = np.einsum("...ij,...nj->...ni", matrix[..., :2], points)  # (..., N, 2)
    return (moved + matrix[..., None, :, 2]).astype(np.float32)  # + shift (..., 1, 2)
