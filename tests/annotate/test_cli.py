"""``interanimate prepare`` / ``annotate-image`` / ``annotate-video``: help, exit code 2 on bad input, real runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from interanimate.cli import main
from interanimate.data.format import load_annotations, read_manifest
from interanimate.keypoints.layout import FACE
from interanimate.utils.video import write_mp4

STUB = "test-stub"  # registered in conftest.py


@pytest.mark.parametrize("command,needle", [("prepare", "--shard"), ("annotate-image", "--preview"),
                                            ("annotate-video", "--frames")])
def test_help(command, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0 and needle in capsys.readouterr().out


@pytest.fixture
def clips(tmp_path, tiny_video):
    folder = tmp_path / "videos"
    write_mp4(folder / "a.mp4", tiny_video(16), fps=8)
    (folder / "bad.mp4").write_bytes(b"\x00" * 100)
    return folder


@pytest.mark.parametrize("extra,message", [
    (["--shard", "2/2"], "--shard 2/2: need 0 <= I < N"),
    (["--identity", "facenet"], "unknown identity embedder 'facenet'"),
    (["--identity", "arcface"], "needs --arcface-model"),
    (["--pose-backend", "dwpose"], "needs --dwpose-dir"),
    (["--pose-backend", "openpose"], "unknown pose backend 'openpose'"),
])
def test_prepare_bad_options_exit_2(clips, tmp_path, capsys, extra, message):
    code = main(["prepare", "--videos", str(clips), "--out", str(tmp_path / "out"), "--no-progress", *extra])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out" / "clips").exists()


def test_mask_flags_default_to_mask_config_and_apply(clips, tmp_path, capsys):
    from dataclasses import asdict

    from interanimate.cli.prepare import MASK_OPTIONS
    from interanimate.keypoints.masks import MaskConfig

    assert {name: default for _, name, default, _ in MASK_OPTIONS} == asdict(MaskConfig())
    base = ["prepare", "--videos", str(clips), "--pose-backend", STUB, "--identity", "none", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "wide"), "--allow-partial"]) == 0  # bad.mp4 fails
    assert main([*base, "--out", str(tmp_path / "tight"), "--hand-dilation", "0", "--forehead", "0",
                 "--allow-partial"]) == 0
    (wide,), (tight,) = read_manifest(tmp_path / "wide"), read_manifest(tmp_path / "tight")
    assert tight.extra["mask"] == {**asdict(MaskConfig()), "hand_dilation": 0.0, "forehead": 0.0}
    for key in ("hand_mask", "face_mask"):
        small, big = load_annotations(tmp_path / "tight", tight)[key], load_annotations(tmp_path / "wide", wide)[key]
        assert small.sum() < big.sum() and not (small & ~big).any()
    assert main([*base, "--out", str(tmp_path / "x"), "--mask-threshold", "1.5"]) == 2
    assert "--mask-threshold out of range" in capsys.readouterr().err


def test_prepare_bad_paths_exit_2(tmp_path, capsys):
    assert main(["prepare", "--videos", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing: no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: a required option missing
        main(["prepare", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2


def test_prepare_runs_and_summarises(clips, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["prepare", "--videos", str(clips), "--out", str(out), "--pose-backend", STUB, "--identity", "none",
            "--no-progress"]
    assert main(argv) == 1  # one of the two videos failed: not a complete dataset
    captured = capsys.readouterr()
    assert "done 1, skipped 0, failed 1 (reasons in" in captured.out
    assert "1 of 2 videos are not clips; exit 1" in captured.err
    assert main(argv) == 1  # the earlier failure still counts, and is said
    assert capsys.readouterr().out.startswith("done 0, skipped 2 (1 failed earlier, see --retry-failed), failed 0")
    assert main([*argv, "--allow-partial"]) == 0


def test_prepare_exit_code_when_every_video_fails(tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(b"\x00" * 100)
    argv = ["prepare", "--videos", str(folder), "--out", str(tmp_path / "out"), "--pose-backend", STUB,
            "--identity", "none", "--no-progress"]
    assert main(argv) == 1
    assert "2 of 2 videos are not clips" in capsys.readouterr().err
    assert read_manifest(tmp_path / "out") == []


def test_annotate_image_bad_input_exit_2(tmp_path, capsys):
    assert main(["annotate-image", str(tmp_path / "missing.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"not a png")
    assert main(["annotate-image", str(tmp_path / "x.png")]) == 2
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    assert main(["annotate-image", str(tmp_path / "ok.png"), "--pose-backend", STUB,
                 "--preview", str(tmp_path / "out.jpg")]) == 2
    assert "must be a .png" in capsys.readouterr().err


def test_annotate_video_bad_input_exit_2(tmp_path, capsys):
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 64)
    assert main(["annotate-video", str(tmp_path / "v.mp4"), "--preview", str(tmp_path / "p.png")]) == 2
    assert "cannot read video" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_annotate_image_on_the_astronaut(astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    assert main(["annotate-image", str(tmp_path / "astronaut.png")]) == 0  # mediapipe
    drawn = np.asarray(Image.open(tmp_path / "astronaut_pose.png"))
    assert drawn.shape == astronaut.shape
    changed = (drawn != astronaut).any(axis=-1)
    assert changed[90:180, 180:270].mean() > 0.5  # the face is tinted and drawn over
    assert changed[450:, 400:].mean() < 0.05  # the helmet, far from any detected part, is untouched


def test_annotate_video_contact_sheet(tmp_path, tiny_video):
    write_mp4(tmp_path / "v.mp4", tiny_video(6), fps=8)
    assert main(["annotate-video", str(tmp_path / "v.mp4"), "--preview", str(tmp_path / "sheet.png"),
                 "--frames", "3", "--pose-backend", STUB]) == 0
    assert np.asarray(Image.open(tmp_path / "sheet.png")).shape == (32, 3 * 32, 3)


def test_prepare_with_mediapipe_and_dlib_on_an_astronaut_pan(astronaut, pan_video, tmp_path, capsys):
    """The offline defaults end to end. No hand is visible in the photo, so --no-require-hands."""
    videos = tmp_path / "videos"
    write_mp4(videos / "eileen" / "pan.mp4", pan_video(astronaut, frames=8, step=8), fps=8)
    out = tmp_path / "out"
    assert main(["prepare", "--videos", str(videos), "--out", str(out), "--min-frames", "8", "--no-require-hands",
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == "done 1, skipped 0, failed 0"
    (record,) = read_manifest(out)
    ann = load_annotations(out, record)
    assert record.identity == "eileen" and record.extra["identity_model"] == "dlib"
    assert record.extra["identity_frame"] == 0 and ann["identity_embedding"].shape == (128,)
    assert (ann["scores"][:, FACE] == 1).all() and ann["face_mask"].all(axis=0).sum() > 0
    assert not ann["hand_mask"].any()
    face_area = ann["face_mask"].sum(axis=(1, 2))
    assert (face_area > 0.05 * 384 * 384).all() and (face_area < 0.3 * 384 * 384).all()
    assert json.loads((out / "clips" / "eileen__pan" / "record.json").read_text())["extra"]["video"] == "remuxed"
