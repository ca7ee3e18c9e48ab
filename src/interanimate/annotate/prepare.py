"""The ``interanimate prepare`` batch job: a folder of videos -> an InterHF-layout dataset, resumably and in shards.

Per video: decode, run the pose backend on every frame, derive hand/face masks from the keypoints at the video's
resolution, embed the identity of the first probed frame with a face, then write ``clips/<id>/video.mp4``,
``annotations.npz`` and, LAST and atomically, ``clips/<id>/record.json``. The video is stored losslessly (its H.264
stream remuxed, no audio, no container metadata) when it already is an even-sized yuv420p H.264 file whose remux
decodes to the very frames annotated, and re-encoded (``write_mp4``, crf 18) otherwise.

A clip is finished iff its ``record.json`` exists, so an interrupted run resumes where it stopped. A video that cannot
be used (empty, unreadable, too short, no face, no hands, or any unexpected error while annotating it) is appended to
``failures.jsonl`` as ``{"file": ..., "reason": ...}`` and the run goes on; later runs skip it unless
``retry_failed``. Configuration errors (a missing model file, an unknown backend) are ``UserError`` and stop the run
before any video is touched. ``manifest.jsonl`` is rebuilt from every ``record.json`` at the end, and rewritten only
when its content changes, so a run with nothing to do changes no file.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from interanimate.annotate.identity import IDENTITY_PROBES
from interanimate.data.format import (MANIFEST_NAME, ClipRecord, clip_dir, read_manifest, save_annotations,
                                      split_identities, write_manifest)
from interanimate.errors import UserError
from interanimate.jobs import FAILURES_NAME, FailureLog, Summary, check_writable, pending, progress_bar, stop_for_machine
from interanimate.keypoints.layout import FACE, HANDS
from interanimate.keypoints.masks import MIN_PART_POINTS, MaskConfig, masks_for_sequence
from interanimate.utils.io import atomic_path, write_json_atomic

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
RECORD_NAME = "record.json"
SOURCE = "real"
NO_FACE_DIM = 128  # length of the all-zero embedding written with --identity none


@dataclass
class PrepareConfig:
    videos: Path
    out: Path
    labels: Path | None = None
    pose_backend: str = "mediapipe"  # or dwpose, or a registered backend
    backend_kwargs: dict = field(default_factory=dict)
    identity: str = "dlib"  # dlib | arcface | none | a registered embedder
    arcface_model: Path | None = None
    on_no_face: str = "fail"  # fail | zeros
    shard: tuple[int, int] = (0, 1)
    workers: int = 1
    min_frames: int = 16
    max_frames: int | None = None  # longer videos are cut to their first max_frames frames
    require_hands: bool = True
    retry_failed: bool = False
    test_fraction: float = 0.1
    seed: int = 0
    mask: MaskConfig = MaskConfig()
    progress: bool = True


@dataclass(frozen=True)
class VideoTask:
    file: str  # path relative to the videos folder, POSIX separators
    clip_id: str
    class_code: str | None
    identity: str
    split: str


class ClipFailure(Exception):
    """This video cannot become a clip; the message is the reason written to failures.jsonl."""


def list_videos(folder: Path) -> list[str]:
    """Every video file under ``folder`` (recursively), as sorted POSIX paths relative to it."""
    if not folder.is_dir():
        raise UserError(f"--videos {folder} is not a folder")
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))


def clip_id_for(file: str) -> str:
    """``alice/take 1.mp4`` -> ``alice__take_1``: the path without extension, safe as a folder name."""
    stem = file.rsplit(".", 1)[0].replace("/", "__")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def read_labels(path: Path | None) -> dict[str, dict]:
    """CSV with columns ``file,class[,identity]`` -> {file: {"class": code or None, "identity": str or None}}."""
    if path is None:
        return {}
    from interanimate.taxonomy import BY_CODE

    if not path.is_file():
        raise UserError(f"--labels {path} not found")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "file" not in reader.fieldnames or "class" not in reader.fieldnames:
            raise UserError(f"{path}: needs a header with columns file,class[,identity], got {reader.fieldnames}")
        labels = {}
        for line_no, row in enumerate(reader, start=2):
            code = (row.get("class") or "").strip() or None
            if code is not None and code not in BY_CODE:
                raise UserError(f"{path}:{line_no}: unknown class {code!r}; valid: {', '.join(sorted(BY_CODE))}")
            labels[row["file"].strip()] = {"class": code, "identity": (row.get("identity") or "").strip() or None}
    return labels


def identity_of(file: str, label: dict | None) -> str:
    """The labels' identity, else the video's parent folder name, else the file stem."""
    if label and label.get("identity"):
        return label["identity"]
    parts = file.split("/")
    return parts[-2] if len(parts) > 1 else parts[-1].rsplit(".", 1)[0]


def unique_clip_ids(files: list[str]) -> list[str]:
    """``clip_id_for`` of each file; where two files share one (``a.mp4`` beside ``a.mov``), the extension is
    appended, then a counter if still needed. Depends only on the sorted file list, so every shard agrees."""
    ids = [clip_id_for(f) for f in files]
    counts = Counter(ids)
    ids = [f"{i}_{f.rsplit('.', 1)[-1].lower()}" if counts[i] > 1 else i for i, f in zip(ids, files)]
    seen: set[str] = set()
    out = []
    for clip_id in ids:
        unique, n = clip_id, 1
        while unique in seen:
            unique, n = f"{clip_id}_{n}", n + 1
        seen.add(unique)
        out.append(unique)
    return out


def plan(config: PrepareConfig) -> list[VideoTask]:
    """All videos as tasks (splits are decided over ALL videos, so every shard agrees), then this shard's share."""
    files = list_videos(config.videos)
    labels = read_labels(config.labels)
    by_name = {Path(k).name: v for k, v in labels.items()}
    rows = [(f, labels.get(f) or by_name.get(Path(f).name)) for f in files]
    identities = [identity_of(f, label) for f, label in rows]
    splits = split_identities(identities, test_fraction=config.test_fraction, seed=config.seed)
    ids = unique_clip_ids(files)
    tasks = []
    for index, ((file, label), ident, clip_id) in enumerate(zip(rows, identities, ids)):
        if index % config.shard[1] == config.shard[0]:
            tasks.append(VideoTask(file, clip_id, (label or {}).get("class"), ident, splits[ident]))
    return tasks


