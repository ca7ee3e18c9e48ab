"""The hand metric (metrics/hands.py): mediapipe re-detection separates frames with a drawn hand from frames
without one, and the keypoint agreement is measured against the driving hand."""

import math

import numpy as np
import pytest

from interanimate.keypoints.layout import LEFT_HAND, NUM_KEYPOINTS
from interanimate.metrics.hands import (HandDetector, clip_hand_scores, detection_ratio, driving_hands, pck,
                                        pooled)


@pytest.fixture(scope="module")
def detector():
    with HandDetector() as d:
        yield d


@pytest.fixture(scope="module")
def clips():
    """Held-out SynthHF clips at 128×128 (steady camera) of three classes in which mediapipe finds the drawn hand
    in most frames (6 of 8 or 9 each for these seeds; it finds none in some other classes' clips)."""
    from interanimate.data.synth.heldout import render_heldout_clip

    return [render_heldout_clip(code, i, 12, (128, 128), seed=3, camera_jitter=0.0)
            for i, code in [(9, "RH-ER"), (11, "RC-SF"), (12, "LC-TF")]]


def test_drawn_hands_are_found_and_frames_without_one_are_not(clips, detector):
    with_hand, without = [], []
    for clip in clips:
        frames, mask = clip["frames"], clip["hand_mask"].astype(bool)
        with_hand.append(clip_hand_scores(frames, clip["keypoints"], clip["scores"], detector, frames, mask))
        # the same poses over the reference frame repeated: the pose says "hand", the pixels hold none
        still = np.repeat(frames[:1], len(frames), axis=0)
        without.append(clip_hand_scores(still, clip["keypoints"], clip["scores"], detector, frames, mask))
    truth, empty = pooled(with_hand), pooled(without)
    assert truth["frames_with_hand"] == empty["frames_with_hand"] >= 8
    assert truth["detection_rate"] >= 0.4
    assert empty["frames_detected"] == 0 and empty["frames_located"] == 0
    assert truth["frames_located"] >= 0.8 * truth["frames_detected"]  # found where the pose puts the hand
    assert truth["pck"] >= 0.5  # re-detected points lie on the drawn hand
    assert 0.5 <= truth["confidence"] <= 1.0
    assert truth["hand_psnr"] == 100.0 and empty["hand_psnr"] < 30.0  # identical frames: 100 dB by convention
    assert detection_ratio(empty, truth) == 0.0 and math.isnan(empty["pck"])


def test_frames_whose_pose_shows_no_hand_are_not_scored(detector):
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    keypoints, scores = np.zeros((3, NUM_KEYPOINTS, 2), np.float32), np.zeros((3, NUM_KEYPOINTS), np.float32)
    out = clip_hand_scores(frames, keypoints, scores, detector)
    assert out["frames_with_hand"] == 0 and math.isnan(out["detection_rate"])


def test_driving_hands_keep_confident_points_inside_the_frame():
    kp, sc = np.zeros((NUM_KEYPOINTS, 2)), np.zeros(NUM_KEYPOINTS)
    kp[LEFT_HAND] = np.stack([np.linspace(10, 30, 21), np.full(21, 20.0)], 1)
    sc[LEFT_HAND] = 1.0
    kp[LEFT_HAND.start] = (-5, 20)  # the wrist outside the frame: unknown
    (hand,) = driving_hands(kp, sc, 64, 64)
    assert np.isnan(hand[0]).all() and not np.isnan(hand[1:]).any()
    sc[LEFT_HAND] = 0.1
    assert driving_hands(kp, sc, 64, 64) == []


def test_a_detection_is_located_only_near_the_driving_hand():
    from interanimate.metrics.hands import located

    driving = np.stack([np.linspace(40, 60, 21), np.linspace(40, 60, 21)], 1)  # a 20-pixel box
    assert located(driving + 5.0, driving)
    assert located(driving + 25.0, driving) is False  # centre 25 px away: beyond 0.5 × 20 outside the box
    unknown = driving.copy()
    unknown[:10] = np.nan
    assert located(driving[10:].mean(0) + np.zeros((21, 2)), unknown)


def test_pck_counts_points_within_a_fraction_of_the_hand_box():
    driving = np.stack([np.linspace(0, 100, 21), np.zeros(21)], 1)  # a 100-pixel-long hand box
    near = driving + (19.0, 0.0)  # within 0.2 × 100
    far = driving + (21.0, 0.0)
    assert pck(near, driving) == 1.0 and pck(far, driving) == 0.0
    half = driving.copy()
    half[::2] += 50.0
    assert pck(half, driving) == pytest.approx(10 / 21)
