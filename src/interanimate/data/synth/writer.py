"""Write a SynthHF dataset in the InterHF layout (``interanimate.data.format``), in parallel, deterministically and
resumably.

A run writes its parameters first (``synthhf_run.json``), then every clip into ``clips/.tmp-<id>/``, renamed to
``clips/<id>/`` once both of its files are written, and the manifest last. So a killed run leaves finished clips,
at most one temporary folder per worker and no manifest; rerunning it with the same parameters keeps the finished
clips, renders the others (partial ones again) and ends with the folder byte-identical to an uninterrupted run's.
Other parameters are refused with one line naming what differs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interanimate.data.format import (MANIFEST_NAME, SYNTH_RUN_NAME, ClipRecord, clip_dir, manifest_text,
                                      read_manifest, save_annotations, split_identities, write_manifest)
from interanimate.data.synth.identity import sample_identity
from interanimate.data.synth.render import SynthConfig, render_clip
from interanimate.errors import UserError
from interanimate.taxonomy import CLASSES
from interanimate.utils.io import write_json_atomic
from interanimate.utils.video import write_mp4

FPS = 8.0
SOURCE = "synthhf"
RUN_FILE_VERSION = 1
TMP_PREFIX = ".tmp-"  # clips/.tmp-<clip id>/: a clip being written
IDENTITY_SOURCES = ("synth", "dlib")


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
    identity: str = "synth"  # see write_dataset

    @property
    def clip_id(self) -> str:
        return f"{identity_name(self.identity_index)}_{CLASSES[self.class_index].code}_{self.k}"

    def record(self) -> ClipRecord:
        """The manifest row of this clip (known before it is rendered)."""
        height, width = self.size
        folder = clip_dir(self.clip_id)
        return ClipRecord(self.clip_id, self.split, CLASSES[self.class_index].code, identity_name(self.identity_index),
                          self.frames, FPS, height, width, f"{folder}/video.mp4", f"{folder}/annotations.npz",
                          source=SOURCE, extra={"seed": self.seed, "k": self.k, "camera_jitter": self.camera_jitter,
                                                **({"identity_model": self.identity} if self.identity != "synth" else {})})


def _render_and_write(task: _Task) -> str:
    """Render one clip into ``clips/.tmp-<id>/`` and rename that to ``clips/<id>/`` once complete."""
    look = sample_identity(identity_rng(task.seed, task.identity_index))
    cls = CLASSES[task.class_index]
    clip = render_clip(look, identity_name(task.identity_index), cls, task.frames, task.size,
                       clip_rng(task.seed, task.identity_index, task.class_index, task.k),
                       SynthConfig(camera_jitter=task.camera_jitter))
    final = Path(task.out_dir) / clip_dir(task.clip_id)
    tmp = final.with_name(TMP_PREFIX + final.name)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_mp4(tmp / "video.mp4", clip.frames, fps=FPS)
    save_annotations(tmp / "annotations.npz", {
        "keypoints": clip.keypoints, "scores": clip.scores, "hand_mask": clip.hand_mask, "face_mask": clip.face_mask,
        "contact": clip.contact, "identity_embedding": _clip_identity(task, clip)}, task.clip_id)
    os.replace(tmp, final)
    return task.clip_id


_EMBEDDERS: dict = {}  # one dlib embedder per process (each worker builds its own)


def _clip_identity(task: _Task, clip) -> np.ndarray:
    """The clip's identity vector: the renderer's own (``synth``), or what ``interanimate prepare`` stores for a real
    video (``dlib``: the dlib embedder on the first probed frame with a face; zeros when none has one)."""
    if task.identity == "synth":
        return clip.identity_embedding
    from interanimate.annotate.identity import DLIB_DIM, first_face_identity, get_embedder

    if task.identity not in _EMBEDDERS:
        _EMBEDDERS[task.identity] = get_embedder(task.identity)
    vector, _ = first_face_identity(_EMBEDDERS[task.identity], clip.frames)
    return vector if vector is not None else np.zeros(DLIB_DIM, np.float32)


def _die_with_parent() -> None:
    """Pool initialiser: a worker is killed with its parent (``kill -9`` of the run must not leave workers writing
    into the folder a rerun continues). Linux only; elsewhere an orphaned worker may still finish its clip, which a
    rerun started at once could then render too (the two write the same bytes to the same temporary folder)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# ------------------------------------------------------------------------------------------ the run's parameters
