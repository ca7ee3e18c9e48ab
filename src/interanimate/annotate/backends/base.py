"""The pose-backend interface every estimator implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from interanimate.errors import UserError
from interanimate.keypoints.layout import NUM_KEYPOINTS


@runtime_checkable
class PoseBackend(Protocol):
    """One frame in, one whole-body pose out, in the DWPose 134-point layout of ``interanimate.keypoints``.

    ``__call__(frame)``: ``frame`` uint8 (H, W, 3) RGB -> ``(keypoints float32 (134, 2) pixels (x, y),
    scores float32 (134,) in [0, 1])``; undetected points have score 0. A backend may also define ``reset()``,
    called before each new video (trackers must not carry state across clips).
    """

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise UserError(f"expected a uint8 RGB frame (H, W, 3), got {frame.dtype} {frame.shape}")
    return frame


def check_pose(keypoints: np.ndarray, scores: np.ndarray, backend: str = "backend") -> tuple[np.ndarray, np.ndarray]:
    """Validate and cast one backend's output."""
    keypoints = np.asarray(keypoints, np.float32)
    scores = np.asarray(scores, np.float32)
    if keypoints.shape != (NUM_KEYPOINTS, 2) or scores.shape != (NUM_KEYPOINTS,):
        raise UserError(f"pose backend {backend!r} returned keypoints {keypoints.shape} and scores {scores.shape}; "
                        f"expected ({NUM_KEYPOINTS}, 2) and ({NUM_KEYPOINTS},)")
    return keypoints, scores
