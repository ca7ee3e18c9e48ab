"""Articulated hand fitting (motion.hand_fit): recovers a real hand, straightens a crumpled one, leaves the rest."""

import numpy as np
import pytest
import torch

from interanimate.data.synth.hand import HandPose, hand_joints
from interanimate.keypoints.layout import HAND_FINGERS
from interanimate.motion.hand_fit import fit_hand_sequence, refine_hands


def _hand(side="left", curl=0.3, angle=0.4, scale=40.0, at=(60.0, 70.0), frames=4):
    pose = HandPose({"thumb": 0.2, "index": 0.0, "middle": curl, "ring": curl, "pinky": 0.8})
    return np.stack([hand_joints(pose, side, angle + 0.05 * t, scale, np.array(at) + t, "palm")
                     for t in range(frames)]).astype(np.float32)  # (F, 21, 2)


def _bend(finger_points: np.ndarray) -> float:
    """Largest turn (degrees) between consecutive bones of one finger (MCP→PIP→DIP→tip); 0 for a straight finger."""
    bones = np.diff(finger_points, axis=0)  # (3, 2)
    angles = np.arctan2(bones[:, 1], bones[:, 0])
    return float(np.degrees(np.abs(np.angle(np.exp(1j * np.diff(angles))))).max())


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_hand_of_the_family_is_recovered(side):
    truth = _hand(side)
    visible = np.ones(truth.shape[:2], bool)
    fitted = fit_hand_sequence(truth + np.random.default_rng(0).normal(0, 0.3, truth.shape), visible, side)
    assert np.abs(fitted - truth).max() < 1.5  # pixels, against a 40-pixel hand with 0.3-pixel noise


def test_a_crumpled_hand_comes_back_straight_and_close():
    truth = _hand("left", curl=0.0)
    crumpled = truth.copy()
    rng = np.random.default_rng(1)
    for finger in ("index", "middle", "ring"):  # each finger's joints knocked sideways, as the VQ round trip does
        joints = HAND_FINGERS[finger][1:]
        crumpled[:, joints] += rng.normal(0, 5.0, (len(truth), len(joints), 2))
    assert max(_bend(crumpled[0, HAND_FINGERS[f]]) for f in ("index", "middle", "ring")) > 30
    fitted = fit_hand_sequence(crumpled, np.ones(truth.shape[:2], bool), "left")
    for finger in HAND_FINGERS:
        assert _bend(fitted[0, HAND_FINGERS[finger]]) < 1.0, finger  # the family's fingers fold straight away
    assert np.median(np.linalg.norm(fitted - truth, axis=-1)) < 4.0


def test_hidden_hands_and_frames_are_left_alone():
    truth = _hand("right")
    visible = np.ones(truth.shape[:2], bool)
    visible[1] = False  # frame 1: hand out of view
    points = truth + 3.0
    fitted = fit_hand_sequence(points, visible, "right")
    np.testing.assert_array_equal(fitted[1], points[1])
    with pytest.raises(ValueError):
        fit_hand_sequence(points[:, :20], visible[:, :20], "right")


def test_fit_follows_a_similarity_of_the_input():
    truth = _hand("left") + np.random.default_rng(2).normal(0, 2.0, (4, 21, 2)).astype(np.float32)
    visible = np.ones(truth.shape[:2], bool)
    c, s = np.cos(0.7), np.sin(0.7)
    rot = 1.5 * np.array([[c, -s], [s, c]])
    moved = truth @ rot.T + np.array([10.0, -5.0])
    a = fit_hand_sequence(truth, visible, "left") @ rot.T + np.array([10.0, -5.0])
    b = fit_hand_sequence(moved, visible, "left")
    assert np.abs(a - b).max() < 0.5


def test_refine_hands_on_features_keeps_visibility_and_recomputes_velocity():
    from interanimate.motion.representation import VISIBILITY_THRESHOLD

    frames = 4
    features = np.zeros((1, frames, 42, 5), np.float32)
    features[0, :, :21, :2] = _hand("left", scale=1.0, at=(0.5, 1.0)) + 0.02
    features[0, :, :21, 4] = 0.9
    features[0, :, 21:, :2] = 7.0  # the right hand parked, not visible
    features[0, :, 21:, 4] = VISIBILITY_THRESHOLD / 2
    out = refine_hands(features)
    np.testing.assert_array_equal(out[..., 4], features[..., 4])
    np.testing.assert_array_equal(out[0, :, 21:, :2], features[0, :, 21:, :2])
    assert not np.allclose(out[0, :, :21, :2], features[0, :, :21, :2])
    from interanimate.motion.representation import VELOCITY_SCALE
    np.testing.assert_allclose(out[0, 1:, :, 2:4], (out[0, 1:, :, :2] - out[0, :-1, :, :2]) * VELOCITY_SCALE,
                               atol=1e-5)


def test_generate_fits_hands_only_when_the_config_says_so():
    from dataclasses import replace

    from interanimate.motion.model import MotionModel

    model = MotionModel.load()
    assert model.sampling.hand_fit  # the bundled model's config
    fitted, _ = model.generate([0], frames=8, seed=3)
    raw, _ = model.generate([0], frames=8, seed=3, sampling=replace(model.sampling, hand_fit=False))
    assert fitted.shape == raw.shape
    torch.testing.assert_close(fitted[..., 4], raw[..., 4])
    assert not torch.allclose(fitted[..., :2], raw[..., :2])


def test_the_template_derivative_is_the_finite_difference_of_the_template():
    from interanimate.data.synth.hand import ARTICULATION, HandPose, articulated_template, template_joints

    rng = np.random.default_rng(5)
    step = 1e-7
    for _ in range(20):
        curl = dict(zip(ARTICULATION[:5], rng.uniform(0.0, 1.0, 5)))
        spread = float(rng.uniform(0.2, 1.6))
        for side in ("left", "right"):
            local, grad = articulated_template(HandPose(curl, spread), side)
            np.testing.assert_array_equal(local, template_joints(HandPose(curl, spread), side))
            for k, name in enumerate(ARTICULATION):
                moved = HandPose(curl, spread + step) if name == "spread" else \
                    HandPose({**curl, name: curl[name] + step}, spread)
                numeric = (template_joints(moved, side) - local) / step  # (21, 2)
                np.testing.assert_allclose(grad[..., k], numeric, atol=1e-5)
            assert np.abs(grad).max() > 0.05  # the curls move the fingers
