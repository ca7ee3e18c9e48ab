"""The DWPose whole-body keypoint layout (134 points) used by MimicMotion and StableAnimator.

Order: 18 body points in OpenPose order (with neck), 6 feet, 68 face (iBUG-68), 21 left hand, 21 right hand.
"Left" and "right" are the subject's own sides. Every consumer uses these named slices; no bare index ranges.
Arrays are ``(..., NUM_KEYPOINTS, 2)`` pixel coordinates (x, y) plus ``(..., NUM_KEYPOINTS)`` confidences in [0, 1].
"""

from __future__ import annotations

import numpy as np

NUM_BODY, NUM_FOOT, NUM_FACE, NUM_HAND = 18, 6, 68, 21
BODY = slice(0, NUM_BODY)
FOOT = slice(BODY.stop, BODY.stop + NUM_FOOT)
FACE = slice(FOOT.stop, FOOT.stop + NUM_FACE)
LEFT_HAND = slice(FACE.stop, FACE.stop + NUM_HAND)
RIGHT_HAND = slice(LEFT_HAND.stop, LEFT_HAND.stop + NUM_HAND)
NUM_KEYPOINTS = RIGHT_HAND.stop  # 134
HANDS = {"left": LEFT_HAND, "right": RIGHT_HAND}

BODY_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
BODY_INDEX = {name: i for i, name in enumerate(BODY_NAMES)}
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")

# Parts of the 68-point face, as indices *within* the face block.
FACE_JAW = slice(0, 17)
FACE_RIGHT_BROW = slice(17, 22)
FACE_LEFT_BROW = slice(22, 27)
FACE_NOSE_BRIDGE = slice(27, 31)
FACE_NOSE_BASE = slice(31, 36)
FACE_RIGHT_EYE = slice(36, 42)
FACE_LEFT_EYE = slice(42, 48)
FACE_MOUTH_OUTER = slice(48, 60)
FACE_MOUTH_INNER = slice(60, 68)
FACE_NOSE_TIP = 30
FACE_CHIN = 8
FACE_PARTS = {
    "jaw": FACE_JAW, "right_brow": FACE_RIGHT_BROW, "left_brow": FACE_LEFT_BROW, "nose_bridge": FACE_NOSE_BRIDGE,
    "nose_base": FACE_NOSE_BASE, "right_eye": FACE_RIGHT_EYE, "left_eye": FACE_LEFT_EYE,
    "mouth_outer": FACE_MOUTH_OUTER, "mouth_inner": FACE_MOUTH_INNER,
}

# Hand joints, as indices within a hand block (MediaPipe / COCO-WholeBody order).
HAND_WRIST = 0
HAND_FINGERS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
                "pinky": (17, 18, 19, 20)}
HAND_TIPS = tuple(joints[-1] for joints in HAND_FINGERS.values())  # (4, 8, 12, 16, 20)
HAND_EDGES = tuple((0 if k == 0 else joints[k - 1], joints[k]) for joints in HAND_FINGERS.values() for k in range(4))

# OpenPose limbs (0-based) in DWPose's drawing order; the first 17 are drawn.
BODY_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
BODY_COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)


def _mirror_permutation() -> np.ndarray:
    """Index map ``perm`` such that a horizontally flipped pose is ``kpts[perm]`` with x negated."""
    perm = np.arange(NUM_KEYPOINTS)
    body_pairs = [(2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)]
    for a, b in body_pairs:
        perm[BODY.start + a], perm[BODY.start + b] = BODY.start + b, BODY.start + a
    for a, b in [(0, 3), (1, 4), (2, 5)]:
        perm[FOOT.start + a], perm[FOOT.start + b] = FOOT.start + b, FOOT.start + a
    face_pairs = [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
    face_pairs += [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    face_pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    for a, b in face_pairs:
        perm[FACE.start + a], perm[FACE.start + b] = FACE.start + b, FACE.start + a
    perm[LEFT_HAND] = np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)
    perm[RIGHT_HAND] = np.arange(LEFT_HAND.start, LEFT_HAND.stop)
    return perm


MIRROR_PERMUTATION = _mirror_permutation()


def mirror_keypoints(keypoints: np.ndarray, scores: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Flip a pose horizontally in an image of ``width`` pixels: x -> width - 1 - x, left/right swapped.

    ``keypoints``: (..., 134, 2); ``scores``: (..., 134). Applying it twice gives the input back.
    """
    flipped = keypoints[..., MIRROR_PERMUTATION, :].copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    return flipped, scores[..., MIRROR_PERMUTATION].copy()
