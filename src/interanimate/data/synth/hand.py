"""An articulated 21-joint hand (MediaPipe / COCO-WholeBody joint order, as the DWPose layout) and its drawing.

The template is a right hand seen from the back, fingers up, in units of the hand's length (wrist to middle tip ≈ 1);
the left hand is its mirror image. Curling a finger shortens its projected segments (the finger folds away from the
camera), which is how a back-of-hand view looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.keypoints.layout import HAND_EDGES, HAND_FINGERS, HAND_WRIST, NUM_HAND

# Right hand, back view: thumb on +x. MCP (or thumb CMC) positions and segment lengths.
_BASES = {"thumb": (0.16, -0.12), "index": (0.14, -0.5), "middle": (0.04, -0.53), "ring": (-0.06, -0.5),
          "pinky": (-0.15, -0.44)}
_LENGTHS = {"thumb": (0.17, 0.14, 0.11), "index": (0.22, 0.13, 0.1), "middle": (0.25, 0.15, 0.1),
            "ring": (0.23, 0.14, 0.1), "pinky": (0.18, 0.11, 0.09)}
_SPREAD_DEG = {"thumb": 45.0, "index": 6.0, "middle": 0.0, "ring": -6.0, "pinky": -13.0}
_FINGER_WIDTH = {"thumb": 0.085, "index": 0.075, "middle": 0.078, "ring": 0.072, "pinky": 0.062}
FINGER_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class HandPose:
    curl: dict  # finger -> curl in [0, 1]
    spread: float = 1.0  # multiplies the thumb's opening angle (a pinch closes it)


def hand_joints(pose: HandPose, side: str, angle: float, scale: float, anchor_at: np.ndarray,
                anchor: str) -> np.ndarray:
    """Joint positions (21, 2) in pixels.

    ``angle``: radians, direction of the fingers (0 = up, positive = towards image right); ``scale``: hand length in
    pixels; the point named by ``anchor`` ('pinch', 'fingertips:<n>', 'palm') is placed at ``anchor_at``.
    """
    return place_joints(template_joints(pose, side), angle, scale, anchor_at, anchor)


def template_joints(pose: HandPose, side: str) -> np.ndarray:
    """The articulated hand (21, 2) in hand lengths, wrist at the origin, fingers up (before rotation and scale)."""
    return articulated_template(pose, side)[0]


ARTICULATION = (*FINGER_ORDER, "spread")  # the parameters of ``articulated_template``'s derivative: 5 curls, spread
_FOLD_PER_JOINT, _FOLD_MAX = np.deg2rad(75), np.deg2rad(88)
_THUMB_TUCK_DEG = 40.0  # a curled thumb's opening closes by this much


def articulated_template(pose: HandPose, side: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`template_joints` (21, 2) and its derivative (21, 2, 6) with respect to ``ARTICULATION`` (each finger's
    curl, then the thumb's spread), in closed form: the hand fit's Jacobian without finite differences. The finger
    bases do not move with the articulation, nor does the palm anchor (wrist and finger bases) built on them."""
    local = np.zeros((NUM_HAND, 2))
    grad = np.zeros((NUM_HAND, 2, len(ARTICULATION)))
    for f, finger in enumerate(FINGER_ORDER):
        joints = HAND_FINGERS[finger]
        curl = pose.curl.get(finger, 0.0)
        spread, d_spread_d_curl = np.deg2rad(_SPREAD_DEG[finger]), 0.0
        if finger == "thumb":  # a curled thumb tucks in across the palm
            spread = np.deg2rad(_SPREAD_DEG["thumb"] * pose.spread - _THUMB_TUCK_DEG * curl)
            d_spread_d_curl = -np.deg2rad(_THUMB_TUCK_DEG)
        direction = np.array([np.sin(spread), -np.cos(spread)])
        d_direction = np.array([np.cos(spread), np.sin(spread)])  # d direction / d spread angle
        point = np.asarray(_BASES[finger], np.float64)
        d_curl, d_spread = np.zeros(2), np.zeros(2)
        local[joints[0]] = point
        for k, length in enumerate(_LENGTHS[finger]):
            unclamped = _FOLD_PER_JOINT * curl * (k + 1)
            fold = min(unclamped, _FOLD_MAX)
            d_fold = _FOLD_PER_JOINT * (k + 1) if unclamped < _FOLD_MAX else 0.0
            cos_fold = np.cos(fold)
            reach = length * cos_fold
            point = point + direction * length * cos_fold  # in this order since SynthHF's first renders (same bytes)
            d_curl = d_curl + d_direction * d_spread_d_curl * reach - direction * length * np.sin(fold) * d_fold
            local[joints[k + 1]] = point
            grad[joints[k + 1], :, f] = d_curl
            if finger == "thumb":
                d_spread = d_spread + d_direction * np.deg2rad(_SPREAD_DEG["thumb"]) * reach
                grad[joints[k + 1], :, len(FINGER_ORDER)] = d_spread
    if side == "left":  # mirror image of the right hand; ``angle`` stays a pixel-space direction
        local[:, 0] *= -1
        grad[:, 0] *= -1
    return local, grad


