"""MediaPipe Holistic (mediapipe 0.10.21, models bundled in the wheel, fully offline) -> DWPose 134-point layout.

Holistic runs the pose model, then face mesh and both hand models on crops it derives from the pose, and it names
hands by the *subject's* side ("left_hand_landmarks" is the person's own left hand in a non-mirrored image; unlike the
stand-alone Hands solution, which assumes a mirrored selfie image). That matches the DWPose layout's convention.

Mapping tables (all indices below are MediaPipe's):

- Body: the 18 OpenPose points from the 33 BlazePose points (``POSE_TO_BODY``); the neck, absent in BlazePose, is the
  shoulder midpoint with the lower of the two shoulder visibilities. Feet: toes = ``foot_index``, heels = ``heel``;
  BlazePose has no small toe, so those two points get score 0.
- Face: the 68 iBUG points from the 468/478-point face mesh (``FACE_MESH_TO_IBUG68``).
- Hands: the 21 hand landmarks are already in the COCO-WholeBody / DWPose hand order.

Scores: body and feet use BlazePose's per-landmark visibility; Holistic gives no per-point confidence for face or
hands, so every point of a detected face or hand scores ``DETECTED_SCORE`` and undetected parts score 0.
"""

from __future__ import annotations

import numpy as np

from interanimate.annotate.backends.base import check_frame
from interanimate.errors import UserError
from interanimate.keypoints.layout import (BODY, BODY_INDEX, FACE, FOOT, FOOT_NAMES, LEFT_HAND, NUM_FACE,
                                           NUM_KEYPOINTS, RIGHT_HAND)

DETECTED_SCORE = 1.0

# BlazePose landmark index for each OpenPose body point (subject's sides); "neck" is derived.
POSE_TO_BODY = {
    "nose": 0, "right_shoulder": 12, "right_elbow": 14, "right_wrist": 16, "left_shoulder": 11, "left_elbow": 13,
    "left_wrist": 15, "right_hip": 24, "right_knee": 26, "right_ankle": 28, "left_hip": 23, "left_knee": 25,
    "left_ankle": 27, "right_eye": 5, "left_eye": 2, "right_ear": 8, "left_ear": 7,
}
POSE_LEFT_SHOULDER, POSE_RIGHT_SHOULDER = 11, 12
# BlazePose landmark for each DWPose foot point; None: BlazePose has no such point (score 0).
POSE_TO_FOOT = {"left_big_toe": 31, "left_small_toe": None, "left_heel": 29,
                "right_big_toe": 32, "right_small_toe": None, "right_heel": 30}

# Face-mesh vertex for each iBUG-68 point, in iBUG order. iBUG numbers the face from the image's left in a frontal
# view (point 0 = the subject's right jaw end, 36-41 = the subject's right eye), as does this list.
FACE_MESH_TO_IBUG68 = (
    # jaw 0-16, subject's right ear -> chin (152) -> left ear
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    # right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30 (top -> tip), nose base 31-35 (right -> left)
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye 36-41 (outer corner, upper lid x2, inner corner, lower lid x2)
    33, 160, 158, 133, 153, 144,
    # left eye 42-47 (inner corner, upper lid x2, outer corner, lower lid x2)
    362, 385, 387, 263, 373, 380,
    # outer lips 48-59 (right corner, upper lip -> left corner, lower lip back)
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # inner lips 60-67
    78, 82, 13, 312, 308, 317, 14, 87,
)
assert len(FACE_MESH_TO_IBUG68) == NUM_FACE


def _xy(landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe normalised landmarks -> float32 (N, 2) pixels."""
    return np.array([(p.x * width, p.y * height) for p in landmarks.landmark], np.float32)


class MediaPipeBackend:
    """``MediaPipeBackend()(frame)`` -> (134, 2), (134,). ``static_image_mode=False`` tracks across video frames."""

    def __init__(self, static_image_mode: bool = False, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, refine_face_landmarks: bool = True):
        try:
            import mediapipe as mp
        except ImportError as err:  # pragma: no cover - mediapipe is a dependency
            raise UserError(f"the mediapipe backend needs mediapipe==0.10.21 ({err})") from None
        if not hasattr(mp, "solutions"):
            raise UserError(f"mediapipe {mp.__version__} has no bundled 'solutions' models; install mediapipe==0.10.21")
        self._options = dict(static_image_mode=static_image_mode, model_complexity=model_complexity,
                             min_detection_confidence=min_detection_confidence,
                             refine_face_landmarks=refine_face_landmarks)
        self._holistic_cls = mp.solutions.holistic.Holistic
        self._holistic = None

    def reset(self) -> None:
        """Forget tracking state (call before each new video)."""
        self.close()

    def close(self) -> None:
        if self._holistic is not None:
            self._holistic.close()
            self._holistic = None

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame = check_frame(frame)
        if self._holistic is None:
            self._holistic = self._holistic_cls(**self._options)
        height, width = frame.shape[:2]
        result = self._holistic.process(np.ascontiguousarray(frame))
        return holistic_to_dwpose(result, width, height)


def holistic_to_dwpose(result, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros(NUM_KEYPOINTS, np.float32)
    if result.pose_landmarks is not None:
        pose = _xy(result.pose_landmarks, width, height)  # (33, 2)
        vis = np.array([p.visibility for p in result.pose_landmarks.landmark], np.float32)  # (33,)
        body_kp, body_sc = keypoints[BODY], scores[BODY]  # views
        for name, idx in POSE_TO_BODY.items():
            body_kp[BODY_INDEX[name]], body_sc[BODY_INDEX[name]] = pose[idx], vis[idx]
        shoulders = [POSE_LEFT_SHOULDER, POSE_RIGHT_SHOULDER]
        body_kp[BODY_INDEX["neck"]] = pose[shoulders].mean(axis=0)
        body_sc[BODY_INDEX["neck"]] = vis[shoulders].min()
        foot_kp, foot_sc = keypoints[FOOT], scores[FOOT]
        for i, name in enumerate(FOOT_NAMES):
            if POSE_TO_FOOT[name] is not None:
                foot_kp[i], foot_sc[i] = pose[POSE_TO_FOOT[name]], vis[POSE_TO_FOOT[name]]
    if result.face_landmarks is not None:
        mesh = _xy(result.face_landmarks, width, height)  # (468 or 478, 2)
        keypoints[FACE] = mesh[list(FACE_MESH_TO_IBUG68)]
        scores[FACE] = DETECTED_SCORE
    for part, hand in ((LEFT_HAND, result.left_hand_landmarks), (RIGHT_HAND, result.right_hand_landmarks)):
        if hand is not None:
            keypoints[part] = _xy(hand, width, height)
            scores[part] = DETECTED_SCORE
    np.clip(scores, 0.0, 1.0, out=scores)
    return keypoints, scores
