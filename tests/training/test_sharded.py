"""FSDP2 and DeepSpeed ZeRO-2 on two CPU processes (gloo), each started with its shipped launch file (the process
count set to 2): the run updates the weights as the DDP run (``launch/ddp_8gpu.yaml``) does, a run stopped after its
first checkpoint and resumed ends bit for bit where the uninterrupted one does, and the checkpoints hold the
strategy's own sharded state beside one whole EMA file. ZeRO-2 runs where deepspeed is installed (it is not a
dependency of this package); ``sharded_on_cpu.py`` says how accelerate is brought to take its GPU path on CPUs."""

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
SHIM = Path(__file__).with_name("sharded_on_cpu.py")
# the image encoder stays frozen: under FSDP and DeepSpeed accelerate prepares one model (the trainer refuses it)
TRAINABLE = ["unet", "pose_encoder", "interaction_latents", "region", "id_preserver"]
# AdamW with eps 1 is momentum SGD (an update is lr·m / (√v + 1) ≈ lr·m for these gradients): the weights then compare
# the gradients; with eps 1e-8 the first update is ±lr for every element, whatever the gradient's size, so rounding
# noise in a near-zero gradient (summed in another order) would move a weight by up to lr. Two micro-batches per step:
# accumulation runs without the gradient sync on the first. Gradient checkpointing on, as in the paper's config
# (FSDP re-gathers the region and ID blocks, which run from forward hooks, when they are recomputed); a preview after
# step 2, so training goes on after the EMA was applied and the whole weights gathered.
CHANGES = {"max_steps": 3, "checkpoint_every": 1, "optim.lr_decay_steps": 2, "trainable": TRAINABLE,
           "optim.eps": 1.0, "optim.lr": 0.1, "gradient_accumulation_steps": 2, "gradient_checkpointing": True,
           "validate_every": 2}
LAUNCH = {"ddp": "ddp_8gpu.yaml", "fsdp": "fsdp_8gpu.yaml", "zero2": "zero2_8gpu.yaml"}


def _launch_file(tmp_path, strategy):
    config = yaml.safe_load((ROOT / "launch" / LAUNCH[strategy]).read_text())
    config["num_processes"] = 2
    path = tmp_path / LAUNCH[strategy]
    path.write_text(yaml.safe_dump(config))
    return path


def _run(args, env=None, timeout=400):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "accelerate.commands.launch", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)  # cwd: the launch files' paths


def _ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _config(tiny_data, tiny_config_dict, folder: Path, **changes) -> Path:
    path = folder.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(tiny_config_dict(tiny_data, folder, **{**CHANGES, **changes})))
    return path


def _unet(run):
    return load_file(run / "final" / "unet" / "diffusion_pytorch_model.safetensors")


@pytest.fixture(scope="module")
def ddp_and_initial(tiny_data, tiny_config_dict, tmp_path_factory):
    """The DDP run's final (EMA) UNet, and the initial weights, built as the trainer builds them."""
    tmp = tmp_path_factory.mktemp("ddp")
    _ok(_run(["--config_file", _launch_file(tmp, "ddp"), "-m", "interanimate", "train", "--config",
              _config(tiny_data, tiny_config_dict, tmp / "run")]))
    init = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp / "init", **CHANGES)))
    init.build_data()
    init.build_models()
    return _unet(tmp / "run"), init.unet.state_dict()