def place_joints(local: np.ndarray, angle: float, scale: float, anchor_at: np.ndarray, anchor: str) -> np.ndarray:
    """A template hand (21, 2) rotated by ``angle``, scaled to ``scale`` pixels, its ``anchor`` moved to
    ``anchor_at``."""
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    world = local @ rot.T * scale  # (21, 2)
    return world + (np.asarray(anchor_at) - anchor_point(world, anchor))


def anchor_point(joints: np.ndarray, anchor: str) -> np.ndarray:
    if anchor == "palm":
        return joints[[HAND_WRIST, 5, 9, 13, 17]].mean(0)
    if anchor == "pinch":
        return joints[[HAND_FINGERS["thumb"][-1], HAND_FINGERS["index"][-1]]].mean(0)
    if anchor.startswith("fingertips:"):
        n = int(anchor.split(":")[1])
        tips = [HAND_FINGERS[f][-1] for f in ("index", "middle", "ring")[:n]]
        return joints[tips].mean(0)
    raise ValueError(f"unknown hand anchor {anchor!r}")


def draw_hand(color: np.ndarray, mask: np.ndarray, joints: np.ndarray, pose: HandPose, skin, scale: float,
              ss: int) -> None:
    """Draw the hand (outline, palm, fingers with nails) into ``color`` (H·ss, W·ss, 3) and 1s into ``mask``."""
    aa = cv2.LINE_AA
    pts = joints * ss
    outline = tuple(int(c * 0.6) for c in skin)
    fill = tuple(int(c) for c in skin)
    palm = pts[[0, 1, 2, 5, 9, 13, 17]]
    palm_poly = np.round(cv2.convexHull(palm.astype(np.float32))).astype(np.int32)
    edge = max(1, int(round(0.02 * scale * ss)))
    cv2.fillConvexPoly(color, palm_poly, outline, aa)
    cv2.polylines(color, [palm_poly], True, outline, 2 * edge, aa)
    cv2.fillConvexPoly(mask, palm_poly, 1)
    cv2.polylines(mask, [palm_poly], True, 1, 2 * edge)
    cv2.fillConvexPoly(color, palm_poly, fill, aa)
    for finger in reversed(FINGER_ORDER):  # pinky first so the index overlaps it
        width = max(2, int(round(_FINGER_WIDTH[finger] * scale * ss)))
        segs = [(a, b) for a, b in HAND_EDGES
                if b in HAND_FINGERS[finger] and (a != HAND_WRIST or finger == "thumb")]  # MCP->tip (thumb: CMC)
        for canvas, value, w in ((color, outline, width + 2 * edge), (mask, 1, width + 2 * edge),
                                 (color, fill, width)):
            for a, b in segs:
                cv2.line(canvas, _pt(pts[a]), _pt(pts[b]), value, w, aa if canvas is color else cv2.LINE_8)
        tip, before = pts[HAND_FINGERS[finger][-1]], pts[HAND_FINGERS[finger][-2]]
        if pose.curl.get(finger, 0.0) < 0.5:
            nail_color = tuple(int(min(255, c * 1.08 + 15)) for c in skin)
            cv2.circle(color, _pt(before + 0.6 * (tip - before)), max(1, int(width * 0.3)), nail_color, -1, aa)
    for knuckle in (6, 10, 14, 18):
        cv2.circle(color, _pt(pts[knuckle]), max(1, int(0.012 * scale * ss)), outline, -1, aa)


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
