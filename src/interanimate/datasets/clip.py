"""Making one clip of a plan: reference, driving motion, generation, labels, files — written atomically.

A :class:`ClipMaker` holds what one worker loads once (the animation pipeline and the face-quality model; the
inputs' models in :class:`~interanimate.datasets.inputs.ClipInputs`) and turns plan rows into clip folders. A clip's
files are written into a temporary folder beside ``clips/`` and renamed into place only when all of them,
``label.json`` last, are complete: a clip folder that exists is finished, and a temporary one is what a kill left
behind (the engine removes it and makes the clip again).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from interanimate.datasets.context import Context, recipe_placement
from interanimate.datasets.inputs import Clock, ClipInputs
from interanimate.datasets.labels import ATTACK, FaceQuality, class_labels, contact_frames, hand_coverage
from interanimate.datasets.plan import PlanRow, file_sha256

CLIPS = "clips"
LABEL_NAME = "label.json"
TMP_PREFIX = ".tmp-"
CHECKSUMS = "checksums"  # label key: file name -> sha256 of the clip's files as written


def clip_dir(out: Path, clip_id: str) -> Path:
    return out / CLIPS / clip_id


def is_done(out: Path, clip_id: str) -> bool:
    return (clip_dir(out, clip_id) / LABEL_NAME).is_file()


def clip_damage(out: Path, clip_id: str) -> str | None:
    """None when the finished clip ``clip_id`` is whole — its label.json parses as this clip's label, and every file
    it lists is there with the checksum written into the label — else one line saying what is wrong. Cheap enough
    to run over every finished clip at each rerun (hashing, no decoding); ``dataset verify`` also decodes."""
    path = clip_dir(out, clip_id) / LABEL_NAME
    try:
        label = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        return f"label.json does not parse ({type(err).__name__})"
    if not isinstance(label, dict) or label.get("clip_id") != clip_id or not isinstance(label.get("files"), dict):
        return "label.json is not this clip's label"
    sums = label.get(CHECKSUMS) or {}
    for name, rel in sorted(label["files"].items()):
        file = out / str(rel)
        if not file.is_file():
            return f"{name} file missing"
        if name in sums and file_sha256(file) != sums[name]:
            return f"{name} file changed since it was written (checksum)"
    return None


def remove_damaged_clips(out: Path, clip_ids: list[str]) -> list[dict]:
    """Delete the finished clips among ``clip_ids`` that :func:`clip_damage` finds damaged, so that the run makes them
    again; returns ``{"clip_id", "reason"}`` for each."""
    removed = []
    for clip_id in clip_ids:
        if not is_done(out, clip_id):
            continue
        reason = clip_damage(out, clip_id)
        if reason is not None:
            shutil.rmtree(clip_dir(out, clip_id))
            removed.append({"clip_id": clip_id, "reason": reason})
    return removed


def remove_partial_clips(out: Path) -> int:
    """Delete what killed runs left (temporary clip folders); returns how many."""
    partial = sorted((out / CLIPS).glob(f"{TMP_PREFIX}*")) if (out / CLIPS).is_dir() else []
    for folder in partial:
        shutil.rmtree(folder, ignore_errors=True)
    return len(partial)


class ClipMaker:
    def __init__(self, context: Context, device: str | None = None):
        import torch

        from interanimate.pipelines.placement import load_pipeline

        self.ctx = context
        recipe = context.recipe
        torch.set_num_threads(recipe.generation.torch_threads)
        self.placement = recipe_placement(recipe.generation, device)
        self.pipe = load_pipeline(context.model_dir, self.placement)
        self.pipe.set_progress_bar_config(disable=True)
        size = recipe.generation.size or self.pipe.default_size()
        self.size = (int(size[0]), int(size[1]))
        self.inputs = ClipInputs(context, self.size)
        from interanimate.annotate.identity import DlibEmbedder

        # one dlib model per worker: the quality scores use the identity source's when it is dlib
        embedder = self.inputs.embedder
        self.quality = FaceQuality(embedder if isinstance(embedder, DlibEmbedder) else None)
        self.hands = None  # the hand detector of the hand QC scores, opened on the first clip

    # ---------------------------------------------------------------- clips
    def make(self, row: PlanRow) -> dict:
        """Generate and write one clip; returns its manifest row. Raises on failure (nothing is left behind)."""
        result, = self.make_batch([row])
        if isinstance(result, BaseException):
            raise result
        return result

    def make_batch(self, rows: list[PlanRow], write: set[str] | None = None) -> list:
        """Generate ``rows`` (a plan batch) in one model call (one per frame count) and write the clips named in
        ``write`` (default all):
        per row its manifest row (with ``seconds`` and per-stage ``stages`` seconds; the model's share split evenly),
        the exception that row failed with (its inputs, or writing it; an error of the model call is every row's),
        or None for a row not to write. Each row has its own noise seed; the batch is generated whole even when only
        some of it is to be written, since a clip's bytes can depend on its batch-mates."""
        from interanimate.pipelines.conditioning import image_to_tensor
        from interanimate.pipelines.driving import animate_motions

        write = {row.clip_id for row in rows} if write is None else set(write)
        recipe = self.ctx.recipe
        results: list = [None] * len(rows)
        ready = []  # (position, row, prepared inputs, stage seconds)
        for i, (row, prepared, stages) in enumerate(zip(rows, *self.inputs.prepare(rows))):
            if isinstance(prepared, Exception):  # this row's inputs; the engine records it
                results[i] = prepared if row.clip_id in write else None
            else:
                ready.append((i, row, prepared, stages))
        if not ready:
            return results
        made, model = [], {}
        by_length: dict[int, list] = {}  # one model call per frame count (a short pose file makes a short clip)
        for entry in ready:
            by_length.setdefault(entry[2]["motion"].frames, []).append(entry)
        for group in by_length.values():
            try:
                outputs = animate_motions(self.pipe, [image_to_tensor(p["reference"]) for _, _, p, _ in group],
                                          [p["motion"] for _, _, p, _ in group], self.size,
                                          [p["identity"] for _, _, p, _ in group], recipe.generation.steps,
                                          recipe.generation.guidance, [row.seed for _, row, _, _ in group],
                                          decode_chunk=self.placement.decode_chunk, timings=model)
            except Exception as err:  # noqa: BLE001 - the model call failed: every row of it did
                for i, row, *_ in group:
                    results[i] = err if row.clip_id in write else None
                continue
            made.extend(zip(group, outputs))
        for (i, row, p, stages), (frames, cond) in made:
            if row.clip_id not in write:
                continue
            stages.update({name: seconds / len(ready) for name, seconds in model.items()})
            try:
                results[i] = self._write(row, p["reference"], p["motion"], frames, cond, stages, p["identity"])
            except Exception as err:  # noqa: BLE001 - writing this clip failed
                results[i] = err
        return results

    def _write(self, row: PlanRow, reference, motion, frames, cond, stages: dict, identity) -> dict:
        from interanimate.pipelines.outputs import to_uint8

        clock = Clock(stages)
        clock.start("write")

        video = to_uint8(frames)  # (F, H, W, 3)
        hand = cond["hand_mask"][:, 0].numpy().astype(np.uint8)  # (F, H, W)
        face = cond["face_mask"][:, 0].numpy().astype(np.uint8)
        final = clip_dir(self.ctx.out, row.clip_id)
        tmp = self.ctx.out / CLIPS / f"{TMP_PREFIX}{row.clip_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            record = self._write_files(row, tmp, reference, motion, video, cond["pose_frames"], hand, face,
                                       identity, clock)
            if final.exists():  # another worker finished the same clip (a retried task): keep the first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except BaseException:  # an error or Ctrl-C: no half-written clip stays behind (a kill -9 is the engine's job)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        clock.stop("write")
        stages["write"] -= stages["qc"]  # the QC ran inside the writing; each is counted once
        return {**record, "seconds": round(sum(stages.values()), 3),
                "stages": {k: round(v, 3) for k, v in stages.items()}}

    def _write_files(self, row: PlanRow, tmp: Path, reference, motion, video, pose_frames, hand, face,
                     identity, clock: Clock) -> dict:
        """The clip's files into ``tmp``, ``label.json`` last; returns the label. ``identity``: the vector the model
        got (None: none was asked for, or the embedder found no face and it got zeros); ``clock`` times the QC."""
        from interanimate.motion.export import save_poses
        from interanimate.pipelines.outputs import preview_grid, write_png, write_video
        from interanimate.pipelines.watermark import PAYLOAD
        from interanimate.utils.io import json_safe, save_npz_atomic, write_json_atomic

        recipe = self.ctx.recipe
        labels = class_labels(row.class_code)
        first, last = contact_frames(hand, face)
        files = {"video": f"{CLIPS}/{row.clip_id}/video.mp4"}
        write_video(tmp / "video.mp4", video, fps=recipe.fps)
        if recipe.outputs.poses:
            save_poses(tmp / "poses.npz", motion.keypoints, motion.scores, *motion.size,
                       class_code=row.class_code, text=row.prompt, fps=recipe.fps)
            files["poses"] = f"{CLIPS}/{row.clip_id}/poses.npz"
        if recipe.outputs.masks:
            save_npz_atomic(tmp / "masks.npz", {"hand_mask": hand, "face_mask": face})
            files["masks"] = f"{CLIPS}/{row.clip_id}/masks.npz"
        if recipe.outputs.preview:
            write_png(tmp / "preview.png", preview_grid(reference, pose_frames, video))
            files["preview"] = f"{CLIPS}/{row.clip_id}/preview.png"
        with clock("qc"):
            quality = {"hand_keypoint_coverage": hand_coverage(motion.scores, labels["hand"]),
                       **self.quality.scores(reference, video, **self._known_reference(identity)),
                       **self._hand_scores(motion, video)}
        record = {
            "clip_id": row.clip_id, "index": row.index, "files": files, **labels,
            "identity": row.identity, "identity_kind": row.identity_kind, "split": row.split,
            "synthetic": True, **ATTACK,
            "generator": "interanimate", "generator_version": self.ctx.generator_version,
            "model_name": self.ctx.model_name, "model_sha256": self.ctx.model_sha256,
            "motion_source": row.motion_source, "motion_seed": row.motion_seed, "prompt": row.prompt,
            "pose_file": row.pose_file, "seed": row.seed, "steps": recipe.generation.steps,
            "guidance": recipe.generation.guidance, "identity_source": recipe.generation.identity,
            "identity_vector": identity is not None,
            "frames": int(video.shape[0]), "fps": recipe.fps, "height": int(video.shape[1]),
            "width": int(video.shape[2]), "watermark_payload": PAYLOAD.decode(),
            "contact_first_frame": first, "contact_last_frame": last, "qc": quality,
        }
        record[CHECKSUMS] = {name: file_sha256(tmp / Path(rel).name) for name, rel in files.items()}
        record = json_safe(record)  # JSON has no NaN: None where a score could not be computed
        write_json_atomic(tmp / LABEL_NAME, record)  # last: a clip with its label is complete
        return record


    def _known_reference(self, identity) -> dict:
        """The reference's dlib vector when the identity source already computed it with the quality model's own
        embedder (the same vector, or None for no face): the QC need not compute it again."""
        if self.inputs.embedder is not None and self.quality.embedder is self.inputs.embedder:
            return {"reference_vector": identity, "reference_known": True}
        return {}

    def _hand_scores(self, motion, video: np.ndarray) -> dict:
        """QC: is a hand visible where the motion shows one? mediapipe re-detection on the generated frames whose motion
        shows a hand (``interanimate.metrics.hands``; any hand, not only the labelled one): how many such frames, in
        how many a hand is found, the mean score, PCK@0.2."""
        from interanimate.keypoints.conditions import scale_keypoints
        from interanimate.metrics.hands import HandDetector, clip_hand_scores

        if self.hands is None:
            self.hands = HandDetector()
        keypoints = scale_keypoints(motion.keypoints, motion.size, video.shape[1:3])  # (F, 134, 2) at output size
        found = clip_hand_scores(video, keypoints, motion.scores, self.hands)
        return {"hand_frames_shown": found["frames_with_hand"], "hand_frames_found": found["frames_detected"],
                "hand_found_rate": found["detection_rate"], "hand_confidence": found["confidence"],
                "hand_pck": found["pck"]}




def read_label(out: Path, clip_id: str) -> dict:
    return json.loads((clip_dir(out, clip_id) / LABEL_NAME).read_text(encoding="utf-8"))
