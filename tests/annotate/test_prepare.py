"""``prepare``: bad files recorded and skipped, resumability, shards, workers, labels, lossless video, and the format
round trip through a SynthHF clip."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from interanimate.annotate.backends import register_backend
from interanimate.annotate.prepare import (PrepareConfig, list_videos, plan, prepare,
                                           unique_clip_ids)
from interanimate.data.format import MANIFEST_NAME, load_annotations, load_frames, read_manifest
from interanimate.errors import UserError
from interanimate.jobs import FAILURES_NAME, parse_shard
from interanimate.utils.video import read_video, write_mp4

STUB, STUB_HANDLESS = "test-stub", "test-stub-handless"  # registered in conftest.py

GOOD = ("alice/take1.mp4", "alice/take2.mp4", "bob/clip.mp4", "carol.mp4")
BAD = {"broken.mp4": "unreadable video", "empty.mp4": "empty file (0 bytes)", "short.mp4": "too short: 3 frames"}


@pytest.fixture
def videos(tmp_path, tiny_video):
    """Four good 16-frame videos, a truncated mp4, a zero-byte file and a 3-frame video (plus a non-video)."""
    folder = tmp_path / "videos"
    for seed, name in enumerate(GOOD):
        write_mp4(folder / name, tiny_video(16, seed=seed), fps=8)
    write_mp4(folder / "short.mp4", tiny_video(3, seed=9), fps=8)
    whole = (folder / "carol.mp4").read_bytes()
    (folder / "broken.mp4").write_bytes(whole[: len(whole) // 3])  # cut mid-stream: no index, undecodable
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.txt").write_text("not a video")
    return folder


def config_for(videos: Path, out: Path, **kwargs) -> PrepareConfig:
    options = {"pose_backend": STUB, "identity": "none", "progress": False, **kwargs}
    return PrepareConfig(videos=videos, out=out, **options)


def failures(out: Path) -> dict[str, str]:
    lines = (out / FAILURES_NAME).read_text().splitlines()
    return {d["file"]: d["reason"] for d in map(json.loads, lines)}


def test_bad_files_are_listed_and_good_ones_written(videos, tmp_path):
    out = tmp_path / "out"
    summary = prepare(config_for(videos, out))
    assert (summary.done, summary.skipped, summary.failed) == (len(GOOD), 0, len(BAD))
    found = failures(out)
    assert sorted(found) == sorted(BAD)
    for file, reason in BAD.items():
        assert found[file].startswith(reason), found[file]
    records = read_manifest(out)
    assert sorted(r.extra["file"] for r in records) == sorted(GOOD)
    for record in records:
        ann = load_annotations(out, record)
        assert load_frames(out, record).shape == (16, 32, 32, 3) == (record.num_frames, record.height,
                                                                      record.width, 3)
        assert ann["hand_mask"].shape == ann["face_mask"].shape == (16, 32, 32)
        assert ann["hand_mask"].any() and ann["face_mask"].any() and not ann["contact"].any()
        assert record.source == "real" and record.class_code is None
    by_file = {r.extra["file"]: r for r in records}
    assert by_file["alice/take1.mp4"].identity == "alice" and by_file["carol.mp4"].identity == "carol"
    assert by_file["alice/take1.mp4"].clip_id == "alice__take1"


def test_second_run_does_no_work_and_changes_no_file(videos, tmp_path, snapshot):
    out = tmp_path / "out"
    prepare(config_for(videos, out))
    before = snapshot(out)

    def explode():
        raise AssertionError("a run with nothing to do must not even build a pose backend")

    register_backend("test-explode", explode)
    summary = prepare(replace(config_for(videos, out), pose_backend="test-explode"))
    assert (summary.done, summary.skipped, summary.failed) == (0, len(GOOD) + len(BAD), 0)
    assert snapshot(out) == before  # same files, same bytes, same modification times


def test_interrupted_run_resumes(videos, tmp_path):
    out = tmp_path / "out"
    prepare(config_for(videos, out))
    record = out / "clips" / "bob__clip" / "record.json"
    record.unlink()  # as if killed after the annotations but before the record
    (out / MANIFEST_NAME).unlink()
    summary = prepare(config_for(videos, out))
    assert (summary.done, summary.skipped, summary.failed) == (1, len(GOOD) + len(BAD) - 1, 0)
    assert record.is_file() and len(read_manifest(out)) == len(GOOD)


def test_retry_failed_redoes_only_the_failures(videos, tmp_path):
    out = tmp_path / "out"
    prepare(config_for(videos, out))
    summary = prepare(config_for(videos, out, min_frames=3, retry_failed=True))
    assert (summary.done, summary.skipped, summary.failed) == (1, len(GOOD), 2)  # short.mp4 now passes
    assert sorted(failures(out)) == ["broken.mp4", "empty.mp4"]  # listed once each, short.mp4 gone
    assert len(read_manifest(out)) == len(GOOD) + 1


def test_shards_cover_every_video_exactly_once(videos, tmp_path):
    everything = set(list_videos(videos))
    shards = [{t.file for t in plan(config_for(videos, tmp_path, shard=(i, 2)))} for i in range(2)]
    assert shards[0] and shards[1] and not shards[0] & shards[1] and shards[0] | shards[1] == everything

    whole, split = tmp_path / "whole", tmp_path / "split"
    prepare(config_for(videos, whole))
    for shard in ("0/2", "1/2"):  # two machines writing into one folder
        prepare(config_for(videos, split, shard=parse_shard(shard)))
    assert (split / MANIFEST_NAME).read_bytes() == (whole / MANIFEST_NAME).read_bytes()
    assert sorted((split / FAILURES_NAME).read_text().splitlines()) == \
        sorted((whole / FAILURES_NAME).read_text().splitlines())


def test_workers_write_the_same_dataset(videos, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    prepare(config_for(videos, one))
    summary = prepare(config_for(videos, two, workers=2))
    assert (summary.done, summary.failed) == (len(GOOD), len(BAD))
    assert (two / MANIFEST_NAME).read_bytes() == (one / MANIFEST_NAME).read_bytes()
    assert failures(two) == failures(one)


def test_per_clip_reasons_and_unexpected_errors(videos, tmp_path):
    out = tmp_path / "handless"
    prepare(config_for(videos, out, pose_backend=STUB_HANDLESS))
    assert all(failures(out)[f].startswith("no hands seen") for f in GOOD)

    class Flaky:
        def __call__(self, frame):
            raise RuntimeError("backend crashed\nwith a traceback")

    register_backend("test-flaky", Flaky)
    out = tmp_path / "flaky"
    summary = prepare(config_for(videos, out, pose_backend="test-flaky"))
    assert summary.failed == len(GOOD) + len(BAD)  # the run went on to the end
    assert failures(out)["carol.mp4"] == "error: RuntimeError: backend crashed"


def test_configuration_errors_stop_before_any_work(videos, tmp_path):
    with pytest.raises(UserError, match="unknown pose backend"):
        prepare(config_for(videos, tmp_path / "a", pose_backend="openpose"))
    assert not (tmp_path / "a" / "clips").exists()
    with pytest.raises(UserError, match="not a folder"):
        prepare(config_for(tmp_path / "missing", tmp_path / "b"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="holds no prepared dataset"):
        prepare(config_for(videos, tmp_path / "home"))
    from interanimate.data.synth import write_dataset

    write_dataset(tmp_path / "synth", identities=1, clips_per_class=1, frames=2, size=(16, 16), progress=False,
                  workers=1)
    with pytest.raises(UserError, match="clips of source synthhf"):
        prepare(config_for(videos, tmp_path / "synth"))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,class\ncarol.mp4,XX-YY\n")
    with pytest.raises(UserError, match="unknown class 'XX-YY'"):
        prepare(config_for(videos, tmp_path / "c", labels=labels))
    for text in ("2/2", "1", "-1/2", "a/b"):
        with pytest.raises(UserError, match="--shard"):
            parse_shard(text)


def test_labels_give_classes_and_identities(videos, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,class,identity\nalice/take1.mp4,LH-NP,person7\ncarol.mp4,,\nclip.mp4,RL-FS,\n")
    prepare(config_for(videos, tmp_path / "out", labels=labels))
    by_file = {r.extra["file"]: r for r in read_manifest(tmp_path / "out")}
    assert (by_file["alice/take1.mp4"].class_code, by_file["alice/take1.mp4"].identity) == ("LH-NP", "person7")
    assert by_file["carol.mp4"].class_code is None  # unlabeled is allowed
    assert by_file["bob/clip.mp4"].class_code == "RL-FS"  # matched by file name
    assert by_file["alice/take2.mp4"].class_code is None


def test_video_is_kept_losslessly_when_possible(tmp_path, tiny_video):
    import av

    folder = tmp_path / "videos"
    write_mp4(folder / "even.mp4", tiny_video(16, size=32), fps=8)  # H.264, even size: remuxed
    with av.open(str(folder / "odd.avi"), mode="w") as container:  # MPEG-4 part 2, 33×33: cropped and re-encoded
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 33, 33, "yuv420p"
        for frame in tiny_video(16, size=33, seed=1):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out"
    assert prepare(config_for(folder, out)).done == 2
    records = {r.extra["file"]: r for r in read_manifest(out)}
    assert records["even.mp4"].extra["video"] == "remuxed" and records["odd.avi"].extra["video"] == "encoded"
    assert np.array_equal(load_frames(out, records["even.mp4"]), read_video(folder / "even.mp4")[0])
    assert load_frames(out, records["odd.avi"]).shape == (16, 32, 32, 3)
    assert (records["odd.avi"].height, records["odd.avi"].width) == (32, 32)


def test_clip_ids_are_unique():
    assert unique_clip_ids(["a.mov", "a.mp4", "a_mov.mp4", "x/y z.mp4"]) == ["a_mov", "a_mp4", "a_mov_1", "x__y_z"]


def test_max_frames_cuts_long_videos(videos, tmp_path):
    out = tmp_path / "out"
    prepare(config_for(videos, out, min_frames=3, max_frames=10))
    lengths = {r.extra["file"]: (r.num_frames, r.extra["video"]) for r in read_manifest(out)}
    assert lengths["carol.mp4"] == (10, "encoded") and lengths["short.mp4"] == (3, "remuxed")
