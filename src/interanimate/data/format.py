"""The on-disk InterHF-style dataset format, shared by SynthHF, ``interanimate prepare`` and every reader.

Layout::

    ROOT/
      manifest.jsonl                one JSON object per clip (ClipRecord); written last, so a root without one is
                                    not a dataset (yet)
      synthhf_run.json              SynthHF only: the parameters of the run, written before its first clip (an
                                    interrupted run is continued by rerunning ``interanimate synth`` on ROOT)
      clips/<clip_id>/video.mp4     H.264 RGB video
      clips/<clip_id>/annotations.npz

``annotations.npz`` holds (F = frames, H×W = the video's size):

=================== ================= ==========================================================
key                 dtype, shape      meaning
=================== ================= ==========================================================
keypoints           float32 (F,134,2) DWPose-layout points in pixels (x, y)
scores              float32 (F,134)   keypoint confidences in [0, 1]
hand_mask           uint8 (F,H,W)     union of both hands, {0, 1}
face_mask           uint8 (F,H,W)     face incl. forehead, {0, 1}
contact             float32 (F,)      contact strength in [0, 1] (0 where unknown)
identity_embedding  float32 (D,)      identity vector of the subject (SynthHF: its own; real: dlib/ArcFace)
=================== ================= ==========================================================

Every path in the manifest is relative and must resolve inside ROOT; anything else is a ``DataError``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from interanimate.errors import DataError
from interanimate.keypoints.layout import NUM_KEYPOINTS
from interanimate.utils.io import load_npz, save_npz_atomic, write_text_atomic

MANIFEST_NAME = "manifest.jsonl"
SYNTH_RUN_NAME = "synthhf_run.json"  # see interanimate.data.synth.writer
ANNOTATION_KEYS = ("keypoints", "scores", "hand_mask", "face_mask", "contact", "identity_embedding")
SPLITS = ("train", "test")


@dataclass
class ClipRecord:
    clip_id: str
    split: str
    class_code: str | None  # None for unlabeled real clips
    identity: str
    num_frames: int
    fps: float
    height: int
    width: int
    video: str  # relative to the root
    annotations: str  # relative to the root
    source: str = "synth"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict, where: str = "manifest") -> "ClipRecord":
        known = {f for f in cls.__dataclass_fields__}
        missing = [k for k in known if k not in data and k not in ("source", "extra")]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in known})


def clip_dir(clip_id: str) -> str:
    return f"clips/{clip_id}"


def resolve_inside(root: str | os.PathLike, relative: str, clip_id: str = "?") -> Path:
    """Resolve ``relative`` under ``root``; refuse absolute paths and anything escaping the root (.., symlinks)."""
    root = Path(root).resolve()
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        raise DataError(f"clip {clip_id}: path {relative!r} must be relative to the dataset root")
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise DataError(f"clip {clip_id}: path {relative!r} resolves outside the dataset root {root}")
    return path


def read_manifest(root: str | os.PathLike) -> list[ClipRecord]:
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        if (Path(root) / SYNTH_RUN_NAME).is_file():
            raise DataError(f"{root} holds an unfinished SynthHF run (no {MANIFEST_NAME} yet): rerun `interanimate "
                            f"synth --out {root}` with its parameters ({SYNTH_RUN_NAME}) to finish it")
        raise DataError(f"no {MANIFEST_NAME} in {root}: is this a dataset root?")
    records, seen = [], {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{line_no}: not valid JSON ({err.msg})") from None
        record = ClipRecord.from_dict(data, where=f"{path}:{line_no}")
        if record.clip_id in seen:
            raise DataError(f"{path}:{line_no}: duplicate clip id {record.clip_id!r} (also on line "
                            f"{seen[record.clip_id]})")
        seen[record.clip_id] = line_no
        resolve_inside(root, record.video, record.clip_id)
        resolve_inside(root, record.annotations, record.clip_id)
        records.append(record)
    return records


def manifest_text(records: list[ClipRecord]) -> str:
    """The manifest's contents: one sorted-key JSON line per record, in clip-id order (so the bytes depend only on
    the records). Refuses duplicate clip ids, which ``read_manifest`` would refuse."""
    ordered = sorted(records, key=lambda r: r.clip_id)
    for a, b in zip(ordered, ordered[1:]):
        if a.clip_id == b.clip_id:
            raise DataError(f"duplicate clip id {a.clip_id!r} in the records to write")
    lines = [json.dumps(asdict(r), sort_keys=True) for r in ordered]
    return "\n".join(lines) + ("\n" if lines else "")


def write_manifest(root: str | os.PathLike, records: list[ClipRecord]) -> None:
    write_text_atomic(Path(root) / MANIFEST_NAME, manifest_text(records))


def validate_annotations(ann: dict[str, np.ndarray], clip_id: str = "?") -> None:
    missing = [k for k in ANNOTATION_KEYS if k not in ann]
    if missing:
        raise DataError(f"clip {clip_id}: annotations lack {', '.join(missing)}")
    frames = ann["keypoints"].shape[0]
    expected = {"keypoints": (frames, NUM_KEYPOINTS, 2), "scores": (frames, NUM_KEYPOINTS), "contact": (frames,)}
    for key, shape in expected.items():
        if ann[key].shape != shape:
            raise DataError(f"clip {clip_id}: {key} has shape {ann[key].shape}, expected {shape}")
    for key in ("hand_mask", "face_mask"):
        if ann[key].ndim != 3 or ann[key].shape[0] != frames:
            raise DataError(f"clip {clip_id}: {key} has shape {ann[key].shape}, expected ({frames}, H, W)")
    if ann["identity_embedding"].ndim != 1:
        raise DataError(f"clip {clip_id}: identity_embedding must be 1-D, got {ann['identity_embedding'].shape}")


def save_annotations(path: str | os.PathLike, ann: dict[str, np.ndarray], clip_id: str = "?") -> None:
    arrays = {
        "keypoints": np.asarray(ann["keypoints"], np.float32),
        "scores": np.asarray(ann["scores"], np.float32),
        "hand_mask": np.asarray(ann["hand_mask"], np.uint8),
        "face_mask": np.asarray(ann["face_mask"], np.uint8),
        "contact": np.asarray(ann["contact"], np.float32),
        "identity_embedding": np.asarray(ann["identity_embedding"], np.float32),
    }
    validate_annotations(arrays, clip_id)
    save_npz_atomic(path, arrays)


def load_annotations(root: str | os.PathLike, record: ClipRecord) -> dict[str, np.ndarray]:
    path = resolve_inside(root, record.annotations, record.clip_id)
    if not path.is_file():
        raise DataError(f"clip {record.clip_id}: annotations file missing ({record.annotations})")
    try:
        ann = load_npz(path)
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError, EOFError: all mean corrupt
        raise DataError(f"clip {record.clip_id}: annotations file is corrupt ({record.annotations}: {err})") from None
    validate_annotations(ann, record.clip_id)
    return ann


def load_frames(root: str | os.PathLike, record: ClipRecord) -> np.ndarray:
    """Decode the clip's video to uint8 (F, H, W, 3), with errors that name the clip."""
    from interanimate.utils.video import read_video

    path = resolve_inside(root, record.video, record.clip_id)
    if not path.is_file():
        raise DataError(f"clip {record.clip_id}: video file missing ({record.video})")
    try:
        frames, _ = read_video(path)
    except (ValueError, OSError) as err:
        raise DataError(f"clip {record.clip_id}: video is unreadable ({record.video}: {err})") from None
    return frames


def split_identities(identities: list[str], test_fraction: float = 0.1, seed: int = 0) -> dict[str, str]:
    """Assign each identity to 'train' or 'test' (paper: 90/10 by identity, so test faces are unseen).

    Deterministic for a seed; at least one identity in each split when there are two or more.
    """
    unique = sorted(set(identities))
    rng = np.random.default_rng(seed)
    order = [unique[i] for i in rng.permutation(len(unique))]
    n_test = int(round(test_fraction * len(unique)))
    if len(unique) >= 2:
        n_test = min(max(n_test, 1), len(unique) - 1)
    test = set(order[:n_test])
    return {ident: ("test" if ident in test else "train") for ident in unique}
