"""Peak memory per GPU of a ``model.backbone: wan`` training step, with the activations traced, not guessed.

Method (as ``benchmarks/memory_plan.py`` for SVD): the configured InterAnimate Wan-Animate transformer, with its
LoRA, is built on the meta device and given fake storage (``FakeTensorMode``: real shapes and dtypes, no data, no
memory); one forward + backward runs at the real token count — F' = (T - 1)/4 + 2 latent frames (the reference's in
front) of (H/16)·(W/16) patches — with gradient checkpointing as configured and bf16 weights, while
:class:`interanimate.utils.memory.LiveMemory` sums the live tensor storages after every op. Its peak of activations
(saved + recomputed + temporaries) and inputs is what ``torch.cuda.max_memory_allocated`` would add above the
weights. The resident states of each strategy (weights, gradients, AdamW, EMA, DDP buckets, FSDP shards) follow
from parameter counts (:mod:`interanimate.training.wan_plan`).

A model whose blocks repeat with period p (region branches every ``region_every``, face adapters every
``inject_face_latents_blocks`` blocks) is traced with p and 2p blocks and the peak extrapolated linearly in the
number of blocks: each block adds its checkpointed input (and a face adapter's saved tensors), the recomputation of
the last block is the same at any depth (checked against a trace of every block: :mod:`.wan_memory_check`).

``wan_dry_run(config)`` is what ``interanimate train --dry-run`` prints for the Wan backbone: the parameter report of
:mod:`interanimate.training.wan_plan`, then this plan. At Wan2.2-Animate-14B's size no training step runs on a CPU;
the tiny config's CPU tests run the real step (``configs/train_wan_tiny.yaml``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from interanimate.training.config import TrainConfig
from interanimate.training.wan_plan import (WanCounts, count_parameters, meta_transformer, trainable_names,
                                            wan_parameter_report)
from interanimate.utils.memory import GiB, LiveMemory, fake_module

GPUS = 8
MARGIN = 0.9  # of a GPU's memory: the CUDA context, NCCL buffers and the allocator's fragmentation take the rest
GPU_MEMORY = {"80 GB": 80 * GiB, "141 GB": 141 * GiB}
SIZES = {"480p": (480, 832), "720p": (720, 1280)}  # (height, width), Wan's
# launch/fsdp_wan_8gpu.yaml: fsdp_transformer_layer_cls_to_wrap
FSDP_WRAPPED = ("WanTransformerBlock", "WanAnimateFaceBlockCrossAttention", "RegionAttentionBlock", "IDCrossAttention")
# Wan2.2-Animate-14B's frozen encoders (Wan-AI/Wan2.2-Animate-14B-Diffusers: vae/, image_encoder/, text_encoder/
# config.json): AutoencoderKLWan's defaults are Wan2.1's VAE; CLIP ViT-H/14 (models.first_stage.CLIP_VIT_H);
# UMT5-XXL's encoder.
UMT5_XXL = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=256384,
                feed_forward_proj="gated-gelu", is_encoder_decoder=False)
PUBLISHED = [
    "Wan2.2 README (https://github.com/Wan-Video/Wan2.2): T2V-A14B single-GPU inference (--offload_model True "
    "--convert_model_dtype, 1280*720) 'can run on a GPU with at least 80GB VRAM'",
    "the same README gives Animate-14B's single-GPU and 8-GPU (FSDP + Ulysses) inference commands but no memory "
    "figure in its text (its GPU table is an image, assets/comp_effic.png, not read here)",
    "no published training-memory figure for Wan2.2-Animate-14B was found: the plan above is this project's own",
]


# ------------------------------------------------------------------------------------------ the traced step
def latent_grid(frames: int, size: tuple[int, int]) -> tuple[int, int, int]:
    """(T', h, w): latent frames of a ``frames``-frame segment (Wan's VAE: stride 4×8×8) and latent height, width."""
    from interanimate.models.wan_conditioning import latent_frame_count

    return latent_frame_count(frames), size[0] // 8, size[1] // 8


def token_count(frames: int, size: tuple[int, int], patch=(1, 2, 2)) -> int:
    """Video tokens the transformer attends over: (T' + 1) latent frames (the reference's first) × patches."""
    t, h, w = latent_grid(frames, size)
    return (t + 1) // patch[0] * (h // patch[1]) * (w // patch[2])


def build_step_model(config: TrainConfig, dtype: torch.dtype, mode: FakeTensorMode | None = None,
                     num_layers: int | None = None, device: str = "cpu") -> tuple[nn.Module, list[nn.Parameter]]:
    """The configured transformer with its LoRA, the config's groups trainable, checkpointing as configured: fake
    (``mode``) or real with random weights on ``device`` (``mode`` None). Returns the model and its trainable
    parameters."""
    wan = config.model.wan

    def build(device: str = "meta"):
        model = meta_transformer(config, device, **({} if num_layers is None else {"num_layers": num_layers}))
        if wan.lora_rank > 0:
            from interanimate.models.wan_lora import add_base_lora
            add_base_lora(model, wan.lora_rank, wan.lora_alpha, tuple(wan.lora_targets))
        return model

    if mode is not None:
        model = fake_module(build, dtype, mode)
    else:
        model = build(device)
        for t in [*model.parameters(), *model.buffers()]:  # as fake_module casts (diffusers' .to() warns)
            if t.is_floating_point():
                t.data = t.data.to(dtype)
    names = trainable_names(model, config.trainable)
    model.requires_grad_(False)
    trainable = [p for n, p in model.named_parameters() if n in names]
    for p in trainable:
        p.requires_grad_(True)
    if config.gradient_checkpointing:
        model.enable_gradient_checkpointing()  # the branches recompute with it (models/wan.py)
    return model.train(), trainable


def step_inputs(model: nn.Module, config: TrainConfig, frames: int, size: tuple[int, int], dtype: torch.dtype):
    """The transformer's inputs for one clip (batch ``config.batch_size``) and the flow-matching target."""
    c, b = model.config, config.batch_size
    t, h, w = latent_grid(frames, size)
    z = dict(dtype=dtype)
    face = c.motion_encoder_size
    inputs = dict(
        hidden_states=torch.randn(b, c.in_channels, t + 1, h, w, **z),  # noisy 16 + I2V mask 4 + reference 16
        timestep=torch.full((b,), 500.0),
        encoder_hidden_states=torch.randn(b, config.model.wan.max_sequence_length, c.text_dim, **z),
        encoder_hidden_states_image=torch.randn(b, 257, c.image_dim, **z),  # CLIP's penultimate tokens
        pose_hidden_states=torch.randn(b, c.latent_channels, t, h, w, **z),
        face_pixel_values=torch.randn(b, 3, frames, face, face, **z),
        hand_mask=torch.rand(b, t + 1, 1, h, w, **z), face_mask=torch.rand(b, t + 1, 1, h, w, **z),
        id_embedding=torch.randn(b, c.id_embed_dim, **z))
    return inputs, torch.randn(b, c.out_channels, t + 1, h, w, **z)


