"""Frames of a clip as the benchmark's detectors see them: pixels only, never stored keypoints or masks.

A clip becomes a (6, T, S, S) float16 tensor: ``T`` frames sampled evenly over the video, each area-resized to S×S
(centre-cropped to a square first), in [-1, 1], and beside each frame its difference to the first — so that the motion
stands out from the person. :class:`ClipTensors` decodes every clip once up front (which also finds an undecodable
file before any training starts), keeps the tensors in memory while they fit ``cache_bytes`` and otherwise decodes
again on each read (streaming from the manifest for sets of any size).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from interanimate.benchmark.sets import BenchClip
from interanimate.errors import DataError

DEFAULT_CACHE_BYTES = 2 << 30


def clip_tensor(clip: BenchClip, frames: int, size: int) -> torch.Tensor:
    """The clip's video -> (6, ``frames``, ``size``, ``size``) float16 (module docstring). Raises :class:`DataError`
    naming the clip when its video cannot be decoded."""
    import cv2

    from interanimate.utils.video import read_video

    try:
        video, _ = read_video(clip.video)  # (F, H, W, 3) uint8
    except (ValueError, OSError) as err:
        raise DataError(f"clip {clip.clip_id}: {' '.join(str(err).split())}") from None
    f, h, w = video.shape[:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    index = np.linspace(0, f - 1, frames).round().astype(int)  # (T,) evenly spread, repeats when F < T
    picked = [cv2.resize(video[i, top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
              for i in index]
    x = torch.from_numpy(np.stack(picked)).float().div(127.5).sub(1)  # (T, S, S, 3)
    x = x.permute(3, 0, 1, 2)  # (3, T, S, S)
    return torch.cat([x, x - x[:, :1]], dim=0).half()  # (6, T, S, S)


class ClipTensors(Dataset):
    """``(tensor, label)`` per clip; ``labels`` (one int per clip) given by the caller."""

    def __init__(self, clips: list[BenchClip], labels: list[int], frames: int, size: int,
                 cache_bytes: int = DEFAULT_CACHE_BYTES):
        if len(clips) != len(labels):
            raise ValueError("one label per clip")
        self.clips, self.labels, self.frames, self.size = list(clips), list(labels), frames, size
        per_clip = 6 * frames * size * size * 2  # float16 bytes
        self.cached: list[torch.Tensor] | None = [] if per_clip * len(self.clips) <= cache_bytes else None

    def preload(self, progress=None) -> None:
        """Decode every clip once (raises on the first undecodable one); keep them when they fit the cache."""
        for clip in self.clips:
            tensor = clip_tensor(clip, self.frames, self.size)
            if self.cached is not None:
                self.cached.append(tensor)
            if progress is not None:
                progress.update(1)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.cached is not None and len(self.cached) == len(self.clips):
            return self.cached[i], self.labels[i]
        return clip_tensor(self.clips[i], self.frames, self.size), self.labels[i]
