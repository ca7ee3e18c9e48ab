"""The torch ``Dataset`` for training and evaluation on InterHF-format data (SynthHF or prepared real videos).

Each item follows the paper's sampling: a random frame of the whole video as the reference image and a clip of
``num_frames`` frames (every ``stride``-th frame) as the target, with the clip's pose images, hand and face masks, and
the subject's identity embedding, all resized to ``size``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from interanimate.data.format import ClipRecord, load_annotations, load_frames, read_manifest
from interanimate.errors import DataError
from interanimate.keypoints.conditions import keypoint_conditions, scale_keypoints
from interanimate.taxonomy import BY_CODE


@dataclass(frozen=True)
class DatasetConfig:
    num_frames: int = 16
    stride: int = 1
    size: tuple[int, int] | None = None  # (height, width); None keeps the stored size
    reference: str = "random"  # "random" (paper: any frame of the video) or "first"
    seed: int = 0
    confidence_aware_pose: bool = True
    # what the region block gets as hand/face masks: "keypoints" (drawn from the clip's keypoints by the function
    # that draws them at inference, interanimate.keypoints.conditions) or "annotation" (the stored masks: SynthHF's
    # exact silhouettes, or what `prepare` wrote); the stored masks are always there as hand/face_silhouette
    masks: str = "keypoints"
    # the hand shape map's channels after the skeleton's in ``pose`` (for a UNet with ``hand_map_channels``)
    hand_map: bool = False

    def __post_init__(self):
        if self.num_frames < 1 or self.stride < 1:
            raise ValueError(f"num_frames and stride must be >= 1, got {self.num_frames}, {self.stride}")
        if self.reference not in ("random", "first"):
            raise ValueError(f"reference must be 'random' or 'first', got {self.reference!r}")
        if self.masks not in ("keypoints", "annotation"):
            raise ValueError(f"masks must be 'keypoints' or 'annotation', got {self.masks!r}")


def _to_signed(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).float().div(127.5).sub(1.0)
    return tensor.movedim(-1, -3)  # (..., H, W, 3) -> (..., 3, H, W)


def _resize_frames(frames: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def identity_dim(root: str | os.PathLike) -> int | None:
    """The length of the identity vectors of a dataset root (its first clip's; None when it has no clips)."""
    records = read_manifest(root)
    return int(load_annotations(root, records[0])["identity_embedding"].shape[0]) if records else None


class InterHFDataset(Dataset):
    """Clips of an InterHF-format root, optionally one split. Deterministic for ``(seed, epoch, index)``."""

    def __init__(self, root: str | os.PathLike, split: str | None = "train",
                 config: DatasetConfig = DatasetConfig(), records: list[ClipRecord] | None = None):
        self.root = os.fspath(root)
        self.config = config
        all_records = records if records is not None else read_manifest(root)
        identities = sorted({r.identity for r in all_records})
        self.identity_to_index = {ident: i for i, ident in enumerate(identities)}
        needed = (config.num_frames - 1) * config.stride + 1
        chosen = [r for r in all_records if split is None or r.split == split]
        self.records = [r for r in chosen if r.num_frames >= needed]
        self.skipped_short = len(chosen) - len(self.records)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change which clip window and reference frame each index draws (call once per epoch)."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, self.epoch, index])

    def load_clip(self, record: ClipRecord) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        frames = load_frames(self.root, record)  # (F, H, W, 3) uint8
        ann = load_annotations(self.root, record)
        if len(frames) != len(ann["keypoints"]):
            raise DataError(f"clip {record.clip_id}: video has {len(frames)} frames but annotations have "
                            f"{len(ann['keypoints'])}")
        return frames, ann

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        cfg = self.config
        frames, ann = self.load_clip(record)
        rng = self._rng(index)
        total = len(frames)
        span = (cfg.num_frames - 1) * cfg.stride + 1
        start = int(rng.integers(0, total - span + 1))
        idx = np.arange(start, start + span, cfg.stride)  # (F,)
        ref_idx = int(rng.integers(0, total)) if cfg.reference == "random" else 0

        height, width = cfg.size or frames.shape[1:3]
        keypoints = scale_keypoints(ann["keypoints"][idx], frames.shape[1:3], (height, width))  # (F, 134, 2)
        scores = ann["scores"][idx]  # (F, 134)
        clip = _resize_frames(frames[idx], (height, width), cv2.INTER_AREA)  # (F, H, W, 3)
        reference = _resize_frames(frames[ref_idx:ref_idx + 1], (height, width), cv2.INTER_AREA)[0]
        drawn = keypoint_conditions(keypoints, scores, height, width, confidence_aware=cfg.confidence_aware_pose,
                                    hand_map=cfg.hand_map)
        hand_silhouette = _resize_frames(ann["hand_mask"][idx], (height, width), cv2.INTER_NEAREST)  # (F, H, W)
        face_silhouette = _resize_frames(ann["face_mask"][idx], (height, width), cv2.INTER_NEAREST)  # (F, H, W)
        hand, face = ((drawn["hand_mask"], drawn["face_mask"]) if cfg.masks == "keypoints"
                      else (hand_silhouette, face_silhouette))
        class_index = BY_CODE[record.class_code].index if record.class_code in BY_CODE else -1
        return {
            "reference": _to_signed(reference),  # (3, H, W)
            "frames": _to_signed(clip),  # (F, 3, H, W)
            "pose": _to_signed(drawn["pose"]),  # (F, 3 + K, H, W): skeleton (+ hand shape map)
            "hand_mask": torch.from_numpy(hand.astype(np.float32))[:, None],  # (F, 1, H, W): for the region block
            "face_mask": torch.from_numpy(face.astype(np.float32))[:, None],  # (F, 1, H, W)
            "hand_silhouette": torch.from_numpy(hand_silhouette.astype(np.float32))[:, None],  # (F, 1, H, W) stored
            "face_silhouette": torch.from_numpy(face_silhouette.astype(np.float32))[:, None],  # (F, 1, H, W)
            "keypoints": torch.from_numpy(keypoints.astype(np.float32)),  # (F, 134, 2)
            "scores": torch.from_numpy(scores.astype(np.float32)),  # (F, 134)
            "contact": torch.from_numpy(ann["contact"][idx].astype(np.float32)),  # (F,)
            "identity_embedding": torch.from_numpy(ann["identity_embedding"].astype(np.float32)),  # (D,)
            "identity_index": torch.tensor(self.identity_to_index[record.identity], dtype=torch.long),
            "class_index": torch.tensor(class_index, dtype=torch.long),
            "frame_indices": torch.from_numpy(idx.astype(np.int64)),  # (F,)
            "reference_index": torch.tensor(ref_idx, dtype=torch.long),
            "clip_id": record.clip_id,
        }
