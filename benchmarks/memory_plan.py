"""Peak memory per GPU of the paper's training step and of inference, traced at full size — not a hand formula.

    python benchmarks/memory_plan.py            # training at 16×384×640 and 16×576×1024 over 8 GPUs; inference
    python benchmarks/memory_plan.py --check    # also the tracer against measured CPU peaks at a small size
                                                # (a training step, and each inference call)
    python benchmarks/memory_plan.py --gpu-step # on a CUDA GPU: the real step at 16×384×640 (``--sizes``), timed,
                                                # its peak beside the traced estimate of the same step

Method. The step runs on fake tensors (``torch._subclasses.FakeTensorMode``: real shapes, dtypes and storages, no data,
no memory): the trainer's own ``Trainer.training_step`` on a 16-frame batch (the frozen VAE encoding the frames and the
reference, the CLIP image embedding, the conditioning draws, the InterAnimate UNet with every module under diffusers'
gradient checkpointing, the region-weighted loss + orthogonality), then ``backward()``, gradient clipping, the
optimizer step and the EMA update. ``LiveMemory`` (a TorchDispatchMode, the idea of torch's
``torch.distributed._tools.mem_tracker.MemTracker``) adds up the bytes of every live tensor storage after every op,
by kind (weights, gradients, activations, optimizer state, EMA); its peak is what ``torch.cuda.max_memory_allocated``
would report for that step. ``--check`` runs the same tracer against a measured CPU peak of the same step, and the
inference tracer against the measured peak of each inference call. The tracer lives in ``interanimate.utils.memory``.
The models are SVD-XT 1.1's: the svd-xt UNet (1,524.6 M + 24.55 M), its AutoencoderKLTemporalDecoder (97.7 M) and the
CLIP ViT-H/14 image tower (632.1 M), random weights built on the meta device.

Per strategy, 8 GPUs, batch 1 per GPU:
* DDP (launch/ddp_8gpu.yaml; accelerate bf16 = fp32 weights under bf16 autocast): traced whole, with torch's AdamW as
  CUDA runs it (``foreach``); DDP's gradient buckets (one fp32 copy of the gradients) added from the parameter count.
* ZeRO-2 (launch/zero2_8gpu.yaml; DeepSpeed bf16: bf16 weights, fp32 masters): the forward/backward traced with bf16
  weights; what DeepSpeed shards is added from parameter counts (ZeRO paper, DeepSpeed's stage_1_and_2.py): fp32
  masters + AdamW moments + the fp32 gradient partition (16 bytes per trainable parameter / 8), the bf16 gradient
  partition, two reduce buckets of ``reduce_bucket_size`` bf16 elements; the trainer's EMA is a full fp32 copy.
* FSDP (full shard, bf16 compute): the same forward/backward trace with the UNet's weights and gradients replaced by
  fp32 shards (1/8) plus the unsharded bf16 weights and gradients of the two largest wrapped blocks in flight;
  optimizer state and EMA sharded (as the trainer holds them under FSDP; docs/training.md). A validation preview
  adds a whole fp32 copy of the UNet on the main GPU while it renders (6.1 GB for svd-xt), not in the figure.
Not in the figures: the CUDA context and NCCL buffers (~1-2 GiB per GPU), and the caching allocator's fragmentation
(typically 5-15% over the allocated peak) — leave that margin.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from interanimate.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_inference import MEASURE_ENV, inference_check, inference_table, measure_inference  # noqa: E402
from memory_tracing import (SVD_CLIP, SVD_VAE, GiB, LiveMemory, count, reset_peak, rss_status,  # noqa: E402
                            svd_models)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "train_svd_xt.yaml"
GPUS = 8
REDUCE_BUCKET = 500_000_000  # launch/ds_zero2.json: zero_optimization.reduce_bucket_size (elements)
MARGIN = 0.9  # of a GPU's memory: the CUDA context, NCCL and the allocator's fragmentation take the rest
GPU_SIZES = {"A100 80GB": 80 * GiB, "A100 40GB": 40 * GiB, "24 GB": 24 * GiB}
ANCHORS = [  # published per-GPU figures of the anchor (no InterAnimate modules; its own trainable set)
    ("StableAnimator, 16 frames, batch 1, mixed 512×512 / 576×1024", "~70 GB per A100"),
    ("StableAnimator, 16 frames, batch 1, 512×512 only", "~40 GB per A100"),
]


# ------------------------------------------------------------------------------------------ the training step
class TracedTrainer(Trainer):
    """The trainer, with its UNet call under bf16 autocast as on CUDA (``autocast_dtype``; accelerate's mixed
    precision) — on a CPU the trainer itself keeps fp32 (docs/training.md)."""

    autocast_dtype: torch.dtype | None = None

    def autocast(self):
        if self.autocast_dtype is None:
            return super().autocast()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


@dataclass
class StepTrace:
    peak: dict[str, int]  # bytes by kind at the peak (LiveMemory)
    start: int  # bytes tracked before the step: weights, batch, optimizer state, EMA
    unet_params: int
    trainable: int
    unet_bytes: int  # the UNet's weights as traced
    frozen_bytes: int  # VAE + CLIP weights
    largest_blocks: int  # parameters of the two largest FSDP-wrapped blocks
    seconds: float


def step_config(size: tuple[int, int], frames: int, overrides: tuple = ()):
    from interanimate.training.config import load_config

    return load_config(CONFIG, [f"data.size=[{size[0]},{size[1]}]", f"data.num_frames={frames}", "device=cpu",
                                *overrides])


def trace_training_step(config, unet_dtype: torch.dtype, autocast: bool, full_step: bool,
                        drop_grads: bool = False) -> StepTrace:
    """``Trainer.training_step`` + backward (+ clipping, AdamW, EMA when ``full_step``) on fake tensors.
    ``drop_grads``: each gradient is freed once accumulated (as DeepSpeed's ZeRO-2 and FSDP hand it on to their
    reduction buckets), so that the trace's peak is the weights + activations + gradients in flight."""
    from interanimate.training.build import unet_kwargs
    from interanimate.training.state import EMA, step_generator

    begin = time.perf_counter()
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    trainer = TracedTrainer(config)
    trainer.autocast_dtype = torch.bfloat16 if autocast else None
    trainer.unet, trainer.vae, trainer.image_encoder = svd_models(unet_kwargs(config.model), unet_dtype,
                                                                  torch.float32, mode)
    trainer.residual_scale = 1.0
    trainable = set_trainable(trainer)
    if config.gradient_checkpointing:
        trainer.unet.enable_gradient_checkpointing()
    trainer.unet.train()
    with mode:
        batch = fake_batch(config, trainer.unet.config.id_embed_dim)
    memory = LiveMemory()
    memory.track("weights", trainer.unet.parameters())
    memory.track("frozen", [*trainer.vae.parameters(), *trainer.image_encoder.parameters()])
    memory.track("batch", batch.values())
    memory.watch_grads(trainable)
    if full_step:
        optimizer, ema = steady_optimizer(trainable, config), EMA(trainer.trainable_named, config.ema_decay)
        memory.track("optimizer", [t for st in optimizer.state.values() for t in st.values() if torch.is_tensor(t)])
        memory.track("ema", ema.shadow.values())
    if drop_grads:
        for p in trainable:
            p.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
    start = memory.total
    with memory:
        parts = trainer.training_step(batch, step_generator(config.seed, 0, 0))
        parts["loss"].backward()
        if full_step:
            memory.phase = "optimizer step"
            torch.nn.utils.clip_grad_norm_(trainable, config.optim.grad_clip, foreach=True)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            ema.update(trainer.trainable_named)
    frozen = sum(p.nbytes for m in (trainer.vae, trainer.image_encoder) for p in m.parameters())
    return StepTrace(defaultdict(int, memory.peak), start, count(trainer.unet), sum(p.numel() for p in trainable),
                     sum(p.nbytes for p in trainer.unet.parameters()), frozen, largest_blocks(trainer.unet),
                     time.perf_counter() - begin)


