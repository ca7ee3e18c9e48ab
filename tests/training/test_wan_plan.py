"""The Wan2.2-Animate-14B recipe: its config loads, ``interanimate train --dry-run`` prints the transformer's parameter
counts (checked here against counts taken independently on the meta device) and the traced memory plan per GPU, and
the tracer agrees with a measured CPU peak of the same step."""

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from interanimate.cli import main
from interanimate.training.config import ConfigError, check_placeholders, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "train_wan_animate_14b.yaml"
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TOLERANCE = 0.10  # traced vs measured activations (measured here: within +5%)


def _meta(name: str, **overrides):
    from interanimate.models.wan_configs import build_wan

    with torch.device("meta"):
        return build_wan(name, **overrides)


def _lora_by_shapes(model: nn.Module, rank: int) -> int:
    """rank·(in + out) over the Linear layers blocks.N.attn1/attn2.<target>, written out here on its own."""
    total = 0
    for block in model.blocks:
        for attn in (block.attn1, block.attn2):
            for layer in (attn.to_q, attn.to_k, attn.to_v, attn.to_out[0]):
                total += rank * (layer.in_features + layer.out_features)
    return total


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", "--config", str(CONFIG), "--dry-run",
                     "--set", f"output_dir={tmp_path_factory.mktemp('wan') / 'run'}"])  # not into the checkout
    assert code == 0
    return out.getvalue()


def _count(text: str, label: str) -> int:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+)", text, re.M)
    assert match, f"no line '{label}' in the dry run's output:\n{text}"
    return int(match.group(1).replace(",", ""))


def test_14b_config_loads_and_keeps_its_placeholders():
    config = load_config(CONFIG)
    assert config.model.backbone == "wan" and config.model.wan.transformer == "wan2.2-animate-14b"
    assert config.data.num_frames == 77 and config.data.size == [480, 832] and config.model.wan.lora_rank == 64
    assert config.trainable == ["lora", "interaction_latents", "region", "id_preserver"]
    assert config.mixed_precision == "bf16" and config.gradient_checkpointing and config.batch_size == 1
    with pytest.raises(ConfigError, match="WAN_ANIMATE_14B"):
        check_placeholders(config)


def test_dry_run_prints_the_base_and_each_module(dry_run):
    model = _meta("wan2.2-animate-14b")

    def numel(*prefixes):
        return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefixes))

    assert _count(dry_run, "Wan-Animate base") > 14e9
    assert _count(dry_run, "blocks") == numel("blocks.")
    for part in ("pose_patch_embedding", "motion_encoder", "face_encoder", "face_adapter"):
        assert _count(dry_run, part) == numel(part + ".")
    assert _count(dry_run, "interaction_latents") == numel("interaction_latents.")
    assert _count(dry_run, "region_blocks") == numel("region_blocks.")
    assert _count(dry_run, "id_projector + id_blocks") == numel("id_projector.", "id_blocks.")
    new = numel("interaction_latents.", "region_blocks.", "id_projector.", "id_blocks.")
    assert _count(dry_run, "Wan-Animate base") == sum(p.numel() for p in model.parameters()) - new
    assert "no training step runs here" in dry_run and "configs/train_wan_tiny.yaml" in dry_run


def test_dry_run_lora_count_is_rank_times_in_plus_out(dry_run):
    lora = int(re.search(r"LoRA rank 64 .*: ([\d,]+)$", dry_run, re.M).group(1).replace(",", ""))
    assert lora == _lora_by_shapes(_meta("wan2.2-animate-14b"), 64)


def test_lora_count_on_a_tiny_model_matches_peft():
    """The plan's count from shapes = the same sum written out here = the parameters peft actually adds."""
    from interanimate.models.wan_lora import add_base_lora
    from interanimate.training.wan_plan import count_parameters

    config = load_config(CONFIG, ["model.wan.transformer=wan-animate-tiny", "model.wan.lora_rank=4"])
    counted = count_parameters(config).lora
    assert counted == _lora_by_shapes(_meta("wan-animate-tiny"), 4)
    model = _meta("wan-animate-tiny")
    add_base_lora(model, 4, targets=TARGETS)
    assert counted == sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)


