"""Every component of a pipeline folder loads strictly: a weight key removed or added, or a scheduler config key
removed or added, is one error that names the key (diffusers and transformers only warn and fill random weights)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from interanimate.models.loading import StrictLoadError
from interanimate.pipelines import bundled_model_dir
from interanimate.pipelines.pipeline import InterAnimatePipeline

WEIGHTS = {"unet": "diffusion_pytorch_model.safetensors", "vae": "diffusion_pytorch_model.safetensors",
           "image_encoder": "model.safetensors"}


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), folder)
    return folder


def test_the_bundled_folder_loads(model):
    pipe = InterAnimatePipeline.from_pretrained(model, torch_dtype=torch.float32)
    assert pipe.unet is not None and pipe.vae is not None and pipe.image_encoder is not None


@pytest.mark.parametrize("component", sorted(WEIGHTS))
@pytest.mark.parametrize("change", ["removed", "added"])
def test_a_weight_key_removed_or_added_names_it(model, component, change):
    path = model / component / WEIGHTS[component]
    state = load_file(path)
    if change == "removed":
        key = sorted(state)[len(state) // 2]
        del state[key]
    else:
        key = "interloper.weight"
        state[key] = torch.zeros(3)
    save_file(state, str(path), metadata={"format": "pt"})
    with pytest.raises(StrictLoadError) as err:
        InterAnimatePipeline.from_pretrained(model, torch_dtype=torch.float32)
    message = str(err.value)
    assert key in message and ("missing" if change == "removed" else "unexpected") in message
    assert "\n" not in message


@pytest.mark.parametrize("change", ["removed", "added"])
def test_a_scheduler_config_key_removed_or_added_names_it(model, change):
    path = model / "scheduler" / "scheduler_config.json"
    config = json.loads(path.read_text())
    if change == "removed":
        key = "prediction_type"
        del config[key]
    else:
        key = "sigma_maxx"
        config[key] = 1.0
    path.write_text(json.dumps(config))
    with pytest.raises(StrictLoadError) as err:
        InterAnimatePipeline.from_pretrained(model, torch_dtype=torch.float32)
    assert key in str(err.value) and ("missing" if change == "removed" else "unexpected") in str(err.value)


def test_a_mis_shaped_weight_names_it(model):
    path = model / "vae" / WEIGHTS["vae"]
    state = load_file(path)
    key = sorted(state)[0]
    state[key] = torch.zeros(*[s + 1 for s in state[key].shape])
    save_file(state, str(path), metadata={"format": "pt"})
    with pytest.raises(StrictLoadError) as err:
        InterAnimatePipeline.from_pretrained(model, torch_dtype=torch.float32)
    assert key in str(err.value)
