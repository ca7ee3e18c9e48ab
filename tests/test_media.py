"""Inputs too large to decode are refused before decoding (utils.media, utils.video)."""

import numpy as np
import pytest
from PIL import Image

import interanimate.utils.video as video
from interanimate.utils.media import MAX_IMAGE_PIXELS, TooLarge, read_image


def test_read_image_reads_a_normal_image_and_refuses_huge_headers(tmp_path, huge_png):
    Image.fromarray(np.full((20, 30, 3), 7, np.uint8)).save(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png").shape == (20, 30, 3)
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    for name, size in (("over_ours.png", side), ("over_pils.png", 30000)):
        with pytest.raises(TooLarge, match="megapixel budget"):
            read_image(huge_png(tmp_path / name, size, size))
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(tmp_path / "junk.png")


def test_read_video_refuses_frames_over_the_budget(tmp_path, monkeypatch):
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    video.write_mp4(tmp_path / "v.mp4", frames, fps=8)
    assert video.read_video(tmp_path / "v.mp4")[0].shape == (6, 32, 32, 3)
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 32 * 32 - 1)
    with pytest.raises(TooLarge, match="megapixel budget for a video frame"):
        video.read_video(tmp_path / "v.mp4")
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 10**9)
    monkeypatch.setattr(video, "MAX_VIDEO_BYTES", 3 * 32 * 32 * 3)  # three frames' worth
    with pytest.raises(TooLarge, match="decoded frames"):
        video.read_video(tmp_path / "v.mp4")
    assert video.read_video(tmp_path / "v.mp4", max_frames=3)[0].shape == (3, 32, 32, 3)