def failure_log(out: Path) -> FailureLog:
    """prepare's failures.jsonl: one line per video that is not a clip ({"file", "reason"})."""
    return FailureLog(out, "file")


def is_finished(out: Path, clip_id: str) -> bool:
    return (out / clip_dir(clip_id) / RECORD_NAME).is_file()


def read_record(out: Path, clip_id: str) -> tuple[ClipRecord | None, str | None]:
    """(the finished clip's record, None) when its record.json parses as its record and the files it names are
    there; else (None, what is wrong in one line)."""
    path = out / clip_dir(clip_id) / RECORD_NAME
    try:
        record = ClipRecord.from_dict(json.loads(path.read_text(encoding="utf-8")), where=str(path))
    except (ValueError, UnicodeDecodeError, UserError, TypeError) as err:
        return None, f"record.json does not parse ({type(err).__name__})"
    if record.clip_id != clip_id:
        return None, "record.json is not this clip's record"
    for name in (record.video, record.annotations):
        if not (out / name).is_file() or (out / name).stat().st_size == 0:
            return None, f"{name} missing or empty"
    return record, None


def record_damage(out: Path, clip_id: str) -> str | None:
    """None when the finished clip is whole (:func:`read_record`), else what is wrong."""
    return read_record(out, clip_id)[1]


