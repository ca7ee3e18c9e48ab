"""InterAnimateWanPipeline and its conditioning (tiny, CPU): the I2V mask and per-latent-frame masks, the face crop,
the dense hand map in the pose video, segment continuation, determinism, save/load strictly, ``animate --model``
dispatching on model_index.json (watermarked mp4)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from interanimate.cli import main
from interanimate.models import wan_conditioning as wc
from interanimate.models.loading import StrictLoadError
from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline

SIZE = 48


def _inputs(frames=7):
    g = torch.Generator().manual_seed(1)
    reference = torch.rand(1, 3, SIZE, SIZE, generator=g) * 2 - 1
    pose = torch.rand(1, frames, 3, SIZE, SIZE, generator=g) * 2 - 1
    hand = torch.zeros(1, frames, 1, SIZE, SIZE)
    hand[..., 24:40, 8:24] = 1
    face = torch.zeros(1, frames, 1, SIZE, SIZE)
    face[..., 8:28, 16:32] = 1
    return reference, pose, hand, face


def test_i2v_mask_marks_the_given_pixel_frames():
    mask = wc.i2v_mask(1, 3, (2, 2), known=5, device="cpu", dtype=torch.float32)  # 9 frames: latent frames 1+4+4
    assert mask.shape == (1, 4, 3, 2, 2)
    assert mask[0, :, 0].eq(1).all() and mask[0, :, 1].eq(1).all() and mask[0, :, 2].eq(0).all()
    assert wc.i2v_mask(1, 3, (2, 2), known=1, device="cpu", dtype=torch.float32)[0, :, 1:].eq(0).all()
    with pytest.raises(ValueError, match="4k \\+ 1"):
        wc.latent_frame_count(8)


def test_masks_per_latent_frame_are_unions_of_their_pixel_frames():
    mask = torch.zeros(1, 9, 1, 4, 4)
    mask[0, 3, 0, 0, 0] = 1  # pixel frame 3 -> latent frame 1 (pixel frames 1-4)
    mask[0, 0, 0, 1, 1] = 1  # pixel frame 0 -> latent frame 0
    latent = wc.latent_frame_masks(mask)
    assert latent.shape == (1, 3, 1, 4, 4)
    assert latent[0, 1, 0, 0, 0] == 1 and latent[0, 0, 0, 1, 1] == 1 and latent[0, 2].sum() == 0
    tokens = wc.token_frame_masks(mask)
    assert tokens.shape == (1, 4, 1, 4, 4) and tokens[0, 0].sum() == 0  # the reference's token frame: empty


def test_the_face_video_is_cropped_around_the_face_and_the_hand_map_joins_the_pose():
    frames = torch.full((1, 5, 3, 64, 64), -1.0)
    frames[..., 10:20, 40:50] = 1.0  # a white "face"
    face = torch.zeros(1, 5, 1, 64, 64)
    face[..., 10:20, 40:50] = 1
    crop = wc.face_video(frames, face, 32)
    assert crop.shape == (1, 3, 5, 32, 32)
    assert crop.mean() > 0  # mostly face (the whole frame would be ~ -0.95)
    assert wc.face_video(frames, None, 32).mean() < -0.8
    pose = torch.full((1, 5, 6, 8, 8), -1.0)
    pose[:, :, 3:, 2:4, 2:4] = 0.5  # the hand map draws there
    drawn = wc.add_hand_map(pose)
    assert drawn.shape == (1, 5, 3, 8, 8) and drawn[..., 2:4, 2:4].eq(0.5).all() and drawn[..., 5:, 5:].eq(-1).all()


def test_segments_continue_from_the_previous_frames(monkeypatch, tiny_wan_pipeline):
    pipe = tiny_wan_pipeline(SIZE)
    seen = []
    build = wc.build_wan_conditions

    def spy(*args, **kwargs):
        seen.append(None if kwargs.get("previous") is None else kwargs["previous"].shape[1])
        return build(*args, **kwargs)

    monkeypatch.setattr(wc, "build_wan_conditions", spy)
    reference, pose, hand, face = _inputs(frames=12)
    out = pipe(reference, pose, hand_mask=hand, face_mask=face, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (1, 12, 3, SIZE, SIZE) and out.abs().max() <= 1
    assert seen == [None, 1, 1]  # 12 frames = 5 + 4 + 4 (segments of 5 overlapping by 1; the tail padded, cut)


def test_sampling_is_seeded_and_conditioned_and_survives_save_and_strict_load(tmp_path, tiny_wan_pipeline):
    pipe = tiny_wan_pipeline(SIZE)
    reference, pose, hand, face = _inputs()
    ident = torch.randn(1, 128)

    def run(p, **kw):
        args = dict(hand_mask=hand, face_mask=face, id_embedding=ident, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(3))
        return p(reference, pose, **{**args, **kw}).frames

    a = run(pipe)
    assert torch.equal(a, run(pipe))
    assert not torch.allclose(a, run(pipe, hand_mask=None, face_mask=None))  # the region branch acts
    assert not torch.allclose(a, run(pipe, guidance_scale=3.0))  # CFG: a second, unconditional pass
    pipe.save_pretrained(tmp_path / "m")
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["_class_name"] == "InterAnimateWanPipeline" and index["segment_frames"] == 5
    loaded = InterAnimateWanPipeline.from_pretrained(tmp_path / "m")
    loaded.set_progress_bar_config(disable=True)
    assert torch.allclose(a, run(loaded), atol=1e-5)
    # a transformer file with a stray key is refused, naming it
    weights = next((tmp_path / "m" / "transformer").glob("*.safetensors"))
    state = load_file(weights)
    state["region_blocks.1.stray"] = torch.zeros(1)
    save_file(state, weights)
    with pytest.raises(StrictLoadError, match="stray"):
        InterAnimateWanPipeline.from_pretrained(tmp_path / "m")


def test_animate_picks_the_wan_pipeline_from_model_index(tmp_path, capsys, tiny_wan_pipeline):
    tiny_wan_pipeline(SIZE).save_pretrained(tmp_path / "m")
    Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP", "--out", str(out),
                 "--model", str(tmp_path / "m"), "--frames", "6", "--steps", "1", "--retarget", "none",
                 "--identity-from", "none"])
    assert code == 0 and out.is_file() and out.with_suffix(".png").is_file() and out.with_suffix(".gif").is_file()
    assert main(["verify-watermark", str(out)]) == 0
    assert "PRESENT" in capsys.readouterr().out
    assert main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP", "--out",
                 str(tmp_path / "o2.mp4"), "--model", str(tmp_path / "m"), "--size", "40x40"]) == 2
    assert not (tmp_path / "o2.mp4").exists()


def test_the_demo_runs_a_wan_model(tmp_path, tiny_wan_pipeline):
    from interanimate.pipelines.demo import run_demo

    tiny_wan_pipeline(32).save_pretrained(tmp_path / "m")
    report = run_demo(tmp_path / "out", tmp_path / "m", ["LH-NP", "RH-EB"], frames=6, steps=1, batch_size=2,
                      identity="none", progress=False, hands=False)
    assert (tmp_path / "out" / "preview.png").is_file() and len(list((tmp_path / "out" / "videos").glob("*.mp4"))) == 2
    assert report["steps"] == 1
