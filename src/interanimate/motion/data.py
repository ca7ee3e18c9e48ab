"""Motion windows from an InterHF-format dataset root (SynthHF or prepared real clips).

Every labelled clip of the split is read once (keypoints and scores of ``annotations.npz`` through
``interanimate.data.format``); an item is a window of ``frames`` frames (every ``stride``-th), encoded in the
face-centred frame of its first frame, optionally mirrored (points, x and class together).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from interanimate.data.format import load_annotations, read_manifest
from interanimate.errors import DataError
from interanimate.motion.representation import (FACE_PARTY, HAND, encode_keypoints, mirror_class,
                                                mirror_features)
from interanimate.taxonomy import class_index
from interanimate.utils.io import load_npz, save_npz_atomic


@dataclass
class MotionDataConfig:
    root: str = ""
    frames: int = 32
    stride: int = 1
    mirror: bool = True  # random mirror augmentation (train split only)

    def __post_init__(self):
        if self.frames < 1 or self.stride < 1:
            raise ValueError(f"data.frames and data.stride must be >= 1, got {self.frames}, {self.stride}")


def _read_clips(root):
    """Yield (clip_id, split, class index, keypoints (F,134,2), scores (F,134)) of the labelled clips."""
    if os.fspath(root).endswith(".npz"):
        if not os.path.isfile(root):
            raise DataError(f"motion cache not found: {root}")
        data = load_npz(root)
        for i, clip_id in enumerate(data["clip_id"]):
            yield (str(clip_id), str(data["split"][i]), int(data["class_index"][i]),
                   data["keypoints"][i].astype(np.float32), data["scores"][i].astype(np.float32) / 255.0)
        return
    for record in read_manifest(root):
        if record.class_code is None:
            continue
        ann = load_annotations(root, record)
        yield record.clip_id, record.split, class_index(record.class_code), ann["keypoints"], ann["scores"]


class MotionDataset(Dataset):
    """Windows of labelled clips. ``random_windows``: a random start per item (training), else the first window."""

    def __init__(self, root: str | os.PathLike, split: str | None, config: MotionDataConfig,
                 random_windows: bool = False, seed: int = 0):
        """``root``: an InterHF dataset root, or a motion cache file (``.npz``, see ``save_cache``)."""
        self.config = config
        self.random_windows = random_windows
        self.rng = np.random.default_rng(seed)
        span = (config.frames - 1) * config.stride + 1
        self.clips, self.skipped_short = [], 0
        for clip_id, clip_split, label, kpts, scores in _read_clips(root):
            if split is not None and clip_split != split:
                continue
            if kpts.shape[0] < span:
                self.skipped_short += 1
                continue
            self.clips.append((clip_id, label, kpts, scores))
        if not self.clips:
            raise DataError(f"{root}: no labelled clips of split {split!r} with >= {span} frames")
        self.span = span
        self._memo: dict = {}  # (index, start, mirror) -> encoded window

    @staticmethod
    def save_cache(root: str | os.PathLike, path: str | os.PathLike) -> None:
        """Keypoints of every labelled clip of ``root`` in one compact file (float16 pixels, uint8 scores).

        Clips must share one length. Training reads it like a dataset root (``data.root: PATH.npz``).
        """
        clips = list(_read_clips(root))
        save_npz_atomic(path, {
            "clip_id": np.array([c[0] for c in clips]), "split": np.array([c[1] for c in clips]),
            "class_index": np.array([c[2] for c in clips], np.int16),
            "keypoints": np.stack([c[3] for c in clips]).astype(np.float16),
            "scores": np.round(np.stack([c[4] for c in clips]) * 255).astype(np.uint8)})

    def __len__(self) -> int:
        return len(self.clips)

    def window(self, index: int, start: int | None = None, mirror: bool = False):
        """Features of one window: hand (T, 42, 5), face (T, 68, 6), class index."""
        if start is None:
            start = 0
        key = (index, start, mirror)
        if key not in self._memo:
            self._memo[key] = self._encode(index, start, mirror)
        return self._memo[key]

    def _encode(self, index: int, start: int, mirror: bool):
        _, label, kpts, scores = self.clips[index]
        sel = slice(start, start + self.span, self.config.stride)
        hand, face, _ = encode_keypoints(kpts[sel], scores[sel])
        if mirror:
            hand, face, label = mirror_features(hand, HAND), mirror_features(face, FACE_PARTY), int(mirror_class(label))
        return hand, face, label

    def __getitem__(self, index: int) -> dict:
        start, mirror = 0, False
        if self.random_windows:
            start = int(self.rng.integers(0, self.clips[index][2].shape[0] - self.span + 1))
            mirror = self.config.mirror and bool(self.rng.random() < 0.5)
        hand, face, label = self.window(index, start, mirror)
        return {"hand": torch.from_numpy(hand), "face": torch.from_numpy(face),
                "class_index": torch.tensor(label, dtype=torch.long)}

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """First windows of every clip, unmirrored: hand (N, T, 42, 5), face (N, T, 68, 6), labels (N,)."""
        items = [self.window(i) for i in range(len(self))]
        return (torch.from_numpy(np.stack([h for h, _, _ in items])), torch.from_numpy(np.stack([f for _, f, _ in items])),
                torch.tensor([c for _, _, c in items], dtype=torch.long))