def remove_damaged_clips(out: Path, tasks: list[VideoTask]) -> list[dict]:
    """Delete the finished clips of ``tasks`` that :func:`record_damage` finds damaged (they are made again)."""
    import shutil

    removed = []
    for task in tasks:
        if is_finished(out, task.clip_id):
            reason = record_damage(out, task.clip_id)
            if reason is not None:
                shutil.rmtree(out / clip_dir(task.clip_id))
                removed.append({"file": task.file, "clip_id": task.clip_id, "reason": reason})
    return removed


class Annotator:
    """Pose backend + identity embedder for one process (built lazily: workers build their own)."""

    def __init__(self, config: PrepareConfig):
        from interanimate.annotate.backends import get_backend
        from interanimate.annotate.identity import get_embedder

        self.config = config
        self.backend = get_backend(config.pose_backend, **config.backend_kwargs)
        self.embedder = get_embedder(config.identity, config.arcface_model)

    def poses(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F, H, W, 3) -> keypoints (F, 134, 2), scores (F, 134)."""
        from interanimate.annotate.backends import check_pose

        if hasattr(self.backend, "reset"):
            self.backend.reset()
        pairs = [check_pose(*self.backend(frame), backend=self.config.pose_backend) for frame in frames]
        return np.stack([k for k, _ in pairs]), np.stack([s for _, s in pairs])

    def identity(self, frames: np.ndarray) -> tuple[np.ndarray | None, int | None]:
        """-> (embedding of the first probed frame with a face, its index), or (None, None)."""
        if self.embedder is None:
            return np.zeros(NO_FACE_DIM, np.float32), None
        from interanimate.annotate.identity import first_face_identity

        return first_face_identity(self.embedder, frames, IDENTITY_PROBES)


def _part_seen(scores: np.ndarray, part: slice, threshold: float) -> bool:
    """Some frame has at least MIN_PART_POINTS confident points of ``part`` (what a mask of it needs)."""
    return bool(((scores[:, part] >= threshold).sum(axis=1) >= MIN_PART_POINTS).any())


def hands_seen(scores: np.ndarray, threshold: float) -> bool:
    return any(_part_seen(scores, part, threshold) for part in HANDS.values())


def face_seen(scores: np.ndarray, threshold: float) -> bool:
    return _part_seen(scores, FACE, threshold)


def _decode(config: PrepareConfig, path: Path) -> tuple[np.ndarray, float]:
    """-> frames (F, H, W, 3) and fps; ``ClipFailure`` for an empty, unreadable or too short video."""
    from interanimate.utils.video import read_video

    if path.stat().st_size == 0:
        raise ClipFailure("empty file (0 bytes)")
    try:
        frames, fps = read_video(path, max_frames=config.max_frames)  # (F, H, W, 3)
    except (ValueError, OSError) as err:
        raise ClipFailure(f"unreadable video: {err}") from None
    if len(frames) < config.min_frames:
        raise ClipFailure(f"too short: {len(frames)} frames < --min-frames {config.min_frames}")
    return frames, fps


def _remux_if_lossless(source: Path, frames: np.ndarray, target: Path) -> bool:
    """Copy ``source``'s H.264 stream into ``target`` (mp4, video only) when that decodes to exactly ``frames``."""
    import av

    try:
        with av.open(str(source)) as probe:
            stream = probe.streams.video[0]
            ctx = stream.codec_context
            if ctx.name != "h264" or ctx.pix_fmt != "yuv420p" or (ctx.height, ctx.width) != frames.shape[1:3]:
                return False
        with atomic_path(target) as tmp:
            with av.open(str(source)) as inp, av.open(str(tmp), mode="w", format="mp4") as out:
                src = inp.streams.video[0]
                dst = out.add_stream_from_template(src)
                for packet in inp.demux(src):
                    if packet.dts is not None:
                        packet.stream = dst
                        out.mux(packet)
            if not _decodes_to(tmp, frames):
                raise ValueError("remux changed the frames")  # atomic_path discards tmp
        return True
    except (av.error.FFmpegError, ValueError, IndexError):
        return False


