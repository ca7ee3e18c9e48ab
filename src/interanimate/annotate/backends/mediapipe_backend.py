"""MediaPipe Holistic (mediapipe 0.10.21, models bundled in the wheel, fully offline) -> DWPose 134-point layout.

Holistic runs BlazePose (33 points), then the face mesh (478 points with ``refine_face_landmarks``) and the hand model
(21 points per hand) on crops it derives from the pose. The three mapping tables below are the whole conversion; the
same tables, with names, are printed in ``docs/annotation.md``. All indices are MediaPipe's.

Sides. Every "left"/"right" here is the *subject's own* side, as in the DWPose layout: in a non-mirrored photo of a
person facing the camera, the subject's left shoulder is on the image's right (checked on skimage's astronaut photo in
the tests). BlazePose names its landmarks that way, and Holistic crops ``left_hand_landmarks`` around BlazePose's left
wrist, so Holistic's left hand is the subject's left hand too. (The stand-alone ``mp.solutions.hands`` solution is
different: its "Left"/"Right" handedness assumes a mirrored selfie image and would need swapping; it is not used here.)
A mirrored selfie video therefore yields swapped sides, exactly as DWPose would; flip such videos first.

- Body (``BLAZEPOSE_FOR_BODY``): the 18 OpenPose points from the 33 BlazePose points. OpenPose's neck does not exist
  in BlazePose: it is the midpoint of the two shoulders, scored with the lower of their two visibilities.
- Feet (``BLAZEPOSE_FOR_FOOT``): big toe = ``foot_index``, heel = ``heel``. BlazePose has no small toe: score 0.
- Face (``FACE_MESH_TO_IBUG68``): one face-mesh vertex per iBUG-68 point. Brows, nose, eyes and lips use the vertices
  conventionally matched to iBUG; the jaw uses face-oval vertices, picked as the nearest to dlib's 68-point iBUG
  predictor on the two offline frontal faces (skimage's astronaut, matplotlib's Grace Hopper) and made left-right
  symmetric. Against dlib's predictor the mapped points lie on average 0.04 inter-ocular distances away on those two
  faces (jaw 0.05-0.07; the earlier, commonly copied jaw row 127, 234, 93, 132, 58, 136, 150, 176, 152, ... was 0.15).
- Hands: MediaPipe's 21 hand landmarks are already in the COCO-WholeBody / DWPose hand order (wrist, then thumb,
  index, middle, ring, pinky, base to tip), so they are copied unchanged.

Scores: body and feet use BlazePose's per-landmark visibility; Holistic gives no per-point confidence for the face or
hands, so every point of a detected face or hand scores ``DETECTED_SCORE`` and the points of an undetected part 0.
"""

from __future__ import annotations

import numpy as np

from interanimate.annotate.backends.base import check_frame
from interanimate.errors import UserError
from interanimate.keypoints.layout import (BODY, BODY_INDEX, BODY_NAMES, FACE, FOOT, FOOT_NAMES, LEFT_HAND, NUM_FACE,
                                           NUM_HAND, NUM_KEYPOINTS, RIGHT_HAND)

DETECTED_SCORE = 1.0
NUM_BLAZEPOSE = 33
NUM_FACE_MESH = 468  # 478 with refine_face_landmarks (10 iris points appended); the table uses the first 468 only

# BlazePose landmark indices (``mp.solutions.pose.PoseLandmark``), spelled out so importing this module needs no
# mediapipe.
BLAZEPOSE = {
    "nose": 0, "left_eye_inner": 1, "left_eye": 2, "left_eye_outer": 3, "right_eye_inner": 4, "right_eye": 5,
    "right_eye_outer": 6, "left_ear": 7, "right_ear": 8, "mouth_left": 9, "mouth_right": 10, "left_shoulder": 11,
    "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14, "left_wrist": 15, "right_wrist": 16, "left_pinky": 17,
    "right_pinky": 18, "left_index": 19, "right_index": 20, "left_thumb": 21, "right_thumb": 22, "left_hip": 23,
    "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28, "left_heel": 29,
    "right_heel": 30, "left_foot_index": 31, "right_foot_index": 32,
}
NECK_FROM = ("left_shoulder", "right_shoulder")  # the neck is their midpoint
# OpenPose body point -> BlazePose landmark name (same name for all but the derived neck).
BLAZEPOSE_FOR_BODY = {name: name for name in BODY_NAMES if name != "neck"}
# DWPose foot point -> BlazePose landmark name, or None where BlazePose has no such point.
BLAZEPOSE_FOR_FOOT = {"left_big_toe": "left_foot_index", "left_small_toe": None, "left_heel": "left_heel",
                      "right_big_toe": "right_foot_index", "right_small_toe": None, "right_heel": "right_heel"}

