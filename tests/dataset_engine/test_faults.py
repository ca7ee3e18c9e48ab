"""Faults of the machine stop a run (one line, exit 3, nothing recorded as failed) and the same command then
finishes the set; damaged finished clips are found and made again. Injected: a full disk, a read-only file system,
an output folder that vanishes, a cut label.json, a changed video."""

from __future__ import annotations

import errno
import shutil

import pytest

from interanimate.cli import main

from .conftest import files_of, manifest_rows


def _fail_writes_after(monkeypatch, good: int, code: int) -> None:
    """The clip video writer raises ``OSError(code)`` after ``good`` successful writes."""
    import interanimate.pipelines.outputs as outputs

    real, calls = outputs.write_video, {"n": 0}

    def write_video(path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > good:
            raise OSError(code, f"{errno.errorcode[code]} injected", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(outputs, "write_video", write_video)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model):
    """One uninterrupted run of the recipe, to compare with."""
    import yaml

    from .conftest import recipe_dict

    root = tmp_path_factory.mktemp("reference")
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(tiny_model)))
    assert main(["dataset", "generate", str(recipe), "--out", str(root / "set"), "--no-progress"]) == 0
    return root / "set"


def _same_set(out, reference) -> None:
    assert main(["dataset", "verify", str(out)]) == 0
    ids = [r["clip_id"] for r in manifest_rows(out)]
    assert len(ids) == len(set(ids)) == len(manifest_rows(reference))
    got, want = files_of(out), files_of(reference)
    assert sorted(got) == sorted(want)
    assert all(got[k] == want[k] for k in got if k.endswith((".json", ".npz", ".jsonl")) and "label" not in k)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_a_machine_fault_stops_the_run_and_the_same_command_finishes_it(code, write_recipe, tmp_path, monkeypatch,
                                                                        capsys, reference):
    recipe, out = write_recipe(), tmp_path / "set"
    with monkeypatch.context() as patch:
        _fail_writes_after(patch, 2, code)  # patched in this process: one worker, this one
        assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress", "--workers", "1"]) == 3
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (model loading prints progress before it)
    assert last.startswith("interanimate dataset: stopped:") and "same command" in last and "Traceback" not in err
    assert not (out / "failures.jsonl").exists() or (out / "failures.jsonl").read_text() == ""
    assert len(list((out / "clips").glob("*/label.json"))) == 2
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    assert "done 4, skipped 2" in capsys.readouterr().out
    _same_set(out, reference)


def test_an_output_folder_that_vanishes_is_the_machines_fault(write_recipe, tmp_path, monkeypatch, capsys):
    """A clip fails (its video cannot be written) because the folder went away: not recorded as the clip's."""
    recipe, out = write_recipe(), tmp_path / "set"
    import interanimate.pipelines.outputs as outputs

    def gone(path, *args, **kwargs):
        shutil.rmtree(out)
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))

    monkeypatch.setattr(outputs, "write_video", gone)  # patched in this process: one worker, this one
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress", "--workers", "1"]) == 3
    assert "stopped" in capsys.readouterr().err
    assert not (out / "failures.jsonl").exists()


def test_damaged_finished_clips_are_reported_then_made_again(write_recipe, tmp_path, capsys, reference):
    out = tmp_path / "set"
    shutil.copytree(reference, out)
    recipe = write_recipe()
    rows = manifest_rows(out)
    label = out / "clips" / rows[0]["clip_id"] / "label.json"
    label.write_bytes(label.read_bytes()[: len(label.read_bytes()) // 2])  # cut in half
    video = out / rows[1]["video_path"]
    video.write_bytes(video.read_bytes()[:-100] + bytes(100))  # changed in place
    assert main(["dataset", "verify", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"{rows[0]['clip_id']}: label.json does not parse" in printed
    assert f"{rows[1]['clip_id']}: video file changed since it was written" in printed
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"made again: {rows[0]['clip_id']}" in printed and f"made again: {rows[1]['clip_id']}" in printed
    assert "done 2 (2 of them found damaged and made again)" in printed
    _same_set(out, reference)


def test_a_damaged_plan_or_manifest_is_named_then_written_again(write_recipe, tmp_path, capsys, reference):
    out = tmp_path / "set"
    shutil.copytree(reference, out)
    recipe = write_recipe()
    manifest = out / "manifest.jsonl"
    manifest.write_text(manifest.read_text()[:-40])  # the last row cut
    plan = out / "plan.jsonl"
    plan.write_text(plan.read_text().replace("}", "", 1))  # a row's brace gone
    assert main(["dataset", "verify", str(out)]) == 2  # the set's own plan cannot be read: one line naming it
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "plan.jsonl: line 1 does not parse" in err[0] and "dataset generate" in err[0]
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert files_of(out) == files_of(reference)  # plan and manifests written again, nothing remade
    manifest.write_text(manifest.read_text()[:-40])
    assert main(["dataset", "verify", str(out)]) == 1
    assert "manifest.jsonl: line 6 does not parse" in capsys.readouterr().out