def forward_backward(model, inputs: dict, target: torch.Tensor) -> None:
    """The transformer on ``inputs``, an MSE against ``target``, backward."""
    out = model(**inputs).sample  # (B, 16, T' + 1, h, w)
    torch.nn.functional.mse_loss(out.float(), target.float()).backward()


@dataclass
class StepTrace:
    peak: dict[str, int]  # bytes by kind at the peak (LiveMemory)
    start: int  # bytes tracked before the step: weights and inputs
    blocks: int
    seconds: float

    @property
    def activations(self) -> int:
        """Activations, inputs and gradients in flight at the peak: what the step adds above the weights."""
        return sum(v for k, v in self.peak.items() if k != "weights")


def trace_step(config: TrainConfig, frames: int, size: tuple[int, int], dtype: torch.dtype = torch.bfloat16,
               num_layers: int | None = None, drop_grads: bool = True) -> StepTrace:
    """Forward + backward of the configured transformer on fake tensors. ``drop_grads``: each gradient is freed once
    accumulated (FSDP reduce-scatters it, DDP copies it to its buckets; their resident gradients are counted from
    parameter counts), so the peak holds the gradients in flight only."""
    begin = time.perf_counter()
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    model, trainable = build_step_model(config, dtype, mode, num_layers)
    with mode:
        inputs, target = step_inputs(model, config, frames, size, dtype)
    memory = LiveMemory()
    memory.track("weights", model.parameters())
    memory.track("inputs", [*inputs.values(), target])
    memory.watch_grads(trainable)
    if drop_grads:
        for p in trainable:
            p.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
    start = memory.total
    with memory:
        forward_backward(model, inputs, target)
    return StepTrace(dict(memory.peak), start, int(model.config.num_layers), time.perf_counter() - begin)