def set_trainable(trainer) -> list[torch.Tensor]:
    """As ``Trainer.build_models``: the configured groups train, everything else is frozen."""
    groups = trainer.parameter_groups()
    for module in (trainer.unet, trainer.image_encoder):
        module.requires_grad_(False)
    trainer.trainable_named = [(n, p) for named in groups.values() for n, p in named]
    for _, p in trainer.trainable_named:
        p.requires_grad_(True)
    return [p for _, p in trainer.trainable_named]


def steady_optimizer(params: list, config) -> torch.optim.Optimizer:
    """torch's AdamW as CUDA runs it (``foreach``), with its moments already allocated (step ≥ 2)."""
    o = config.optim
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps,
                                  weight_decay=o.weight_decay, foreach=True)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return optimizer


def fake_batch(config, id_dim: int) -> dict:
    """The keys and shapes ``InterHFDataset`` yields (values do not matter to memory)."""
    b, f, (h, w) = config.batch_size, config.data.num_frames, config.data.size
    return {"frames": torch.zeros(b, f, 3, h, w), "reference": torch.zeros(b, 3, h, w),
            "pose": torch.zeros(b, f, 3, h, w), "hand_mask": torch.zeros(b, f, 1, h, w),
            "face_mask": torch.zeros(b, f, 1, h, w), "hand_silhouette": torch.zeros(b, f, 1, h, w),
            "face_silhouette": torch.zeros(b, f, 1, h, w), "identity_embedding": torch.zeros(b, id_dim)}