def _check_checkpoint(strategy: str, checkpoint: Path) -> None:
    if strategy == "fsdp":  # accelerate's DCP folders: one file per process
        assert sorted(p.name for p in (checkpoint / "pytorch_model_fsdp_0").glob("*.distcp")) == \
            ["__0_0.distcp", "__1_0.distcp"]
        assert (checkpoint / "optimizer_0").is_dir()
    else:  # DeepSpeed's: the model once, the fp32 masters and AdamW moments partitioned per process
        names = {p.name for p in (checkpoint / "pytorch_model").iterdir()}
        assert {"mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
                "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= names, names
    assert not (checkpoint / "model.safetensors").exists()


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("strategy", ["fsdp", "zero2"])
def test_sharded_run_matches_ddp_and_resumes_exactly(strategy, ddp_and_initial, tiny_data, tiny_config_dict,
                                                     tmp_path):
    env = {}
    if strategy == "zero2":
        pytest.importorskip("deepspeed")
        env = {"DS_ACCELERATOR": "cpu"}
    launch = _launch_file(tmp_path, strategy)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _ok(_run(["--config_file", launch, SHIM, strategy, _config(tiny_data, tiny_config_dict, straight)], env))
    config = _config(tiny_data, tiny_config_dict, resumed)
    _ok(_run(["--config_file", launch, SHIM, strategy, config, "--stop-at", "1"], env))  # "killed" after step 1
    assert [p.name for p in list_checkpoints(resumed)] == ["step-00000001"]
    _ok(_run(["--config_file", launch, SHIM, strategy, config, "--resume", "latest"], env))

    last = list_checkpoints(straight)[-1]
    _check_checkpoint(strategy, last)
    ema = load_file(last / "ema.safetensors")
    assert ema["unet.pose_encoder.scale"].shape == (1,) and len(ema) > 100

    ddp, start = ddp_and_initial
    b, c = _unet(straight), _unet(resumed)
    assert set(ddp) == set(b) == set(c)
    assert all(torch.equal(b[k], c[k]) for k in b), "the resumed run differs from the uninterrupted one"
    # final/ holds the EMA of step 3 (under FSDP gathered from the shards) ...
    assert all(torch.equal(b[k], ema["unet." + k]) for k in b if "unet." + k in ema)
    # ... which moved since step 1 ...
    first = load_file(list_checkpoints(straight)[0] / "ema.safetensors")
    assert any(not torch.equal(first[k], ema[k]) for k in ema)
    # ... as DDP's did, up to the order in which the gradients are summed
    moved_ddp = torch.cat([(ddp[k] - start[k]).flatten() for k in ddp])
    moved = torch.cat([(b[k] - start[k]).flatten() for k in ddp])
    gap = (moved - moved_ddp).abs().max() / moved_ddp.abs().max()
    assert moved_ddp.abs().max() > 1e-3 and gap < 1e-3, f"{strategy}'s updates differ from DDP's by {gap:.2e}"
    assert (straight / "validation" / "step-00000002.png").is_file()
    assert (straight / "validation" / "step-00000003.png").is_file()
    assert (resumed / "final" / "model_index.json").is_file()


@pytest.mark.parametrize("strategy", ["fsdp", "zero2"])
def test_sharded_strategies_refuse_to_train_the_image_encoder(strategy, tiny_data, tiny_config_dict, tmp_path):
    env = {}
    if strategy == "zero2":
        pytest.importorskip("deepspeed")
        env = {"DS_ACCELERATOR": "cpu"}
    config = _config(tiny_data, tiny_config_dict, tmp_path / "run",
                     trainable=TRAINABLE + ["image_encoder"], max_steps=1, **{"optim.lr_decay_steps": 0})
    result = _run(["--config_file", _launch_file(tmp_path, strategy), SHIM, strategy, config], env)
    assert result.returncode != 0 and "image_encoder cannot train under" in result.stdout, result.stdout[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "first_stage").exists()


WAN = {"model.backbone": "wan", "data.num_frames": 5, "max_steps": 2, "checkpoint_every": 1,
       "model.wan": {"transformer": "wan-animate-tiny", "overrides": {"id_embed_dim": 16}, "lora_rank": 4},
       "trainable": ["lora", "interaction_latents", "region", "id_preserver"], "gradient_checkpointing": True,
       "validate_every": 0}


@pytest.mark.timeout(1200)
def test_fsdp2_wraps_the_wan_blocks_and_resumes_exactly(tiny_data, tiny_config_dict, tmp_path):
    """The Wan backbone under the shipped launch/fsdp_wan_8gpu.yaml (2 CPU processes): LoRA and the added modules
    train inside the sharded Wan blocks; a run stopped after step 1 and resumed ends where the straight one does; the
    export (gathered, LoRA merged) is a plain InterAnimate Wan folder."""
    launch = tmp_path / "fsdp_wan.yaml"
    config = yaml.safe_load((ROOT / "launch" / "fsdp_wan_8gpu.yaml").read_text())
    launch.write_text(yaml.safe_dump({**config, "num_processes": 2}))
    runs = {}
    for name in ("straight", "resumed"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(tiny_config_dict(tiny_data, tmp_path / name, **{**CHANGES, **WAN})))
        runs[name] = path
    _ok(_run(["--config_file", launch, SHIM, "fsdp", runs["straight"]]))
    _ok(_run(["--config_file", launch, SHIM, "fsdp", runs["resumed"], "--stop-at", "1"]))
    _ok(_run(["--config_file", launch, SHIM, "fsdp", runs["resumed"], "--resume", "latest"]))
    _check_checkpoint("fsdp", list_checkpoints(tmp_path / "straight")[-1])
    a, b = (load_file(tmp_path / n / "final" / "transformer" / "diffusion_pytorch_model.safetensors")
            for n in ("straight", "resumed"))
    assert set(a) == set(b) and not any("lora" in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run differs from the uninterrupted one"
    ema = load_file(list_checkpoints(tmp_path / "straight")[-1] / "ema.safetensors")
    assert any(".lora_B." in k for k in ema) and any(k.startswith("unet.region_blocks.") for k in ema)
    first = load_file(list_checkpoints(tmp_path / "straight")[0] / "ema.safetensors")
    assert any(not torch.equal(first[k], ema[k]) for k in ema)
