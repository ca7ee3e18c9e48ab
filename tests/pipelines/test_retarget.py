"""Retargeting a driving pose onto a reference face: Umeyama similarity, per-frame face motion, the crop map."""

import numpy as np
import pytest
from PIL import Image

from interanimate.keypoints.layout import BODY, BODY_INDEX, FACE, FACE_NOSE_TIP, LEFT_HAND, NUM_KEYPOINTS
from interanimate.pipelines.conditioning import load_reference
from interanimate.pipelines.retarget import (MIN_FACE_POINTS, NotEnoughFacePoints, apply_similarity,
                                             center_crop_matrix, has_face, retarget_keypoints,
                                             retarget_to_reference, similarity_from_faces)

NOSE = BODY.start + BODY_INDEX["nose"]


def similarity(scale: float, angle: float, shift) -> np.ndarray:
    """A known 2×3 similarity: rotate by ``angle`` (radians), scale, then shift."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]])


def driving_sequence(frames: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A face moving rigidly (a per-frame similarity) and a left hand moving on its own: (F, 134, 2), (F, 134)."""
    rng = np.random.default_rng(seed)
    face = rng.uniform((20, 15), (44, 45), (68, 2))  # (68, 2)
    hand = rng.uniform((40, 40), (60, 62), (21, 2))  # (21, 2)
    keypoints = np.zeros((frames, NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros((frames, NUM_KEYPOINTS), np.float32)
    for t in range(frames):
        head = similarity(1.0 + 0.03 * t, 0.05 * t, (1.5 * t, -t))  # the driver's head motion
        keypoints[t, FACE] = apply_similarity(face, head)
        keypoints[t, LEFT_HAND] = hand + (-4.0 * t, -5.0 * t)  # the hand reaches for the face
        keypoints[t, NOSE] = keypoints[t, FACE][FACE_NOSE_TIP]
    scores[:, FACE], scores[:, LEFT_HAND], scores[:, NOSE] = 1.0, 1.0, 1.0
    return keypoints, scores


def test_similarity_recovers_known_rotation_scale_shift():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (68, 2))
    truth = similarity(1.7, 0.4, (12.0, -5.0))
    dst = apply_similarity(src, truth).astype(np.float64)
    src_scores, dst_scores = np.ones(68), np.ones(68)
    dst[:10] += 50.0  # outliers the fit must not see: their scores are low
    dst_scores[:10] = 0.1
    np.testing.assert_allclose(similarity_from_faces(src, dst, src_scores, dst_scores), truth, atol=1e-4)
    mirrored = src * (-1.0, 1.0)  # a reflection is not a similarity: the fit never returns one
    assert np.linalg.det(similarity_from_faces(src, mirrored, src_scores, np.ones(68))[:, :2]) > 0


def test_too_few_or_coincident_points_is_a_clear_error():
    rng = np.random.default_rng(2)
    face = rng.uniform(0, 50, (68, 2))
    scores = np.zeros(68)
    scores[:MIN_FACE_POINTS - 1] = 1.0
    with pytest.raises(NotEnoughFacePoints, match=f"only {MIN_FACE_POINTS - 1} face points .* needs {MIN_FACE_POINTS}"):
        similarity_from_faces(face, face, scores, np.ones(68))
    with pytest.raises(NotEnoughFacePoints, match="coincide"):
        similarity_from_faces(np.full((68, 2), 3.0), face, np.ones(68), np.ones(68))
    keypoints, kp_scores = driving_sequence()
    faceless = kp_scores[0].copy()
    faceless[FACE] = 0.0
    assert has_face(kp_scores[0]) and not has_face(faceless)
    with pytest.raises(NotEnoughFacePoints, match="no driving frame"):
        retarget_to_reference(keypoints, kp_scores, keypoints[0], faceless)


def test_retarget_is_identity_when_source_is_destination():
    keypoints, scores = driving_sequence()
    np.testing.assert_allclose(retarget_keypoints(keypoints, scores, np.eye(2, 3)), keypoints, atol=1e-5)
    for face in ("reference", "driving"):
        out, out_scores = retarget_to_reference(keypoints, scores, keypoints[0], scores[0], face=face)
        np.testing.assert_allclose(out, keypoints, atol=1e-4)
        np.testing.assert_array_equal(out_scores, scores)


def test_hand_keeps_its_position_relative_to_the_face_under_a_known_transform():
    keypoints, scores = driving_sequence()
    to_user = similarity(0.6, -0.3, (70.0, 20.0))  # the user's face: smaller, tilted, elsewhere
    reference = apply_similarity(keypoints[0], to_user)  # (134, 2)
    out, _ = retarget_to_reference(keypoints, scores, reference, scores[0])
    expected = apply_similarity(keypoints, to_user)  # (F, 134, 2)
    np.testing.assert_allclose(out[:, LEFT_HAND], expected[:, LEFT_HAND], atol=1e-3)
    np.testing.assert_allclose(out[:, FACE], expected[:, FACE], atol=1e-3)  # the head motion is kept too
    assert np.abs(out[:, LEFT_HAND] - keypoints[:, LEFT_HAND]).max() > 20  # i.e. the hand did move


def test_reference_face_shape_replaces_the_driving_face():
    keypoints, scores = driving_sequence()
    rng = np.random.default_rng(3)
    ref_face = rng.uniform((100, 50), (140, 100), (68, 2))  # another face shape, elsewhere and larger
    reference = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    reference[FACE] = ref_face
    ref_scores = np.zeros(NUM_KEYPOINTS, np.float32)
    ref_scores[FACE] = 1.0
    ref_scores[FACE.start + 5] = 0.0  # a point the reference's detector missed: never drawn
    scores[2, FACE.start + 7] = 0.3 * 0.5  # a point the driver's hand hides in frame 2: stays hidden
    scores[3, FACE] = 0.0  # the driver's face is lost in frame 3: the last head motion is held
    out, out_scores = retarget_to_reference(keypoints, scores, reference, ref_scores)
    np.testing.assert_allclose(out[0, FACE], ref_face, atol=1e-3)  # frame 0: the user's face itself
    # ... then moved as the driver's head, that motion seen in the reference's frame: to_ref · head · to_ref⁻¹
    to_ref = similarity_from_faces(keypoints[0, FACE], ref_face, scores[0, FACE], ref_scores[FACE])
    head = similarity_from_faces(keypoints[0, FACE], keypoints[1, FACE], scores[0, FACE], scores[1, FACE])
    to_ref3, head3 = np.vstack([to_ref, [0, 0, 1]]), np.vstack([head, [0, 0, 1]])  # (3, 3) each
    moved = (to_ref3 @ head3 @ np.linalg.inv(to_ref3))[:2]  # (2, 3)
    np.testing.assert_allclose(out[1, FACE], apply_similarity(ref_face, moved), atol=1e-3)
    np.testing.assert_allclose(out[3, FACE], out[2, FACE], atol=1e-5)
    assert out_scores[:, FACE.start + 5].max() == 0 and out_scores[2, FACE.start + 7] == pytest.approx(0.15)
    assert (out_scores[3, FACE] == ref_scores[FACE]).all()
    np.testing.assert_allclose(out[:, NOSE], out[:, FACE][:, FACE_NOSE_TIP], atol=1e-5)  # body nose on the face
    # the hand keeps its offset from the face centre (of the points both faces have), turned and scaled as the face
    both = ref_scores[FACE] > 0  # (68,)
    drv_offset = keypoints[:3, LEFT_HAND] - keypoints[:3, FACE][:, both].mean(axis=1, keepdims=True)  # (3, 21, 2)
    out_offset = out[:3, LEFT_HAND] - out[:3, FACE][:, both].mean(axis=1, keepdims=True)  # (3, 21, 2)
    np.testing.assert_allclose(out_offset, np.einsum("ij,fnj->fni", to_ref[:, :2], drv_offset), atol=1e-3)
    kept, _ = retarget_to_reference(keypoints, scores, reference, ref_scores, face="driving")
    np.testing.assert_allclose(kept[:, FACE], apply_similarity(keypoints[:, FACE], to_ref), atol=1e-3)


def test_anchor_is_the_first_frame_with_a_face():
    keypoints, scores = driving_sequence()
    scores[0, FACE] = 0.0  # no face in frame 0: frame 1 is aligned to the reference
    to_user = similarity(1.3, 0.2, (-10.0, 30.0))
    reference = apply_similarity(keypoints[1], to_user)
    out, _ = retarget_to_reference(keypoints, scores, reference, np.ones(NUM_KEYPOINTS))
    np.testing.assert_allclose(out[:, LEFT_HAND], apply_similarity(keypoints[:, LEFT_HAND], to_user), atol=1e-3)


def test_center_crop_matrix_matches_load_reference(tmp_path):
    image = np.zeros((80, 120, 3), np.uint8)  # (H, W): wider than the square output, so the sides are cut
    image[50:56, 84:90] = 255  # a bright square centred on (x, y) = (87, 53)
    Image.fromarray(image).save(tmp_path / "ref.png")
    reference = load_reference(tmp_path / "ref.png", (48, 48))  # (3, 48, 48) in [-1, 1]
    x, y = apply_similarity(np.array([[87.0, 53.0]]), center_crop_matrix((80, 120), (48, 48)))[0]
    assert reference[:, round(y), round(x)].min() > 0.5  # bright where the map says
    bright = np.argwhere(reference.numpy().mean(axis=0) > 0)  # (N, 2) rows, cols
    np.testing.assert_allclose(bright.mean(axis=0) + 0.5, (y, x), atol=0.6)


def test_face_framing_box_frames_a_face_as_synthhf_does():
    from interanimate.pipelines.conditioning import FACE_CENTRE, FACE_WIDTH_FRACTION, face_framing_box

    face = np.stack(np.meshgrid(np.linspace(200, 300, 9), np.linspace(150, 260, 8)), -1).reshape(-1, 2)  # (72, 2)
    left, top, side = face_framing_box((1000, 800), face)
    assert side == round(100 / FACE_WIDTH_FRACTION)
    assert abs(left + FACE_CENTRE[0] * side - 250) <= 1 and abs(top + FACE_CENTRE[1] * side - 205) <= 1
    # near a border: kept inside, the same size
    left, top, side2 = face_framing_box((1000, 800), face - (180, 140))
    assert (left, top, side2) == (0, 0, side)
    # a face too large for the image: the largest square the image holds
    assert face_framing_box((200, 300), face * 3)[2] == 200


def test_frame_on_face_crops_the_reference_or_keeps_it_without_a_face():
    from interanimate.keypoints.layout import FACE, NUM_KEYPOINTS
    from interanimate.pipelines.driving import frame_on_face

    image = np.zeros((400, 600, 3), np.uint8)
    image[100:160, 300:360] = 200  # the "face"
    kpts, scores = np.zeros((NUM_KEYPOINTS, 2), np.float32), np.zeros(NUM_KEYPOINTS, np.float32)
    kpts[FACE] = np.stack(np.meshgrid(np.linspace(300, 360, 17), np.linspace(100, 160, 4)), -1).reshape(-1, 2)
    scores[FACE] = 1.0
    crop, framed = frame_on_face(image, lambda frame: (kpts, scores))
    assert framed and crop.shape[0] == crop.shape[1] == round(60 / 0.355)
    bright = np.argwhere(crop[..., 0] > 0)  # the face inside the crop: as wide as 0.355 of it, centred
    assert abs((bright[:, 1].max() - bright[:, 1].min() + 1) / crop.shape[1] - 0.355) < 0.02
    same, framed = frame_on_face(image, lambda frame: (kpts, np.zeros_like(scores)))
    assert not framed and same is image
