"""The SynthHF contact sheet: one row per class, frames across, then the masks and the pose overlay at peak contact."""

from __future__ import annotations

import os

import cv2
import numpy as np

from interanimate.data.synth.identity import sample_identity
from interanimate.data.synth.render import render_clip
from interanimate.data.synth.writer import clip_rng, identity_name, identity_rng
from interanimate.keypoints.render import render_pose
from interanimate.taxonomy import CLASSES
from interanimate.utils.io import atomic_path

LABEL_WIDTH = 84


def _label(text: str, height: int) -> np.ndarray:
    tile = np.full((height, LABEL_WIDTH, 3), 255, np.uint8)
    cv2.putText(tile, text, (6, height // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return tile


def preview_rows(seed: int = 0, size: tuple[int, int] = (128, 128), frames: int = 24, columns: int = 6,
                 identities: int = 6) -> list[np.ndarray]:
    rows = []
    for cls in CLASSES:
        ident = cls.index % identities
        look = sample_identity(identity_rng(seed, ident))
        clip = render_clip(look, identity_name(ident), cls, frames, size, clip_rng(seed, ident, cls.index, 0))
        picks = np.linspace(0, frames - 1, columns).round().astype(int)
        peak = int(np.argmax(clip.contact)) if clip.contact.max() > 0 else frames // 2
        overlay = clip.frames[peak].astype(np.float32)
        overlay[clip.hand_mask[peak] > 0] = 0.5 * overlay[clip.hand_mask[peak] > 0] + (0, 110, 0)
        overlay[clip.face_mask[peak] > 0] = 0.5 * overlay[clip.face_mask[peak] > 0] + (0, 0, 110)
        pose = render_pose(clip.keypoints[peak], clip.scores[peak], *size)
        pose_over = np.where(pose.sum(-1, keepdims=True) > 0, pose, clip.frames[peak] // 3)
        tiles = [_label(cls.code, size[0])] + [clip.frames[i] for i in picks]
        tiles += [np.full((size[0], 6, 3), 255, np.uint8), np.clip(overlay, 0, 255).astype(np.uint8), pose_over]
        rows.append(np.concatenate(tiles, axis=1))
    return rows


def write_preview(path: str | os.PathLike, seed: int = 0, size: tuple[int, int] = (128, 128), frames: int = 24,
                  columns: int = 6) -> np.ndarray:
    """Write the contact sheet PNG atomically and return it (uint8 RGB)."""
    rows = preview_rows(seed, size, frames, columns)
    gap = np.full((3, rows[0].shape[1], 3), 255, np.uint8)
    sheet = np.concatenate([r for row in rows for r in (row, gap)][:-1], axis=0)
    with atomic_path(path) as tmp:
        ok = cv2.imwrite(str(tmp.with_suffix(".png")), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not write {path}")
        os.replace(tmp.with_suffix(".png"), tmp)
    return sheet
