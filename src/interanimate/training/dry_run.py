"""``interanimate train --config FILE --dry-run``: one real training step of the configured model, at its full width,
on this machine's CPU, with random weights: a recipe is checked before any GPU is rented.

What runs is the trainer's own code: ``build_models`` (the named UNet size with every InterAnimate module, the
configured parameter groups and ``requires_grad``, the optimizer's groups and learning rates, the LR schedule),
``prepare``, ``training_step`` (VAE encoding, reference noise augmentation, CFG dropout draws, σ sampling, the
preconditioned UNet call with pose, masks and identity, the region-weighted loss + λ·orthogonality),
``accelerator.backward``, ``clip_grad_norm_`` and the LR schedule step, on one synthetic batch.

What differs from the real run, and why (a 1.55 B-parameter UNet with fp32 AdamW needs ~25 GB, more than a
workstation has to spare; ``DryRunReport.lines`` prints all of it):

* random weights: no SVD folder, no dataset; the first stage and the image encoder are the small random ones
  (SVD's VAE and CLIP are frozen in the paper's recipe and do not change what trains);
* a small clip (``frames`` × ``size``: 2 × 64×64 pixels, 8×8 latents) instead of 16 × 384×640;
* the UNet's weights and gradients are held in the configured mixed-precision dtype (bf16) instead of fp32, and the
  UNet call runs under ``torch.autocast`` in that dtype (``Trainer.autocast``: what DeepSpeed's bf16 engine does);
* the optimizer update is the configured one (the same class, groups and hyperparameters) applied ``chunk``
  parameters at a time to fp32 master copies, each copy and its optimizer state freed after its chunk — numerically
  one step of the same optimizer (AdamW is elementwise), only the state's lifetime differs; the real run keeps the
  state (DDP: on every GPU; ZeRO-2: an eighth on each);
* no EMA copy (the real run keeps one in fp32), no CFG dropout (every branch of the model gets a gradient), no
  checkpoint, preview or export.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import torch

from interanimate.errors import UserError
from interanimate.training.config import TrainConfig, config_from_dict, config_to_dict

DRY_RUN_FRAMES = 2
DRY_RUN_SIZE = (64, 64)  # pixels (8×8 latents)
OPTIMIZER_CHUNK = 50_000_000  # parameters per optimizer sub-step
GiB = 2 ** 30
INTERANIMATE_GROUPS = ("pose_encoder", "interaction_latents", "region", "id_preserver")
WEIGHT_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "no": torch.float32}


@dataclass
class GroupReport:
    name: str
    params: int
    weight_bytes: int  # as held in the dry run
    grad_norm: float  # before clipping
    state_bytes: int  # optimizer state measured on the fp32 masters (what the real run keeps per full copy)
    max_update: float  # max |Δw| of the fp32 masters


@dataclass
class DryRunReport:
    config: TrainConfig  # the dry run's config (the user's, with the changes above)
    dtype: torch.dtype
    frames: int
    size: tuple[int, int]
    loss: float
    loss_diff: float
    loss_orth: float
    grad_norm: float
    lr: float
    groups: list[GroupReport]
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_gib: float | None = None

    @property
    def trainable(self) -> int:
        return sum(g.params for g in self.groups)

    def lines(self, source: TrainConfig) -> list[str]:
        """The printout: what ran, per-group parameters and optimizer state, what the real run holds instead."""
        o, mp = source.optim, source.mixed_precision
        dt = str(self.dtype).removeprefix("torch.")
        size = "×".join(map(str, self.size))
        real = source.data.size or ["stored"]
        out = [
            f"dry run: model {source.model.unet} with random weights, one training step on the CPU",
            f"  batch: {self.config.batch_size} × {self.frames} frames × {size} px (synthetic; the real run: "
            f"{source.batch_size} × {source.data.num_frames} × {'×'.join(map(str, real))} per process)",
            f"  weights and gradients: {dt}" + (f" (real run: fp32 under {mp} autocast with DDP, {mp} with fp32 "
                                                 f"masters under ZeRO-2); UNet call under torch.autocast({dt})"
                                                 if mp != "no" else " (as the real run)"),
            f"  optimizer: {o.name} (lr {o.lr:g}, betas {tuple(o.betas)}, weight decay {o.weight_decay:g}), stepped "
            f"{OPTIMIZER_CHUNK // 10**6} M parameters at a time on fp32 masters, each chunk's state freed after it",
            f"  EMA: not held here (real run: an fp32 copy of the trainable weights, "
            f"{4 * self.trainable / GiB:.2f} GiB per process); CFG dropout off; first stage and image encoder small "
            "and random",
            f"loss {self.loss:.4f} (diffusion {self.loss_diff:.4f}, orthogonality {self.loss_orth:.4f}), "
            f"grad norm {self.grad_norm:.4g} (clipped to {o.grad_clip:g}), lr of this first step {self.lr:.3g} "
            f"(warm-up {o.lr_warmup_steps} steps): AdamW's first step moves every weight with a gradient by ±lr",
            "",
            f"{'group':<22}{'parameters':>14}{'weights here':>14}{'grad norm':>12}{'max |Δw|':>11}"
            f"{'AdamW state':>14}{'/8 (ZeRO-2)':>13}",
        ]
        for g in self.groups:
            out.append(f"{g.name:<22}{g.params / 1e6:>12,.2f} M{_gib(g.weight_bytes):>14}{g.grad_norm:>12.3g}"
                       f"{g.max_update:>11.2g}{_gib(g.state_bytes):>14}{_gib(g.state_bytes / 8):>13}")
        modules = [g for g in self.groups if g.name in INTERANIMATE_GROUPS]
        added = sum(g.params for g in modules)
        total_state = sum(g.state_bytes for g in self.groups)
        out += [f"{'total':<22}{self.trainable / 1e6:>12,.2f} M{_gib(sum(g.weight_bytes for g in self.groups)):>14}"
                f"{'':>12}{'':>11}{_gib(total_state):>14}{_gib(total_state / 8):>13}",
                f"added by InterAnimate: {added / 1e6:.2f} M parameters "
                + "(" + ", ".join(f"{g.name} {g.params / 1e6:.2f} M" for g in modules) + ")",
                "AdamW state = fp32 exp_avg + exp_avg_sq + step, measured on the masters; '/8': what one of 8 GPUs "
                "holds under ZeRO-2",
                "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
                + (f"; peak RSS {self.peak_rss_gib:.2f} GiB" if self.peak_rss_gib is not None else "")]
        return out


def _gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / 2 ** 20:.1f} MiB"


def dry_run_config(config: TrainConfig, frames: int = DRY_RUN_FRAMES,
                   size: tuple[int, int] = DRY_RUN_SIZE, output_dir: str | None = None) -> TrainConfig:
    """``config`` with what the dry run changes: CPU, random weights, small first stage and image encoder, a small
    clip, no EMA, no CFG dropout; everything else (model size and options, trainable groups, loss, optimizer) kept."""
    data = config_to_dict(config)
    data.update(device="cpu", ema_decay=0.0, output_dir=output_dir or data["output_dir"])
    data["data"].update(num_frames=frames, size=list(size), synth=None, num_workers=0)
    model = data["model"]
    model["svd_unet"] = None
    vae = model["vae"]
    vae.update(pretrained=None, train_steps=0, kind="temporal" if vae["kind"] == "pca" else vae["kind"])
    model["image_encoder"]["pretrained"] = None
    data["conditioning"].update(drop_all=0.0, drop_image=0.0, drop_latents=0.0)
    return config_from_dict(data)


def memory_needed(unet_params: int, dtype: torch.dtype, chunk: int = OPTIMIZER_CHUNK) -> int:
    """Bytes the dry run holds at its peak: the fp32 UNet as built, or its weights + gradients in ``dtype`` plus one
    chunk's fp32 master, gradient and AdamW moments (16 bytes per parameter), plus ~1 GiB for torch itself."""
    width = torch.finfo(dtype).bits // 8
    return max(4 * unet_params, 2 * width * unet_params + 16 * min(chunk, unet_params)) + GiB