def _decodes_to(path: Path, frames: np.ndarray) -> bool:
    import av

    with av.open(str(path)) as container:
        count = 0
        for count, frame in enumerate(container.decode(container.streams.video[0]), start=1):
            if count > len(frames) or not np.array_equal(frame.to_ndarray(format="rgb24"), frames[count - 1]):
                return False
    return count == len(frames)


def store_video(source: Path, frames: np.ndarray, fps: float, target: Path, cut: bool) -> str:
    """Write the clip's video; -> "remuxed" (lossless) or "encoded". ``cut``: frames were cropped or truncated."""
    from interanimate.utils.video import write_mp4

    if not cut and source.suffix.lower() in (".mp4", ".m4v", ".mov") and _remux_if_lossless(source, frames, target):
        return "remuxed"
    write_mp4(target, frames, fps=fps)
    return "encoded"


def annotate_clip(annotator: Annotator, task: VideoTask) -> ClipRecord:
    """Do one video; raises ``ClipFailure`` with the reason when it cannot become a clip."""
    config = annotator.config
    path = config.videos / task.file
    frames, fps = _decode(config, path)
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # H.264 needs even sizes
    cut = (height, width) != frames.shape[1:3] or (config.max_frames is not None and len(frames) == config.max_frames)
    frames = np.ascontiguousarray(frames[:, :height, :width])
    keypoints, scores = annotator.poses(frames)  # (F, 134, 2), (F, 134)
    threshold = config.mask.score_threshold
    if config.require_hands and not hands_seen(scores, threshold):
        raise ClipFailure("no hands seen in any frame (--no-require-hands to keep such clips)")
    if config.on_no_face == "fail" and not face_seen(scores, threshold):
        raise ClipFailure(f"no face seen by the {config.pose_backend} pose backend in any frame")
    embedding, face_frame = annotator.identity(frames)
    extra = {"file": task.file, "pose_backend": config.pose_backend, "identity_model": config.identity,
             "mask": asdict(config.mask)}
    if embedding is None:
        if config.on_no_face == "fail":
            raise ClipFailure(f"no face found for the identity embedding ({config.identity})")
        embedding = np.zeros(annotator.embedder.dim, np.float32)
        extra["note"] = "no face found: identity_embedding is all zeros"
    else:
        extra["identity_frame"] = face_frame
    hand, face = masks_for_sequence(keypoints, scores, height, width, config.mask)  # (F, H, W) each
    folder = config.out / clip_dir(task.clip_id)
    extra["video"] = store_video(path, frames, fps, folder / "video.mp4", cut)
    save_annotations(folder / "annotations.npz", {
        "keypoints": keypoints, "scores": scores, "hand_mask": hand, "face_mask": face,
        "contact": np.zeros(len(frames), np.float32), "identity_embedding": embedding}, task.clip_id)
    record = ClipRecord(task.clip_id, task.split, task.class_code, task.identity, len(frames), float(fps), height,
                        width, f"{clip_dir(task.clip_id)}/video.mp4", f"{clip_dir(task.clip_id)}/annotations.npz",
                        source=SOURCE, extra=extra)
    write_json_atomic(folder / RECORD_NAME, asdict(record))  # last: marks the clip finished
    return record


def _run_one(annotator: Annotator, task: VideoTask) -> tuple[str, str | None]:
    """-> (file, None) on success or (file, reason). Only a ``UserError`` (bad configuration) escapes."""
    try:
        annotate_clip(annotator, task)
    except ClipFailure as err:
        return task.file, str(err)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - one bad video must not stop a run of thousands
        stop_for_machine(err, annotator.config.out)  # a full disk, a read-only folder: not this video's fault
        first = (str(err).strip().splitlines() or [""])[0][:300]
        return task.file, f"error: {type(err).__name__}: {first}"
    return task.file, None


