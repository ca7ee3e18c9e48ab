"""End to end through the CLI on the hand-made dataset with the tiny config: train, generate, react, evaluate."""

from pathlib import Path

import numpy as np
import torch
import pytest

from interanimate.cli import main
from interanimate.motion.export import load_poses
from interanimate.motion.train import load_config
from interanimate.utils.io import file_mode

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "motion_tiny.yaml"


@pytest.fixture(scope="module")
def trained(motion_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("motion_model")
    assert main(["motion", "train", "--config", str(CONFIG), "--data", str(motion_root), "--output", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "model.safetensors").stat().st_mode & 0o777 == file_mode()  # not safetensors' own 0o600
    return out


def test_generate_class_writes_dwpose_npz_and_preview(trained, tmp_path):
    out = tmp_path / "poses.npz"
    rc = main(["motion", "generate", "--class", "LH-NP", "--frames", "8", "--num", "2", "--out", str(out),
               "--preview", str(tmp_path / "p.gif"), "--model", str(trained), "--seed", "3"])
    assert rc == 0
    for i in range(2):
        poses = load_poses(tmp_path / f"poses_{i:03d}.npz")
        assert poses["keypoints"].shape == (8, 134, 2) and poses["scores"].shape == (8, 134)
        assert poses["class_code"] == "LH-NP" and poses["size"] == (512, 512)
    assert (tmp_path / "p.gif").stat().st_size > 0


def test_generate_fits_hands_unless_told_not_to(tmp_path):
    """The bundled model (its hands are in view for LH-NP; the tiny test model's are not)."""
    hands = slice(92, 134)
    runs = {}
    for flag in ("--hand-fit", "--no-hand-fit"):
        out = tmp_path / f"{flag}.npz"
        assert main(["motion", "generate", "--class", "LH-NP", "--frames", "8", "--out", str(out), "--seed", "3",
                     flag]) == 0
        runs[flag] = load_poses(out)
    np.testing.assert_array_equal(runs["--hand-fit"]["scores"], runs["--no-hand-fit"]["scores"])
    shown = runs["--hand-fit"]["scores"][:, hands] >= 0.3
    assert shown.reshape(8, 2, 21).sum(-1).max() >= 10  # a hand in view, so the fit had something to do
    assert not np.allclose(runs["--hand-fit"]["keypoints"][:, hands], runs["--no-hand-fit"]["keypoints"][:, hands])


def test_generate_rejects_bad_frames_and_class(trained, tmp_path, capsys):
    assert main(["motion", "generate", "--class", "LH-NP", "--frames", "6", "--out", str(tmp_path / "x.npz"),
                 "--model", str(trained)]) == 2
    assert main(["motion", "generate", "--class", "XX-YY", "--out", str(tmp_path / "x.npz"),
                 "--model", str(trained)]) == 2
    assert "unknown interaction class" in capsys.readouterr().err


def test_react_keeps_the_given_hand(trained, tmp_path, motion_of):
    from interanimate.motion.export import save_poses

    kpts, scores = motion_of("RH-CH", frames=16)
    given = tmp_path / "given.npz"
    save_poses(given, kpts, scores, 128, 128, class_code="RH-CH")
    out = tmp_path / "react.npz"
    assert main(["motion", "react", "--hand", str(given), "--class", "RH-CH", "--out", str(out),
                 "--model", str(trained), "--preview", str(tmp_path / "r.png")]) == 0
    poses = load_poses(out)
    hands = slice(92, 134)
    np.testing.assert_array_equal(poses["keypoints"][:, hands], kpts[:, hands])
    assert poses["keypoints"].shape == (16, 134, 2)
    assert main(["motion", "react", "--face", str(given), "--out", str(out), "--model", str(trained)]) == 0
    np.testing.assert_array_equal(load_poses(out)["keypoints"][:, 24:92], kpts[:, 24:92])


def test_evaluate_reports_every_metric(trained, motion_root, tmp_path):
    from interanimate.motion.data import MotionDataset

    report = tmp_path / "report.json"
    cache = tmp_path / "cache.npz"  # --data takes the keypoint cache as well as the dataset root
    MotionDataset.save_cache(motion_root, cache)
    assert main(["motion", "evaluate", "--data", str(cache), "--model", str(trained), "--runs", "2",
                 "--samples-per-class", "2", "--no-text", "--out", str(report), "--top-k-mode", "fraction"]) == 0
    import json
    data = json.loads(report.read_text())
    assert data["sampling"]["top_k_mode"] == "fraction"
    for key in ("top1", "top3", "fid", "diversity", "multimodality", "left_right"):
        mean, half = data["generated"][key]
        assert np.isfinite(mean) and half >= 0
    assert len(data["generated"]["per_class_top1"]) == 18
    assert "fid_vs_train" in data["real"] and "generated_face" in data["reaction"]
    reaction = data["reaction"]
    assert 0 <= reaction["real_face"]["region_hit"] <= 1 and 0 <= reaction["generated_face"]["region_hit"][0] <= 1
    assert "region_hit" in reaction["reconstructed_face"] and len(reaction["per_class_region_hit"]) == 18
    assert 0 <= data["reconstructed"]["top1"] <= 1 and np.isfinite(data["reconstructed"]["fid"])
    table = report.with_suffix(".md").read_text()
    assert f"{data['generated']['top1'][0]:.3f} ± {data['generated']['top1'][1]:.3f}" in table
    assert table.count("\n| ") >= 18 + 6  # per-class rows and the summary rows


def test_config_errors_name_the_bad_key(tmp_path):
    from interanimate.errors import UserError

    bad = tmp_path / "bad.yaml"
    bad.write_text("transformer: {dimm: 32}\n")
    with pytest.raises(UserError, match=r"unknown key\(s\) transformer.dimm"):
        load_config(bad)
    bad.write_text("vq_train: {steps: many}\n")
    with pytest.raises(UserError, match="vq_train.steps: expected an integer, got 'many'"):
        load_config(bad)
    cfg = load_config(CONFIG, {"data.root": "/x"})
    assert cfg.data.root == "/x" and cfg.transformer.hand_codebook == cfg.hand_vq.codebook_size
    stage = tmp_path / "stage.yaml"  # the one loader: base: and --set work for motion configs too
    stage.write_text(f"base: {CONFIG}\nseed: 7\n")
    cfg = load_config(stage, ["vq_train.steps=3"])
    assert cfg.seed == 7 and cfg.vq_train.steps == 3 and cfg.transformer == load_config(CONFIG).transformer


def test_training_stopped_by_a_full_disk_resumes_by_stage_to_the_same_model(trained, motion_root, tmp_path,
                                                                             monkeypatch, capsys):
    """A full disk during the evaluator stage: exit 3, one line; the same command trains only that stage, and the
    bundle equals the uninterrupted run's."""
    import errno

    from safetensors.torch import load_file

    import interanimate.motion.train as train

    out = tmp_path / "model"
    argv = ["motion", "train", "--config", str(CONFIG), "--data", str(motion_root), "--output", str(out)]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "x"))

    with monkeypatch.context() as patch:
        patch.setattr(train, "train_evaluator", full)
        assert main(argv) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interanimate motion: stopped: no space left")
    assert (out / ".stages" / "model.safetensors").is_file() and not (out / "model.safetensors").exists()
    assert main(argv) == 0
    assert "continuing the run: stage(s) vq, transformer already trained" in capsys.readouterr().out
    assert not (out / ".stages").exists()
    got, want = load_file(str(out / "model.safetensors")), load_file(str(trained / "model.safetensors"))
    differ = sorted({k.split(".")[0] for k in got if not torch.equal(got[k], want[k])})
    assert set(got) == set(want) and not differ, differ
