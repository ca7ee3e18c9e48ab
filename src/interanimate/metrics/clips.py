"""Clip formation for FID-VID and FVD.

``sliding`` (DisCo, the default): every frame with ``length − 1`` successors starts a clip (stride 1), so a
20-frame video gives 5 clips of 16. ``per-video`` (StyleGAN-V's ``fvd2048_16f``): one clip, the first ``length``
frames. A video shorter than ``length`` is an error unless ``pad_short`` is set, which repeats its last frame up to
``length`` (DisCo's padding for the 3D ResNet) and yields one clip.
"""

from __future__ import annotations

import numpy as np

from interanimate.errors import UserError

CLIP_LENGTH = 16
CLIP_MODES = ("sliding", "per-video")


def clip_starts(num_frames: int, length: int = CLIP_LENGTH, mode: str = "sliding", stride: int = 1,
                pad_short: bool = False, name: str = "video") -> list[int]:
    """Start indices of the clips of a ``num_frames`` video; [0] for a padded short video."""
    if mode not in CLIP_MODES:
        raise ValueError(f"clip mode must be one of {CLIP_MODES}, got {mode!r}")
    if length < 1 or stride < 1:
        raise ValueError(f"clip length and stride must be positive, got {length}, {stride}")
    if num_frames < length:
        if pad_short and num_frames > 0:
            return [0]
        raise UserError(f"{name}: {num_frames} frames, but video metrics need clips of {length} consecutive frames "
                        f"(use --pad-short to repeat the last frame, or --clip-length)")
    if mode == "per-video":
        return [0]
    return list(range(0, num_frames - length + 1, stride))


def make_clips(frames: np.ndarray, length: int = CLIP_LENGTH, mode: str = "sliding", stride: int = 1,
               pad_short: bool = False, name: str = "video") -> np.ndarray:
    """Frames (F, H, W, 3) → clips (N, length, H, W, 3) (a view-free copy)."""
    starts = clip_starts(len(frames), length, mode, stride, pad_short, name)
    if len(frames) < length:  # padded: repeat the last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], length - len(frames), axis=0)])
    return np.stack([frames[s:s + length] for s in starts])
