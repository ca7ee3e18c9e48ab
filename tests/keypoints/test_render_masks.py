import numpy as np
import pytest

from interanimate import keypoints as K


def _pose(height=128, width=128):
    """A frontal face in the middle and a left hand (image right) beside it."""
    kpts = np.zeros((134, 2), np.float32)
    scores = np.zeros(134, np.float32)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    kpts[K.FACE] = np.stack([64 + 20 * np.cos(angles), 60 + 26 * np.sin(angles)], -1)
    kpts[K.FACE][K.FACE_CHIN] = (64, 86)
    scores[K.FACE] = 1.0
    hand = np.stack([np.linspace(96, 110, 21), np.linspace(90, 60, 21)], -1)
    kpts[K.LEFT_HAND] = hand
    scores[K.LEFT_HAND] = 1.0
    return kpts, scores


def test_render_pose_draws_hand_and_face_in_place():
    kpts, scores = _pose()
    img = K.render_pose(kpts, scores, 128, 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert img[60:92, 94:112].max() > 0  # hand drawn where its points are
    assert img[:20, :20].max() == 0  # nothing far away
    no_hands = K.render_pose(kpts, scores, 128, 128, draw_hands=False)
    assert no_hands[60:92, 100:112].sum() < img[60:92, 100:112].sum()


def test_confidence_scales_colours():
    kpts, scores = _pose()
    full = K.render_pose(kpts, scores, 128, 128).astype(int).sum()
    half = K.render_pose(kpts, scores * 0.5, 128, 128).astype(int).sum()
    plain = K.render_pose(kpts, scores * 0.5, 128, 128, confidence_aware=False).astype(int).sum()
    assert half < 0.7 * full
    assert plain == pytest.approx(full, rel=0.02)


def test_render_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="134"):
        K.render_pose(np.zeros((133, 2)), np.zeros(133), 32, 32)


def test_masks_cover_parts_and_respect_scores():
    kpts, scores = _pose()
    hand = K.hand_mask(kpts, scores, 128, 128)
    face = K.face_mask(kpts, scores, 128, 128)
    assert hand.dtype == np.uint8 and set(np.unique(hand)) <= {0, 1}
    assert hand[75, 103] == 1 and hand[10, 10] == 0
    assert face[60, 64] == 1 and face[60, 120] == 0
    # forehead: above the highest face point, inside the lifted-brow extension
    assert face[int(kpts[K.FACE][:, 1].min()) - 3, 64] == 1
    hidden = scores.copy()
    hidden[K.LEFT_HAND] = 0.0
    assert K.hand_mask(kpts, hidden, 128, 128).sum() == 0


def test_masks_scale_with_resolution():
    kpts, scores = _pose()
    small = K.face_mask(kpts * 0.5, scores, 64, 64).sum()
    large = K.face_mask(kpts, scores, 128, 128).sum()
    assert large == pytest.approx(4 * small, rel=0.15)


def test_sequence_helper_shapes():
    kpts, scores = _pose()
    hands, faces = K.masks_for_sequence(np.stack([kpts] * 3), np.stack([scores] * 3), 64, 96)
    assert hands.shape == faces.shape == (3, 64, 96)
