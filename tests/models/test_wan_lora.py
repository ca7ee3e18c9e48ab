"""LoRA on the Wan-Animate backbone (tiny, CPU): only the base blocks' attention is wrapped, zero change at start,
the merged copy equals the adapted model and saves/loads strictly as a plain model, fuse/unfuse and disabling."""

import sys

import pytest
import torch

from interanimate.errors import UserError
from interanimate.models.wan import InterAnimateWanAnimateTransformer
from interanimate.models.wan_configs import build_wan, get_wan_config
from interanimate.models.wan_lora import add_base_lora, has_lora, lora_named_parameters, merged_copy

OWN_PREFIXES = ("region_blocks", "id_blocks", "interaction_latents", "id_projector", "face_adapter",
                "motion_encoder", "face_encoder")


def _inputs(b=2, f=2, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(
        hidden_states=torch.randn(b, 36, f + 1, 8, 8, generator=g),  # (B, C, F'+1, H', W'): reference frame first
        timestep=torch.tensor([10.0, 500.0][:b]),
        encoder_hidden_states=torch.randn(b, 4, 32, generator=g),  # (B, L, text_dim)
        encoder_hidden_states_image=torch.randn(b, 6, 32, generator=g),  # (B, L_img, image_dim)
        pose_hidden_states=torch.randn(b, 16, f, 8, 8, generator=g),
        face_pixel_values=torch.rand(b, 3, 4 * f - 3, 32, 32, generator=g) * 2 - 1,
        hand_mask=(torch.rand(b, f + 1, 1, 16, 16, generator=g) > 0.6).float(),
        face_mask=(torch.rand(b, f + 1, 1, 16, 16, generator=g) > 0.6).float(),
        id_embedding=torch.randn(b, get_wan_config("wan-animate-tiny").interanimate["id_embed_dim"], generator=g),
    )


def _model() -> InterAnimateWanAnimateTransformer:
    """The tiny model with *trained-looking* InterAnimate branches, so that a copy whose hooks still pointed at the
    original (and its per-call context) would give a different output."""
    torch.manual_seed(0)
    model = build_wan("wan-animate-tiny").eval()
    with torch.no_grad():
        for block in model.region_blocks.values():
            torch.nn.init.normal_(block.proj_out.weight, std=0.2)
        for block in model.id_blocks.values():
            torch.nn.init.normal_(block.attn.to_out.weight, std=0.2)
    return model


def _run(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).sample


def _randomise_lora_b(model, std=0.1) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in lora_named_parameters(model):
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * std)


def test_adding_lora_changes_nothing_and_wraps_only_base_attention():
    model, inputs = _model(), _inputs()
    want = _run(model, inputs)
    assert not has_lora(model)
    names = add_base_lora(model, rank=4)
    assert has_lora(model)
    assert (_run(model, inputs) - want).abs().max().item() <= 1e-6
    targets = ("to_q", "to_k", "to_v", "to_out.0")
    assert names == [f"blocks.{i}.attn{a}.{t}" for i in range(4) for a in (1, 2) for t in targets]
    assert not any(n.startswith(OWN_PREFIXES) for n in names)
    assert not any("lora_" in n for n, _ in model.named_parameters() if n.startswith(OWN_PREFIXES))
    params = lora_named_parameters(model)
    assert len(params) == 2 * len(names) and params[0][0] == "blocks.0.attn1.to_q.lora_A.interanimate.weight"
    assert params[0][1].shape == (4, 32) and params[1][1].shape == (32, 4)
    assert model.peft_config["interanimate"].lora_alpha == 4.0  # alpha None → rank

    other = _model()
    names = add_base_lora(other, rank=2, alpha=8, targets=("to_k", "to_out.0"), adapter_name="x")
    assert names == [f"blocks.{i}.attn{a}.{t}" for i in range(4) for a in (1, 2) for t in ("to_k", "to_out.0")]
    assert other.peft_config["x"].lora_alpha == 8.0


def test_merged_copy_equals_adapted_model_and_loads_as_a_plain_model(tmp_path):
    model, inputs = _model(), _inputs()
    base = _run(model, inputs)
    add_base_lora(model, rank=4)
    _randomise_lora_b(model)
    adapted = _run(model, inputs)
    assert (adapted - base).abs().max() > 1e-3

    merged = merged_copy(model)
    assert not has_lora(merged) and has_lora(model)
    assert list(merged.state_dict()) == list(build_wan("wan-animate-tiny").state_dict())
    assert (_run(merged, inputs) - adapted).abs().max().item() <= 1e-5
    assert (_run(model, inputs) - adapted).abs().max().item() <= 1e-6  # the original keeps its (unmerged) adapter

    merged.save_pretrained(tmp_path / "t")
    loaded = InterAnimateWanAnimateTransformer.from_pretrained(tmp_path / "t").eval()  # strict
    assert not has_lora(loaded)
    assert (_run(loaded, inputs) - _run(merged, inputs)).abs().max().item() <= 1e-6


def test_fuse_unfuse_and_disable():
    model, inputs = _model(), _inputs()
    base = _run(model, inputs)
    add_base_lora(model, rank=4)
    _randomise_lora_b(model)
    adapted = _run(model, inputs)

    model.fuse_lora()  # peft's merge() on every LoRA layer
    assert (_run(model, inputs) - adapted).abs().max().item() <= 1e-5
    model.unfuse_lora()
    assert (_run(model, inputs) - adapted).abs().max().item() <= 1e-5

    model.disable_adapters()
    assert (_run(model, inputs) - base).abs().max().item() <= 1e-6
    model.enable_adapters()
    assert (_run(model, inputs) - adapted).abs().max().item() <= 1e-6


def test_lora_trains_and_bad_arguments_raise(monkeypatch):
    model, inputs = _model(), _inputs()
    add_base_lora(model, rank=2)
    model.train().requires_grad_(False)
    lora = dict(lora_named_parameters(model))
    for p in lora.values():
        p.requires_grad_(True)
    model(**inputs).sample.pow(2).mean().backward()
    for name, p in lora.items():
        if "lora_B" in name:  # B = 0 at start: its gradient is not zero (A's is)
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for n, p in model.named_parameters() if n not in lora)

    fresh = _model()
    with pytest.raises(ValueError, match="rank"):
        add_base_lora(fresh, rank=0)
    with pytest.raises(ValueError, match="match no"):
        add_base_lora(fresh, rank=2, targets=("proj_in",))  # region_blocks' name: not a base attention layer
    with pytest.raises(ValueError, match="non-Linear"):
        add_base_lora(fresh, rank=2, targets=("to_out",))  # the ModuleList, not its Linear to_out.0
    assert not has_lora(fresh)
    monkeypatch.setitem(sys.modules, "peft", None)  # as if peft were not installed
    with pytest.raises(UserError, match="needs peft"):
        add_base_lora(fresh, rank=2)
