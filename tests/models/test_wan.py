"""InterAnimateWanTransformer (tiny, CPU): equal to diffusers' Wan transformer at initialisation, the branches act
once trained, strict loading, the hooks' placement, mask checks."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from interanimate.models.loading import StrictLoadError
from interanimate.models.wan import InterAnimateWanTransformer

TINY = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
            text_dim=24, freq_dim=32, ffn_dim=64, num_layers=4, rope_max_seq_len=64)
EXTRA = dict(region_every=2, n_spatial_latents=8, n_temporal_latents=8, latent_dim=16, branch_dim=32,
             branch_head_dim=16, id_embed_dim=12, num_id_tokens=2)


def _inputs(b=2, f=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 4, f, h, w, generator=g)  # (B, C, F', H', W') latents
    t = torch.tensor([10.0, 500.0][:b])
    text = torch.randn(b, 5, 24, generator=g)  # (B, L, text_dim)
    hand = (torch.rand(b, f, 1, 16, 16, generator=g) > 0.7).float()  # per latent frame, any size
    face = (torch.rand(b, f, 1, 16, 16, generator=g) > 0.5).float()
    ident = torch.randn(b, 12, generator=g)
    return x, t, text, hand, face, ident


def _pair():
    torch.manual_seed(0)
    base = WanTransformer3DModel(**TINY).eval()
    return base, InterAnimateWanTransformer.from_wan(base, **EXTRA).eval()


def test_equals_diffusers_wan_at_initialisation():
    base, model = _pair()
    x, t, text, hand, face, ident = _inputs()
    with torch.no_grad():
        want = base(x, t, text).sample
        got = model(x, t, text, hand_mask=hand, face_mask=face, id_embedding=ident).sample
        plain = model(x, t, text).sample
    assert got.shape == want.shape == x.shape
    assert (got - want).abs().max().item() <= 1e-6
    assert (plain - want).abs().max().item() <= 1e-6
    assert sorted(model.region_blocks) == ["1", "3"] and sorted(model.id_blocks) == ["1", "3"]


def test_trained_branches_change_the_output_only_through_their_inputs():
    base, model = _pair()
    with torch.no_grad():
        for block in model.region_blocks.values():
            torch.nn.init.normal_(block.proj_out.weight, std=0.2)
        for block in model.id_blocks.values():
            torch.nn.init.normal_(block.attn.to_out.weight, std=0.2)
    x, t, text, hand, face, ident = _inputs()
    with torch.no_grad():
        want = base(x, t, text).sample
        masked = model(x, t, text, hand_mask=hand, face_mask=face).sample
        empty = model(x, t, text, hand_mask=torch.zeros_like(hand), face_mask=torch.zeros_like(face)).sample
        with_id = model(x, t, text, id_embedding=ident).sample
    assert (masked - want).abs().max() > 1e-4  # the region branch acts inside hand ∪ face …
    assert (empty - want).abs().max().item() <= 1e-6  # … and nowhere when the mask is empty
    assert (with_id - want).abs().max() > 1e-4


def test_a_training_step_reaches_the_new_modules():
    _, model = _pair()
    model.train()
    x, t, text, hand, face, ident = _inputs()
    out = model(x, t, text, hand_mask=hand, face_mask=face, id_embedding=ident).sample
    out.pow(2).mean().backward()
    assert model.region_blocks["1"].proj_out.weight.grad.abs().sum() > 0  # zero-init out: its grad is not zero
    assert model.id_blocks["3"].attn.to_out.weight.grad.abs().sum() > 0


def test_strict_loading_round_trip_and_key_errors(tmp_path):
    _, model = _pair()
    model.save_pretrained(tmp_path / "m")
    loaded = InterAnimateWanTransformer.from_pretrained(tmp_path / "m")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    # a plain Wan folder is not an InterAnimate one: the new modules' keys are named missing
    base = WanTransformer3DModel(**{**TINY, "num_layers": 5})  # 5 blocks: the default region_every (5) fits
    base.save_pretrained(tmp_path / "plain")
    with pytest.raises(StrictLoadError, match="missing key"):
        InterAnimateWanTransformer.from_pretrained(tmp_path / "plain")
    with pytest.raises(TypeError, match="unknown InterAnimate option"):
        InterAnimateWanTransformer.from_wan(base, regon_every=2)


def test_masks_must_be_per_latent_frame():
    _, model = _pair()
    x, t, text, hand, face, _ = _inputs()
    with pytest.raises(ValueError, match="latent frame"):
        model(x, t, text, hand_mask=hand[:, :2], face_mask=face[:, :2])


def test_gradient_checkpointing_recomputes_the_branches_with_this_calls_masks():
    """Under checkpointing the hooks run again in the backward pass; the gradients equal those without it."""
    from interanimate.models.wan_configs import build_wan

    torch.manual_seed(0)
    model = build_wan("wan-animate-tiny").train()
    with torch.no_grad():
        for block in model.region_blocks.values():
            torch.nn.init.normal_(block.proj_out.weight, std=0.2)
    g = torch.Generator().manual_seed(0)
    kwargs = dict(hidden_states=torch.randn(1, 36, 3, 8, 8, generator=g), timestep=torch.tensor([300.0]),
                  encoder_hidden_states=torch.randn(1, 4, 32, generator=g),
                  encoder_hidden_states_image=torch.randn(1, 6, 32, generator=g),
                  pose_hidden_states=torch.randn(1, 16, 2, 8, 8, generator=g),
                  face_pixel_values=torch.randn(1, 3, 5, 32, 32, generator=g),
                  hand_mask=(torch.rand(1, 3, 1, 8, 8, generator=g) > 0.5).float(),
                  id_embedding=torch.randn(1, 128, generator=g))
    grads = []
    for checkpointing in (False, True):
        model.zero_grad()
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(**kwargs).sample.pow(2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any(k.startswith("region_blocks.") for k in grads[0])
    assert all(torch.allclose(grads[0][k], grads[1][k], atol=1e-6, rtol=1e-4) for k in grads[0])


def test_the_wan_animate_variant_equals_diffusers_wan_animate_at_initialisation():
    from interanimate.models.wan import InterAnimateWanAnimateTransformer
    from interanimate.models.wan_configs import build_wan_base, get_wan_config

    torch.manual_seed(0)
    base = build_wan_base("wan-animate-tiny").eval()
    model = InterAnimateWanAnimateTransformer.from_wan(base, **get_wan_config("wan-animate-tiny").interanimate).eval()
    g = torch.Generator().manual_seed(0)
    args = dict(hidden_states=torch.randn(2, 36, 3, 8, 8, generator=g), timestep=torch.tensor([20.0, 700.0]),
                encoder_hidden_states=torch.randn(2, 4, 32, generator=g),
                encoder_hidden_states_image=torch.randn(2, 6, 32, generator=g),
                pose_hidden_states=torch.randn(2, 16, 2, 8, 8, generator=g),
                face_pixel_values=torch.randn(2, 3, 5, 32, 32, generator=g))
    extra = dict(hand_mask=(torch.rand(2, 3, 1, 16, 16, generator=g) > 0.6).float(),
                 face_mask=(torch.rand(2, 3, 1, 16, 16, generator=g) > 0.4).float(),
                 id_embedding=torch.randn(2, 128, generator=g))
    with torch.no_grad():
        want = base(**args).sample
        got = model(**args, **extra).sample
    assert got.shape == (2, 16, 3, 8, 8)
    assert (got - want).abs().max().item() <= 1e-6
    assert sorted(model.region_blocks) == ["1", "3"]  # region_every 2 of 4 blocks; the face adapter after 0 and 2
    with pytest.raises(TypeError, match="takes a WanAnimateTransformer3DModel"):
        InterAnimateWanAnimateTransformer.from_wan(WanTransformer3DModel(**TINY))
