"""Checks of the Wan memory plan (:mod:`interanimate.training.wan_memory`), and its command line::

    python -m interanimate.training.wan_memory_check --config configs/train_wan_animate_14b.yaml          # the plan
    python -m interanimate.training.wan_memory_check --config ... --full                 # every block traced
    python -m interanimate.training.wan_memory_check --config ... --check                # tracer vs measured CPU peak
    python -m interanimate.training.wan_memory_check --config ... --check-extrapolation  # 5 + 10 blocks vs all 40
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import torch

from interanimate.training.config import TrainConfig
from interanimate.training.wan_memory import (SIZES, build_step_model, forward_backward, step_inputs, token_count,
                                              trace_step, traced_activations, wan_memory_plan)
from interanimate.utils.memory import GiB, reset_peak, rss_status

# The tracer's check: a small model (the tiny size widened to 256 so that its activations are well above the noise of
# a resident-memory measurement) with the recipe's trainable groups and LoRA, 17 frames at 256×448 (2,688 tokens).
CHECK_OVERRIDES = ("model.wan.transformer=wan-animate-tiny", "model.wan.lora_rank=4", "model.wan.text_encoder=null",
                   "model.wan.tokenizer=null", "data.num_frames=17",
                   "model.wan.overrides={num_attention_heads: 4, attention_head_dim: 64, ffn_dim: 1024}")
CHECK_SIZE = (256, 448)


def measure_step(config: TrainConfig, frames: int, size: tuple[int, int]) -> int:
    """``trace_step``'s forward + backward with real (random) fp32 tensors on this CPU, gradients kept; returns the
    peak resident memory above the resident memory before the step (VmHWM reset just before it), measured after a
    warm-up step at 5 frames (it loads code and fills the thread pools' one-off buffers)."""
    torch.manual_seed(0)
    model, _ = build_step_model(config, torch.float32)
    forward_backward(model, *step_inputs(model, config, 5, size, torch.float32))
    model.zero_grad(set_to_none=True)
    inputs, target = step_inputs(model, config, frames, size, torch.float32)
    before = reset_peak()
    forward_backward(model, inputs, target)
    return rss_status("VmHWM") - before


def check_tracer(config_path: str, overrides: Sequence[str] = ()) -> tuple[int, int, list[str]]:
    """The tracer against a measurement of the same step (``CHECK_OVERRIDES`` on the config, fp32, gradients kept):
    estimated = the traced peak above the weights and inputs; measured = in a fresh process with real tensors, the
    peak RSS above the RSS before the step (glibc's mmap threshold at 16 KiB there, so that freed tensors leave the
    resident set as they do the tracer's count). Returns (estimated, measured, lines)."""
    from interanimate.training.config import load_config

    overrides = [*overrides, *CHECK_OVERRIDES]
    config = load_config(config_path, overrides)
    frames, size = config.data.num_frames, CHECK_SIZE
    argv = [sys.executable, "-m", "interanimate.training.wan_memory_check", "--config", str(config_path),
            *[a for o in overrides for a in ("--set", o)], "--measure", f"{size[0]}x{size[1]}"]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "16384", "MALLOC_TRIM_THRESHOLD_": "0"}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as measuring:
        trace = trace_step(config, frames, size, torch.float32, drop_grads=False)  # meanwhile, here
        out, err = measuring.communicate()
    if measuring.returncode:
        raise RuntimeError(f"the measuring process failed: {err.strip().splitlines()[-1:]}")
    estimated, measured = sum(trace.peak.values()) - trace.start, int(out.strip().splitlines()[-1])
    return estimated, measured, [
        f"tracer check: {config.model.wan.transformer} widened ({', '.join(CHECK_OVERRIDES[-1:])}), LoRA rank "
        f"{config.model.wan.lora_rank}, trainable {', '.join(config.trainable)}, {frames} frames at "
        f"{size[0]}x{size[1]} ({token_count(frames, size):,} tokens), fp32 on this CPU, forward + backward",
        f"  estimated (fake-tensor trace, peak above weights and inputs): {estimated / 2 ** 20:.1f} MiB",
        f"  measured (real tensors, fresh process, peak RSS above RSS before the step): {measured / 2 ** 20:.1f} MiB "
        f"({100 * (measured / estimated - 1):+.1f}%)"]


def check_extrapolation(config: TrainConfig, sizes: dict[str, tuple[int, int]] | None = None) -> list[str]:
    """The extrapolated activations against a trace of every block, per size."""
    rows = []
    for name, size in (SIZES if sizes is None else sizes).items():
        short, how, _ = traced_activations(config, config.data.num_frames, size)
        full, _, seconds = traced_activations(config, config.data.num_frames, size, full=True)
        rows.append(f"{name}: {how}: {short / GiB:.3f} GiB; all blocks traced ({seconds:.0f} s): {full / GiB:.3f} "
                    f"GiB ({100 * (short / full - 1):+.2f}%)")
    return rows


def main(argv=None) -> int:
    """``python -m interanimate.training.wan_memory_check --config FILE [--full | --check | --check-extrapolation]``."""
    import argparse

    from interanimate.training.config import load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--full", action="store_true", help="trace every block (no extrapolation)")
    parser.add_argument("--check", action="store_true", help="the tracer against a measured CPU peak (small model)")
    parser.add_argument("--check-extrapolation", action="store_true", help="extrapolated against all blocks traced")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # HxW: the measured side of --check
    args = parser.parse_args(argv)
    if args.check:
        for line in check_tracer(args.config, args.overrides)[2]:
            print(line, flush=True)
        return 0
    config = load_config(args.config, args.overrides)
    if args.measure:
        print(measure_step(config, config.data.num_frames, tuple(int(v) for v in args.measure.split("x"))))
        return 0
    lines = check_extrapolation(config) if args.check_extrapolation else wan_memory_plan(config, full=args.full)
    for line in lines:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
