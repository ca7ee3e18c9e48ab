"""FSDP2 on two CPU processes (gloo), started with the shipped ``launch/fsdp_8gpu.yaml`` (its process count set to 2):
the sharded run trains what the DDP run (``launch/ddp_8gpu.yaml``) trains, a run killed after its first checkpoint
and resumed ends where the uninterrupted one does, and the checkpoints are sharded (DCP) with one whole EMA file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from interanimate.training.config import config_from_dict
from interanimate.training.trainer import Trainer, list_checkpoints

ROOT = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).with_name("fsdp_on_cpu.py")
# the image encoder stays frozen: accelerate's FSDP2 shards one model (the trainer refuses to train it under FSDP)
TRAINABLE = ["unet", "pose_encoder", "interaction_latents", "region", "id_preserver"]


def _launch_file(tmp_path, name):
    config = yaml.safe_load((ROOT / "launch" / name).read_text())
    config["num_processes"] = 2
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def _run(args, timeout=400):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return result


def _ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _unet(run):
    return load_file(run / "final" / "unet" / "diffusion_pytorch_model.safetensors")


@pytest.mark.timeout(1200)
def test_fsdp_matches_ddp_and_resumes_exactly(tiny_data, tiny_config_dict, tmp_path):
    # AdamW with eps 1 is momentum SGD (an update is lr·m / (√v + 1) ≈ lr·m for these gradients): the weights then
    # compare the gradients; with eps 1e-8 the first update is ±lr for every element, whatever the gradient's size,
    # so rounding noise in a near-zero gradient (summed in another order) would move a weight by up to lr
    # two micro-batches per step: accumulation runs without FSDP's gradient sync on the first
    changes = {"max_steps": 3, "checkpoint_every": 1, "optim.lr_decay_steps": 2, "trainable": TRAINABLE,
               "optim.eps": 1.0, "optim.lr": 0.1, "gradient_accumulation_steps": 2}
    configs = {}
    for name in ("ddp", "fsdp", "fsdp_resumed"):
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(tiny_config_dict(tiny_data, tmp_path / name, **changes)))
    ddp, fsdp = _launch_file(tmp_path, "ddp_8gpu.yaml"), _launch_file(tmp_path, "fsdp_8gpu.yaml")

    _ok(_run(["--config_file", ddp, "-m", "interanimate", "train", "--config", configs["ddp"]]))
    _ok(_run(["--config_file", fsdp, SHIM, configs["fsdp"]]))
    _ok(_run(["--config_file", fsdp, SHIM, configs["fsdp_resumed"], "--stop-at", "1"]))  # "killed" after step 1
    assert [p.name for p in list_checkpoints(tmp_path / "fsdp_resumed")] == ["step-00000001"]
    _ok(_run(["--config_file", fsdp, SHIM, configs["fsdp_resumed"], "--resume", "latest"]))

    # sharded checkpoints: the model and AdamW state as DCP shards (one file per process), the EMA whole
    last = list_checkpoints(tmp_path / "fsdp")[-1]
    assert sorted(p.name for p in (last / "pytorch_model_fsdp_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert (last / "optimizer_0").is_dir() and not (last / "model.safetensors").exists()
    ema = load_file(last / "ema.safetensors")
    assert ema["unet.pose_encoder.scale"].shape == (1,)

    a, b, c = _unet(tmp_path / "ddp"), _unet(tmp_path / "fsdp"), _unet(tmp_path / "fsdp_resumed")
    assert set(a) == set(b) == set(c)
    assert all(torch.equal(b[k], c[k]) for k in b), "the resumed FSDP run differs from the uninterrupted one"
    # final/ holds the EMA of step 3, gathered from the shards ...
    assert all(torch.equal(b[k], ema["unet." + k]) for k in b if "unet." + k in ema) and len(ema) > 100
    # ... which moved since step 1 ...
    first = load_file(list_checkpoints(tmp_path / "fsdp")[0] / "ema.safetensors")
    assert any(not torch.equal(first[k], ema[k]) for k in ema)
    # ... and is DDP's up to the order in which the gradients are summed: the updates (from the initial weights,
    # built here as the trainer builds them) agree
    init = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "init", **changes)))
    init.build_data()
    init.build_models()
    start = init.unet.state_dict()
    moved_ddp = torch.cat([(a[k] - start[k]).flatten() for k in a])
    moved_fsdp = torch.cat([(b[k] - start[k]).flatten() for k in a])
    gap = (moved_fsdp - moved_ddp).abs().max() / moved_ddp.abs().max()
    assert moved_ddp.abs().max() > 1e-3 and gap < 1e-3, f"FSDP's updates differ from DDP's by {gap:.2e} (relative)"
    assert (tmp_path / "fsdp" / "validation" / "step-00000003.png").is_file()
    assert (tmp_path / "fsdp_resumed" / "final" / "model_index.json").is_file()


def test_fsdp_refuses_to_train_the_image_encoder(tiny_data, tiny_config_dict, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(tiny_data, tmp_path / "run", max_steps=1)))
    result = _run(["--config_file", _launch_file(tmp_path, "fsdp_8gpu.yaml"), SHIM, config])
    assert result.returncode != 0 and "image_encoder cannot train under FSDP" in result.stdout
    assert not (tmp_path / "run" / "checkpoints").exists()