def largest_blocks(unet) -> int:
    """Parameters of the two largest blocks an FSDP auto-wrap policy shards one by one (resnets, transformers)."""
    from diffusers.models.resnet import SpatioTemporalResBlock
    from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel

    sizes = sorted((count(m) for m in unet.modules()
                    if isinstance(m, (SpatioTemporalResBlock, TransformerSpatioTemporalModel))), reverse=True)
    return sum(sizes[:2])


# ------------------------------------------------------------------------------------------ strategies
COLUMNS = ("weights", "frozen", "grads", "optimizer", "ema", "buckets", "activations")


def ddp_plan(t: StepTrace) -> dict[str, float]:
    """Traced whole (fp32 weights, bf16 autocast, AdamW foreach, EMA); DDP's buckets added (C++, not traced)."""
    p = t.peak
    return {"weights": p["weights"], "frozen": p["frozen"], "grads": p["grads"], "optimizer": p["optimizer"],
            "ema": p["ema"], "buckets": 4 * t.trainable,
            "activations": p["activations"] + p["batch"] + p["optimizer step"]}


def zero2_plan(t: StepTrace) -> dict[str, float]:
    """bf16 forward/backward traced (gradients handed on as they come); what DeepSpeed keeps, from counts."""
    p = t.peak
    return {"weights": p["weights"], "frozen": p["frozen"], "grads": 2 * t.trainable / GPUS + p["grads"],
            "optimizer": 16 * t.trainable / GPUS, "ema": 4 * t.trainable, "buckets": 2 * 2 * REDUCE_BUCKET,
            "activations": p["activations"] + p["batch"]}


def fsdp_plan(t: StepTrace) -> dict[str, float]:
    """bf16 forward/backward traced; the UNet's weights and gradients as FSDP shards them, from counts."""
    p = t.peak
    return {"weights": 4 * t.unet_params / GPUS + 2 * t.largest_blocks, "frozen": p["frozen"],
            "grads": 4 * t.trainable / GPUS + 4 * t.largest_blocks, "optimizer": 8 * t.trainable / GPUS,
            "ema": 4 * t.trainable / GPUS, "buckets": 0, "activations": p["activations"] + p["batch"] + p["grads"]}


def training_table(sizes: list[str], frames: int) -> list[str]:
    rows = [f"training step per GPU: batch 1 × {frames} frames, bf16, gradient checkpointing, {GPUS} GPUs (GiB)",
            f"{'size':<10}{'strategy':<9}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'peak':>8}   fits "
            f"(peak < {MARGIN:.0%} of): " + ", ".join(GPU_SIZES)]
    peaks = {}
    for size in sizes:
        config = step_config(tuple(int(v) for v in size.split("x")), frames)
        ddp = trace_training_step(config, torch.float32, autocast=True, full_step=True)
        bf16 = trace_training_step(config, torch.bfloat16, autocast=False, full_step=False, drop_grads=True)
        for name, plan in (("DDP", ddp_plan(ddp)), ("ZeRO-2", zero2_plan(bf16)), ("FSDP", fsdp_plan(bf16))):
            peaks[(size, name)] = total = sum(plan.values())
            rows.append(f"{size:<10}{name:<9}" + "".join(f"{plan[c] / GiB:>12.1f}" for c in COLUMNS)
                        + f"{total / GiB:>8.1f}   " + ", ".join("yes" if total < MARGIN * cap else "no"
                                                                for cap in GPU_SIZES.values()))
        rows.append(f"{'':<19}(traced in {ddp.seconds:.0f} s + {bf16.seconds:.0f} s; "
                    f"UNet {ddp.unet_params / 1e6:,.1f} M "
                    f"parameters, {ddp.trainable / 1e6:,.1f} M trainable; VAE + CLIP {ddp.frozen_bytes / GiB:.1f} GiB)")
    rows += ["weights: the UNet's (DDP fp32; ZeRO-2 bf16, whole; FSDP an fp32 shard + 2 blocks unsharded in bf16); "
             "frozen: VAE + CLIP in fp32, as the trainer keeps them; grads: at the peak (ZeRO-2/FSDP: the partition + "
             "those in flight); optimizer: AdamW moments (ZeRO-2: + fp32 masters and gradient partition, /8); ema: the "
             "trainer's fp32 EMA (FSDP: if it were sharded); buckets: DDP's fp32 gradient buckets / DeepSpeed's two "
             "bf16 reduce buckets; activations: saved activations + temporaries + the batch at the peak",
             "anchors (published, their own trainable set): " + "; ".join(f"{a}: {b}" for a, b in ANCHORS),
             verdict(peaks, sizes[0])]
    return rows