# Face-mesh vertex for each iBUG-68 point, in iBUG order. iBUG numbers a frontal face from the image's left (point 0
# = the top of the subject's right jaw, 36-41 = the subject's right eye), and so does this list.
FACE_MESH_TO_IBUG68 = (
    # jaw 0-16: subject's right ear -> chin (8 = vertex 152) -> left ear, along the face oval
    127, 93, 132, 58, 172, 150, 149, 148, 152, 377, 378, 379, 397, 288, 361, 323, 356,
    # right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30 (top -> tip), nose base 31-35 (right -> left)
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye 36-41 (outer corner, upper lid ×2, inner corner, lower lid ×2)
    33, 160, 158, 133, 153, 144,
    # left eye 42-47 (inner corner, upper lid ×2, outer corner, lower lid ×2)
    362, 385, 387, 263, 373, 380,
    # outer lips 48-59 (right corner, upper lip -> left corner, lower lip back)
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # inner lips 60-67
    78, 82, 13, 312, 308, 317, 14, 87,
)
assert len(FACE_MESH_TO_IBUG68) == NUM_FACE and max(FACE_MESH_TO_IBUG68) < NUM_FACE_MESH
assert set(BLAZEPOSE_FOR_BODY) | {"neck"} == set(BODY_NAMES) and set(BLAZEPOSE_FOR_FOOT) == set(FOOT_NAMES)


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
    """A Holistic result (``pose_landmarks``, ``face_landmarks``, ``left_hand_landmarks``, ``right_hand_landmarks``,
    each None when not found) -> keypoints float32 (134, 2) in pixels and scores float32 (134,)."""
    keypoints = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros(NUM_KEYPOINTS, np.float32)
    if result.pose_landmarks is not None:
        pose = _xy(result.pose_landmarks, width, height)  # (33, 2)
        vis = np.array([p.visibility for p in result.pose_landmarks.landmark], np.float32)  # (33,)
        body_kp, body_sc = keypoints[BODY], scores[BODY]  # views
        for name, source in BLAZEPOSE_FOR_BODY.items():
            body_kp[BODY_INDEX[name]], body_sc[BODY_INDEX[name]] = pose[BLAZEPOSE[source]], vis[BLAZEPOSE[source]]
        shoulders = [BLAZEPOSE[name] for name in NECK_FROM]
        body_kp[BODY_INDEX["neck"]] = pose[shoulders].mean(axis=0)
        body_sc[BODY_INDEX["neck"]] = vis[shoulders].min()
        foot_kp, foot_sc = keypoints[FOOT], scores[FOOT]
        for i, name in enumerate(FOOT_NAMES):
            source = BLAZEPOSE_FOR_FOOT[name]
            if source is not None:
                foot_kp[i], foot_sc[i] = pose[BLAZEPOSE[source]], vis[BLAZEPOSE[source]]
    if result.face_landmarks is not None:
        mesh = _xy(result.face_landmarks, width, height)  # (468 or 478, 2)
        keypoints[FACE] = mesh[list(FACE_MESH_TO_IBUG68)]
        scores[FACE] = DETECTED_SCORE
    for part, hand in ((LEFT_HAND, result.left_hand_landmarks), (RIGHT_HAND, result.right_hand_landmarks)):
        if hand is not None:
            points = _xy(hand, width, height)  # (21, 2)
            if len(points) != NUM_HAND:
                raise UserError(f"mediapipe returned {len(points)} hand landmarks, expected {NUM_HAND}")
            keypoints[part] = points
            scores[part] = DETECTED_SCORE
    np.clip(scores, 0.0, 1.0, out=scores)
    return keypoints, scores
