"""The driving motion of one video, from whatever the user has: a class code or a prompt (the motion model), a
SynthHF trajectory, a pose file, or a driving video; then retargeted onto the reference's face.

``interanimate animate`` and the dataset engine (:mod:`interanimate.datasets`) both build their motions here and get
the same :class:`DrivingMotion` back, so one video made by either is made the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from interanimate.errors import UserError

DEFAULT_FPS = 8.0
SOURCES = ("class", "text", "synthhf", "poses", "video")


@dataclass(frozen=True)
class DrivingMotion:
    """DWPose-layout keypoints of one motion and where they come from."""
    keypoints: np.ndarray  # (F, 134, 2) pixels of ``size``
    scores: np.ndarray  # (F, 134)
    size: tuple[int, int]  # (H, W) of the image the pixels refer to
    source: str  # one of SOURCES
    fps: float | None = None  # the source's frame rate (pose file, video), None when it has none
    class_code: str = ""  # the interaction class, when known
    text: str = ""  # the prompt, for source "text"
    seed: int | None = None  # the motion model's seed, for generated motions
    retargeted: bool = False  # moved onto a reference face by :func:`retarget`

    @property
    def frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def generated(self) -> bool:
        """Made by the motion model (worth keeping beside the video as POSES.npz)."""
        return self.source in ("class", "text")

    def trimmed(self, frames: int) -> "DrivingMotion":
        if self.frames < frames:
            raise UserError(f"the driving motion has {self.frames} frames, fewer than the {frames} asked for")
        return replace(self, keypoints=self.keypoints[:frames], scores=self.scores[:frames])

    def output_fps(self, fps: float | None = None) -> float:
        """The frame rate to write: the one asked for, else the source's, else DEFAULT_FPS."""
        return float(fps or self.fps or DEFAULT_FPS)


# ------------------------------------------------------------------------------------------ sources
def from_motion_model(frames: int, seed: int, class_code: str | None = None, text: str | None = None,
                      model=None, model_dir: str | os.PathLike | None = None) -> DrivingMotion:
    """A new motion for a class code or a prompt from the motion model (``model``, else loaded from ``model_dir``,
    else the bundled one), generated in whole temporal strides and trimmed to ``frames``."""
    from interanimate.motion.model import MotionModel

    if model is None:
        model = MotionModel.load(model_dir)
    motion, = from_motion_model_batch(frames, [(seed, class_code, text)], model)
    return motion


