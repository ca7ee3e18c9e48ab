"""Training state that a checkpoint carries or implies: the per-step random generators, checkpoint discovery,
the learning-rate schedule and the EMA of the trainable weights."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

# the layout of a run's output_dir
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "step-"
FIRST_STAGE_DIR = "first_stage"
FINAL_DIR = "final"
LOG_DIR = "logs"
SHARED_SPAWN_KEY = 1  # shared_step_generator's SeedSequence spawn key


def step_generator(seed: int, rank: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator that depends only on (seed, rank, step, stream): resumable without saving its state."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, step, stream]).generate_state(1)[0]))


def shared_step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The same generator on every process: for the draws all processes must agree on (which parameters a step
    uses: FSDP reduces the gradients of a parameter group only when every process has them). Its own spawn key keeps
    it apart from every ``step_generator`` (SeedSequence ignores trailing zeros: ``[seed, r, s, 0]`` is
    ``[seed, r, s]``)."""
    sequence = np.random.SeedSequence([seed, step, stream], spawn_key=(SHARED_SPAWN_KEY,))
    return torch.Generator().manual_seed(int(sequence.generate_state(1)[0]))


def drop_conditions(conditions, cond, batch: int, generator: torch.Generator, shared: torch.Generator | None,
                    device):
    """A step's classifier-free-guidance dropout, in one order for every backbone: whether the whole batch trains
    unconditionally (drawn from ``shared``, equal on every process; default ``generator``), then per sample the image
    condition, the second one (the SVD reference latent; Wan's face video) and the identity. ``conditions``: the
    backbone's conditions (``UNetConditions`` / ``WanConditions``: ``dropped`` and ``unconditional``); ``cond``: the
    run's ``ConditioningConfig``."""
    drop_all = bool(torch.rand(1, generator=shared if shared is not None else generator) < cond.drop_all)
    keep_image = (torch.rand(batch, generator=generator) >= cond.drop_image).float().to(device)  # (B,)
    keep_second = (torch.rand(batch, generator=generator) >= cond.drop_latents).float().to(device)  # (B,)
    keep_identity = (torch.rand(batch, generator=generator) >= cond.drop_identity).float().to(device)  # (B,)
    conditions = conditions.dropped(keep_image, keep_second, keep_identity)
    return conditions.unconditional() if drop_all else conditions


# the batch keys of the masks weighting the region loss, by ``loss.weight_masks``
LOSS_MASK_KEYS = {"annotation": ("hand_silhouette", "face_silhouette"), "keypoints": ("hand_mask", "face_mask")}


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
             and p.name[len(CHECKPOINT_PREFIX):].isdigit() and (p / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def checkpoint_damage(path: Path) -> str | None:
    """None when the checkpoint folder ``path`` reads back whole — ``trainer_state.json`` parses with its step, every
    safetensors file's header and data agree, every torch/zip file's entries pass their CRC, no file is empty — else
    one line naming the damaged file."""
    import zipfile

    state = path / "trainer_state.json"
    try:
        if not isinstance(json.loads(state.read_text(encoding="utf-8")).get("step"), int):
            return f"{state}: no step"
    except (OSError, ValueError, AttributeError) as err:
        return f"{state}: does not parse ({type(err).__name__})"
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.stat().st_size == 0:
            return f"{file}: empty"
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(file), framework="pt") as handle:
                    for key in handle.keys():
                        handle.get_slice(key)
            except Exception as err:  # noqa: BLE001 - any unreadable file is one line naming it
                return f"{file}: truncated or corrupt ({' '.join(str(err).split())[:120]})"
        elif file.suffix in (".bin", ".pt") and zipfile.is_zipfile(file):
            try:
                with zipfile.ZipFile(file) as archive:
                    bad = archive.testzip()
            except (zipfile.BadZipFile, OSError) as err:
                return f"{file}: truncated or corrupt ({err})"
            if bad is not None:
                return f"{file}: corrupt entry {bad}"
        elif file.suffix in (".bin", ".pt"):
            return f"{file}: truncated or corrupt (not a torch archive)"
    return None


def resolve_resume(output_dir: str | os.PathLike, resume: str | None, log=None) -> Path | None:
    """``None`` -> no resume; ``"latest"`` -> the newest checkpoint that reads back whole (a damaged newer one is
    skipped and said through ``log``; None when there is none at all; ``UserError`` naming the damage when every one
    is damaged); else that path, which must read back whole."""
    from interanimate.errors import UserError

    if not resume:
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        damage = None
        for path in reversed(found):
            damage = checkpoint_damage(path)
            if damage is None:
                return path
            if log is not None:
                log(f"checkpoint {path.name} is damaged ({damage}); trying the one before")
        if found:
            raise UserError(f"--resume latest: every checkpoint in {Path(output_dir) / CHECKPOINT_DIR} is damaged "
                            f"({damage}); delete them to start again, or resume from a copy")
        return None
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"--resume {resume}: not a checkpoint folder (no trainer_state.json)")
    damage = checkpoint_damage(path)
    if damage is not None:
        raise UserError(f"--resume {resume}: damaged: {damage}")
    return path


