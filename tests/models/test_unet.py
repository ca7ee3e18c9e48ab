import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel

from interanimate.models import (InterAnimateUNet, build_svd_unet, get_model_config,
                                 trainable_parameter_groups)

ABLATIONS = {
    "full": {},
    "w/o RIS": dict(use_ris=False),
    "w/o quantize": dict(use_quantize=False),
    "w/o ID": dict(use_id=False),
    "w/o pose": dict(use_pose=False),
    "+spatial self-attention": dict(spatial_self_attention=True),
    "+hand map": dict(hand_map_channels=3),
    "+hand map +hand prior": dict(hand_map_channels=3, hand_prior=True),
}


def _inputs_for(model, make_inputs, seed: int = 0):
    """The tiny inputs with as many pose channels as ``model`` takes (hand-map channels random in [-1, 1])."""
    args, extra = make_inputs(seed)
    pose = extra["pose_frames"]  # (B, F, 3, H, W)
    wanted = model.pose_encoder.in_channels if model.pose_encoder is not None else 3
    if wanted > pose.shape[2]:
        g = torch.Generator().manual_seed(seed + 100)
        more = torch.rand(*pose.shape[:2], wanted - pose.shape[2], *pose.shape[3:], generator=g) * 2 - 1
        extra["pose_frames"] = torch.cat([pose, more], dim=2)  # (B, F, 3 + K, H, W)
    return args, extra


@pytest.fixture(scope="module")
def plain_unet() -> UNetSpatioTemporalConditionModel:
    torch.manual_seed(0)
    return build_svd_unet("tiny").eval()


def _wrap(unet, **options) -> InterAnimateUNet:
    torch.manual_seed(1)
    return InterAnimateUNet.from_svd_unet(unet, **get_model_config("tiny").with_options(**options).interanimate).eval()


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_wrapped_unet_equals_plain_unet_at_init(plain_unet, make_inputs, ablation):
    model = _wrap(plain_unet, **ABLATIONS[ablation])
    args, extra = _inputs_for(model, make_inputs)
    with torch.no_grad():
        expected = plain_unet(*args).sample
        got = model(*args, **extra).sample
        bare = model(*args).sample  # every branch off
    assert got.shape == expected.shape == (2, 2, 4, 16, 16)
    assert (got - expected).abs().max().item() <= 1e-5
    assert (bare - expected).abs().max().item() <= 1e-5