def from_motion_model_batch(frames: int, requests: list[tuple[int, str | None, str | None]],
                            model) -> list[DrivingMotion]:
    """:func:`from_motion_model` for several ``(seed, class_code, text)`` requests in as few calls of ``model`` as
    they allow (prompts and class codes apart): each motion drawn with its own seed, as it would be alone."""
    import torch

    from interanimate.motion.export import DEFAULT_SIZE, default_frame, to_dwpose
    from interanimate.motion.text import motion_condition

    conditions = [motion_condition(code, text, 1) for _, code, text in requests]
    length = -(-frames // model.stride) * model.stride
    motions: list[DrivingMotion | None] = [None] * len(requests)
    groups: dict[bool, list[int]] = {}  # with a text embedding or without: one call each
    for i, cond in enumerate(conditions):
        groups.setdefault(cond.text_embedding is None, []).append(i)
    for without_text, members in groups.items():
        text = None if without_text else np.concatenate([conditions[i].text_embedding for i in members])  # (B, D)
        hand, face = model.generate(torch.tensor([conditions[i].index for i in members]), frames=length, text=text,
                                    seed=[int(requests[i][0]) for i in members])
        for row, i in enumerate(members):
            seed, _, prompt = requests[i]
            keypoints, scores = to_dwpose(hand[row].numpy(), face[row].numpy(), default_frame(*DEFAULT_SIZE))
            motions[i] = DrivingMotion(keypoints[:frames], scores[:frames], tuple(DEFAULT_SIZE),
                                       "text" if prompt else "class", class_code=conditions[i].code,
                                       text=prompt or "", seed=seed)
    return motions


def from_synthhf(class_code: str, index: int, frames: int, seed: int = 0,
                 size: tuple[int, int] = (64, 64)) -> DrivingMotion:
    """The trajectory of SynthHF clip ``index`` of a class, rendered for a held-out identity."""
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.taxonomy import get_class

    code = get_class(class_code).code
    clip = render_heldout_clip(code, index=index, frames=frames, size=size, seed=seed)
    return DrivingMotion(clip["keypoints"], clip["scores"], tuple(clip["frames"].shape[1:3]), "synthhf",
                         class_code=code, seed=seed)


def from_pose_file(path: str | os.PathLike, reference_size: tuple[int, int], option: str = "--driving-poses",
                   poses: dict | None = None) -> DrivingMotion:
    """A POSES.npz (``poses``: the same file already read by ``load_poses``). Without a stored size the pixels refer
    to the reference image, or to the unit square when every value is within [0, 1]."""
    from interanimate.motion.export import load_poses

    poses = poses or load_poses(path, option=option)
    keypoints, size = poses["keypoints"], poses["size"]
    if size is None:
        size = (1, 1) if np.abs(keypoints).max() <= 1.0 else tuple(reference_size)
    return DrivingMotion(keypoints, poses["scores"], tuple(size), "poses", fps=poses["fps"],
                         class_code=poses.get("class_code", ""), text=poses.get("text", ""))


def from_video(path: str | os.PathLike, frames: int, backend, backend_name: str = "pose backend",
               option: str = "--driving-video") -> DrivingMotion:
    """Annotate the first ``frames`` frames of a video with a pose backend (every frame, in order)."""
    from interanimate.annotate.backends import check_pose
    from interanimate.utils.video import read_video

    try:
        video, fps = read_video(path, max_frames=frames)  # (F, H, W, 3)
    except (ValueError, OSError) as err:
        raise UserError(f"{option}: cannot read {path}: {err}") from None
    if hasattr(backend, "reset"):
        backend.reset()
    poses = [check_pose(*backend(frame), backend=backend_name) for frame in video]
    return DrivingMotion(np.stack([k for k, _ in poses]), np.stack([s for _, s in poses]),  # (F, 134, 2), (F, 134)
                         tuple(video.shape[1:3]), "video", fps=fps)


# ------------------------------------------------------------------------------------------ onto the reference
def retarget(motion: DrivingMotion, image: np.ndarray, size: tuple[int, int], backend,
             backend_name: str = "pose backend", reference_name: str = "the reference") -> DrivingMotion:
    """Move a motion onto the face of ``image`` (uint8 (H, W, 3)) as it will appear at the output ``size``: the
    driving face is aligned to the reference's by a similarity, the hands keep their place relative to the face,
    and the drawn face is the reference's own following the driver's head (``interanimate.pipelines.retarget``)."""
    from interanimate.annotate.backends import check_pose
    from interanimate.pipelines.retarget import (NotEnoughFacePoints, apply_similarity, center_crop_matrix, has_face,
                                                 retarget_to_reference)

    ref_kpts, ref_scores = check_pose(*backend(image), backend=backend_name)
    if not has_face(ref_scores):
        raise UserError(f"{reference_name}: the {backend_name} pose backend finds no face to move the motion onto; "
                        "pass --retarget none (a dataset recipe: motion.retarget false) to use the driving keypoints "
                        "as they are")
    ref_kpts = apply_similarity(ref_kpts, center_crop_matrix(image.shape[:2], size))  # (134, 2) in output pixels
    try:
        keypoints, scores = retarget_to_reference(motion.keypoints, motion.scores, ref_kpts, ref_scores)
    except NotEnoughFacePoints as err:
        raise UserError(f"cannot retarget the driving motion onto {reference_name}: {err}; pass --retarget none "
                        "(a dataset recipe: motion.retarget false) to use it as is") from None
    return replace(motion, keypoints=keypoints, scores=scores, size=tuple(size), retargeted=True)


def frame_on_face(image: np.ndarray, backend, backend_name: str = "pose backend") -> tuple[np.ndarray, bool]:
    """``image`` (H, W, 3) cropped to the square that frames its face as the model's training people are framed
    (``conditioning.face_framing_box``): (the crop, True), or (``image``, False) when the backend finds no face."""
    from interanimate.annotate.backends import check_pose
    from interanimate.keypoints.layout import FACE
    from interanimate.pipelines.conditioning import face_framing_box
    from interanimate.pipelines.retarget import FACE_SCORE_THRESHOLD, MIN_FACE_POINTS

    keypoints, scores = check_pose(*backend(image), backend=backend_name)
    points = keypoints[FACE][scores[FACE] >= FACE_SCORE_THRESHOLD]  # (N, 2)
    if len(points) < MIN_FACE_POINTS:
        return image, False
    left, top, side = face_framing_box(image.shape[:2], points)
    return np.ascontiguousarray(image[top:top + side, left:left + side]), True


# ------------------------------------------------------------------------------------------ identity
def read_identity_file(path: str | os.PathLike, option: str = "--identity") -> np.ndarray:
    """float32 (D,) from a .npy file of finite numbers."""
    try:
        vector = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"{option} {path}: need a .npy vector ({err})") from None
    if not np.issubdtype(vector.dtype, np.number) or vector.size == 0 or not np.isfinite(vector).all():
        raise UserError(f"{option} {path}: need a non-empty vector of finite numbers")
    return vector.astype(np.float32).reshape(-1)  # (D,)