def lr_factor(step: int, warmup: int, decay: int, max_steps: int) -> float:
    """Multiplier of the learning rate after ``step`` optimizer steps: linear warm-up over ``warmup`` steps, then
    constant, then (``decay`` > 0) linear to 0 over the last ``decay`` of ``max_steps``."""
    factor = min(1.0, (step + 1) / max(1, warmup))
    if decay > 0:
        factor *= min(1.0, max(0.0, (max_steps - step) / decay))
    return factor


EMA_FILE = "ema.safetensors"


class EMA:
    """Exponential moving average of named parameters, with warm-up ``min(decay, (1 + n) / (10 + n))``.

    The averages have the parameters' layout: whole tensors, or under FSDP the process's shard (a DTensor), so that
    ``update`` and ``applied`` are local. ``save`` / ``load`` use one file of whole fp32 tensors (``ema.safetensors``,
    not a pickle) whatever the layout; under FSDP every process must call them (``save`` gathers the shards one
    tensor at a time to the writing process; ``load`` reads the whole file on every process, each keeping its
    shard)."""

    def __init__(self, named_params: list[tuple[str, Tensor]], decay: float):
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: p.detach().clone().float() for name, p in named_params}

    @torch.no_grad()
    def update(self, named_params: list[tuple[str, Tensor]]) -> None:
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for name, p in named_params:
            self.shadow[name].lerp_(p.detach().float(), 1.0 - decay)

    @contextmanager
    def applied(self, named_params: list[tuple[str, Tensor]]):
        """Context: the model's weights are the averages inside it and exactly what they were after it. The averages
        are not touched (a swap through the weights would round them to the weights' dtype, e.g. DeepSpeed's bf16);
        the weights wait on the CPU meanwhile."""
        with torch.no_grad():
            kept = {name: _local(p).detach().to("cpu", copy=True) for name, p in named_params}
            for name, p in named_params:
                p.copy_(self.shadow[name].to(p.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in named_params:
                    local = _local(p)
                    local.copy_(kept[name].to(local.device))

    @torch.no_grad()
    def save(self, path: str | os.PathLike, write: bool) -> None:
        """The averages as whole tensors into ``path`` (safetensors), written by the process with ``write``."""
        from safetensors.torch import save_file

        whole = {}
        for name, value in self.shadow.items():  # one order on every process: the gathers pair up
            full = value.full_tensor() if _is_dtensor(value) else value
            if write:
                whole[name] = full.detach().to("cpu", copy=True).contiguous()
            del full
        if write:
            # one metadata entry: safetensors writes several in hash order, so the same state could differ in bytes
            meta = json.dumps({"decay": self.decay, "num_updates": self.num_updates}, sort_keys=True)
            save_file(whole, str(path), metadata={"ema": meta})

    @torch.no_grad()
    def load(self, path: str | os.PathLike) -> None:
        """Restore the averages and the update count from ``save``'s file; the decay stays the configured one (a
        resume may change it). Under FSDP each process keeps its own shard of every whole tensor."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            mismatch = names ^ set(self.shadow)
            if mismatch:
                raise KeyError(f"EMA state does not match the trainable parameters: {sorted(mismatch)[:5]}")
            self.num_updates = int(json.loads(f.metadata()["ema"])["num_updates"])
            for name, value in self.shadow.items():
                full = f.get_tensor(name)
                if tuple(full.shape) != tuple(value.shape):
                    raise ValueError(f"EMA state: {name} is {tuple(full.shape)}, the parameter {tuple(value.shape)}")
                if _is_dtensor(value):
                    from torch.distributed.tensor import distribute_tensor
                    # every process holds the whole tensor: each keeps its shard, with no communication
                    full = distribute_tensor(full.to(value.device), value.device_mesh, value.placements,
                                             src_data_rank=None)
                value.copy_(full)


def _local(value: Tensor) -> Tensor:
    """A DTensor's local shard (a view of its storage), any other tensor itself."""
    return value.to_local() if _is_dtensor(value) else value


def _is_dtensor(value: Tensor) -> bool:
    from torch.distributed.tensor import DTensor
    return isinstance(value, DTensor)
