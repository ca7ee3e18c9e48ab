"""prepare: a machine fault stops the run without recording any video as failed, and the same command finishes the
set; a damaged finished clip is made again."""

from __future__ import annotations

import errno
import json
import shutil

import pytest

from interanimate.cli import main

from .test_prepare import BAD, STUB, videos  # noqa: F401  (the fixture)


def _argv(videos, out):  # noqa: F811
    return ["prepare", "--videos", str(videos), "--out", str(out), "--pose-backend", STUB, "--identity", "none",
            "--no-progress", "--allow-partial"]


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_stops_prepare_and_the_same_command_finishes(code, videos, tmp_path, monkeypatch,  # noqa: F811
                                                                 capsys):
    import interanimate.annotate.prepare as prepare

    reference = tmp_path / "reference"
    assert main(_argv(videos, reference)) == 0
    out = tmp_path / "out"
    real, calls = prepare.save_annotations, {"n": 0}

    def save_annotations(path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(code, "injected", str(path))
        return real(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(prepare, "save_annotations", save_annotations)
        capsys.readouterr()
        assert main(_argv(videos, out)) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("interanimate prepare: stopped:") and "same command" in last
    lines = (out / "failures.jsonl").read_text().splitlines() if (out / "failures.jsonl").exists() else []
    assert {json.loads(line)["file"] for line in lines} <= set(BAD)  # only the videos' own faults
    assert main(_argv(videos, out)) == 0
    assert _files(out) == _files(reference)


def test_a_damaged_record_is_made_again(videos, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    assert main(_argv(videos, out)) == 0
    want = _files(out)
    record = sorted(out.glob("clips/*/record.json"))[0]
    record.write_text(record.read_text()[:20])
    capsys.readouterr()
    assert main(_argv(videos, out)) == 0
    printed = capsys.readouterr().out
    assert "made again: " in printed and "record.json does not parse" in printed
    assert _files(out) == want
    shutil.rmtree(out / "clips" / record.parent.name)  # a whole clip gone: simply made again
    assert main(_argv(videos, out)) == 0
    assert _files(out) == want
