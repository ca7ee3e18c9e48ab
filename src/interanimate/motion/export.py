"""Output of generated motion as a DWPose-layout keypoint sequence (what ``interanimate animate --driving-poses``
reads), and reading such sequences back.

``POSES.npz`` (deterministic bytes, no pickles):

=========== ================= ====================================================================
key         dtype, shape      meaning
=========== ================= ====================================================================
keypoints   float32 (F,134,2) DWPose-layout points in pixels of a ``height``×``width`` image
scores      float32 (F,134)   confidences; 0 marks an absent point (e.g. the hand that does not act)
class_code  str ()            the interaction class ("" when unconditional)
text        str ()            the prompt ("" when generated from a class code)
height      int32 ()
width       int32 ()
fps         float32 ()
=========== ================= ====================================================================

Generated motion holds hands and face; the body's head points (nose, eyes, ears) follow the face, neck and shoulders
are placed below the first frame's face, and the wrists follow the visible hands.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from interanimate.errors import UserError
from interanimate.keypoints.layout import (BODY, BODY_INDEX, FACE, FACE_CHIN, FACE_NOSE_TIP, HAND_WRIST, HANDS,
                                           NUM_KEYPOINTS)
from interanimate.motion.representation import FaceFrame, decode_features, eye_centres
from interanimate.utils.io import load_npz, save_npz_atomic

DEFAULT_SIZE = (512, 512)


def default_frame(height: int, width: int) -> FaceFrame:
    """A frontal portrait framing: eyes at 40% of the height, inter-ocular distance = width / 9."""
    return FaceFrame((width / 2.0, 0.40 * height), width / 9.0)


def add_body(keypoints: np.ndarray, scores: np.ndarray) -> None:
    """Fill the body points (in place) from the face and hands: head points follow the face every frame."""
    face = keypoints[:, FACE]
    right_eye, left_eye = eye_centres(keypoints)
    body = keypoints[:, BODY]
    body[:, BODY_INDEX["nose"]] = face[:, FACE_NOSE_TIP]
    body[:, BODY_INDEX["right_eye"]], body[:, BODY_INDEX["left_eye"]] = right_eye, left_eye
    body[:, BODY_INDEX["right_ear"]], body[:, BODY_INDEX["left_ear"]] = face[:, 1], face[:, 15]
    io = np.linalg.norm(left_eye[0] - right_eye[0])
    neck = face[0, FACE_CHIN] + np.array([0.0, 0.8 * io])
    body[:, BODY_INDEX["neck"]] = neck
    body[:, BODY_INDEX["right_shoulder"]] = neck + np.array([-2.2 * io, 0.3 * io])  # subject's right: image left
    body[:, BODY_INDEX["left_shoulder"]] = neck + np.array([2.2 * io, 0.3 * io])
    conf = scores[:, BODY]
    for name in ("nose", "right_eye", "left_eye", "right_ear", "left_ear", "neck", "right_shoulder", "left_shoulder"):
        conf[:, BODY_INDEX[name]] = 1.0
    for side in ("left", "right"):
        wrist = HANDS[side].start + HAND_WRIST
        body[:, BODY_INDEX[f"{side}_wrist"]] = keypoints[:, wrist]
        conf[:, BODY_INDEX[f"{side}_wrist"]] = scores[:, wrist]
        elbow = 0.5 * (body[:, BODY_INDEX[f"{side}_shoulder"]] + keypoints[:, wrist]) + np.array([0.0, 1.5 * io])
        body[:, BODY_INDEX[f"{side}_elbow"]] = elbow
        conf[:, BODY_INDEX[f"{side}_elbow"]] = scores[:, wrist]
    keypoints[:, BODY], scores[:, BODY] = body, conf


def to_dwpose(hand: np.ndarray, face: np.ndarray, frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    """Motion features (F, 42, 5), (F, 68, 6) -> DWPose keypoints (F, 134, 2) pixels and scores (F, 134)."""
    keypoints, scores = decode_features(hand, face, frame)
    add_body(keypoints, scores)
    return keypoints, scores


def save_poses(path: str | os.PathLike, keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
               class_code: str = "", text: str = "", fps: float = 8.0) -> None:
    if keypoints.shape[1:] != (NUM_KEYPOINTS, 2) or scores.shape != keypoints.shape[:2]:
        raise ValueError(f"expected (F, 134, 2) and (F, 134), got {keypoints.shape}, {scores.shape}")
    save_npz_atomic(path, {"keypoints": keypoints.astype(np.float32), "scores": scores.astype(np.float32),
                           "class_code": np.array(class_code), "text": np.array(text),
                           "height": np.array(height, np.int32), "width": np.array(width, np.int32),
                           "fps": np.array(fps, np.float32)})


def load_poses(path: str | os.PathLike, option: str = "pose file") -> dict:
    """Read a POSES.npz (this module's, or any npz with ``keypoints`` (F,134,2) and ``scores`` (F,134)).

    The image size comes from ``height`` and ``width`` or from ``size`` = [height, width]; ``size`` is None when
    neither is there. ``option`` names the input in error messages (e.g. "--driving-poses").
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{option} {path}: file not found")
    try:
        data = load_npz(path)
    except Exception as err:  # corrupt archive
        raise UserError(f"{option} {path}: unreadable ({err})") from None
    kpts, scores = data.get("keypoints"), data.get("scores")
    if kpts is None or scores is None or kpts.ndim != 3 or kpts.shape[1:] != (NUM_KEYPOINTS, 2) \
            or scores.shape != kpts.shape[:2]:
        raise UserError(f"{option} {path}: expected arrays keypoints (F, 134, 2) and scores (F, 134)")
    if len(kpts) == 0:
        raise UserError(f"{option} {path}: holds no frames")
    for name, array in (("keypoints", kpts), ("scores", scores)):
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            bad = np.argwhere(~np.isfinite(array.astype(np.float64)))[:1] if np.issubdtype(array.dtype, np.number) \
                else None
            where = f" (first at frame {int(bad[0][0])}, point {int(bad[0][1])})" if bad is not None and len(bad) else ""
            raise UserError(f"{option} {path}: {name} must be finite numbers{where}; mark a missing point with "
                            "score 0 and any finite coordinates")
    out = {"keypoints": kpts.astype(np.float32), "scores": scores.astype(np.float32)}
    scalar = lambda key: data[key].reshape(-1)[0].item()  # noqa: E731  (stored 0-d, read back as (1,))
    for key in ("class_code", "text"):
        out[key] = str(scalar(key)) if key in data else ""
    out["size"] = (int(scalar("height")), int(scalar("width"))) if "height" in data and "width" in data else None
    if out["size"] is None and "size" in data:
        size = data["size"].reshape(-1)
        if size.shape != (2,) or not (size > 0).all():
            raise UserError(f"{option} {path}: size must be [height, width], got {data['size'].tolist()}")
        out["size"] = (int(size[0]), int(size[1]))
    out["fps"] = float(scalar("fps")) if "fps" in data else 8.0
    if not (np.isfinite(out["fps"]) and 0 < out["fps"] <= 1000):
        raise UserError(f"{option} {path}: fps must be in (0, 1000], got {out['fps']}")
    if out["size"] is not None and not all(0 < side <= 65536 for side in out["size"]):
        raise UserError(f"{option} {path}: size must be positive [height, width], got {list(out['size'])}")
    return out
