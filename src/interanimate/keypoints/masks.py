"""Hand and face masks from keypoints: a filled convex hull of each part, dilated, at any resolution.

The 68-point face stops at the eyebrows, so the face hull adds the brow points lifted towards the hairline by
``forehead`` × (brow-to-chin distance); without it a forehead stroke would fall outside the face mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.keypoints.layout import (FACE, FACE_CHIN, FACE_LEFT_BROW, FACE_RIGHT_BROW, HANDS, NUM_KEYPOINTS)

MIN_PART_POINTS = 3  # fewer confident points than this and the part is treated as absent


@dataclass(frozen=True)
class MaskConfig:
    score_threshold: float = 0.3
    hand_dilation: float = 0.15  # fraction of the hand's bounding-box diagonal
    face_dilation: float = 0.05  # fraction of the face's bounding-box diagonal
    forehead: float = 0.45  # brow points lifted by this fraction of the brow-to-chin distance


def _fill_hull(mask: np.ndarray, points: np.ndarray, dilation_frac: float) -> None:
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    part = np.zeros_like(mask)
    cv2.fillConvexPoly(part, hull, 1)
    span = np.ptp(points, axis=0)
    radius = int(round(dilation_frac * float(np.hypot(*span))))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        part = cv2.dilate(part, kernel)
    mask |= part


def _confident(points: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    return points[scores >= threshold]


def hand_mask(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
              config: MaskConfig = MaskConfig()) -> np.ndarray:
    """Union of both hands' dilated hulls: (134, 2), (134,) -> uint8 (H, W) in {0, 1}."""
    _check(keypoints, scores)
    mask = np.zeros((height, width), np.uint8)
    for part in HANDS.values():
        pts = _confident(keypoints[part], scores[part], config.score_threshold)
        if len(pts) >= MIN_PART_POINTS:
            _fill_hull(mask, pts, config.hand_dilation)
    return mask


def face_mask(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
              config: MaskConfig = MaskConfig()) -> np.ndarray:
    """The face's dilated hull, forehead included: (134, 2), (134,) -> uint8 (H, W) in {0, 1}."""
    _check(keypoints, scores)
    mask = np.zeros((height, width), np.uint8)
    face, conf = keypoints[FACE], scores[FACE]
    pts = _confident(face, conf, config.score_threshold)
    if len(pts) < MIN_PART_POINTS:
        return mask
    brows = np.concatenate([face[FACE_RIGHT_BROW], face[FACE_LEFT_BROW]])
    brow_conf = np.concatenate([conf[FACE_RIGHT_BROW], conf[FACE_LEFT_BROW]])
    if conf[FACE_CHIN] >= config.score_threshold and (brow_conf >= config.score_threshold).any():
        up = brows.mean(axis=0) - face[FACE_CHIN]  # chin -> brows direction, (2,)
        lifted = brows[brow_conf >= config.score_threshold] + config.forehead * up
        pts = np.concatenate([pts, lifted])
    _fill_hull(mask, pts, config.face_dilation)
    return mask


def masks_for_sequence(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                       config: MaskConfig = MaskConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(F, 134, 2), (F, 134) -> hand and face masks, each uint8 (F, H, W)."""
    hands = np.stack([hand_mask(k, s, height, width, config) for k, s in zip(keypoints, scores)])
    faces = np.stack([face_mask(k, s, height, width, config) for k, s in zip(keypoints, scores)])
    return hands, faces


def _check(keypoints: np.ndarray, scores: np.ndarray) -> None:
    if keypoints.shape != (NUM_KEYPOINTS, 2) or scores.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"expected keypoints (134, 2) and scores (134,), got {keypoints.shape} and {scores.shape}")
