"""Previews of keypoint motion: an animated GIF, or a strip PNG of evenly spaced frames, drawn with
``interanimate.keypoints.render_pose`` (DWPose colours)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from interanimate.keypoints import render_pose


def render_frames(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """(F, 134, 2), (F, 134) -> uint8 (F, H, W, 3)."""
    return np.stack([render_pose(k, s, height, width) for k, s in zip(keypoints, scores)])


def strip(frames: np.ndarray, count: int = 8) -> np.ndarray:
    """``count`` evenly spaced frames of (F, H, W, 3) side by side -> (H, count * W, 3)."""
    idx = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return np.concatenate(list(frames[idx]), axis=1)


def write_preview(path: str | os.PathLike, keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                  fps: float = 8.0, max_side: int = 256) -> Path:
    """Write a GIF (``.gif``) or strip PNG (any other suffix) of a keypoint sequence, scaled to ``max_side``."""
    path = Path(path)
    factor = min(1.0, max_side / max(height, width))
    h, w = max(16, int(round(height * factor))), max(16, int(round(width * factor)))
    frames = render_frames(keypoints * np.array([w / width, h / height], np.float32), scores, h, w)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    else:
        Image.fromarray(strip(frames)).save(path)
    return path
