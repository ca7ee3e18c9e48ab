"""Sampler shortcuts that must not change a prediction beyond float rounding: both classifier-free-guidance passes in
one UNet call of 2B (``UNetConditions.with_unconditional`` and the UNet's ``pose_keep``), and the pose encoded once
for every step and tile (``UNetConditions.pose_encoded``)."""

import pytest
import torch

from interanimate.models import build_unet
from interanimate.models.conditioning import UNetConditions, accepted_inputs, unet_inputs
from interanimate.models.unet import HAND_MAP_CHANNELS

SIZE, FRAMES = 32, 3


def _perturbed_unet(**options):
    torch.manual_seed(0)
    unet = build_unet("tiny", **options).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # the zero-initialised additions made to matter
        for name, p in unet.named_parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return unet


def _conditions(unet, batch: int, pose_channels: int, prior: bool) -> UNetConditions:
    gen = torch.Generator().manual_seed(2)
    h = SIZE // 8
    cross = unet.config.cross_attention_dim
    return UNetConditions(
        image_embeds=torch.randn(batch, 1, cross, generator=gen),
        ref_latents=torch.randn(batch, 4, h, h, generator=gen),
        time_ids=torch.tensor([[6.0, 127.0, 0.02]]).repeat(batch, 1),
        pose_frames=torch.rand(batch, FRAMES, pose_channels, SIZE, SIZE, generator=gen) * 2 - 1,
        hand_mask=(torch.rand(batch, FRAMES, 1, h, h, generator=gen) > 0.5).float(),
        face_mask=(torch.rand(batch, FRAMES, 1, h, h, generator=gen) > 0.5).float(),
        id_embedding=torch.randn(batch, 16, generator=gen),
        hand_prior=torch.randn(batch, FRAMES, 4, h, h, generator=gen) if prior else None)


def _call(unet, sample, cond):
    model_input, kwargs = unet_inputs(sample, cond, accepted_inputs(unet))
    with torch.no_grad():
        return unet(model_input, torch.tensor(1.0), return_dict=False, **kwargs)[0]


def _check(unet, pose_channels: int, prior: bool):
    cond = _conditions(unet, 2, pose_channels, prior)
    sample = torch.randn(2, FRAMES, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(3))
    separate = torch.cat([_call(unet, sample, cond), _call(unet, sample, cond.unconditional())])  # (2B, ...)
    together = _call(unet, torch.cat([sample, sample]), cond.with_unconditional())
    assert together.shape == separate.shape == (4, FRAMES, 4, SIZE // 8, SIZE // 8)
    torch.testing.assert_close(together, separate, rtol=1e-5, atol=1e-5)
    # the pose does reach the conditioned half: this is not a test of a UNet that ignores it
    assert not torch.allclose(separate[:2], separate[2:], atol=1e-3)


def test_one_call_equals_two_for_the_skeleton_unet():
    _check(_perturbed_unet(id_embed_dim=16), 3, prior=False)


def test_one_call_equals_two_with_the_hand_map_and_the_hand_prior():
    _check(_perturbed_unet(id_embed_dim=16, hand_map_channels=HAND_MAP_CHANNELS, hand_prior=True),
           3 + HAND_MAP_CHANNELS, prior=True)


def test_pose_keep_zero_everywhere_is_no_pose():
    unet = _perturbed_unet(id_embed_dim=16)
    cond = _conditions(unet, 2, 3, prior=False)
    sample = torch.randn(2, FRAMES, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(4))
    dropped = _call(unet, sample, UNetConditions(**{**cond.__dict__, "pose_keep": torch.zeros(2)}))
    torch.testing.assert_close(dropped, _call(unet, sample, UNetConditions(**{**cond.__dict__,
                                                                                  "pose_frames": None})),
                               rtol=0, atol=0)


def test_the_pipeline_guides_in_one_call_or_two_alike(monkeypatch):
    from diffusers import EulerDiscreteScheduler

    from interanimate.models.first_stage import build_small_image_encoder, build_small_vae
    from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config

    unet = _perturbed_unet(id_embed_dim=16)
    pipe = InterAnimatePipeline(build_small_vae((32, 32, 32, 32), sample_size=SIZE),
                                build_small_image_encoder(32, hidden_size=32, num_hidden_layers=1,
                                                          num_attention_heads=2, image_size=SIZE, patch_size=8),
                                unet, EulerDiscreteScheduler(**svd_scheduler_config()))
    pipe.set_progress_bar_config(disable=True)
    assert not pipe._guided_in_one_call()  # the CPU: two calls (measured faster here)
    cond = _conditions(unet, 1, 3, prior=False)
    inputs = dict(reference=torch.rand(1, 3, SIZE, SIZE) * 2 - 1, pose_frames=cond.pose_frames,
                  hand_mask=torch.ones(1, FRAMES, 1, SIZE, SIZE), face_mask=torch.ones(1, FRAMES, 1, SIZE, SIZE),
                  id_embedding=cond.id_embedding, num_inference_steps=2, max_guidance_scale=2.5)
    two = pipe(**inputs, generator=torch.Generator().manual_seed(0)).frames
    monkeypatch.setattr(InterAnimatePipeline, "_guided_in_one_call", lambda self: True)
    one = pipe(**inputs, generator=torch.Generator().manual_seed(0)).frames
    torch.testing.assert_close(one, two, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prior", [False, True])
def test_the_pose_encoded_once_predicts_as_the_pose_encoded_per_call(prior):
    options = dict(hand_map_channels=HAND_MAP_CHANNELS, hand_prior=True) if prior else {}
    unet = _perturbed_unet(id_embed_dim=16, **options)
    cond = _conditions(unet, 2, 3 + (HAND_MAP_CHANNELS if prior else 0), prior)
    sample = torch.randn(2, FRAMES, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        encoded = cond.pose_encoded(unet)
    assert encoded.pose_frames is None and encoded.hand_prior is None
    assert encoded.pose_features.shape == (2, FRAMES, unet.conv_in.out_channels, SIZE // 8, SIZE // 8)
    torch.testing.assert_close(_call(unet, sample, encoded), _call(unet, sample, cond), rtol=1e-5, atol=1e-5)
    tile = torch.tensor([0, 2])  # a fused tile slices the encoding like the frames
    torch.testing.assert_close(_call(unet, sample[:, tile], encoded.frames(tile)),
                               _call(unet, sample[:, tile], cond.frames(tile)), rtol=1e-5, atol=1e-5)
    both = _call(unet, torch.cat([sample, sample]), encoded.with_unconditional())  # the guided batch, encoded
    torch.testing.assert_close(both[2:], _call(unet, sample, cond.unconditional()), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        _call(unet, sample, UNetConditions(**{**encoded.__dict__, "pose_frames": cond.pose_frames}))