def traced_activations(config: TrainConfig, frames: int, size: tuple[int, int], full: bool = False,
                       ) -> tuple[int, str, float]:
    """Bytes the step adds above the weights at its peak (bf16), how they were obtained, and the seconds it took."""
    c = meta_transformer(config).config
    layers = int(c.num_layers)
    period = math.lcm(int(c.region_every), int(c.inject_face_latents_blocks))
    if full or layers % period or layers < 3 * period:
        t = trace_step(config, frames, size)
        return t.activations, f"traced with all {layers} blocks", t.seconds
    one, two = trace_step(config, frames, size, num_layers=period), trace_step(config, frames, size,
                                                                               num_layers=2 * period)
    per_period = two.activations - one.activations
    total = one.activations + (layers // period - 1) * per_period
    return total, (f"traced with {period} and {2 * period} blocks, extrapolated linearly to {layers} "
                   f"(+{per_period / GiB:.2f} GiB per {period} blocks)"), one.seconds + two.seconds


# ------------------------------------------------------------------------------------------ strategies
@dataclass
class Resident:
    """Parameter counts the strategies' resident states follow from."""
    frozen: int
    trainable: int
    inflight: int  # FSDP: parameters unsharded at once (root group + the two largest wrapped units)
    inflight_trainable: int
    encoders: dict[str, int]  # frozen VAE, image encoder, text encoder: parameters


def resident_counts(config: TrainConfig, counts: WanCounts) -> Resident:
    """FSDP's unsharded working set, from the meta model: the parameters outside every wrapped unit (the root
    group, held unsharded through the step) plus the two largest wrapped units (the one computing and the one
    prefetched), with their LoRA."""
    from interanimate.training.wan_plan import lora_layers

    model = meta_transformer(config)
    wan = config.model.wan
    names = trainable_names(model, config.trainable)
    units = [n + "." for n, m in model.named_modules() if type(m).__name__ in FSDP_WRAPPED]
    lora = {n: wan.lora_rank * (i + o) for n, i, o in lora_layers(model, wan.lora_targets)} if counts.lora else {}
    sizes: dict[str, list[int]] = {u: [0, 0] for u in units}  # unit -> [parameters, trainable]
    root = [0, 0]
    for n, k in [*((n, p.numel()) for n, p in model.named_parameters()), *lora.items()]:
        train = n in names or (n in lora and "lora" in config.trainable)
        slot = next((sizes[u] for u in units if n.startswith(u)), root)
        slot[0] += k
        slot[1] += k if train else 0
    largest = sorted(sizes.values(), reverse=True)[:2]
    return Resident(counts.frozen, counts.trainable_total, root[0] + sum(s[0] for s in largest),
                    root[1] + sum(s[1] for s in largest), encoder_parameters(config))


def encoder_parameters(config: TrainConfig) -> dict[str, int]:
    """Parameters of the frozen encoders the config names folders for — Wan2.2-Animate-14B's VAE, CLIP ViT-H/14 and
    UMT5-XXL encoder, counted on the meta device; without a folder the trainer builds a small random one (not
    counted)."""
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    wan, models = config.model.wan, {}
    with torch.device("meta"):
        if wan.vae:
            models["VAE"] = AutoencoderKLWan()
        if wan.image_encoder:
            from interanimate.models.first_stage import CLIP_VIT_H
            models["CLIP ViT-H"] = CLIPVisionModel(CLIPVisionConfig(**CLIP_VIT_H))
        if wan.text_encoder:
            models["UMT5-XXL"] = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
    return {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}


ON_CPU = ("UMT5-XXL",)  # the trainer keeps the text encoder on the CPU: the prompt is fixed, encoded once


def gpu_encoder_bytes(r) -> int:
    """The frozen encoders a GPU holds (the VAE and CLIP, in bf16 under mixed precision: ``cast_frozen``)."""
    return 2 * sum(v for k, v in r.encoders.items() if k not in ON_CPU)


COLUMNS = ("weights", "encoders", "grads", "optimizer", "ema", "buckets", "activations")


def ddp_plan(r: Resident, activations: int) -> dict[str, float]:
    """Every GPU: the frozen base in bf16, trainable fp32 weights (masters) under bf16 autocast, fp32 gradients and
    DDP's fp32 buckets, AdamW's two fp32 moments, the trainer's fp32 EMA."""
    return {"weights": 2 * r.frozen + 4 * r.trainable, "encoders": gpu_encoder_bytes(r),
            "grads": 4 * r.trainable, "optimizer": 8 * r.trainable, "ema": 4 * r.trainable, "buckets": 4 * r.trainable,
            "activations": activations}


def fsdp_plan(r: Resident, activations: int) -> dict[str, float]:
    """FSDP2 full shard over ``GPUS``: bf16 frozen and fp32 trainable shards plus the unsharded bf16 working set
    (and its bf16 gradients), sharded fp32 gradients, AdamW moments and EMA."""
    return {"weights": (2 * r.frozen + 4 * r.trainable) / GPUS + 2 * r.inflight,
            "encoders": gpu_encoder_bytes(r), "grads": 4 * r.trainable / GPUS + 2 * r.inflight_trainable,
            "optimizer": 8 * r.trainable / GPUS, "ema": 4 * r.trainable / GPUS, "buckets": 0,
            "activations": activations}


def wan_memory_plan(config: TrainConfig, sizes: dict[str, tuple[int, int]] | None = None, full: bool = False,
                    counts: WanCounts | None = None) -> list[str]:
    """The plan's lines: per GPU, batch ``config.batch_size``, ``config.data.num_frames`` frames, DDP and FSDP."""
    sizes = SIZES if sizes is None else sizes
    counts = count_parameters(config) if counts is None else counts
    frames, r = config.data.num_frames, resident_counts(config, counts)
    t_lat = latent_grid(frames, (8, 8))[0]
    rows = [f"memory plan per GPU: batch {config.batch_size} × {frames} frames ({t_lat} + 1 latent frames), bf16, "
            f"gradient checkpointing {'on' if config.gradient_checkpointing else 'off'}, {GPUS} GPUs (GiB)",
            f"{'size':<16}{'strategy':<9}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'peak':>8}   fits "
            f"(peak < {MARGIN:.0%} of): " + ", ".join(GPU_MEMORY)]
    notes, peaks = [], {}
    for name, size in sizes.items():
        activations, how, seconds = traced_activations(config, frames, size, full)
        label = f"{name} {size[1]}x{size[0]}"
        for strategy, plan in (("DDP", ddp_plan(r, activations)), ("FSDP", fsdp_plan(r, activations))):
            peaks[(name, strategy)] = total = sum(plan.values())
            rows.append(f"{label:<16}{strategy:<9}" + "".join(f"{plan[c] / GiB:>12.1f}" for c in COLUMNS)
                        + f"{total / GiB:>8.1f}   " + ", ".join("yes" if total < MARGIN * cap else "no"
                                                                for cap in GPU_MEMORY.values()))
        notes.append(f"  {label}: {token_count(frames, size):,} video tokens; activations {how} ({seconds:.0f} s)")
    rows += notes + [
        f"weights: the frozen base in bf16 ({r.frozen / 1e9:.2f} B) + the trainable parameters in fp32 "
        f"({r.trainable / 1e6:,.1f} M; FSDP: both /{GPUS}, plus {r.inflight / 1e6:,.0f} M unsharded in bf16: the "
        "root group and the two largest wrapped blocks); encoders: the frozen "
        + (", ".join(f"{k} {2 * v / GiB:.1f}" for k, v in r.encoders.items() if k not in ON_CPU) + " GiB in bf16"
           if r.encoders else "small random ones (no folders configured)")
        + "".join(f" ({k}, {2 * v / GiB:.1f} GiB in bf16, stays in each process's CPU memory: the prompt is fixed and "
                  "encoded once)" for k, v in r.encoders.items() if k in ON_CPU)
        + "; grads: fp32 (FSDP: sharded, plus the working set's bf16 ones); "
        "optimizer: AdamW's two fp32 moments; ema: fp32; buckets: DDP's fp32 gradient "
        "buckets; activations: traced (saved + recomputed + temporaries + the transformer's inputs)",
        "not in the figures: the CUDA context and NCCL buffers (~1-2 GiB), the allocator's fragmentation (the "
        f"{1 - MARGIN:.0%} margin), and the frozen encoders' own calls (VAE encode of the clip and pose video, CLIP), "
        "which run under no_grad before the transformer",
        "published: " + "; ".join(PUBLISHED), verdict(peaks, sizes)]
    return rows


def verdict(peaks: dict, sizes: dict) -> str:
    """Which strategies fit an 80 GB GPU with the margin, per size."""
    parts = []
    for name in sizes:
        ok = [s for (n, s), total in peaks.items() if n == name and total < MARGIN * GPU_MEMORY["80 GB"]]
        parts.append(f"{name}: {', '.join(ok) or 'neither DDP nor FSDP'} fits 80 GB")
    return "verdict: " + "; ".join(parts)


# ------------------------------------------------------------------------------------------ the dry run
def wan_dry_run(config: TrainConfig) -> list[str]:
    """``interanimate train --dry-run`` for ``model.backbone: wan``: the parameter report; one real training step
    on this CPU when the model fits its memory (random weights, a synthetic batch of the config's size); the memory
    plan — at Wan's 480p and 720p for a model too large to step here, else at the config's own size."""
    from interanimate.training.dry_run import available_memory

    counts = count_parameters(config)
    rows = [f"dry run (model.backbone: wan): {config.model.wan.transformer}, nothing loaded, no data read",
            *wan_parameter_report(config, counts)]
    need, free = 16 * counts.total + GiB, available_memory()  # fp32 weights, gradients, AdamW moments
    if free is not None and need > free:
        rows.append(f"no training step runs here: one fp32 step of {counts.total / 1e9:.1f} B parameters needs about "
                    f"{need / GiB:.0f} GiB, this machine has {free / GiB:.0f} GiB available; the real step runs on "
                    "the tiny config in the CPU tests (configs/train_wan_tiny.yaml)")
        sizes = SIZES
    else:
        rows += real_step(config)
        sizes = {"config": tuple(config.data.size or (32, 32))}
    return rows + [""] + wan_memory_plan(config, sizes=sizes, counts=counts)


def real_step(config: TrainConfig) -> list[str]:
    """One training step of the trainer's own code on the CPU: random weights (no folder is read), a synthetic batch
    of the config's frames and size, no EMA; returns the lines saying what it gave."""
    import tempfile
    import time

    from interanimate.training.build import id_embed_dim
    from interanimate.training.config import config_from_dict, config_to_dict
    from interanimate.training.dry_run import synthetic_batch
    from interanimate.training.state import step_generator
    from interanimate.training.trainer import Trainer

    with tempfile.TemporaryDirectory(prefix="interanimate-dry-run-") as scratch:
        data = config_to_dict(config)
        data.update(device="cpu", ema_decay=0.0, output_dir=scratch)
        data["data"].update(synth=None, num_workers=0, size=list(config.data.size or (32, 32)))
        data["model"]["wan"].update(base=None, vae=None, image_encoder=None, text_encoder=None, tokenizer=None)
        cfg = config_from_dict(data)
        start = time.perf_counter()
        trainer = Trainer(cfg)
        trainer.build_models()
        trainer.prepare()
        batch = synthetic_batch(cfg, id_embed_dim(cfg.model) or 1)
        parts = trainer.training_step(batch, step_generator(cfg.seed, 0, 0))
        trainer.accelerator.backward(parts["loss"])
        trainer.optimizer.step()
        seconds = time.perf_counter() - start
    h, w = cfg.data.size
    return [f"one training step on this CPU (random weights, synthetic batch {cfg.batch_size} × {cfg.data.num_frames} "
            f"× {h}×{w}): loss {float(parts['loss']):.4f} (flow matching {float(parts['loss_diff']):.4f}, "
            f"orthogonality {float(parts['loss_orth']):.4f}), {seconds:.1f} s with the build"]
