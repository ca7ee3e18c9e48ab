import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from interanimate.models import (InterAnimateUNet, StrictLoadError, build_svd_unet, get_model_config,
                                 load_svd_unet)

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def svd_folder(tmp_path):
    """A tiny diffusers SVD pipeline folder with only its unet/ part."""
    torch.manual_seed(0)
    build_svd_unet("tiny").save_pretrained(tmp_path / "unet")
    return tmp_path


def _inputs(make_inputs):
    return make_inputs()


def test_svd_unet_folder_loads_strictly_and_wraps(svd_folder, make_inputs):
    unet = load_svd_unet(svd_folder)  # the pipeline root: unet/ is found
    same = load_svd_unet(svd_folder / "unet")
    args, extra = make_inputs()
    model = InterAnimateUNet.from_svd_unet(unet, **get_model_config("tiny").interanimate)
    with torch.no_grad():
        torch.testing.assert_close(unet(*args).sample, same(*args).sample, rtol=0, atol=0)
        assert (model(*args, **extra).sample - unet(*args).sample).abs().max() <= 1e-5


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_folder_with_a_missing_or_extra_key_fails_naming_it(svd_folder, change):
    path = svd_folder / "unet" / WEIGHTS
    state = load_file(path)
    if change == "missing":
        key = "down_blocks.0.attentions.0.proj_in.weight"
        del state[key]
    else:
        key = "down_blocks.0.attentions.0.not_a_weight"
        state[key] = torch.zeros(2)
    save_file(state, path)
    with pytest.raises(StrictLoadError, match=f"{change if change == 'missing' else 'unexpected'} key.*{key}"):
        load_svd_unet(svd_folder)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StrictLoadError, match="config.json"):
        load_svd_unet(tmp_path)


def test_save_pretrained_round_trip(tmp_path, make_inputs):
    torch.manual_seed(0)
    model = InterAnimateUNet(**get_model_config("tiny").with_options(use_quantize=False).to_kwargs()).eval()
    with torch.no_grad():  # trained-like: non-zero outputs, so every new module matters
        for name, p in model.named_parameters():
            if "proj_out" in name or "final_proj" in name or "to_out" in name:
                p.normal_(std=0.1)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_class_name"] == "InterAnimateUNet"
    assert config["block_out_channels"] == [32, 64] and config["use_quantize"] is False
    assert config["n_spatial_latents"] == 16 and config["tau"] == 0.1
    loaded = InterAnimateUNet.from_pretrained(tmp_path).eval()
    args, extra = make_inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(*args, **extra).sample, model(*args, **extra).sample, rtol=0, atol=0)


def test_interanimate_folder_with_missing_module_key_fails(tmp_path):
    build = InterAnimateUNet(**get_model_config("tiny").to_kwargs())
    build.save_pretrained(tmp_path)
    state = load_file(tmp_path / WEIGHTS)
    del state["interaction_latents.spatial"]
    save_file(state, tmp_path / WEIGHTS)
    with pytest.raises(StrictLoadError, match="interaction_latents.spatial"):
        InterAnimateUNet.from_pretrained(tmp_path)


def test_folder_with_the_older_0d_pose_scale_loads(tmp_path, make_inputs):
    """Folders written before the pose encoder's scale became a (1,) vector (FSDP2 shards no 0-d parameter) load
    strictly, through diffusers' loader and through ``load_state_dict``, and run the same."""
    torch.manual_seed(0)
    model = InterAnimateUNet(**get_model_config("tiny").to_kwargs()).eval()
    with torch.no_grad():
        model.pose_encoder.final_proj.weight.normal_(std=0.1)
        model.pose_encoder.scale.fill_(1.7)
    assert model.pose_encoder.scale.shape == (1,)
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / WEIGHTS)
    state["pose_encoder.scale"] = state["pose_encoder.scale"].reshape(())  # the older layout
    save_file(state, tmp_path / WEIGHTS)
    loaded = InterAnimateUNet.from_pretrained(tmp_path).eval()
    assert loaded.pose_encoder.scale.shape == (1,) and loaded.pose_encoder.scale.item() == pytest.approx(1.7)
    fresh = InterAnimateUNet(**get_model_config("tiny").to_kwargs()).eval()
    fresh.load_state_dict(state, strict=True)
    args, extra = make_inputs()
    with torch.no_grad():
        expected = model(*args, **extra).sample
        torch.testing.assert_close(loaded(*args, **extra).sample, expected, rtol=0, atol=0)
        torch.testing.assert_close(fresh(*args, **extra).sample, expected, rtol=0, atol=0)