def verdict(peaks: dict, size: str) -> str:
    ok = [name for (s, name), total in peaks.items() if s == size and total < MARGIN * GPU_SIZES["A100 80GB"]]
    return (f"at {size}, fits an 80 GB GPU with a {1 - MARGIN:.0%} margin: {', '.join(ok) or 'none'}"
            + ("; DDP is the simplest (launch/ddp_8gpu.yaml)" if "DDP" in ok else ""))


# ------------------------------------------------------------------------------------------ check against a measurement
CHECK_OVERRIDES = ("model.unet=small", "model.unet_overrides={id_embed_dim: 512, cross_attention_dim: 1024}")


def check(size: tuple[int, int], frames: int) -> list[str]:
    """The tracer against a measurement of the same step: ``training_step`` + backward of the ``small`` UNet (every
    module; SVD's VAE and CLIP, fp32, gradient checkpointing) on this CPU. Estimated: the traced peak above what
    was live before the step. Measured, in a fresh process with real tensors: peak resident memory (VmHWM, reset
    through /proc/self/clear_refs just before the step) above the resident memory before it."""
    config = step_config(size, frames, CHECK_OVERRIDES)
    est = trace_training_step(config, torch.float32, autocast=False, full_step=False)
    estimated = sum(est.peak.values()) - est.start
    out = subprocess.run([sys.executable, __file__, "--measure", f"{size[0]}x{size[1]}", "--frames", str(frames)],
                         capture_output=True, text=True, check=True, env=MEASURE_ENV)
    measured = int(out.stdout.strip().splitlines()[-1])
    return [f"check: {frames}×{size[0]}×{size[1]}, small UNet with every module + SVD's VAE and CLIP, fp32 on this "
            "CPU, one training_step + backward",
            f"  estimated (fake-tensor trace, peak above the weights and batch): {estimated / GiB:.3f} GiB",
            f"  measured (real tensors, fresh process, peak RSS above RSS before the step): {measured / GiB:.3f} GiB "
            f"({100 * (measured / estimated - 1):+.1f}%)"]


def measure(size: tuple[int, int], frames: int) -> int:
    """``check``'s step with real (random) tensors on this CPU; returns the peak RSS above the RSS before it."""
    return real_step(step_config(size, frames, CHECK_OVERRIDES), torch.device("cpu"), steps=1, full_step=False)[1]