def test_report_reads_a_saved_folder(tmp_path):
    """``model.wan.transformer`` naming a folder: the counts are those of the model saved there."""
    from interanimate.models.wan_configs import build_wan
    from interanimate.training.wan_plan import count_parameters, wan_parameter_report

    model = build_wan("wan-animate-tiny", num_layers=2, region_every=2)
    model.save_pretrained(tmp_path / "transformer")
    config = load_config(CONFIG, [f"model.wan.transformer={tmp_path / 'transformer'}", "model.wan.lora_rank=2"])
    counts = count_parameters(config)
    assert counts.num_layers == 2 and counts.base + counts.added == sum(p.numel() for p in model.parameters())
    assert counts.lora == _lora_by_shapes(model, 2)
    assert any(line.startswith("transformer: ") and "(2 blocks)" in line for line in wan_parameter_report(config))


def test_dry_run_prints_the_per_gpu_plan(dry_run):
    peaks = {}
    for size in ("480p", "720p"):
        for strategy in ("DDP", "FSDP"):
            row = re.search(rf"^{size} \d+x\d+\s+{strategy}\s+([\d.\s]+?)\s+(yes|no),", dry_run, re.M)
            assert row, f"no {size} {strategy} row in:\n{dry_run}"
            figures = [float(v) for v in row.group(1).split()]
            assert len(figures) == 8 and abs(sum(figures[:7]) - figures[7]) <= 0.05 * 8 + 1e-9  # columns add up (each rounded to 0.1)
            peaks[size, strategy] = figures[7]
    for size in ("480p", "720p"):
        assert peaks[size, "FSDP"] < peaks[size, "DDP"]
    for strategy in ("DDP", "FSDP"):
        assert peaks["720p", strategy] > peaks["480p", strategy]
    assert "32,760 video tokens" in dry_run and "75,600 video tokens" in dry_run  # 21 × 30 × 52, 21 × 45 × 80
    assert "published: " in dry_run and "https://github.com/Wan-Video/Wan2.2" in dry_run


def test_traced_activations_agree_with_a_measured_cpu_peak():
    from interanimate.training.wan_memory_check import check_tracer

    estimated, measured, lines = check_tracer(str(CONFIG))
    print("\n".join(lines))
    assert abs(measured / estimated - 1) < TOLERANCE, lines


def test_fsdp_launch_file_wraps_classes_the_model_has():
    from interanimate.training.wan_memory import FSDP_WRAPPED

    launch = yaml.safe_load((ROOT / "launch" / "fsdp_wan_8gpu.yaml").read_text())
    wrapped = launch["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"].split(",")
    assert launch["fsdp_config"]["fsdp_version"] == 2 and launch["num_processes"] == 8
    assert tuple(wrapped) == FSDP_WRAPPED  # the plan's working set follows the launch file
    present = {type(m).__name__ for m in _meta("wan2.2-animate-14b").modules()}
    assert set(wrapped) <= present


def test_gpu_step_script_runs_help():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wan_gpu_step.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "wan-animate-1.3b" in out.stdout and "--frames" in out.stdout


def test_a_config_that_fits_runs_one_real_step_in_its_dry_run(tmp_path):
    """configs/train_wan_tiny.yaml: small enough for this machine, so the dry run steps the trainer's own code and
    plans at the config's own size."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", "--config", str(ROOT / "configs" / "train_wan_tiny.yaml"), "--dry-run",
                     "--set", f"output_dir={tmp_path / 'run'}", "--set", f"data.root={tmp_path / 'data'}"])
    text = out.getvalue()
    assert code == 0 and not (tmp_path / "run").exists() and not (tmp_path / "data").exists()
    loss = re.search(r"one training step on this CPU .*: loss ([\d.]+)", text)
    assert loss and 0 < float(loss.group(1)) < 100, text
    assert "config 32x32    DDP" in text and "480p" not in text