def _perturb_outputs(model: InterAnimateUNet) -> None:
    """Make every zero-initialised output non-zero, so each branch changes the result."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("final_proj.weight", "proj_out.weight", "attn.to_out.weight")) and \
                    name.startswith(("pose_encoder", "region_blocks", "id_blocks")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("branch", ["pose_frames", "id_embedding", "hand_mask"])
def test_each_branch_changes_the_output_once_trained(plain_unet, make_inputs, branch):
    model = _wrap(plain_unet)
    _perturb_outputs(model)
    args, extra = make_inputs()
    with torch.no_grad():
        base = model(*args).sample
        with_branch = model(*args, **{branch: extra[branch]}).sample
    assert (with_branch - base).abs().max() > 1e-4


def test_hand_map_channels_added_to_a_trained_unet_change_nothing_until_trained(plain_unet, make_inputs):
    """``InterAnimateUNet.with_hand_map``: a trained model (every branch non-zero) given the hand map's channels
    with zero weights computes exactly what it did, whatever the map holds; once those weights move, the map
    changes the output."""
    model = _wrap(plain_unet)
    _perturb_outputs(model)
    wide = InterAnimateUNet.with_hand_map(model, 3).eval()
    assert wide.config.hand_map_channels == 3 and wide.pose_encoder.in_channels == 6
    args, extra = make_inputs()
    _, wide_extra = _inputs_for(wide, make_inputs)
    with torch.no_grad():
        before = model(*args, **extra).sample
        after = wide(*args, **wide_extra).sample
        torch.testing.assert_close(after, before, rtol=0, atol=0)
        wide.pose_encoder.convs[0].weight[:, 3:].normal_(0, 0.5)  # "training" the new input weights
        moved = wide(*args, **wide_extra).sample
    assert (moved - before).abs().max() > 1e-4
    assert InterAnimateUNet.with_hand_map(wide, 3) is wide  # already takes it


def _prior_for(args, seed: int = 3) -> torch.Tensor:
    sample = args[0]  # (B, F, 2C, h, w): noisy latents and the reference's
    b, f, c2, h, w = sample.shape
    return torch.randn(b, f, c2 // 2, h, w, generator=torch.Generator().manual_seed(seed))  # (B, F, C, h, w)


def test_hand_prior_added_to_a_trained_unet_changes_nothing_until_trained(plain_unet, make_inputs):
    """``InterAnimateUNet.with_hand_prior``: the zero convolution leaves a trained model's output exactly as it was,
    whatever the prior holds; once it moves, the prior changes the output (and only through the new weights)."""
    model = InterAnimateUNet.with_hand_map(_wrap(plain_unet), 3)
    _perturb_outputs(model)
    with_prior = InterAnimateUNet.with_hand_prior(model).eval()
    assert with_prior.config.hand_prior and not model.config.hand_prior
    args, extra = _inputs_for(model, make_inputs)
    prior = _prior_for(args)
    with torch.no_grad():
        before = model(*args, **extra).sample
        after = with_prior(*args, **extra, hand_prior=prior).sample
        torch.testing.assert_close(after, before, rtol=0, atol=0)
        with_prior.hand_prior_in.weight.normal_(0, 0.5)  # "training" the zero convolution
        moved = with_prior(*args, **extra, hand_prior=prior).sample
        other = with_prior(*args, **extra, hand_prior=-prior).sample
    assert (moved - before).abs().max() > 1e-4 and (moved - other).abs().max() > 1e-4
    assert InterAnimateUNet.with_hand_prior(with_prior) is with_prior
    assert "hand_prior_in.weight" in dict(trainable_parameter_groups(with_prior, named=True)["pose_encoder"])


def test_hand_prior_needs_the_hand_map_and_its_shape(plain_unet, make_inputs):
    with pytest.raises(ValueError, match="hand_prior needs the hand shape map"):
        _wrap(plain_unet, hand_prior=True)
    model = _wrap(plain_unet, hand_map_channels=3, hand_prior=True)
    args, extra = _inputs_for(model, make_inputs)
    with pytest.raises(ValueError, match="hand_prior must be"):
        model(*args, **extra, hand_prior=_prior_for(args)[:, :, :2])


def test_pose_frames_must_carry_the_hand_map_the_model_takes(plain_unet, make_inputs):
    model = _wrap(plain_unet, hand_map_channels=3)
    args, extra = make_inputs()  # the skeleton's 3 channels only
    with pytest.raises(ValueError, match="pose_frames must be"):
        model(*args, **extra)


def test_region_branch_is_local_to_the_mask(plain_unet, make_inputs):
    """At the first block the region contribution is zero where the mask is zero: the UNet output over a
    mask that is empty everywhere equals the bare output exactly."""
    model = _wrap(plain_unet, use_id=False, use_pose=False)
    _perturb_outputs(model)
    args, extra = make_inputs()
    empty = torch.zeros_like(extra["hand_mask"])
    with torch.no_grad():
        torch.testing.assert_close(model(*args, hand_mask=empty).sample, model(*args).sample)


def test_gradients_reach_every_new_module(plain_unet, make_inputs):
    model = _wrap(plain_unet).train()
    _perturb_outputs(model)
    args, extra = make_inputs()
    model(*args, **extra).sample.square().mean().backward()
    groups = trainable_parameter_groups(model, named=True)
    for group in ("pose_encoder", "interaction_latents", "region", "id_preserver"):
        assert groups[group], group
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for _, p in groups[group]), group


def test_gradient_checkpointing_gives_the_same_gradients(plain_unet, make_inputs):
    args, extra = make_inputs()
    grads = []
    for checkpointing in (False, True):
        model = _wrap(plain_unet).train()
        _perturb_outputs(model)
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(*args, **extra).sample.square().mean().backward()
        grads.append(model.interaction_latents.spatial.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_parameter_groups_partition_the_model(plain_unet):
    model = _wrap(plain_unet)
    groups = trainable_parameter_groups(model)
    assert set(groups) == {"unet", "pose_encoder", "interaction_latents", "region", "id_preserver"}
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert sum(p.numel() for p in groups["unet"]) == sum(p.numel() for p in plain_unet.parameters())
    off = trainable_parameter_groups(_wrap(plain_unet, use_ris=False, use_id=False))
    assert off["region"] == off["interaction_latents"] == off["id_preserver"] == []


def test_attention_processors_are_the_plain_unets(plain_unet):
    assert set(_wrap(plain_unet).attn_processors) == set(plain_unet.attn_processors)


def test_bad_conditioning_shapes_raise(plain_unet, make_inputs):
    model = _wrap(plain_unet)
    args, extra = make_inputs()
    with pytest.raises(ValueError, match="pose_frames"):
        model(*args, pose_frames=extra["pose_frames"][..., :64, :64])
    with pytest.raises(ValueError, match="hand_mask"):
        model(*args, hand_mask=extra["hand_mask"][:, 0])
    with pytest.raises(TypeError, match="not_an_option"):
        InterAnimateUNet.from_svd_unet(plain_unet, not_an_option=1)


# ---------------------------------------------------------------------------------------------- mask pooling
def _level_sizes(name: str, latent: tuple[int, int]) -> list[tuple[int, int]]:
    """The feature-map sizes of a named config's UNet levels for a latent of ``latent`` (h, w)."""
    from interanimate.models import get_model_config

    levels = len(get_model_config(name).to_kwargs()["block_out_channels"])
    sizes, (h, w) = [], latent
    for _ in range(levels):
        sizes.append((h, w))
        h, w = (h + 1) // 2, (w + 1) // 2  # diffusers' stride-2 3×3 convolutions with padding 1
    return sizes


