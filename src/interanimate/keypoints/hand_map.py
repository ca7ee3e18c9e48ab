"""Dense hand guidance: a hand *shape* map drawn from 2-D hand keypoints (CHOSEN, beyond the paper).

A DWPose skeleton gives a hand as 1-pixel lines at small sizes: the model learns where the hand is, not how much of the
frame it covers. Dense renders fix that in the anchors (RealisDance feeds HaMeR hand renders, HandRefiner a MANO depth
map, Champ SMPL depth/normal/semantic maps, "Annotated Hands for Generative Models" hand-annotation channels). With
only 2-D keypoints this draws what they imply:

* the palm: the filled polygon of the wrist, the thumb's base (CMC) and the four finger bases (MCPs), the wrist
  widened sideways by ``WRIST_HALF_WIDTH`` × the palm length;
* every finger: a capsule per bone (MCP → PIP → DIP → tip; the thumb from its CMC), as wide as ``FINGER_WIDTH`` × the
  palm length at its base and ``TIP_TAPER`` of that at the tip — widths from bone lengths, the palm length being the
  median wrist-to-MCP distance, which curling does not shorten;
* drawn back to front: palm first, then the fingers from the pinky to the thumb (the later ones cover the earlier).

Three uint8 channels (``HAND_MAP_CHANNELS``), 0 outside every hand:

0. the subject's **left** hand's shape, 1. the **right** hand's — each 128 on the palm rising linearly from 160 at a
   finger's base to 255 at its tip (depth-like: which way each finger points);
2. **part code** of the top-most part: palm 40, thumb 255, index 210, middle 165, ring 120, pinky 80.

A hand needs ``MIN_POINTS`` confident, finite points (``SCORE_THRESHOLD``, as the hand masks) and its wrist plus one
finger base; a finger is drawn from its base up to its first point that is not confident. :func:`interanimate.keypoints.conditions.
keypoint_conditions` calls this for training and inference alike.
"""

from __future__ import annotations

import numpy as np

from interanimate.keypoints.layout import HAND_FINGERS, HAND_WRIST, HANDS, NUM_KEYPOINTS
from interanimate.keypoints.masks import MIN_PART_POINTS, MaskConfig

HAND_MAP_CHANNELS = 3
SCORE_THRESHOLD = MaskConfig.score_threshold  # as the hand masks
MIN_POINTS = MIN_PART_POINTS
FINGER_WIDTH = {"thumb": 0.19, "index": 0.16, "middle": 0.165, "ring": 0.155, "pinky": 0.135}  # × palm length
TIP_TAPER = 0.8  # the width at the tip over the width at the base
WRIST_HALF_WIDTH = 0.22  # × palm length, each side of the wrist point
PALM_VALUE, BASE_VALUE, TIP_VALUE = 128, 160, 255
PART_CODE = {"palm": 40, "thumb": 255, "index": 210, "middle": 165, "ring": 120, "pinky": 80}
BACK_TO_FRONT = ("pinky", "ring", "middle", "index", "thumb")
_FINGER_BASES = (5, 9, 13, 17)  # MCPs of index, middle, ring, pinky (within a hand block)
_SUPERSAMPLE = 4  # cv2 draws at 4× with sub-pixel shifts; the map is area-averaged back


def palm_length(points: np.ndarray, ok: np.ndarray) -> float | None:
    """Median wrist-to-MCP distance of one hand (21, 2) with confident-point flags ``ok`` (21,); None without the
    wrist or any MCP."""
    if not ok[HAND_WRIST]:
        return None
    bases = [j for j in _FINGER_BASES if ok[j]]
    if not bases:
        return None
    return float(np.median(np.linalg.norm(points[bases] - points[HAND_WRIST], axis=1)))


