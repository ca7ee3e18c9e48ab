"""The mediapipe backend: mapping tables, side conventions, and the face on skimage's astronaut (photo and pan)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from interanimate.annotate.backends import get_backend
from interanimate.annotate.backends.mediapipe_backend import (BLAZEPOSE, BLAZEPOSE_FOR_BODY, BLAZEPOSE_FOR_FOOT,
                                                              DETECTED_SCORE, FACE_MESH_TO_IBUG68, holistic_to_dwpose)
from interanimate.keypoints.layout import (BODY, BODY_INDEX, FACE, FACE_LEFT_EYE, FACE_RIGHT_EYE, FOOT, FOOT_NAMES,
                                           LEFT_HAND, NUM_FACE, RIGHT_HAND)

mp = pytest.importorskip("mediapipe")
FACE_BOX_MARGIN = 0.25  # dlib's HOG box is tight (brows to lower lip): the whole 68-point face lies within +25 %


def test_blazepose_indices_match_mediapipe():
    assert BLAZEPOSE == {m.name.lower(): int(m.value) for m in mp.solutions.pose.PoseLandmark}
    assert set(BLAZEPOSE_FOR_BODY.values()) <= set(BLAZEPOSE)
    assert {v for v in BLAZEPOSE_FOR_FOOT.values() if v} <= set(BLAZEPOSE)


def test_face_table_is_68_distinct_vertices_on_the_right_features():
    assert len(FACE_MESH_TO_IBUG68) == NUM_FACE == len(set(FACE_MESH_TO_IBUG68))
    oval = {a for a, _ in mp.solutions.face_mesh.FACEMESH_FACE_OVAL}
    assert set(FACE_MESH_TO_IBUG68[:17]) <= oval  # the jaw runs along the face oval
    lips = {a for edge in mp.solutions.face_mesh.FACEMESH_LIPS for a in edge}
    assert set(FACE_MESH_TO_IBUG68[48:68]) <= lips
    right_eye = {a for edge in mp.solutions.face_mesh.FACEMESH_RIGHT_EYE for a in edge}  # MediaPipe: subject's right
    left_eye = {a for edge in mp.solutions.face_mesh.FACEMESH_LEFT_EYE for a in edge}
    assert set(FACE_MESH_TO_IBUG68[36:42]) <= right_eye and set(FACE_MESH_TO_IBUG68[42:48]) <= left_eye


def _landmarks(points, visibility=None):
    vis = np.ones(len(points)) if visibility is None else visibility
    return SimpleNamespace(landmark=[SimpleNamespace(x=x, y=y, visibility=v) for (x, y), v in zip(points, vis)])


def test_holistic_result_is_routed_by_name():
    rng = np.random.default_rng(0)
    pose, vis = rng.uniform(0, 1, (33, 2)), rng.uniform(0, 1, 33)
    mesh, left, right = rng.uniform(0, 1, (478, 2)), rng.uniform(0, 1, (21, 2)), rng.uniform(0, 1, (21, 2))
    result = SimpleNamespace(pose_landmarks=_landmarks(pose, vis), face_landmarks=_landmarks(mesh),
                             left_hand_landmarks=_landmarks(left), right_hand_landmarks=_landmarks(right))
    width, height = 200, 100
    keypoints, scores = holistic_to_dwpose(result, width, height)
    px = np.array([width, height])
    body = keypoints[BODY]
    assert np.allclose(body[BODY_INDEX["left_wrist"]], pose[15] * px)  # BlazePose 15 = left wrist
    assert np.allclose(body[BODY_INDEX["right_shoulder"]], pose[12] * px)
    assert np.allclose(body[BODY_INDEX["neck"]], (pose[11] + pose[12]) / 2 * px)
    assert np.isclose(scores[BODY][BODY_INDEX["neck"]], min(vis[11], vis[12]))
    assert np.allclose(keypoints[FACE], mesh[list(FACE_MESH_TO_IBUG68)] * px, atol=1e-4)
    assert np.allclose(keypoints[LEFT_HAND], left * px, atol=1e-4)  # Holistic's left hand = the subject's left
    assert np.allclose(keypoints[RIGHT_HAND], right * px, atol=1e-4)
    small_toes = [FOOT_NAMES.index("left_small_toe"), FOOT_NAMES.index("right_small_toe")]
    assert (scores[FOOT][small_toes] == 0).all() and (scores[FACE] == DETECTED_SCORE).all()

    nothing = SimpleNamespace(pose_landmarks=None, face_landmarks=None, left_hand_landmarks=None,
                              right_hand_landmarks=None)
    assert not holistic_to_dwpose(nothing, width, height)[1].any()


@pytest.fixture(scope="module")
def astronaut_pose(astronaut):
    backend = get_backend("mediapipe", static_image_mode=True)
    try:
        return backend(astronaut)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def dlib68(astronaut):
    from interanimate.annotate.identity import DlibFaces

    faces = DlibFaces(points=68)
    return faces.box(astronaut), faces.landmarks(astronaut)


def _grow(box, margin):
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def _inside(points, box):
    x0, y0, x1, y1 = box
    return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)


def test_astronaut_face_has_68_points_inside_the_face_box(astronaut_pose, dlib68):
    keypoints, scores = astronaut_pose
    box, _ = dlib68
    face = keypoints[FACE]
    assert (scores[FACE] == DETECTED_SCORE).all()
    assert _inside(face, _grow(box, FACE_BOX_MARGIN)).all()
    assert np.ptp(face[:, 0]) > 0.6 * (box[2] - box[0])  # a face-sized spread, not a collapsed blob


def test_astronaut_face_agrees_with_dlib_ibug68(astronaut_pose, dlib68):
    """A wrong or swapped table entry lands a whole feature away (> 0.3 inter-ocular distances)."""
    face = astronaut_pose[0][FACE]
    reference = dlib68[1]
    inter_ocular = np.linalg.norm(reference[FACE_RIGHT_EYE].mean(0) - reference[FACE_LEFT_EYE].mean(0))
    error = np.linalg.norm(face - reference, axis=1) / inter_ocular  # (68,)
    assert error.mean() < 0.08, error.round(2)
    assert error.max() < 0.2, error.round(2)


def test_astronaut_sides_are_the_subjects(astronaut_pose):
    """A frontal, non-mirrored photo: the subject's left side is on the image's right."""
    keypoints, scores = astronaut_pose
    body = keypoints[BODY]
    for side in ("shoulder", "eye", "ear"):
        assert body[BODY_INDEX[f"left_{side}"], 0] > body[BODY_INDEX[f"right_{side}"], 0], side
        assert scores[BODY][BODY_INDEX[f"left_{side}"]] > 0.5
    face = keypoints[FACE]
    assert face[FACE_LEFT_EYE, 0].mean() > face[FACE_RIGHT_EYE, 0].mean()
    assert face[0, 0] < face[16, 0]  # iBUG point 0 is the jaw end on the image's left


def test_astronaut_pan_video_tracks_the_face(astronaut, pan_video, dlib68):
    step = 8
    frames = pan_video(astronaut, frames=6, step=step)  # (6, 384, 384, 3), the face moves 8 px left per frame
    backend = get_backend("mediapipe")  # video (tracking) mode, as `prepare` runs it
    try:
        poses = [backend(frame) for frame in frames]
    finally:
        backend.close()
    box = np.array(_grow(dlib68[0], FACE_BOX_MARGIN))
    centres = []
    for t, (keypoints, scores) in enumerate(poses):
        assert (scores[FACE] == DETECTED_SCORE).all(), t
        assert _inside(keypoints[FACE], box - [step * t, 0, step * t, 0]).all(), t
        centres.append(keypoints[FACE, 0].mean())
    assert np.allclose(np.diff(centres), -step, atol=2.0), np.diff(centres)
