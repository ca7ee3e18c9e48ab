"""Move a driving pose sequence onto a reference portrait's face: similarity transforms between iBUG-68 faces.

A driving motion (a SynthHF clip, a user's pose file, or keypoints read off a driving video) has its face wherever
the driver's face was. ``retarget_to_reference`` makes it act on the reference portrait instead:

1. ``M0``: the least-squares similarity (Umeyama) from the driving face at its first frame with a face to the
   reference face. Every driving point of every frame is moved by ``M0``, so the hands, body and face keep their
   positions *relative to the driving face*, in the reference face's place and scale.
2. ``face="reference"`` (default): the face points of frame ``t`` become the reference face moved by ``S_t``, the
   similarity from the (moved) driving face at the anchor frame to the one at frame ``t`` (the driver's head motion).
   The pose frames then show the user's face shape; the driver's own face shape would pull the generated face
   towards the driver's (pose-driven animation follows the drawn face points closely). What is given up: the
   driver's non-rigid expression (mouth opening, brows) -- ``face="driving"`` keeps the driver's face points
   (moved by ``M0`` only) for that. The body's nose and eye points follow the new face (nose tip, eye centres, as
   SynthHF defines them), so head and face stay together.

Face-point scores under ``face="reference"`` are ``min(reference, driving frame t)`` per point: a point the
reference lacks is never drawn, and a point the driver's hand hides stays hidden. Where the driving frame shows too
few face points for ``S_t`` (the hand covers the face, the detector missed it), the last known ``S_t`` is held and
the reference's scores are used: the user's face is still there. Only confident points (score >=
``FACE_SCORE_THRESHOLD``, present in both faces) enter a fit; fewer than ``MIN_FACE_POINTS`` is a
``NotEnoughFacePoints`` error.

Matrices are 2×3 ``[[s·R | t]]`` acting on pixel columns ``(x, y, 1)``.
"""

from __future__ import annotations

import numpy as np

from interanimate.errors import UserError
from interanimate.keypoints.layout import BODY, BODY_INDEX, FACE, FACE_LEFT_EYE, FACE_NOSE_TIP, FACE_RIGHT_EYE
from interanimate.keypoints.similarity import apply_similarity, fit_similarities  # noqa: F401  (re-exported)

FACE_SCORE_THRESHOLD = 0.3  # a face point enters a fit at this score (the keypoint masks' default threshold)
MIN_FACE_POINTS = 6  # fewer confident face points in common and no similarity is fitted
# Body points that sit on the face, and the face points (within the 68) they are snapped to.
BODY_ON_FACE = {"nose": [FACE_NOSE_TIP], "right_eye": FACE_RIGHT_EYE, "left_eye": FACE_LEFT_EYE}
FACE_MODES = ("reference", "driving")


class NotEnoughFacePoints(UserError, ValueError):
    """A face has too few confident points (or they all coincide) for a similarity fit."""


def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991, no reflection) taking ``src`` (N, 2) onto ``dst`` (N, 2) -> (2, 3)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    src_var = ((src - src.mean(axis=0)) ** 2).sum(axis=1).mean()
    dst_var = ((dst - dst.mean(axis=0)) ** 2).sum(axis=1).mean()
    if min(src_var, dst_var) <= 1e-12 * max(1.0, float(np.abs(np.concatenate([src, dst])).max()) ** 2):
        raise NotEnoughFacePoints("the face points all coincide; no similarity can be fitted")
    return fit_similarities(src, dst)


def similarity_from_faces(src_face: np.ndarray, dst_face: np.ndarray, src_scores: np.ndarray, dst_scores: np.ndarray,
                          threshold: float = FACE_SCORE_THRESHOLD, min_points: int = MIN_FACE_POINTS) -> np.ndarray:
    """Similarity (2, 3) taking face ``src_face`` (68, 2) onto ``dst_face`` (68, 2), fitted on the points confident
    (score >= ``threshold``) in both; ``NotEnoughFacePoints`` when fewer than ``min_points`` are."""
    src_face, dst_face = np.asarray(src_face), np.asarray(dst_face)
    if src_face.shape != dst_face.shape or src_face.ndim != 2 or src_face.shape[-1] != 2:
        raise ValueError(f"expected two faces (N, 2) of the same shape, got {src_face.shape} and {dst_face.shape}")
    both = (np.asarray(src_scores) >= threshold) & (np.asarray(dst_scores) >= threshold)  # (N,)
    if both.sum() < min_points:
        raise NotEnoughFacePoints(f"only {int(both.sum())} face points are confident (score >= {threshold}) in "
                                  f"both faces; a similarity fit needs {min_points}")
    return similarity_from_points(src_face[both], dst_face[both])