_WORKER: Annotator | None = None


def _init_worker(config: PrepareConfig) -> None:
    global _WORKER
    _WORKER = Annotator(config)


def _work(task: VideoTask) -> tuple[str, str | None]:
    return _run_one(_WORKER, task)


def rebuild_manifest(out: Path) -> list[ClipRecord]:
    """manifest.jsonl from every clips/*/record.json; the file is rewritten only when its content changes."""
    records = []
    for path in sorted((out / "clips").glob(f"*/{RECORD_NAME}")):
        record, _ = read_record(out, path.parent.name)
        if record is not None:  # a damaged one: its shard's next run makes it again
            records.append(record)
    lines = [json.dumps(asdict(r), sort_keys=True) for r in sorted(records, key=lambda r: r.clip_id)]
    text = "\n".join(lines) + ("\n" if lines else "")
    manifest = out / MANIFEST_NAME
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        write_manifest(out, records)
    return records


def check_out_dir(out: Path) -> None:
    """``--out`` must be new, empty, or a dataset this job wrote (never SynthHF's or an unrelated folder)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not ((out / MANIFEST_NAME).is_file() or (out / "clips").is_dir() or (out / FAILURES_NAME).is_file()):
        raise UserError(f"--out {out} is not empty and holds no prepared dataset; choose an empty or new folder")
    if (out / MANIFEST_NAME).is_file():
        foreign = {r.source for r in read_manifest(out)} - {SOURCE}
        if foreign:
            raise UserError(f"--out {out} holds clips of source {', '.join(sorted(foreign))}; refusing to mix them "
                            f"in (prepare rebuilds the manifest from its own records only)")


def prepare(config: PrepareConfig) -> Summary:
    """Run the job; returns the done/skipped/failed counts. Per-video problems never stop the run."""
    if config.on_no_face not in ("fail", "zeros"):
        raise UserError(f"on_no_face must be 'fail' or 'zeros', got {config.on_no_face!r}")
    check_out_dir(config.out)
    tasks = plan(config)  # validates --videos and --labels before anything is written
    summary = Summary(unit="videos")
    log = failure_log(config.out)
    if config.out.is_dir():  # a finished clip whose record or files were damaged since is made again
        summary.remade = remove_damaged_clips(config.out, tasks)
    todo = pending(tasks, lambda t: t.file, lambda t: is_finished(config.out, t.clip_id), log,
                   config.retry_failed and config.out.is_dir(), summary)
    annotator = Annotator(config) if todo else None  # checks models and options before anything is written
    config.out.mkdir(parents=True, exist_ok=True)
    if todo:
        _annotate_all(config, todo, summary, annotator)
    rebuild_manifest(config.out)
    return summary


def _annotate_all(config: PrepareConfig, todo: list[VideoTask], summary: Summary, annotator: "Annotator") -> None:

    pool = None
    if config.workers <= 1 or len(todo) == 1:
        results = (_run_one(annotator, task) for task in todo)
    else:  # each worker process builds its own backend and embedder once
        del annotator
        pool = mp.get_context("fork").Pool(min(config.workers, len(todo)), _init_worker, (config,))
        results = pool.imap_unordered(_work, todo)
    bar = progress_bar(len(todo), config.progress, desc="prepare", unit="video")
    log = failure_log(config.out)
    try:
        for file, reason in results:
            if reason is None:
                summary.done += 1
            else:
                check_writable(config.out)  # a vanished or read-only folder: the machine's fault, not the video's
                summary.failed += 1
                summary.failures.append({"file": file, "reason": reason})
                log.append(file, reason)
            bar.update()
            bar.set_postfix_str(summary.line(), refresh=False)
    finally:
        if pool is not None:
            if summary.done + summary.failed < len(todo):  # interrupted: stop the workers now
                pool.terminate()
            else:
                pool.close()
            pool.join()
        bar.close()
