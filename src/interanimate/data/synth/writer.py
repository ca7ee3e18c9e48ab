"""Write a SynthHF dataset in the InterHF layout (``interanimate.data.format``), in parallel and deterministically."""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interanimate.data.format import (MANIFEST_NAME, ClipRecord, clip_dir, read_manifest, save_annotations,
                                      split_identities, write_manifest)
from interanimate.data.synth.identity import sample_identity
from interanimate.data.synth.render import SynthConfig, render_clip
from interanimate.errors import UserError
from interanimate.taxonomy import CLASSES
from interanimate.utils.video import write_mp4

FPS = 8.0
SOURCE = "synthhf"


def identity_name(index: int) -> str:
    return f"synth{index:05d}"


def identity_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, index])


def clip_rng(seed: int, identity_index: int, class_index: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, 2, identity_index, class_index, k])


@dataclass(frozen=True)
class _Task:
    out_dir: str
    identity_index: int
    class_index: int
    k: int
    frames: int
    size: tuple[int, int]
    seed: int
    split: str
    camera_jitter: float = SynthConfig.camera_jitter


def _render_and_write(task: _Task) -> ClipRecord:
    look = sample_identity(identity_rng(task.seed, task.identity_index))
    cls = CLASSES[task.class_index]
    ident = identity_name(task.identity_index)
    clip = render_clip(look, ident, cls, task.frames, task.size,
                       clip_rng(task.seed, task.identity_index, task.class_index, task.k),
                       SynthConfig(camera_jitter=task.camera_jitter))
    clip_id = f"{ident}_{cls.code}_{task.k}"
    folder = Path(task.out_dir) / clip_dir(clip_id)
    write_mp4(folder / "video.mp4", clip.frames, fps=FPS)
    save_annotations(folder / "annotations.npz", {
        "keypoints": clip.keypoints, "scores": clip.scores, "hand_mask": clip.hand_mask, "face_mask": clip.face_mask,
        "contact": clip.contact, "identity_embedding": clip.identity_embedding}, clip_id)
    height, width = task.size
    return ClipRecord(clip_id, task.split, cls.code, ident, task.frames, FPS, height, width,
                      f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz", source=SOURCE,
                      extra={"seed": task.seed, "k": task.k, "camera_jitter": task.camera_jitter})


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST_NAME).is_file():
            raise UserError(f"{out_dir} is not empty and holds no SynthHF dataset; choose an empty or new folder")
        records = read_manifest(out_dir)
        if any(r.source != SOURCE for r in records):
            raise UserError(f"{out_dir} holds a dataset that SynthHF did not write; refusing to overwrite it")


def write_dataset(out_dir: str | os.PathLike, identities: int, clips_per_class: int, frames: int,
                  size: tuple[int, int], seed: int = 0, progress: bool = True, workers: int | None = None,
                  test_fraction: float = 0.1, camera_jitter: float = SynthConfig.camera_jitter) -> list[ClipRecord]:
    """Render ``identities`` × 18 classes × ``clips_per_class`` clips into ``out_dir``; returns the manifest rows.

    ``camera_jitter`` is the std of the per-frame camera shake as a fraction of the width (0: a steady camera).

    The same arguments always give byte-identical annotation files, whatever ``workers`` is.
    """
    if identities < 1 or clips_per_class < 1 or frames < 2:
        raise UserError("identities and clips-per-class must be >= 1 and frames >= 2")
    if not 0.0 <= camera_jitter <= 0.1:
        raise UserError(f"camera jitter must be within [0, 0.1] of the width, got {camera_jitter}")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [identity_name(i) for i in range(identities)]
    splits = split_identities(names, test_fraction=test_fraction, seed=seed)
    tasks = [_Task(str(out_dir), i, c.index, k, frames, tuple(size), seed, splits[names[i]], camera_jitter)
             for i in range(identities) for c in CLASSES for k in range(clips_per_class)]
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="SynthHF clips", unit="clip", disable=not progress)
    records = []
    if workers <= 1:
        for task in tasks:
            records.append(_render_and_write(task))
            bar.update()
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            for record in pool.imap(_render_and_write, tasks, chunksize=4):
                records.append(record)
                bar.update()
    bar.close()
    write_manifest(out_dir, records)
    return records