def retarget_keypoints(keypoints: np.ndarray, scores: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Every point of ``keypoints`` (F, 134, 2) moved by ``matrix`` (2, 3) -> (F, 134, 2). Scores (F, 134) are
    checked against the points and not changed: undetected points move too (harmless, they are never drawn), so a
    SynthHF hand that starts off-frame keeps its true position."""
    keypoints = np.asarray(keypoints)
    if keypoints.shape[-1] != 2 or np.shape(scores) != keypoints.shape[:-1]:
        raise ValueError(f"expected keypoints (..., K, 2) and scores (..., K), got {keypoints.shape} and "
                         f"{np.shape(scores)}")
    return apply_similarity(keypoints, matrix)


def first_face_frame(face_scores: np.ndarray, threshold: float = FACE_SCORE_THRESHOLD,
                     min_points: int = MIN_FACE_POINTS) -> int | None:
    """Index of the first frame of ``face_scores`` (F, 68) with ``min_points`` confident points, or None."""
    enough = (np.asarray(face_scores) >= threshold).sum(axis=-1) >= min_points  # (F,)
    return int(np.argmax(enough)) if enough.any() else None


def face_motion(faces: np.ndarray, scores: np.ndarray, anchor: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame similarity from the face at frame ``anchor`` to the face at frame t: faces (F, 68, 2), scores
    (F, 68) -> matrices (F, 2, 3) and a flag (F,) saying whether it was fitted (else held from the last
    fitted frame; frames before the anchor hold the identity)."""
    matrices = np.zeros((len(faces), 2, 3))  # (F, 2, 3)
    fitted = np.zeros(len(faces), bool)
    held = np.eye(2, 3)  # (2, 3) identity
    for t in range(len(faces)):
        try:
            held = similarity_from_faces(faces[anchor], faces[t], scores[anchor], scores[t])
            fitted[t] = True
        except NotEnoughFacePoints:
            pass
        matrices[t] = held
    return matrices, fitted


def retarget_to_reference(driving_kpts: np.ndarray, driving_scores: np.ndarray, reference_kpts: np.ndarray,
                          reference_scores: np.ndarray, face: str = "reference") -> tuple[np.ndarray, np.ndarray]:
    """Driving keypoints (F, 134, 2) and scores (F, 134) -> the same motion on the reference pose's face.

    ``reference_kpts`` (134, 2) and ``reference_scores`` (134,) are in the output's pixels; the result is too. See
    the module docstring for what ``face="reference"`` (default) and ``face="driving"`` do.
    ``NotEnoughFacePoints`` when the reference or every driving frame lacks a face.
    """
    if face not in FACE_MODES:
        raise ValueError(f"face must be one of {FACE_MODES}, got {face!r}")
    driving_kpts, driving_scores = np.asarray(driving_kpts, np.float32), np.asarray(driving_scores, np.float32)
    ref_face, ref_scores = np.asarray(reference_kpts)[FACE], np.asarray(reference_scores)[FACE]  # (68, 2), (68,)
    anchor = first_face_frame(np.minimum(driving_scores[:, FACE], ref_scores))  # (F, 68) -> first usable frame
    if anchor is None:
        raise NotEnoughFacePoints(f"no driving frame shows {MIN_FACE_POINTS} face points that the reference face "
                                  "also has")
    to_reference = similarity_from_faces(driving_kpts[anchor, FACE], ref_face, driving_scores[anchor, FACE],
                                         ref_scores)  # (2, 3)
    keypoints = retarget_keypoints(driving_kpts, driving_scores, to_reference)  # (F, 134, 2)
    scores = driving_scores.copy()  # (F, 134)
    if face == "driving":
        return keypoints, scores
    motion, fitted = face_motion(keypoints[:, FACE], driving_scores[:, FACE], anchor)  # (F, 2, 3), (F,)
    keypoints[:, FACE] = apply_similarity(ref_face, motion)  # (68, 2) by (F, 2, 3) -> (F, 68, 2)
    scores[:, FACE] = np.where(fitted[:, None], np.minimum(driving_scores[:, FACE], ref_scores), ref_scores)
    _snap_body_to_face(keypoints, scores)
    return keypoints, scores


def _snap_body_to_face(keypoints: np.ndarray, scores: np.ndarray) -> None:
    """In place: each detected body point of ``BODY_ON_FACE`` moved to the mean of its face points (F, 134, 2)."""
    face = keypoints[:, FACE]  # (F, 68, 2)
    for name, parts in BODY_ON_FACE.items():
        index = BODY.start + BODY_INDEX[name]
        seen = scores[:, index] > 0  # (F,)
        keypoints[seen, index] = face[seen][:, parts].mean(axis=1)  # (F_seen, P, 2) -> (F_seen, 2)


def center_crop_matrix(image_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The map (2, 3) from pixels of an image of ``image_size`` (H, W) to pixels of the ``size`` (H, W) picture
    ``interanimate.pipelines.conditioning.load_reference`` makes of it (scale to cover, centre-crop); a similarity
    up to the rounding of the resized size."""
    from interanimate.pipelines.conditioning import cover_crop

    image_h, image_w = image_size
    resized_w, resized_h, left, top = cover_crop(image_size, size)
    return np.array([[resized_w / image_w, 0.0, -left], [0.0, resized_h / image_h, -top]])  # (2, 3)


def has_face(scores: np.ndarray, threshold: float = FACE_SCORE_THRESHOLD, min_points: int = MIN_FACE_POINTS) -> bool:
    """Whether one pose's scores (134,) hold enough confident face points for a fit."""
    return int((np.asarray(scores)[FACE] >= threshold).sum()) >= min_points