def run_parameters(identities: int, clips_per_class: int, frames: int, size: tuple[int, int], seed: int,
                   test_fraction: float, camera_jitter: float, identity: str = "synth") -> dict:
    """What determines a SynthHF folder's bytes (not ``workers`` or ``progress``), as the run file stores it."""
    return {"identities": int(identities), "clips_per_class": int(clips_per_class), "frames": int(frames),
            "size": [int(size[0]), int(size[1])], "seed": int(seed), "test_fraction": float(test_fraction),
            "camera_jitter": float(camera_jitter), "identity": str(identity)}


def _show(key: str, value) -> str:
    return f"{value[0]}x{value[1]}" if key == "size" and isinstance(value, list) and len(value) == 2 else repr(value)


def _differences(found: dict, asked: dict) -> str:
    """``frames 8 there, 6 asked; size 64x64 there, 32x32 asked`` (only the keys ``found`` knows)."""
    parts = [f"{key} {_show(key, found[key])} there, {_show(key, value)} asked"
             for key, value in asked.items() if key in found and found[key] != value]
    return "; ".join(parts)


def _read_run_file(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version, params = data["version"], data["parameters"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is not a SynthHF run file; choose another folder") from None
    if isinstance(params, dict):
        params.setdefault("identity", "synth")  # run files written before the identity choice existed
    if version != RUN_FILE_VERSION:
        raise UserError(f"{path} was written by another version of the SynthHF writer (run file version {version}, "
                        f"this one writes {RUN_FILE_VERSION}); choose another folder")
    return params


def _parameters_of(records: list[ClipRecord]) -> dict:
    """The parameters a manifest shows (a dataset of an earlier writer has no run file; not test_fraction)."""
    first = records[0]
    return {"identities": len({r.identity for r in records}),
            "clips_per_class": max(int(r.extra.get("k", 0)) for r in records) + 1, "frames": first.num_frames,
            "size": [first.height, first.width], "seed": first.extra.get("seed"),
            "camera_jitter": first.extra.get("camera_jitter"),
            "identity": first.extra.get("identity_model", "synth")}


def _remove_temporaries(out_dir: Path) -> None:
    """What a killed run of ours leaves besides finished clips: clip folders being written, a manifest being
    written (``utils.io.atomic_path`` names it ``.manifest.jsonl.<random>…``)."""
    for path in out_dir.glob(f".{MANIFEST_NAME}.*"):
        path.unlink(missing_ok=True)
    clips = out_dir / "clips"
    if clips.is_dir():
        for path in clips.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def _prepare_out_dir(out_dir: Path, params: dict, expected: list[ClipRecord]) -> None:
    """Make ``out_dir`` ready to write (or continue) the run ``params``; refuse any other folder in one line."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder")
    run_file = out_dir / SYNTH_RUN_NAME
    for path in out_dir.glob(f".{SYNTH_RUN_NAME}.*"):  # a run file being written when the run was killed
        path.unlink(missing_ok=True)
    if run_file.is_file():
        found = _read_run_file(run_file)
        if found != params:
            raise UserError(f"{out_dir} holds a SynthHF run with other parameters ({_differences(found, params)}); "
                            "give the same ones to continue it, or choose another folder")
        _remove_temporaries(out_dir)
        return
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST_NAME).is_file():
            raise UserError(f"{out_dir} is not empty and holds no SynthHF dataset; choose an empty or new folder")
        records = read_manifest(out_dir)
        if not records or any(r.source != SOURCE for r in records):
            raise UserError(f"{out_dir} holds a dataset that SynthHF did not write; refusing to overwrite it")
        # a complete dataset of an earlier writer (no run file): its manifest tells what it was written with
        if manifest_text(records) != manifest_text(expected):
            what = _differences(_parameters_of(records), params) or "its manifest differs from what they write"
            raise UserError(f"{out_dir} holds a SynthHF dataset written with other parameters ({what}); "
                            "choose another folder")
        _remove_temporaries(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_file, {"version": RUN_FILE_VERSION, "parameters": params})


def _is_finished(out_dir: Path, record: ClipRecord) -> bool:
    """The clip's two files are there and whole: the annotations archive passes its CRCs, the video's container opens
    and counts frames (a cut mp4 loses its index). A damaged clip is rendered again (the run is deterministic)."""
    import zipfile

    import av

    video, annotations = out_dir / record.video, out_dir / record.annotations
    if not (video.is_file() and annotations.is_file()):
        return False
    try:
        with zipfile.ZipFile(annotations) as archive:
            if archive.testzip() is not None:
                return False
        with av.open(str(video)) as container:
            return bool(container.streams.video) and container.streams.video[0].frames == record.num_frames
    except Exception:  # noqa: BLE001 - anything unreadable is a clip to render again
        return False


def write_dataset(out_dir: str | os.PathLike, identities: int, clips_per_class: int, frames: int,
                  size: tuple[int, int], seed: int = 0, progress: bool = True, workers: int | None = None,
                  test_fraction: float = 0.1, camera_jitter: float = SynthConfig.camera_jitter,
                  identity: str = "synth") -> list[ClipRecord]:
    """Render ``identities`` × 18 classes × ``clips_per_class`` clips into ``out_dir``; returns the manifest rows.

    ``camera_jitter`` is the std of the per-frame camera shake as a fraction of the width (0: a steady camera).
    ``identity``: the identity vector stored per clip: ``synth`` (a projection of the renderer's own face parameters,
    which no user has for their portraits) or ``dlib`` (what ``interanimate prepare`` stores for a real video and
    ``animate`` computes from a portrait: the dlib embedder on the first frame with a face, upscaled to 256 pixels).

    The same arguments always give a byte-identical folder, whatever ``workers`` is and however often the run was
    interrupted: on the folder of an earlier run with the same arguments it renders only the clips not finished
    there (none when it is complete).
    """
    if identities < 1 or clips_per_class < 1 or frames < 2:
        raise UserError("identities and clips-per-class must be >= 1 and frames >= 2")
    if not 0.0 <= camera_jitter <= 0.1:
        raise UserError(f"camera jitter must be within [0, 0.1] of the width, got {camera_jitter}")
    if identity not in IDENTITY_SOURCES:
        raise UserError(f"identity must be one of {', '.join(IDENTITY_SOURCES)}, got {identity!r}")
    out_dir = Path(out_dir)
    params = run_parameters(identities, clips_per_class, frames, size, seed, test_fraction, camera_jitter, identity)
    names = [identity_name(i) for i in range(identities)]
    splits = split_identities(names, test_fraction=test_fraction, seed=seed)
    tasks = [_Task(str(out_dir), i, c.index, k, frames, tuple(size), seed, splits[names[i]], camera_jitter, identity)
             for i in range(identities) for c in CLASSES for k in range(clips_per_class)]
    records = [task.record() for task in tasks]
    _prepare_out_dir(out_dir, params, records)

    todo = [task for task, record in zip(tasks, records) if not _is_finished(out_dir, record)]
    for task in todo:  # a partial clip folder under its final name (an earlier writer's): render it again
        shutil.rmtree(out_dir / clip_dir(task.clip_id), ignore_errors=True)
    if todo and len(todo) < len(tasks):  # (progress=False silences the bar, not this)
        print(f"continuing the SynthHF run in {out_dir}: {len(tasks) - len(todo)} of {len(tasks)} clips are "
              "already there", flush=True)
    _render(todo, workers, progress, done=len(tasks) - len(todo), total=len(tasks))
    text = manifest_text(records)
    manifest = out_dir / MANIFEST_NAME
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        write_manifest(out_dir, records)
    return records


def _render(tasks: list[_Task], workers: int | None, progress: bool, done: int, total: int) -> None:
    from tqdm import tqdm

    bar = tqdm(total=total, initial=done, desc="SynthHF clips", unit="clip", disable=not progress)
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        for task in tasks:
            _render_and_write(task)
            bar.update()
    else:
        # spawn, not fork: a forked worker inherits the state of every thread of a process that already runs torch,
        # OpenMP and tqdm's monitor thread, and was once seen deadlocked in a futex before its first clip (the run
        # then waited forever). A spawned worker is a fresh interpreter whose parent is still this process, so
        # PR_SET_PDEATHSIG (``_die_with_parent``) keeps killing it with the run.
        with mp.get_context("spawn").Pool(workers, initializer=_die_with_parent) as pool:
            for _ in pool.imap(_render_and_write, tasks, chunksize=4):
                bar.update()
    bar.close()