def _draw_capsule(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, r_a: float, r_b: float, value: int) -> None:
    """A tapered capsule from ``a`` to ``b`` (pixels at the supersampled scale), radii ``r_a``, ``r_b``."""
    import cv2

    d = b - a
    length = float(np.hypot(*d))
    if length > 1e-6:
        n = np.array([-d[1], d[0]]) / length  # (2,) unit normal
        quad = np.array([a + n * r_a, b + n * r_b, b - n * r_b, a - n * r_a])  # (4, 2)
        cv2.fillConvexPoly(canvas, np.round(quad).astype(np.int32), value)
    for p, r in ((a, r_a), (b, r_b)):
        cv2.circle(canvas, (int(round(p[0])), int(round(p[1]))), max(1, int(round(r))), value, -1)


def _draw_hand(shape: np.ndarray, part: np.ndarray, points: np.ndarray, ok: np.ndarray) -> None:
    import cv2

    s = _SUPERSAMPLE
    length = palm_length(points, ok)
    if length is None or ok.sum() < MIN_POINTS or length <= 0:
        return
    pts = points * s + (s - 1) / 2.0  # pixel centres at the supersampled scale, (21, 2)
    unit = length * s
    # palm: wrist widened sideways (perpendicular to wrist -> middle of the confident finger bases) + bases
    bases = [j for j in (1,) + _FINGER_BASES if ok[j]]
    axis = pts[[j for j in _FINGER_BASES if ok[j]]].mean(0) - pts[HAND_WRIST]
    normal = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
    corners = np.concatenate([pts[bases], [pts[HAND_WRIST] + normal * WRIST_HALF_WIDTH * unit,
                                           pts[HAND_WRIST] - normal * WRIST_HALF_WIDTH * unit]])
    hull = cv2.convexHull(np.round(corners).astype(np.int32))
    cv2.fillConvexPoly(shape, hull, PALM_VALUE)
    cv2.fillConvexPoly(part, hull, PART_CODE["palm"])
    for finger in BACK_TO_FRONT:
        joints = HAND_FINGERS[finger]  # base .. tip
        chain = joints[:next((k for k, j in enumerate(joints) if not ok[j]), len(joints))]  # confident prefix
        if len(chain) < 2:
            continue
        width = FINGER_WIDTH[finger] * unit
        for k, (ja, jb) in enumerate(zip(chain[:-1], chain[1:])):
            fa, fb = k / 3.0, (k + 1) / 3.0  # position along the finger, 0 at the base, 1 at the tip
            ra, rb = (width / 2) * (1 - (1 - TIP_TAPER) * fa), (width / 2) * (1 - (1 - TIP_TAPER) * fb)
            value = int(round(BASE_VALUE + (TIP_VALUE - BASE_VALUE) * (fa + fb) / 2))
            _draw_capsule(shape, pts[ja], pts[jb], ra, rb, value)
            _draw_capsule(part, pts[ja], pts[jb], ra, rb, PART_CODE[finger])


def hand_map(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """One pose's hand shape map: keypoints (134, 2) in pixels of a ``height``×``width`` frame, scores (134,) ->
    uint8 (H, W, ``HAND_MAP_CHANNELS``) (channels in the module's docstring)."""
    import cv2

    if keypoints.shape != (NUM_KEYPOINTS, 2) or scores.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"expected keypoints (134, 2) and scores (134,), got {keypoints.shape} and {scores.shape}")
    s = _SUPERSAMPLE
    big = (height * s, width * s)
    part = np.zeros(big, np.uint8)
    channels = []
    for side in ("left", "right"):
        shape = np.zeros(big, np.uint8)
        block = HANDS[side]
        raw = np.asarray(keypoints[block], np.float64)
        ok = (np.nan_to_num(np.asarray(scores[block], np.float64)) >= SCORE_THRESHOLD) & np.isfinite(raw).all(axis=1)
        points = np.nan_to_num(raw)
        _draw_hand(shape, part, points, ok)
        channels.append(shape)
    channels.append(part)
    stacked = np.stack(channels, axis=-1)  # (H·s, W·s, 3)
    return cv2.resize(stacked, (width, height), interpolation=cv2.INTER_AREA)  # (H, W, 3), area-averaged


def hand_map_sequence(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """(F, 134, 2), (F, 134) -> uint8 (F, H, W, ``HAND_MAP_CHANNELS``)."""
    return np.stack([hand_map(k, s, height, width) for k, s in zip(keypoints, scores)])
