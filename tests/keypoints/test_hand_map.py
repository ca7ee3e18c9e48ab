"""The dense hand shape map (keypoints/hand_map.py) for known keypoints, and how the conditions carry it."""

import numpy as np
import pytest

from interanimate.keypoints.conditions import keypoint_conditions
from interanimate.keypoints.hand_map import (FINGER_WIDTH, HAND_MAP_CHANNELS, PALM_VALUE, PART_CODE, TIP_VALUE,
                                             hand_map)
from interanimate.keypoints.layout import HAND_FINGERS, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND


def open_hand(wrist=(64.0, 100.0), palm=40.0) -> np.ndarray:
    """A right hand, fingers straight up, palm length ``palm`` (wrist to the middle finger's base): (21, 2)."""
    x0, y0 = wrist
    pts = np.zeros((21, 2))
    pts[0] = (x0, y0)
    bases = {"thumb": (x0 + 0.45 * palm, y0 - 0.25 * palm), "index": (x0 + 0.3 * palm, y0 - palm),
             "middle": (x0, y0 - palm), "ring": (x0 - 0.3 * palm, y0 - palm), "pinky": (x0 - 0.55 * palm, y0 - 0.9 * palm)}
    for finger, joints in HAND_FINGERS.items():
        bx, by = bases[finger]
        for k, j in enumerate(joints):
            pts[j] = (bx + (0.25 * palm * k if finger == "thumb" else 0.0), by - 0.25 * palm * k)
    return pts


def pose_with(right=None, left=None, score=1.0):
    kp, sc = np.zeros((NUM_KEYPOINTS, 2), np.float32), np.zeros(NUM_KEYPOINTS, np.float32)
    for part, pts in ((RIGHT_HAND, right), (LEFT_HAND, left)):
        if pts is not None:
            kp[part], sc[part] = pts, score
    return kp, sc


def test_palm_and_fingers_are_filled_where_the_keypoints_put_them():
    hand = open_hand()
    out = hand_map(*pose_with(right=hand), 128, 128)
    assert out.shape == (128, 128, HAND_MAP_CHANNELS) and out.dtype == np.uint8
    left, right, part = out[..., 0], out[..., 1], out[..., 2]
    assert not left.any()  # only the right hand was given
    palm_centre = np.round(hand[[0, 5, 9, 13, 17]].mean(0)).astype(int)
    assert right[palm_centre[1], palm_centre[0]] == PALM_VALUE and part[palm_centre[1], palm_centre[0]] == PART_CODE["palm"]
    index = HAND_FINGERS["index"]
    mid_bone = np.round((hand[index[1]] + hand[index[2]]) / 2).astype(int)  # on the index finger's middle bone
    assert part[mid_bone[1], mid_bone[0]] == PART_CODE["index"]
    tip = np.round(hand[index[3]]).astype(int)
    assert right[tip[1], tip[0]] >= TIP_VALUE - 20  # the ramp rises towards the tip
    assert right[mid_bone[1], mid_bone[0]] < right[tip[1], tip[0]]
    assert right[5, 5] == 0 and right[127, 127] == 0  # nothing far from the hand


def test_finger_width_follows_the_palm_length():
    def index_width(palm: float) -> int:
        hand = open_hand(wrist=(64.0, 120.0), palm=palm)
        out = hand_map(*pose_with(right=hand), 128, 128)
        j = HAND_FINGERS["index"]
        y = int(round((hand[j[1], 1] + hand[j[2], 1]) / 2))  # across the index finger's middle bone
        row = out[y, :, 2] == PART_CODE["index"]
        return int(row.sum())

    small, big = index_width(20.0), index_width(40.0)
    assert abs(big - 2 * small) <= 2  # twice the palm length, twice the finger's width
    expected = FINGER_WIDTH["index"] * 40.0 * (1 - 0.2 * 0.5)  # the width half way along the finger (taper 0.8)
    assert abs(big - expected) <= 2.5


def test_each_side_has_its_channel_and_the_front_finger_wins():
    right = open_hand(wrist=(90.0, 110.0), palm=30.0)
    left = open_hand(wrist=(30.0, 110.0), palm=30.0)
    left[:, 0] = 60.0 - left[:, 0]  # mirrored: a left hand
    out = hand_map(*pose_with(right=right, left=left), 128, 128)
    assert out[..., 0][:, :60].any() and not out[..., 0][:, 70:].any()
    assert out[..., 1][:, 70:].any() and not out[..., 1][:, :60].any()
    # the thumb is drawn last (front): where it crosses the index finger, the part code is the thumb's
    crossing = open_hand(palm=40.0)
    crossing[list(HAND_FINGERS["thumb"])] = np.linspace(crossing[1], crossing[HAND_FINGERS["index"][2]] + (-15, 0), 4)
    part = hand_map(*pose_with(right=crossing), 128, 128)[..., 2]
    p = np.round(crossing[HAND_FINGERS["thumb"][3]]).astype(int)
    assert part[p[1], p[0]] == PART_CODE["thumb"]


@pytest.mark.parametrize("score", [0.0, 0.2])
def test_no_confident_hand_draws_nothing(score):
    assert not hand_map(*pose_with(right=open_hand(), score=score), 64, 64).any()


def test_conditions_carry_the_map_after_the_skeleton_for_training_and_inference():
    kp, sc = pose_with(right=open_hand(wrist=(32.0, 50.0), palm=20.0))
    drawn = keypoint_conditions(kp[None], sc[None], 64, 64, hand_map=True)
    plain = keypoint_conditions(kp[None], sc[None], 64, 64)
    assert drawn["pose"].shape == (1, 64, 64, 3 + HAND_MAP_CHANNELS) and plain["pose"].shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(drawn["pose"][..., :3], plain["pose"])
    np.testing.assert_array_equal(drawn["pose"][0, ..., 3:], hand_map(kp, sc, 64, 64))

    from interanimate.pipelines.conditioning import conditions_from_keypoints
    cond = conditions_from_keypoints(kp[None] * 2, sc[None], (128, 128), (64, 64), hand_map=True)
    assert tuple(cond["pose_frames"].shape) == (1, 3 + HAND_MAP_CHANNELS, 64, 64)
    np.testing.assert_allclose(cond["pose_frames"][0, 3:].permute(1, 2, 0).numpy(),
                               hand_map(kp, sc, 64, 64) / 127.5 - 1.0, atol=1e-6)