def unet_parameter_count(config: TrainConfig) -> int:
    """Parameters of the configured UNet, counted on the meta device (nothing allocated, no weights read)."""
    from pathlib import Path

    from interanimate.models import InterAnimateUNet
    from interanimate.training.build import unet_kwargs

    folder = Path(config.model.unet)
    with torch.device("meta"):
        model = (InterAnimateUNet.from_config(InterAnimateUNet.load_config(folder)) if folder.is_dir()
                 else InterAnimateUNet(**unet_kwargs(config.model)))
    return sum(p.numel() for p in model.parameters())


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def synthetic_batch(config: TrainConfig, id_dim: int) -> dict:
    """One batch with the keys and shapes ``InterHFDataset`` yields: frames, reference, pose in [-1, 1]; a hand box
    and a face box as masks; a random identity vector."""
    g = torch.Generator().manual_seed(config.seed)
    b, f, (h, w) = config.batch_size, config.data.num_frames, config.data.size
    hand, face = torch.zeros(b, f, 1, h, w), torch.zeros(b, f, 1, h, w)
    hand[..., h // 2:7 * h // 8, w // 8:w // 2] = 1.0
    face[..., h // 8:h // 2, 3 * w // 8:5 * w // 8] = 1.0
    frames = torch.rand(b, f, 3, h, w, generator=g) * 2 - 1  # (B, F, 3, H, W)
    return {"frames": frames, "reference": frames[:, 0].clone(),  # (B, 3, H, W)
            "pose": torch.rand(b, f, 3, h, w, generator=g) * 2 - 1, "hand_mask": hand, "face_mask": face,
            "hand_silhouette": hand.clone(), "face_silhouette": face.clone(),  # the stored masks (loss weights)
            "identity_embedding": torch.randn(b, id_dim, generator=g)}


def dry_run(config: TrainConfig, frames: int = DRY_RUN_FRAMES, size: tuple[int, int] = DRY_RUN_SIZE,
            chunk: int = OPTIMIZER_CHUNK, check_memory: bool = True) -> DryRunReport:
    """Build ``config``'s model with random weights and run one training step on the CPU (see the module doc)."""
    from interanimate.training.build import id_embed_dim

    dtype = WEIGHT_DTYPES[config.mixed_precision]
    scratch = tempfile.mkdtemp(prefix="interanimate-dry-run-")
    cfg = dry_run_config(config, frames, size, output_dir=scratch)
    if check_memory:
        count = unet_parameter_count(cfg)
        need, free = memory_needed(count, dtype, chunk), available_memory()
        if free is not None and free < need:
            raise UserError(f"--dry-run: needs about {need / GiB:.1f} GiB of free memory for {count / 1e6:,.1f} M "
                            f"UNet parameters, {free / GiB:.1f} GiB available")
    try:
        return _run(cfg, dtype, chunk, id_embed_dim(cfg.model) or 1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(cfg: TrainConfig, dtype: torch.dtype, chunk: int, id_dim: int) -> DryRunReport:
    from interanimate.training.state import step_generator
    from interanimate.training.trainer import Trainer

    seconds, start = {}, time.perf_counter()
    trainer = Trainer(cfg)
    trainer.build_models()
    _cast_weights(trainer.unet, dtype)
    trainer.residual_scale = 1.0
    trainer.prepare()
    seconds["build"] = time.perf_counter() - start
    groups = {g["name"]: g["params"] for g in trainer.optimizer.param_groups}

    start = time.perf_counter()
    acc = trainer.accelerator
    with acc.accumulate(*trainer.prepared):
        parts = trainer.training_step(synthetic_batch(cfg, id_dim), step_generator(cfg.seed, trainer.rank, 0))
        acc.backward(parts["loss"])
    seconds["forward+backward"] = time.perf_counter() - start

    start = time.perf_counter()
    norms = {name: _grad_norm(params) for name, params in groups.items()}
    grad_norm = float(acc.clip_grad_norm_([p for _, p in trainer.trainable_named], cfg.optim.grad_clip))
    lr = trainer.optimizer.param_groups[0]["lr"]  # this step's (the warm-up's first)
    states, updates = step_in_chunks(trainer.optimizer.optimizer, chunk)
    with warnings.catch_warnings():  # the chunks stepped other optimizer objects than the one the schedule watches
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
        trainer.lr_scheduler.step()
    seconds["optimizer"] = time.perf_counter() - start
    reports = [GroupReport(name, sum(p.numel() for p in params), sum(p.nbytes for p in params), norms[name],
                           states.get(name, 0), updates.get(name, 0.0)) for name, params in groups.items()]
    return DryRunReport(cfg, dtype, cfg.data.num_frames, tuple(cfg.data.size), float(parts["loss"].detach()),
                        float(parts["loss_diff"]), float(parts["loss_orth"]), grad_norm, lr, reports, seconds,
                        peak_rss_gib())


def step_in_chunks(optimizer: torch.optim.Optimizer, chunk: int) -> tuple[dict[str, int], dict[str, float]]:
    """One ``optimizer`` step, ``chunk`` parameters at a time, on fp32 master copies (written back in the weights'
    dtype); each chunk's masters and state are freed after it, and each gradient once used. Returns, per group name,
    the optimizer-state bytes and the largest update of the masters."""
    states, updates = {}, {}
    for group in optimizer.param_groups:
        options = {k: v for k, v in group.items() if k != "params"}
        params = [p for p in group["params"] if p.grad is not None]
        name = group.get("name", "params")
        states.setdefault(name, 0), updates.setdefault(name, 0.0)
        for part in _split(params, chunk):
            masters = [torch.nn.Parameter(p.detach().to(torch.float32, copy=True)) for p in part]  # fp32 copies
            for master, p in zip(masters, part):
                master.grad, p.grad = p.grad.float(), None
            sub = type(optimizer)([{**options, "params": masters}])
            sub.step()
            with torch.no_grad():
                for master, p in zip(masters, part):
                    updates[name] = max(updates[name], float((master - p.float()).abs().max()))
                    p.copy_(master)
            states[name] += sum(t.nbytes for m in masters for t in sub.state[m].values() if torch.is_tensor(t))
            del sub, masters
    return states, updates


def _split(params: list, chunk: int):
    part, count = [], 0
    for p in params:
        part.append(p)
        count += p.numel()
        if count >= chunk:
            yield part
            part, count = [], 0
    if part:
        yield part


def _grad_norm(params: list) -> float:
    norms = [p.grad.float().norm() for p in params if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


def _cast_weights(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """Parameters and floating buffers to ``dtype`` in place (the same Parameter objects, which the optimizer holds)."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.is_floating_point():
                t.data = t.data.to(dtype)


def peak_rss_gib() -> float | None:
    """This process's peak resident memory (VmHWM) in GiB (None where /proc has no such field)."""
    from interanimate.utils.memory import rss_status

    try:
        return rss_status("VmHWM") / GiB
    except (OSError, RuntimeError):
        return None
