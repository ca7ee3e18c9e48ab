"""Training state that a checkpoint carries or implies: the per-step random generators, checkpoint discovery,
the learning-rate schedule and the EMA of the trainable weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "step-"


def step_generator(seed: int, rank: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator that depends only on (seed, rank, step, stream): resumable without saving its state."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, step, stream]).generate_state(1)[0]))


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
             and p.name[len(CHECKPOINT_PREFIX):].isdigit() and (p / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def resolve_resume(output_dir: str | os.PathLike, resume: str | None) -> Path | None:
    """``None`` -> no resume; ``"latest"`` -> newest complete checkpoint (None when there is none); else a path."""
    if not resume:
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        from interanimate.errors import UserError
        raise UserError(f"--resume {resume}: not a checkpoint folder (no trainer_state.json)")
    return path


def lr_factor(step: int, warmup: int, decay: int, max_steps: int) -> float:
    """Multiplier of the learning rate after ``step`` optimizer steps: linear warm-up over ``warmup`` steps, then
    constant, then (``decay`` > 0) linear to 0 over the last ``decay`` of ``max_steps``."""
    factor = min(1.0, (step + 1) / max(1, warmup))
    if decay > 0:
        factor *= min(1.0, max(0.0, (max_steps - step) / decay))
    return factor


class EMA:
    """Exponential moving average of named parameters, with warm-up ``min(decay, (1 + n) / (10 + n))``."""

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

    @torch.no_grad()
    def swap(self, named_params: list[tuple[str, Tensor]]) -> None:
        """Exchange the model's weights with the averages (call twice to restore)."""
        for name, p in named_params:
            current = p.detach().float().clone()
            p.copy_(self.shadow[name].to(p.dtype))
            self.shadow[name].copy_(current)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        """Restores the averages and the update count; the decay stays the configured one (a resume may change it)."""
        self.num_updates = state["num_updates"]
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise KeyError(f"EMA state does not match the trainable parameters: {sorted(missing)[:5]}")
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
