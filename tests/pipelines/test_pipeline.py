"""InterAnimatePipeline on tiny random components (CPU): determinism, fusion equivalence, save/load, CFG."""

import pytest
import torch
from diffusers import EulerDiscreteScheduler

from interanimate.models import build_unet
from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config
from interanimate.models.first_stage import build_small_image_encoder, build_small_vae

SIZE = 32


def _perturb(module, seed):
    """Random non-zero values in the zero-initialised additions, so that poses, masks and identity matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith(("pose_encoder.", "region_blocks.", "id_blocks.")) and not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    unet = build_unet("tiny")
    _perturb(unet, 0)
    vae = build_small_vae((32, 32, 32, 32), sample_size=SIZE)
    encoder = build_small_image_encoder(32, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=SIZE, patch_size=8)
    pipeline = InterAnimatePipeline(vae, encoder, unet.eval(), EulerDiscreteScheduler(**svd_scheduler_config()))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _inputs(frames, seed=0):
    gen = torch.Generator().manual_seed(seed)
    reference = torch.rand(1, 3, SIZE, SIZE, generator=gen) * 2 - 1
    pose = torch.rand(1, frames, 3, SIZE, SIZE, generator=gen) * 2 - 1
    hand = (torch.rand(1, frames, 1, SIZE, SIZE, generator=gen) > 0.7).float()
    face = (torch.rand(1, frames, 1, SIZE, SIZE, generator=gen) > 0.7).float()
    ident = torch.randn(1, 16, generator=gen)
    return dict(reference=reference, pose_frames=pose, hand_mask=hand, face_mask=face, id_embedding=ident)


def _run(pipe, frames, seed=0, **kwargs):
    kwargs = {"num_inference_steps": 2, **kwargs}
    return pipe(**_inputs(frames), generator=torch.Generator().manual_seed(seed), **kwargs).frames


def test_deterministic_for_a_fixed_seed(pipe):
    a, b, c = _run(pipe, 3, seed=1), _run(pipe, 3, seed=1), _run(pipe, 3, seed=2)
    assert a.shape == (1, 3, 3, SIZE, SIZE) and a.abs().max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_fusion_equals_single_window_when_the_sequence_fits(pipe):
    fused = _run(pipe, 6, tile_size=16, tile_overlap=4)
    plain = _run(pipe, 6, tile_size=None)
    assert torch.equal(fused, plain)


def test_long_sequence_is_fused_to_its_full_length(pipe):
    out = pipe(**_inputs(40), num_inference_steps=1, tile_size=16, tile_overlap=4, max_guidance_scale=1.0,
               generator=torch.Generator().manual_seed(0), output_type="np").frames
    assert out.shape == (1, 40, SIZE, SIZE, 3) and out.dtype.name == "uint8"


def test_conditioning_reaches_the_output(pipe):
    base = _inputs(3)
    other_pose = dict(base, pose_frames=-base["pose_frames"])
    outs = [pipe(**inp, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
            for inp in (base, other_pose)]
    assert not torch.equal(*outs)


def test_save_and_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "model")
    loaded = InterAnimatePipeline.from_pretrained(tmp_path / "model")
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.unet).__name__ == "InterAnimateUNet"
    torch.testing.assert_close(_run(pipe, 3), _run(loaded, 3), atol=1e-4, rtol=0)  # attention kernels may differ


def test_bad_inputs_rejected(pipe):
    inputs = _inputs(2)
    with pytest.raises(ValueError, match="does not match"):
        pipe(**dict(inputs, reference=inputs["reference"][:, :, :16]))
    with pytest.raises(ValueError, match="output_type"):
        pipe(**inputs, output_type="pil")


def test_residual_to_reference_adds_the_reference_latent_back(pipe, tmp_path):
    residual = InterAnimatePipeline(pipe.vae, pipe.image_encoder, pipe.unet, pipe.scheduler,
                                    residual_to_reference=True, residual_scale=0.25)
    residual.set_progress_bar_config(disable=True)
    inputs = _inputs(2)
    plain = pipe(**inputs, num_inference_steps=1, generator=torch.Generator().manual_seed(0), output_type="latent")
    shifted = residual(**inputs, num_inference_steps=1, generator=torch.Generator().manual_seed(0),
                       output_type="latent")
    ref = pipe.vae.encode(inputs["reference"]).latent_dist.mode() * pipe.vae.config.scaling_factor
    torch.testing.assert_close(shifted.frames, 0.25 * plain.frames + ref.unsqueeze(1).expand_as(plain.frames))
    residual.save_pretrained(tmp_path / "res")
    loaded = InterAnimatePipeline.from_pretrained(tmp_path / "res")
    assert loaded.config.residual_to_reference and loaded.config.residual_scale == 0.25


def test_default_tile_is_the_training_window(pipe, tmp_path):
    windowed = InterAnimatePipeline(pipe.vae, pipe.image_encoder, pipe.unet, pipe.scheduler, window=4)
    windowed.set_progress_bar_config(disable=True)
    kwargs = dict(num_inference_steps=1, tile_overlap=2, max_guidance_scale=1.0)
    by_config = _run(windowed, 8, **kwargs)
    assert torch.equal(by_config, _run(windowed, 8, tile_size=4, **kwargs))
    assert not torch.equal(by_config, _run(windowed, 8, tile_size=None, **kwargs))
    windowed.save_pretrained(tmp_path / "w")
    assert InterAnimatePipeline.from_pretrained(tmp_path / "w").config.window == 4
    with pytest.raises(ValueError, match="tile_size"):
        _run(windowed, 8, tile_size="auto")


def test_reference_pose_frame_is_prepended_to_every_tile_and_dropped(pipe):
    """MimicMotion's frame 0: the reference's own pose leads every fused tile; the output keeps the F driving frames."""
    import functools

    seen = []
    forward = pipe.unet.forward

    @functools.wraps(forward)
    def spy(sample, timestep, **kwargs):
        seen.append(kwargs["pose_features"].detach().clone())  # the pose, encoded once for all tiles and steps
        return forward(sample, timestep, **kwargs)

    pipe.unet.forward = spy
    try:
        ref_pose = torch.full((1, 3, SIZE, SIZE), 0.5)
        frames = _run(pipe, 6, num_inference_steps=1, max_guidance_scale=1.0, tile_size=4, tile_overlap=1,
                      reference_pose=ref_pose)
    finally:
        del pipe.unet.forward
    assert frames.shape[1] == 6
    with torch.no_grad():
        ref_features = pipe.unet.encode_pose(ref_pose[:, None])[:, 0]  # (1, C0, h, w)
    assert len(seen) >= 2  # every tile starts with it
    assert all((p[:, 0] - ref_features).abs().max() < 1e-7 for p in seen)
    assert (seen[0][:, 1] - ref_features).abs().max() > 1e-5  # a driving frame's pose is another


@pytest.fixture(scope="module")
def hand_pipe():
    """A tiny pipeline whose UNet takes the hand shape map (what the hand prior is drawn from)."""
    from interanimate.models.first_stage import PatchPCAAutoencoder

    torch.manual_seed(0)
    unet = build_unet("tiny", hand_map_channels=3)
    _perturb(unet, 1)
    vae = PatchPCAAutoencoder(in_channels=3, latent_channels=4, patch_size=8, sample_size=SIZE)
    vae.fit(torch.rand(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    encoder = build_small_image_encoder(32, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=SIZE, patch_size=8)
    pipeline = InterAnimatePipeline(vae, encoder, unet.eval(), EulerDiscreteScheduler(**svd_scheduler_config()))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _hand_inputs(frames: int) -> dict:
    inputs = _inputs(frames)
    shape = torch.full((1, frames, 3, SIZE, SIZE), -1.0)  # hand shape map: empty ...
    shape[:, :, 0, 8:24, 8:20] = 1.0  # ... but for a left hand in every frame
    inputs["pose_frames"] = torch.cat([inputs["pose_frames"], shape], dim=2)  # (1, F, 6, H, W)
    return inputs


def test_hand_prior_strength_starts_the_sampler_from_the_prior(hand_pipe, tmp_path):
    """Strength 1 is the plain sampler; below 1 only the last steps run, from the noised hand prior; the model's
    default is saved in model_index.json; a model without the hand map refuses it."""
    from interanimate.models.conditioning import hand_prior_latents

    inputs = _hand_inputs(2)
    run = lambda **kw: hand_pipe(**inputs, num_inference_steps=10, max_guidance_scale=1.0,  # noqa: E731
                                 generator=torch.Generator().manual_seed(0), output_type="latent", **kw).frames
    calls = []
    hand_pipe.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    plain = run()
    assert len(calls) == 10 and torch.equal(plain, run(hand_prior_strength=1.0))
    calls.clear()
    started = run(hand_prior_strength=0.2)
    assert len(calls) == 2 and not torch.equal(started, plain)
    prior = hand_prior_latents(hand_pipe.vae, inputs["reference"], inputs["pose_frames"], inputs["face_mask"])
    # from sigma ~0.3 two Euler steps stay near the prior, far nearer than the plain sampler's result
    assert (started - prior).abs().mean() < 0.5 * (plain - prior).abs().mean()
    hand_pipe.unet._forward_pre_hooks.clear()
    saved = InterAnimatePipeline(hand_pipe.vae, hand_pipe.image_encoder, hand_pipe.unet, hand_pipe.scheduler,
                                 hand_prior_strength=0.2)
    saved.save_pretrained(tmp_path / "m")
    loaded = InterAnimatePipeline.from_pretrained(tmp_path / "m")
    assert loaded.config.hand_prior_strength == 0.2
    loaded.set_progress_bar_config(disable=True)
    by_default = loaded(**inputs, num_inference_steps=10, max_guidance_scale=1.0,
                        generator=torch.Generator().manual_seed(0), output_type="latent").frames
    torch.testing.assert_close(by_default, started)
    with pytest.raises(ValueError, match="hand_prior_strength"):
        run(hand_prior_strength=0.0)
    with pytest.raises(ValueError, match="hand_prior_strength"):
        InterAnimatePipeline(hand_pipe.vae, hand_pipe.image_encoder, hand_pipe.unet, hand_pipe.scheduler,
                             hand_prior_strength=1.5)


def test_hand_prior_strength_needs_the_hand_map(pipe):
    with pytest.raises(ValueError, match="needs a model that takes the hand shape map"):
        _run(pipe, 2, hand_prior_strength=0.5)
