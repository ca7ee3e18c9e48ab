"""Pose images in the DWPose colour convention, with MimicMotion's confidence-aware colours.

Limb colours are scaled by the product of their end points' confidences and point colours by their own, so the
guidance image itself tells the model how sure the detector was. Sizes scale with the image (DWPose draws at
512-pixel scale: 4-pixel sticks).
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from interanimate.keypoints.layout import (BODY, BODY_COLORS, BODY_LIMBS, FACE, HAND_EDGES, HANDS, NUM_KEYPOINTS)

BODY_SCORE_THRESHOLD = 0.3  # DWPose drops body points below this
HAND_SCORE_THRESHOLD = 0.05
FACE_SCORE_THRESHOLD = 0.05
REFERENCE_SIZE = 512.0  # DWPose's stick widths are tuned for this image size
_HAND_EDGE_COLORS = tuple(
    tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)) for i in range(len(HAND_EDGES))
)


def _scaled(color, factor: float) -> tuple[int, int, int]:
    return tuple(int(round(c * factor)) for c in color)


def _draw_body(canvas, pts, conf, unit, confidence_aware):
    stick = max(1, int(round(4 * unit)))
    for (a, b), color in zip(BODY_LIMBS, BODY_COLORS):
        if conf[a] < BODY_SCORE_THRESHOLD or conf[b] < BODY_SCORE_THRESHOLD:
            continue
        (xa, ya), (xb, yb) = pts[a], pts[b]
        length = math.hypot(xa - xb, ya - yb)
        angle = math.degrees(math.atan2(ya - yb, xa - xb))
        center = (int(round((xa + xb) / 2)), int(round((ya + yb) / 2)))
        poly = cv2.ellipse2Poly(center, (max(1, int(length / 2)), stick), int(angle), 0, 360, 1)
        factor = 0.6 * (conf[a] * conf[b] if confidence_aware else 1.0)
        cv2.fillConvexPoly(canvas, poly, _scaled(color, factor), lineType=cv2.LINE_AA)
    radius = max(1, int(round(4 * unit)))
    for i, color in enumerate(BODY_COLORS):
        if conf[i] >= BODY_SCORE_THRESHOLD:
            factor = conf[i] if confidence_aware else 1.0
            cv2.circle(canvas, _pt(pts[i]), radius, _scaled(color, factor), -1, lineType=cv2.LINE_AA)


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _draw_hand(canvas, pts, conf, unit, confidence_aware):
    width = max(1, int(round(2 * unit)))
    for (a, b), color in zip(HAND_EDGES, _HAND_EDGE_COLORS):
        if conf[a] < HAND_SCORE_THRESHOLD or conf[b] < HAND_SCORE_THRESHOLD:
            continue
        factor = min(conf[a], conf[b]) if confidence_aware else 1.0
        cv2.line(canvas, _pt(pts[a]), _pt(pts[b]), _scaled(color, factor), width, lineType=cv2.LINE_AA)
    radius = max(1, int(round(4 * unit)))
    for i in range(len(pts)):
        if conf[i] >= HAND_SCORE_THRESHOLD:
            factor = conf[i] if confidence_aware else 1.0
            cv2.circle(canvas, _pt(pts[i]), radius, _scaled((0, 0, 255), factor), -1, lineType=cv2.LINE_AA)


def _draw_face(canvas, pts, conf, unit, confidence_aware):
    radius = max(1, int(round(3 * unit)))
    for i in range(len(pts)):
        if conf[i] >= FACE_SCORE_THRESHOLD:
            factor = conf[i] if confidence_aware else 1.0
            cv2.circle(canvas, _pt(pts[i]), radius, _scaled((255, 255, 255), factor), -1, lineType=cv2.LINE_AA)


def render_pose(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                confidence_aware: bool = True, draw_body: bool = True, draw_hands: bool = True,
                draw_face: bool = True) -> np.ndarray:
    """Draw one pose: ``keypoints`` (134, 2) in pixels of a ``height``×``width`` image, ``scores`` (134,).

    Returns a uint8 RGB image (H, W, 3) on black.
    """
    if keypoints.shape != (NUM_KEYPOINTS, 2) or scores.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"expected keypoints (134, 2) and scores (134,), got {keypoints.shape} and {scores.shape}")
    canvas = np.zeros((height, width, 3), np.uint8)
    unit = min(height, width) / REFERENCE_SIZE * 2.0  # thicker than DWPose at low resolution so hands stay visible
    conf = np.clip(np.nan_to_num(scores.astype(np.float64)), 0.0, 1.0)
    pts = np.nan_to_num(keypoints.astype(np.float64))
    if draw_body:
        _draw_body(canvas, pts[BODY], conf[BODY], unit, confidence_aware)
    if draw_hands:
        for part in HANDS.values():
            _draw_hand(canvas, pts[part], conf[part], unit, confidence_aware)
    if draw_face:
        _draw_face(canvas, pts[FACE], conf[FACE], unit, confidence_aware)
    return canvas


def render_pose_sequence(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                         **kwargs) -> np.ndarray:
    """``keypoints`` (F, 134, 2), ``scores`` (F, 134) -> uint8 (F, H, W, 3)."""
    return np.stack([render_pose(k, s, height, width, **kwargs) for k, s in zip(keypoints, scores)])
