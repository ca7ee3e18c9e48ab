"""One way to place the video model (pipelines.placement): options checked before loading, bf16 close to fp32,
offload hooks giving the same frames, a GPU memory refusal from a stated memory, the CLI's one-line errors."""

import numpy as np
import pytest
import torch

from interanimate.cli import main
from interanimate.errors import UserError
from interanimate.pipelines.placement import (Placement, check_gpu_memory, gpu_memory_needed, load_pipeline,
                                              model_parameters, resolve_placement)

# bf16 keeps 8 bits of mantissa: the random tiny model's frames (range [-1, 1]) in bf16 stay within these of fp32's,
# mean absolute difference and largest one (measured 0.014 and 0.18 when this was written)
BF16_MEAN_TOLERANCE, BF16_MAX_TOLERANCE = 0.03, 0.35


def test_auto_is_the_cpu_in_fp32_here_and_bf16_or_fp16_on_a_gpu():
    assert resolve_placement() == Placement("cpu", "fp32", "none", 8)
    assert resolve_placement("auto", cuda_available=True, bf16_supported=True).dtype == "bf16"
    gpu = resolve_placement("auto", cuda_available=True, bf16_supported=False)
    assert (gpu.device, gpu.dtype) == ("cuda:0", "fp16")
    assert resolve_placement("cpu", "bf16").torch_dtype == torch.bfloat16


@pytest.mark.parametrize("options, message", [
    (dict(device="cuda"), "no CUDA GPU"), (dict(device="cuda:1"), "no CUDA GPU"), (dict(device="tpu"), "use auto"),
    (dict(dtype="fp16"), "needs a GPU"), (dict(offload="model"), "needs a GPU"),
    (dict(offload="sequential"), "needs a GPU"), (dict(dtype="int8"), "one of"), (dict(decode_chunk=0), "at least"),
])
def test_gpu_only_and_bad_options_are_one_line(options, message):
    with pytest.raises(UserError, match=message) as err:
        resolve_placement(**options, cuda_available=False)
    assert "\n" not in str(err.value)


def test_a_request_too_large_for_the_stated_gpu_memory_is_refused(save_tiny_pipeline, tmp_path):
    folder = save_tiny_pipeline(tmp_path / "tiny", 32)
    params = model_parameters(folder)
    assert set(params) == {"unet", "vae", "image_encoder"} and all(n > 0 for n in params.values())
    gpu = Placement("cuda:0", "bf16")
    need = gpu_memory_needed(gpu, params, 16, 576, 1024)
    assert need == sum(params.values()) * 2 + 3 * 16 * 576 * 1024 * 3 * 4
    assert gpu_memory_needed(Placement("cuda:0", "fp32"), params, 16, 576, 1024) > need  # fp32 weights are larger
    assert gpu_memory_needed(Placement("cuda:0", "bf16", "model"), params, 16, 576, 1024) < need
    with pytest.raises(UserError, match="GPU memory"):
        check_gpu_memory(gpu, folder, 16, 576, 1024, memory_bytes=need - 1)
    assert check_gpu_memory(gpu, folder, 16, 576, 1024, memory_bytes=need) == need
    assert check_gpu_memory(Placement(), folder, 16, 576, 1024, memory_bytes=1) is None  # the CPU: not this check


def _animate(pipe, size=32, frames=4):
    gen = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
    pose = torch.rand(1, frames, 3, size, size, generator=gen) * 2 - 1
    pipe.set_progress_bar_config(disable=True)
    return pipe(reference, pose, num_inference_steps=2, generator=torch.Generator().manual_seed(1),
                decode_chunk_size=3).frames.float()


def test_bf16_frames_stay_close_to_fp32s(save_tiny_pipeline, tmp_path):
    folder = save_tiny_pipeline(tmp_path / "tiny", 32)
    fp32 = _animate(load_pipeline(folder, Placement()))
    bf16_pipe = load_pipeline(folder, Placement(dtype="bf16"))
    assert bf16_pipe.unet.dtype == torch.bfloat16 and bf16_pipe.vae.dtype == torch.bfloat16
    bf16 = _animate(bf16_pipe)
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    assert (bf16 - fp32).abs().mean() < BF16_MEAN_TOLERANCE
    assert (bf16 - fp32).abs().max() < BF16_MAX_TOLERANCE
    assert not torch.equal(bf16, fp32)  # it did run in bf16


def test_model_offload_gives_the_same_frames(save_tiny_pipeline, tmp_path):
    """diffusers' model offload hooks, driven here with the CPU as the execution device (a GPU-free stand-in: the
    same hooks move each model on use), against the pipeline placed whole."""
    folder = save_tiny_pipeline(tmp_path / "tiny", 32)
    plain = _animate(load_pipeline(folder, Placement()))
    offloaded = load_pipeline(folder, Placement(offload="model"))
    assert getattr(offloaded, "_all_hooks", None) or hasattr(offloaded.unet, "_hf_hook")  # the hooks are installed
    # the same frames up to float32 rounding (largest difference measured 4.4e-5 of the [-1, 1] range)
    torch.testing.assert_close(_animate(offloaded), plain, rtol=0, atol=1e-4)


def test_animate_refuses_gpu_options_without_a_gpu_and_writes_nothing(tmp_path, capsys):
    from PIL import Image

    reference = tmp_path / "ref.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(reference)
    out = tmp_path / "out" / "x.mp4"
    for option in (["--device", "cuda"], ["--offload", "model"], ["--dtype", "fp16"]):
        assert main(["animate", "--reference", str(reference), "--synth-class", "LH-NP", "--out", str(out),
                     *option]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "GPU" in err[0], err
    assert not out.parent.exists()


def test_recipe_placement_keys_are_checked():
    from interanimate.datasets.context import recipe_placement
    from interanimate.datasets.recipe import ConfigError, DatasetRecipe, GenerationSpec

    with pytest.raises(ConfigError, match="generation.dtype"):
        DatasetRecipe(generation=GenerationSpec(dtype="int8")).validate()
    with pytest.raises(ConfigError, match="generation.device"):
        DatasetRecipe(generation=GenerationSpec(device="gpu")).validate()
    with pytest.raises(UserError, match="generation.device cuda"):
        recipe_placement(GenerationSpec(device="cuda"))
    assert recipe_placement(GenerationSpec(dtype="bf16")) == Placement("cpu", "bf16", "none", 8)
