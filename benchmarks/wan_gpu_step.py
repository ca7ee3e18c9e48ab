"""One bf16 training step of the Wan backbone on a CUDA GPU, timed, its peak beside the memory plan's estimate.

    python benchmarks/wan_gpu_step.py                       # wan-animate-1.3b + InterAnimate modules + LoRA 64,
                                                            # 77 frames at 480p (17 if 77 does not fit), 3 steps
    python benchmarks/wan_gpu_step.py --frames 17 --size 480x832 --steps 5

The step is the plan's (``interanimate.training.wan_memory``): the transformer of ``configs/train_wan_animate_14b.yaml``
at the ``wan-animate-1.3b`` size (Wan2.1-1.3B's widths with Wan-Animate's streams; no published weights, random ones
here: memory and speed do not depend on them), the frozen base in bf16, the trainable groups (LoRA, interaction
latents, region blocks, ID preserver) in fp32 under ``torch.autocast(bfloat16)``, gradient checkpointing of every
block, the flow-matching MSE, backward, AdamW (``foreach``) and an fp32 EMA of the trainable weights. One process, so
the estimate is the plan's DDP row less DDP's buckets and the frozen encoders (not built here).

Dependencies: torch with CUDA, and diffusers 0.42.1, peft 0.22.0, einops, pyyaml importable. On a machine without
them, install them into ``.gpu_site/`` of the checkout first (``pip install --target .gpu_site diffusers==0.42.1
peft==0.22.0 einops pyyaml``) and carry that folder: this script puts ``src/`` and ``.gpu_site/`` on ``sys.path``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / ".gpu_site", ROOT / "src"):
    if extra.is_dir() and str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

CONFIG = ROOT / "configs" / "train_wan_animate_14b.yaml"
GiB = 2 ** 30


def step_config(model: str, frames: int, size: tuple[int, int]):
    from interanimate.training.config import load_config

    return load_config(CONFIG, [f"model.wan.transformer={model}", f"data.num_frames={frames}",
                                f"data.size=[{size[0]},{size[1]}]", "model.wan.text_encoder=null",
                                "model.wan.tokenizer=null"])


def estimate(config, frames: int, size: tuple[int, int]) -> tuple[float, dict[str, float]]:
    """The plan's DDP figures for this step, less DDP's buckets and the encoders: (bytes, parts)."""
    from interanimate.training.wan_memory import ddp_plan, resident_counts, traced_activations
    from interanimate.training.wan_plan import count_parameters

    activations, _, _ = traced_activations(config, frames, size)
    plan = ddp_plan(resident_counts(config, count_parameters(config)), activations)
    for key in ("buckets", "encoders"):
        plan.pop(key)
    return sum(plan.values()), plan


def run_steps(config, frames: int, size: tuple[int, int], device: str, steps: int) -> tuple[list[float], int]:
    """``steps`` training steps with real (random) tensors; seconds of each and the peak bytes allocated (CUDA)."""
    import torch

    from interanimate.training.wan_memory import build_step_model, step_inputs

    torch.manual_seed(0)
    model, trainable = build_step_model(config, torch.bfloat16, device=device)
    for p in trainable:  # fp32 masters of the trainable weights; bf16 compute under autocast
        p.data = p.data.float()
    ema = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=config.optim.lr, foreach=True)
    inputs, target = step_inputs(model, config, frames, size, torch.bfloat16)
    inputs, target = {k: v.to(device) for k, v in inputs.items()}, target.to(device)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            out = model(**inputs).sample
        loss = torch.nn.functional.mse_loss(out.float(), target.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.optim.grad_clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in trainable], 1 - config.ema_decay)
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds, torch.cuda.max_memory_allocated() if cuda else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="wan-animate-1.3b", help="named Wan size (interanimate.models.wan_configs)")
    parser.add_argument("--frames", type=int, default=77, help="segment length, 4k + 1 (17 is tried if 77 fails)")
    parser.add_argument("--size", default="480x832", help="HxW")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda (the measurement) or cpu (a smoke run, no peak)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("wan_gpu_step.py: error: needs a CUDA GPU (torch sees none); --device cpu runs a smoke step",
              file=sys.stderr)
        return 2
    size = tuple(int(v) for v in args.size.split("x"))
    for frames in dict.fromkeys((args.frames, 17)):
        config = step_config(args.model, frames, size)
        try:
            seconds, peak = run_steps(config, frames, size, args.device, args.steps)
        except torch.cuda.OutOfMemoryError:
            print(f"{frames} frames at {size[0]}x{size[1]}: out of memory; trying 17", flush=True)
            torch.cuda.empty_cache()
            continue
        total, parts = estimate(config, frames, size)
        name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (smoke run)"
        print(f"Wan GPU step: {name}, {args.model} with LoRA rank {config.model.wan.lora_rank} and InterAnimate's "
              f"modules, {frames} frames at {size[0]}x{size[1]}, bf16 autocast, gradient checkpointing, AdamW + EMA, "
              "batch 1, one process")
        print(f"  estimated (plan, DDP row less buckets and encoders): {total / GiB:.1f} GiB ("
              + ", ".join(f"{k} {v / GiB:.1f}" for k, v in parts.items()) + ")")
        if peak:
            print(f"  measured (torch.cuda.max_memory_allocated): {peak / GiB:.1f} GiB "
                  f"({100 * (peak / total - 1):+.1f}%)")
        print("  seconds per step: " + ", ".join(f"{s:.2f}" for s in seconds) + " (the first includes warm-up)")
        return 0
    print("wan_gpu_step.py: error: out of memory at 17 frames too", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