def reference_identity(image: np.ndarray, source: str = "none", arcface_model=None, embedder=None,
                       reference_name: str = "the reference") -> np.ndarray | None:
    """The identity vector of a reference image from a named embedder (dlib, arcface, none, or a registered one),
    or None for "none". ``embedder``: an already-built one (the dataset engine keeps one per worker)."""
    from interanimate.annotate.identity import get_embedder

    embedder = embedder or get_embedder(source, arcface_model=arcface_model)
    if embedder is None:
        return None
    vector = embedder(image)
    if vector is None:
        raise UserError(f"identity {source}: no face found in {reference_name}")
    return np.asarray(vector, np.float32).reshape(-1)  # (D,)


# ------------------------------------------------------------------------------------------ the video
def animate_motion(pipe, reference, motion: DrivingMotion, size: tuple[int, int], identity: np.ndarray | None = None,
                   steps: int = 25, guidance: float = 2.0, seed: int = 0, hand_prior_strength: float | None = None,
                   decode_chunk: int = 8):
    """Generate the frames of one video: ``reference`` (3, H, W) in [-1, 1] at ``size``, the motion's pose frames
    and hand/face masks, the identity vector. Returns (frames (F, 3, H, W) in [-1, 1], the conditions dict)."""
    (frames, cond), = animate_motions(pipe, [reference], [motion], size, [identity], steps, guidance, [seed],
                                      hand_prior_strength, decode_chunk)
    return frames, cond


def animate_motions(pipe, references: list, motions: list[DrivingMotion], size: tuple[int, int],
                    identities: list[np.ndarray | None], steps: int = 25, guidance: float = 2.0,
                    seeds: list[int] | None = None, hand_prior_strength: float | None = None, decode_chunk: int = 8,
                    timings: dict | None = None) -> list[tuple]:
    """Several videos in one model call (the same frame count each): ``references`` (3, H, W) in [-1, 1] at
    ``size``, one motion, identity (or None: zeros) and seed per video. Each video's noise comes from its own seed, so
    a video is the same whichever others share its call. Returns [(frames (F, 3, H, W) in [-1, 1], conditions)].
    ``timings``: seconds added under "denoise" and "decode"."""
    import time

    import torch

    from interanimate.pipelines.conditioning import conditions_from_keypoints

    conds = [conditions_from_keypoints(m.keypoints, m.scores, m.size, size, pipe.takes_hand_map()) for m in motions]
    id_dim = pipe.identity_dim()
    ids = None
    if id_dim and any(v is not None for v in identities):
        for v in identities:
            if v is not None and v.shape[0] != id_dim:
                raise UserError(f"the identity vector has {v.shape[0]} values; this model takes {id_dim}")
        ids = torch.stack([torch.zeros(id_dim) if v is None else torch.from_numpy(np.asarray(v, np.float32))
                           for v in identities])  # (B, D)
    seeds = list(seeds) if seeds is not None else [0] * len(motions)
    start = time.perf_counter()
    # the Wan pipeline decodes each segment as it goes (the next one continues from its frames): frames come out
    segments = getattr(pipe, "decodes_segments", False)
    out = pipe(torch.stack(list(references)), torch.stack([c["pose_frames"] for c in conds]),
               hand_mask=torch.stack([c["hand_mask"] for c in conds]),
               face_mask=torch.stack([c["face_mask"] for c in conds]), id_embedding=ids,
               num_inference_steps=steps, max_guidance_scale=guidance,
               generator=[torch.Generator().manual_seed(int(s)) for s in seeds],
               hand_prior_strength=hand_prior_strength, output_type="pt" if segments else "latent").frames
    decoding = time.perf_counter()
    if segments:
        frames = out.clamp(-1, 1).float().cpu()  # (B, F, 3, H, W)
    else:
        frames = pipe.decode_latents(out, decode_chunk).clamp(-1, 1).float().cpu()  # (B, F, 3, H, W)
    if timings is not None:
        timings["denoise"] = timings.get("denoise", 0.0) + decoding - start
        timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - decoding
    return [(frames[i], conds[i]) for i in range(len(motions))]


def hand_check(frames, motion: DrivingMotion, size: tuple[int, int]) -> dict:
    """Is the hand the motion shows visible in the generated ``frames`` ((F, 3, H, W) in [-1, 1] or uint8
    (F, H, W, 3))? :func:`interanimate.metrics.hands.clip_hand_scores` against the motion's keypoints at ``size``,
    on every frame after the first (the reference)."""
    from interanimate.keypoints.conditions import scale_keypoints
    from interanimate.metrics.hands import HandDetector, clip_hand_scores
    from interanimate.pipelines.outputs import to_uint8

    video = to_uint8(frames)  # (F, H, W, 3)
    keypoints = scale_keypoints(motion.keypoints[:len(video)], motion.size, size)  # (F, 134, 2)
    with HandDetector() as detector:
        return clip_hand_scores(video, keypoints, motion.scores[:len(video)], detector)

