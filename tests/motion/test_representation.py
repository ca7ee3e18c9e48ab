import numpy as np
import pytest

from interanimate.keypoints.layout import NUM_KEYPOINTS, mirror_keypoints
from interanimate.motion.representation import (DEFORM_SCALE, FACE_PARTY, HAND, NULL_CLASS, PARKED, decode_features,
                                                encode_keypoints, fit_similarities, mirror_class,
                                                mirror_features, party_features, refine_face, rigid_track)
from interanimate.taxonomy import NUM_CLASSES, class_index


@pytest.mark.parametrize("spec", [HAND, FACE_PARTY])
def test_parts_cover_every_point_once(spec):
    covered = sorted(j for _, idx in spec.parts for j in idx)
    assert covered == list(range(spec.num_points))


def test_part_counts_come_from_the_tables():
    assert HAND.num_parts == 12 and FACE_PARTY.num_parts == 7
    assert HAND.channels == 5 and FACE_PARTY.channels == 6


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


def test_fit_similarities_is_the_least_squares_similarity_and_recovers_a_known_motion():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(5, 68, 2))
    angle, scale, shift = rng.uniform(-0.5, 0.5, 5), rng.uniform(0.7, 1.4, 5), rng.normal(size=(5, 2))
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], -2)
    dst = scale[:, None, None] * np.einsum("bij,bnj->bni", rot, src) + shift[:, None]  # (5, 68, 2)
    noisy = dst + rng.normal(scale=0.05, size=dst.shape)
    batch = fit_similarities(src, noisy)  # (5, 2, 3)
    # independent closed form: points as complex numbers, noisy ≈ a·src + b with a complex (rotation × scale)
    zs, zd = src[..., 0] + 1j * src[..., 1], noisy[..., 0] + 1j * noisy[..., 1]  # (5, 68)
    zs_c, zd_c = zs - zs.mean(-1, keepdims=True), zd - zd.mean(-1, keepdims=True)
    a = (np.conj(zs_c) * zd_c).sum(-1) / (np.abs(zs_c) ** 2).sum(-1)  # (5,)
    b = zd.mean(-1) - a * zs.mean(-1)
    np.testing.assert_allclose(batch[:, 0, 0], a.real, atol=1e-9)
    np.testing.assert_allclose(batch[:, 1, 0], a.imag, atol=1e-9)
    np.testing.assert_allclose(batch[:, :, 2], np.stack([b.real, b.imag], -1), atol=1e-9)
    np.testing.assert_allclose(fit_similarities(src, dst)[..., :2], scale[:, None, None] * rot, atol=1e-9)
    np.testing.assert_allclose(fit_similarities(np.zeros((3, 2)), np.ones((3, 2)))[..., :2], np.eye(2))  # degenerate


def test_face_deformation_channels_hold_the_non_rigid_part_only(motion_of):
    """A head moved by a similarity has no deformation; a local squeeze shows up scaled by DEFORM_SCALE."""
    kpts, scores = motion_of("LH-NP", frames=8)
    _, face, _ = encode_keypoints(kpts, scores)
    np.testing.assert_allclose(face[0, :, 4:6], 0, atol=1e-5)  # frame 0 is its own head pose
    pos = np.repeat(face[:1, :, :2], 4, 0)  # a rigid face (4, 68, 2)
    t = np.arange(4, dtype=np.float32)[:, None, None]
    rigid = pos * (1 + 0.05 * t) + 0.1 * t  # scaled and shifted per frame
    rigid_feats = party_features(rigid, None, FACE_PARTY)
    np.testing.assert_allclose(rigid_feats[..., 4:6], 0, atol=1e-4)
    squeezed = rigid.copy()
    squeezed[2:, 31:36, 0] += 0.03  # push the nose base sideways from frame 2 on
    deform = party_features(squeezed, None, FACE_PARTY)[..., 4:6]
    moved = np.abs(deform).max(-1)  # (4, 68)
    assert moved[2:, 31:36].min() > 0.5 * 0.03 * DEFORM_SCALE  # the squeeze, ten times larger than in x
    assert moved[2:, 31:36].min() > 5 * np.delete(moved[2:], np.s_[31:36], axis=1).max()  # and local


def test_refine_face_is_a_fixed_point_on_real_faces_and_uses_the_deformation(motion_of):
    kpts, scores = motion_of("RH-CH", frames=8)
    _, face, _ = encode_keypoints(kpts, scores)
    np.testing.assert_allclose(refine_face(face), face, atol=1e-4)
    coarse = face.copy()
    coarse[..., :2] = rigid_track(face[..., :2])  # positions without the squeeze: the deformation channels restore it
    np.testing.assert_allclose(refine_face(coarse)[..., :2], face[..., :2], atol=1e-4)
