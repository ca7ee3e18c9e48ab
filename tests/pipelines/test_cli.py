"""The CLI around the pipeline: animate (bundled-model stand-in: a tiny random pipeline), verify-watermark, demo."""

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler
from PIL import Image

from interanimate.cli import main
from interanimate.models import build_unet
from interanimate.pipelines.demo import clip_scores, region_psnr, region_ssim
from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config
from interanimate.training.first_stage import build_small_image_encoder, build_small_vae

SIZE = 48  # the smallest frames that hold the 32-bit watermark


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    pipe = InterAnimatePipeline(build_small_vae((32, 32, 32, 32), sample_size=SIZE),
                                build_small_image_encoder(32, hidden_size=32, num_hidden_layers=1,
                                                          num_attention_heads=2, image_size=SIZE, patch_size=8),
                                build_unet("tiny", id_embed_dim=128), EulerDiscreteScheduler(**svd_scheduler_config()))
    pipe.save_pretrained(folder)
    return folder


def test_animate_synth_class_writes_watermarked_video(tiny_model, tmp_path, capsys):
    Image.fromarray(np.full((48, 40, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP", "--out", str(out),
                 "--model", str(tiny_model), "--frames", "3", "--steps", "1"])
    assert code == 0 and out.is_file() and out.with_suffix(".png").is_file() and out.with_suffix(".gif").is_file()
    assert main(["verify-watermark", str(out)]) == 0
    assert "PRESENT" in capsys.readouterr().out


def test_animate_rejects_unknown_class(tiny_model, tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "ref.png")
    assert main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "XX", "--out",
                 str(tmp_path / "o.mp4"), "--model", str(tiny_model)]) == 2


def test_demo_writes_videos_grid_and_metrics(tiny_model, tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--model", str(tiny_model), "--classes", "LH-NP,RL-FS",
                 "--steps", "1", "--skip-preview"])
    assert code == 0
    assert (tmp_path / "videos" / "LH-NP.mp4").is_file() and (tmp_path / "preview.png").is_file()
    import json
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert set(report["classes"]) == {"LH-NP", "RL-FS"} and "repeat_reference" in report["mean_over_classes"]
    assert "metrics:" in capsys.readouterr().out


def test_region_metrics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = a.copy()
    b[:8] = 255 - b[:8]  # differ only in the top half
    bottom = np.zeros((16, 16), bool)
    bottom[8:] = True
    assert region_psnr(a, b, bottom) == 100.0 and region_psnr(a, b, ~bottom) < 20
    assert region_ssim(a, a, bottom) == pytest.approx(1.0)
    video = np.stack([a, b])
    scores = clip_scores(video, video, np.ones((2, 16, 16), bool))  # frame 0 (the reference) is not scored
    assert scores["psnr"] == 100.0 and scores["ssim"] == pytest.approx(1.0)
