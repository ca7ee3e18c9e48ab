"""Bad input to ``interanimate dataset``: one line, exit code 2, nothing written (or changed) — checked before any
model loads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

from interanimate.cli import main

from .conftest import files_of, recipe_dict


def _run(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _portraits(tmp_path, *extra: tuple[str, bytes | None]):
    folder = tmp_path / "portraits"
    folder.mkdir(exist_ok=True)
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(folder / "a.png")
    for name, data in extra:
        (folder / name).write_bytes(data)
    return str(folder)


CASES = [  # (id, recipe changes or a callable(tmp_path) -> changes, extra argv, out kind, fragment)
    ("unknown-key", {"colour": "red"}, [], "new", "unknown key(s) colour"),
    ("bad-framing", {"identities.framing": "tight"}, [], "new", "identities.framing: face or full"),
    ("unknown-nested-key", {"generation.stepz": 3}, [], "new", "unknown key(s) generation.stepz"),
    ("unknown-class", {"classes": ["LH-NP", "XX-YY"]}, [], "new", "unknown interaction class 'XX-YY'"),
    ("zero-count", {"clips_per_class": 0}, [], "new", "clips_per_class: must be in [1"),
    ("negative-count", {"clips_per_class": -3}, [], "new", "clips_per_class: must be in [1"),
    ("both-counts", {"total_clips": 10}, [], "new", "exactly one of clips_per_class and total_clips"),
    ("wrong-type", {"frames": "sixteen"}, [], "new", "frames: expected an integer"),
    ("splits-sum", {"splits": {"train": 0.5, "val": 0.1, "test": 0.1}}, [], "new", "sum to 1"),
    ("no-identities", {"identities.synthhf": 0}, [], "new", "give synthhf > 0, a folder of portraits"),
    ("non-image-portrait", lambda t: {"identities.folder": _portraits(t, ("notes.txt", b"hi"))}, [], "new",
     "holds 'notes.txt', which is not a"),
    ("corrupt-portrait", lambda t: {"identities.folder": _portraits(t, ("b.png", b"\x89PNG broken"))}, [], "new",
     "is not a readable image"),
    ("portrait-folder-missing", lambda t: {"identities.folder": str(t / "none")}, [], "new", "no such folder"),
    ("faceless-portraits-only", lambda t: {"identities.folder": _portraits(t), "identities.synthhf": 0}, [], "new",
     "no usable identity"),
    ("poses-dir-missing", lambda t: {"motion.source": "poses", "motion.poses_dir": str(t / "none")}, [], "new",
     "motion.poses_dir"),
    ("model-missing-component", lambda t: {"generation.model": _broken_model(t)}, [], "new", "vae: missing"),
    ("synthhf-identity-for-portraits", lambda t: {"identities.folder": _portraits(t),
                                                  "generation.identity": "synthhf"}, [], "new",
     "portraits from identities.folder have no SynthHF vector"),
    ("identity-width", lambda t: {"generation.model": _model_taking(t, 512)}, [], "new",
     "generation.identity dlib gives 128-d vectors but the model takes 512-d ones; set generation.identity: arcface"),
    ("out-is-file", {}, [], "file", "is a file, not a folder"),
    ("out-under-file", {}, [], "under-file", "is a file, not a folder"),
    ("out-foreign", {}, [], "foreign", "not empty and holds no dataset"),
    ("out-other-recipe", {"seed": 99}, [], "other-recipe", "holds another recipe's set"),
    ("bad-shard", {}, ["--shard", "3/2"], "new", "--shard 3/2: need 0 <= I < N"),
    ("bad-shard-text", {}, ["--shard", "half"], "new", "--shard must look like I/N"),
    ("ray-unreachable", {}, ["--engine", "ray", "--ray-address", "127.0.0.1:9"], "new", "cannot reach a Ray"),
    ("ray-address-garbage", {}, ["--engine", "ray", "--ray-address", "nowhere"], "new", "expected host:port"),
    ("bad-set", {}, ["--set", "no_equals_sign"], "new", "expected key.path=value"),
]


def _model_taking(tmp_path, id_dim: int):
    """The bundled model folder with its UNet config saying it takes ``id_dim``-d identity vectors."""
    import json

    from interanimate.pipelines import bundled_model_dir

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    config = json.loads((model / "unet" / "config.json").read_text())
    (model / "unet" / "config.json").write_text(json.dumps({**config, "id_embed_dim": id_dim}))
    return str(model)


def _broken_model(tmp_path):
    from interanimate.pipelines import bundled_model_dir

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    shutil.rmtree(model / "vae")
    return str(model)


@pytest.mark.parametrize("changes, extra, out_kind, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_recipe_or_option_is_one_line_exit_2(changes, extra, out_kind, fragment, tmp_path, tiny_model, capsys):
    changes = changes(tmp_path) if callable(changes) else changes
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(tiny_model, **changes)))
    out = tmp_path / "out"
    if out_kind == "file":
        out.write_text("x")
    elif out_kind == "under-file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    elif out_kind == "foreign":
        out.mkdir()
        (out / "holiday.jpg").write_bytes(b"x")
    elif out_kind == "other-recipe":
        first = tmp_path / "first.yaml"
        first.write_text(yaml.safe_dump(recipe_dict(tiny_model)))
        assert main(["dataset", "plan", str(first), "--out", str(out)]) == 0
        capsys.readouterr()
    before = files_of(tmp_path)
    code, err = _run(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress", *extra], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and fragment in lines[0], err
    assert files_of(tmp_path) == before  # nothing written, nothing changed
    assert out_kind != "new" or not out.exists()


def test_recipe_file_missing_or_not_yaml(tmp_path, capsys):
    code, err = _run(["dataset", "plan", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [unclosed\n")
    code, err = _run(["dataset", "plan", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "not valid YAML" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_report_and_verify_of_a_folder_that_is_no_dataset(tmp_path, capsys):
    for action in ("report", "verify", "merge"):
        code, err = _run(["dataset", action, str(tmp_path)], capsys)
        assert code == 2 and "not a dataset folder" in err