def real_step(config, device: torch.device, steps: int, full_step: bool = True) -> tuple[list[float], int]:
    """The step ``trace_training_step`` traces, with real (random) tensors on ``device``: ``Trainer.training_step`` +
    backward (+ clipping, AdamW (foreach) and EMA with ``full_step``), ``steps`` times; under bf16 autocast on CUDA.
    Returns the seconds of each step and the peak bytes allocated (CUDA: ``max_memory_allocated``; CPU: the peak
    resident memory above the resident memory before the first step)."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from interanimate.models import InterAnimateUNet
    from interanimate.training.build import build_optimizer, unet_kwargs
    from interanimate.training.state import EMA, step_generator

    torch.manual_seed(0)
    trainer = TracedTrainer(config)
    trainer.device = device
    trainer.autocast_dtype = torch.bfloat16 if device.type == "cuda" else None  # as accelerate's bf16 on CUDA
    trainer.unet = InterAnimateUNet(**unet_kwargs(config.model)).to(device)
    trainer.vae = AutoencoderKLTemporalDecoder(**SVD_VAE).requires_grad_(False).eval().to(device)
    trainer.image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**SVD_CLIP)).requires_grad_(False).eval()
    trainer.image_encoder.to(device)
    trainer.residual_scale = 1.0
    trainable = set_trainable(trainer)
    if config.gradient_checkpointing:
        trainer.unet.enable_gradient_checkpointing()
    trainer.unet.train()
    optimizer = build_optimizer([{"params": trainable, "lr": config.optim.lr}], config.optim) if full_step else None
    ema = EMA(trainer.trainable_named, config.ema_decay) if full_step and config.ema_decay > 0 else None
    batch = {k: (torch.rand_like(v, device="cpu") * 2 - 1).to(device)
             for k, v in fake_batch(config, trainer.unet.config.id_embed_dim).items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:
        before = reset_peak()
    seconds = []
    for step in range(steps):
        sync()
        start = time.perf_counter()
        parts = trainer.training_step(batch, step_generator(config.seed, 0, step))
        parts["loss"].backward()
        if full_step:
            torch.nn.utils.clip_grad_norm_(trainable, config.optim.grad_clip, foreach=True)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(trainer.trainable_named)
        sync()
        seconds.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else rss_status("VmHWM") - before
    return seconds, peak


def gpu_step(size: tuple[int, int], frames: int, steps: int = 3) -> list[str]:
    """``real_step`` of the paper's config on one CUDA GPU, beside the traced estimate of the same step: one DDP
    process's figure less DDP's gradient buckets (fp32 weights under bf16 autocast, gradient checkpointing, AdamW,
    EMA; SVD's VAE and CLIP frozen in fp32). Random weights: memory and speed do not depend on them."""
    config = step_config(size, frames)
    plan = ddp_plan(trace_training_step(config, torch.float32, autocast=True, full_step=True))
    plan.pop("buckets")
    estimated = sum(plan.values())
    seconds, peak = real_step(config, torch.device("cuda"), steps)
    return [f"GPU step: {torch.cuda.get_device_name()}, {frames}×{size[0]}×{size[1]}, svd-xt UNet with every module, "
            "bf16 autocast, gradient checkpointing, AdamW + EMA, batch 1, one process (no DDP buckets)",
            f"  estimated (trace): {estimated / GiB:.1f} GiB (" + ", ".join(f"{k} {v / GiB:.1f}" for k, v in
                                                                        plan.items()) + ")",
            f"  measured (torch.cuda.max_memory_allocated): {peak / GiB:.1f} GiB ({100 * (peak / estimated - 1):+.1f}%)",
            "  seconds per step: " + ", ".join(f"{s:.2f}" for s in seconds) + " (the first includes warm-up)"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["384x640", "576x1024"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--inference-size", default="576x1024")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--decode-chunk", type=int, default=8)
    parser.add_argument("--check", action="store_true", help="also compare the tracer with a measured CPU peak")
    parser.add_argument("--check-size", default="256x256")
    parser.add_argument("--check-frames", type=int, default=8)
    parser.add_argument("--check-inference-size", default="128x128")
    parser.add_argument("--gpu-step", action="store_true",
                        help="measure the real training step on this CUDA GPU at the first of --sizes (needs a GPU)")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: the measured side of --check
    parser.add_argument("--measure-inference", default=None, help=argparse.SUPPRESS)  # the same for inference
    args = parser.parse_args(argv)
    if args.measure:
        print(measure(tuple(int(v) for v in args.measure.split("x")), args.frames))
        return 0
    if args.measure_inference:
        size = tuple(int(v) for v in args.measure_inference.split("x"))
        print(json.dumps(measure_inference(size, args.frames, args.decode_chunk)))
        return 0
    if args.gpu_step:
        if not torch.cuda.is_available():
            print("memory_plan.py: error: --gpu-step needs a CUDA GPU (torch sees none)", file=sys.stderr)
            return 2
        for line in gpu_step(tuple(int(v) for v in args.sizes[0].split("x")), args.frames):
            print(line, flush=True)
        return 0
    for line in training_table(args.sizes, args.frames):
        print(line, flush=True)
    print()
    for line in inference_table(tuple(int(v) for v in args.inference_size.split("x")), args.frames, args.steps,
                                args.decode_chunk):
        print(line, flush=True)
    if args.check:
        print()
        for line in check(tuple(int(v) for v in args.check_size.split("x")), args.check_frames):
            print(line, flush=True)
        for line in inference_check(tuple(int(v) for v in args.check_inference_size.split("x")), args.check_frames,
                                    args.decode_chunk):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
