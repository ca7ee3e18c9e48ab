"""Sliding-window clip formation (DisCo) and one clip per video (StyleGAN-V)."""

import numpy as np
import pytest

from interanimate.errors import UserError
from interanimate.metrics.clips import clip_starts, make_clips


def video(frames):
    return np.arange(frames, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)


def test_twenty_frames_give_five_windows_of_sixteen():
    clips = make_clips(video(20))
    assert clips.shape == (5, 16, 4, 4, 3)
    assert [int(c[0, 0, 0, 0]) for c in clips] == [0, 1, 2, 3, 4]
    assert int(clips[-1, -1, 0, 0, 0]) == 19


def test_ten_frames_is_a_clear_error_or_documented_padding():
    with pytest.raises(UserError, match="10 frames, but video metrics need clips of 16"):
        make_clips(video(10), name="clip_a")
    padded = make_clips(video(10), pad_short=True)
    assert padded.shape == (1, 16, 4, 4, 3)
    assert [int(f[0, 0, 0]) for f in padded[0]] == list(range(10)) + [9] * 6


def test_per_video_and_stride():
    assert clip_starts(40, mode="per-video") == [0]
    assert clip_starts(20, stride=2) == [0, 2, 4]
    assert clip_starts(16) == [0]
    with pytest.raises(ValueError):
        clip_starts(20, mode="bogus")