@pytest.mark.parametrize("name, frame, factor", [("small", (64, 64), 8), ("svd-xt", (384, 640), 8),
                                                 ("svd-xt", (576, 1024), 8)])
def test_masks_keep_a_small_hand_at_every_level(name, frame, factor):
    """Max-pooling keeps a hand of a few pixels wherever it is, at every level the region blocks see; nearest-
    neighbour sampling loses it at coarse levels."""
    from interanimate.models import resize_mask

    latent = (frame[0] // factor, frame[1] // factor)
    sizes = _level_sizes(name, latent)
    assert len(sizes) >= 3
    gen = torch.Generator().manual_seed(0)
    lost_by_nearest = 0
    for _ in range(20):
        mask = torch.zeros(1, 1, 1, *frame)
        y = int(torch.randint(0, frame[0] - 3, (1,), generator=gen))
        x = int(torch.randint(0, frame[1] - 3, (1,), generator=gen))
        mask[..., y:y + 3, x:x + 3] = 1  # a 3×3-pixel hand
        for size in [latent] + sizes:
            pooled = resize_mask(mask, size)
            assert pooled.shape[-2:] == size and pooled.sum() >= 1, (size, y, x)
            assert set(pooled.unique().tolist()) <= {0.0, 1.0}
            near = torch.nn.functional.interpolate(mask.flatten(0, 1), size=size, mode="nearest")
            lost_by_nearest += int(near.sum() == 0)
    assert lost_by_nearest > 0  # the test can tell the two apart


def test_mask_resize_grows_by_nearest_and_keeps_an_equal_size():
    from interanimate.models import resize_mask

    mask = (torch.rand(2, 3, 1, 8, 8) > 0.5).float()
    assert resize_mask(mask, (8, 8)) is mask
    grown = resize_mask(mask, (16, 16))
    torch.testing.assert_close(grown[..., ::2, ::2], mask)
