"""Finding and pairing the videos to evaluate.

A source is one of:

* a dataset root (``manifest.jsonl``, as ``interanimate.data.format``): one video per clip id, optionally only the
  clips of one split;
* a folder of video files (``.mp4``, ``.mov``, ``.avi``, ``.mkv``, ``.webm``): one video per file stem;
* a folder of frame folders: one video per sub-folder name, frames are its images in name order;
* a folder of images: one video (named after the folder).

Prediction and ground truth are paired by name; a name on one side only is an error that lists it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from interanimate.errors import UserError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class VideoSource:
    name: str
    location: str
    load: Callable[[], np.ndarray]  # → uint8 (F, H, W, 3)


@dataclass
class VideoPair:
    name: str
    pred: VideoSource
    gt: VideoSource


def is_dataset_root(path: str | os.PathLike) -> bool:
    from interanimate.data.format import MANIFEST_NAME

    return (Path(path) / MANIFEST_NAME).is_file()


def read_frame_folder(folder: Path) -> np.ndarray:
    from interanimate.utils.media import read_image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    frames = []
    for path in files:
        try:
            frames.append(read_image(path))  # refuses an image too large to decode before decoding it
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: cannot read image ({err})") from None
    if len({f.shape for f in frames}) > 1:
        raise UserError(f"{folder}: frames have different sizes")
    return np.stack(frames)


def _read_video_file(path: Path) -> np.ndarray:
    from interanimate.utils.video import read_video

    try:
        return read_video(path)[0]
    except (ValueError, OSError) as err:
        raise UserError(f"{path}: cannot read video ({err})") from None


def discover(root: str | os.PathLike, split: str | None = None) -> dict[str, VideoSource]:
    """All videos under ``root`` by name (of a dataset root: only the clips of ``split`` when given)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"no such folder: {root}")
    if is_dataset_root(root):
        from interanimate.data.format import load_frames, read_manifest

        sources = {r.clip_id: VideoSource(r.clip_id, str(root / r.video), lambda r=r: load_frames(root, r))
                   for r in read_manifest(root) if split is None or r.split == split}
        if not sources:
            raise UserError(f"{root}: no clips{'' if split is None else f' in split {split!r}'}")
        return sources
    sources = {}
    for entry in sorted(root.iterdir()):
        if entry.is_file() and entry.suffix.lower() in VIDEO_EXTENSIONS:
            sources[entry.stem] = VideoSource(entry.stem, str(entry), lambda p=entry: _read_video_file(p))
        elif entry.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entry.iterdir()):
            sources[entry.name] = VideoSource(entry.name, str(entry), lambda p=entry: read_frame_folder(p))
    if not sources and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir()):
        sources[root.name] = VideoSource(root.name, str(root), lambda: read_frame_folder(root))
    if not sources:
        raise UserError(f"{root}: no videos, frame folders or manifest.jsonl found")
    return sources


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" … ({len(names)} in all)" if len(names) > limit else "")


def pair_sources(pred_root: str | os.PathLike, gt_root: str | os.PathLike, split: str | None = None
                 ) -> list[VideoPair]:
    pred, gt = discover(pred_root, split), discover(gt_root, split)
    if len(pred) == 1 and len(gt) == 1 and set(pred) != set(gt):  # two single-video folders: pair them anyway
        (p,), (g,) = pred.values(), gt.values()
        return [VideoPair(g.name, p, g)]
    only_pred, only_gt = sorted(set(pred) - set(gt)), sorted(set(gt) - set(pred))
    if only_pred or only_gt:
        parts = []
        if only_pred:
            parts.append(f"in {pred_root} only: {_names(only_pred)}")
        if only_gt:
            parts.append(f"in {gt_root} only: {_names(only_gt)}")
        raise UserError("predictions and ground truth are paired by name, but some have no partner: "
                        + "; ".join(parts))
    return [VideoPair(name, pred[name], gt[name]) for name in sorted(gt)]


def mask_loaders(dataset_root: str | os.PathLike) -> dict[str, Callable[[], dict[str, np.ndarray]]]:
    """clip id → loader of ``{'region': hand ∪ face, 'face': face, 'hand': hand}``, bool (F, H, W) each, and the
    clip's ``keypoints`` (F, 134, 2) in pixels of those masks with their ``scores`` (F, 134) (for the hand metric)."""
    from interanimate.data.format import load_annotations, read_manifest

    if not is_dataset_root(dataset_root):
        raise UserError(f"--masks {dataset_root}: not a dataset root (no manifest.jsonl)")

    def load(record) -> dict[str, np.ndarray]:
        ann = load_annotations(dataset_root, record)
        face = ann["face_mask"].astype(bool)
        hand = ann["hand_mask"].astype(bool)
        return {"region": hand | face, "face": face, "hand": hand, "keypoints": ann["keypoints"],
                "scores": ann["scores"]}

    return {r.clip_id: (lambda r=r: load(r)) for r in read_manifest(dataset_root)}
