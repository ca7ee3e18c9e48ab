import numpy as np
import pytest

from interanimate.keypoints.layout import NUM_KEYPOINTS, mirror_keypoints
from interanimate.motion.representation import (FACE_PARTY, HAND, NULL_CLASS, PARKED, decode_features,
                                                encode_keypoints, face_frame, mirror_class, mirror_features)
from interanimate.taxonomy import NUM_CLASSES, class_index


@pytest.mark.parametrize("spec", [HAND, FACE_PARTY])
def test_parts_cover_every_point_once(spec):
    covered = sorted(j for _, idx in spec.parts for j in idx)
    assert covered == list(range(spec.num_points))


def test_part_counts_come_from_the_tables():
    assert HAND.num_parts == 12 and FACE_PARTY.num_parts == 7
    assert HAND.channels == 5 and FACE_PARTY.channels == 4


def test_frame_is_between_the_eyes_with_interocular_unit(motion_of):
    kpts, scores = motion_of("LH-NP", frames=8)
    hand, face, frame = encode_keypoints(kpts, scores)
    right = face[0, 36:42, :2].mean(0)
    left = face[0, 42:48, :2].mean(0)
    np.testing.assert_allclose((right + left) / 2, 0, atol=1e-5)
    assert np.linalg.norm(left - right) == pytest.approx(1.0, abs=1e-5)
    assert frame.scale > 0


@pytest.mark.parametrize("spec", [HAND, FACE_PARTY])
def test_mirror_is_an_involution(spec):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, spec.num_points, spec.channels)).astype(np.float32)
    np.testing.assert_array_equal(mirror_features(mirror_features(x, spec), spec), x)
    assert not np.allclose(mirror_features(x, spec), x)


def test_mirror_class_is_an_involution_and_swaps_sides():
    idx = np.arange(NUM_CLASSES + 1)
    np.testing.assert_array_equal(mirror_class(mirror_class(idx)), idx)
    assert mirror_class(class_index("LH-NP")) == class_index("RH-NP")
    assert mirror_class(class_index("LR-FS")) == class_index("RL-FS")
    assert mirror_class(NULL_CLASS) == NULL_CLASS


def test_feature_mirror_matches_pixel_mirror(motion_of):
    """Mirroring pixels (keypoints.mirror_keypoints) then encoding == encoding then mirroring features."""
    kpts, scores = motion_of("LH-EB", frames=8)
    mk, ms = mirror_keypoints(kpts, scores, width=128)
    hand_a, face_a, _ = encode_keypoints(mk, ms)
    hand_b, face_b, _ = encode_keypoints(kpts, scores)
    np.testing.assert_allclose(hand_a, mirror_features(hand_b, HAND), atol=1e-4)
    np.testing.assert_allclose(face_a, mirror_features(face_b, FACE_PARTY), atol=1e-4)


def test_absent_hand_is_parked_and_round_trip(motion_of):
    kpts, scores = motion_of("RH-NP", frames=8)
    hand, face, frame = encode_keypoints(kpts, scores)
    np.testing.assert_allclose(hand[:, :21, :2], np.broadcast_to(PARKED[:21], (8, 21, 2)))  # left hand absent
    assert (hand[:, :21, 2:4] == 0).all() and (hand[:, :21, 4] == 0).all()
    out_k, out_s = decode_features(hand, face, frame)
    assert out_k.shape == (8, NUM_KEYPOINTS, 2) and out_s.shape == (8, NUM_KEYPOINTS)
    right = list(HAND.keypoints[21:])
    np.testing.assert_allclose(out_k[:, right], kpts[:, right], atol=1e-3)
    np.testing.assert_allclose(out_k[:, list(FACE_PARTY.keypoints)], kpts[:, list(FACE_PARTY.keypoints)], atol=1e-3)
    assert (out_s[:, list(HAND.keypoints[:21])] == 0).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        encode_keypoints(np.zeros((4, 10, 2)), np.zeros((4, 10)))
