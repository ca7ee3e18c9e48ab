"""Checkpoints of a training run: written atomically, read back exactly, and what a kill leaves half-written removed.

``checkpoints/step-N/`` holds accelerate's ``save_state`` (model weights, optimizer, every process's RNG state; under
FSDP as sharded DCP folders), the EMA as ``ema.safetensors`` (whole fp32 tensors whatever the strategy) and
``trainer_state.json`` (the step, the LR schedule's state, the resolved config): the trainer's own state is no
pickle. It is written into ``checkpoints/.tmp-step-N`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from interanimate.errors import UserError
from interanimate.training.config import config_to_dict
from interanimate.training.state import (CHECKPOINT_DIR, CHECKPOINT_PREFIX, EMA_FILE, FINAL_DIR, FIRST_STAGE_DIR,
                                         LOG_DIR, list_checkpoints)
from interanimate.utils.io import normal_permissions

STATE_FILE = "trainer_state.json"
# what a killed run can leave half-written under output_dir (every one is written elsewhere and renamed into place)
TEMPORARY_PATTERNS = (f"{CHECKPOINT_DIR}/.tmp-*", f"{FIRST_STAGE_DIR}/*.tmp", f"{FINAL_DIR}.tmp", ".config.json.*",
                      f"{LOG_DIR}/.*.csv.*", "validation/.*.png.*")


def save_checkpoint(trainer) -> Path:
    """Checkpoint ``trainer`` into ``checkpoints/step-N`` atomically; every process calls it."""
    root = trainer.output_dir / CHECKPOINT_DIR
    final = root / f"{CHECKPOINT_PREFIX}{trainer.step:08d}"
    tmp = root / f".tmp-{CHECKPOINT_PREFIX}{trainer.step:08d}"
    accelerator = trainer.accelerator
    if trainer.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if trainer.ema is not None:  # every process: under FSDP the averages are gathered from the shards
        trainer.ema.save(tmp / EMA_FILE, write=trainer.is_main)
    accelerator.wait_for_everyone()
    if trainer.is_main:
        config = json.loads(json.dumps(config_to_dict(trainer.config), default=str))  # paths as strings
        # the schedule's state strictly: a value JSON cannot hold raises here instead of coming back as a string
        (tmp / STATE_FILE).write_text(json.dumps(
            {"step": trainer.step, "lr_scheduler": trainer.lr_scheduler.state_dict(), "config": config}, indent=2))
        normal_permissions(tmp)
        if final.exists():  # the same step saved again (a restart without --resume): out of the way first
            discard(final)
        os.replace(tmp, final)
        for old in list_checkpoints(trainer.output_dir)[:-trainer.config.checkpoints_keep]:
            discard(old)
        trainer.log(f"checkpoint: {final}")
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(trainer, path: Path) -> None:
    """Restore what ``save_checkpoint`` wrote into the prepared ``trainer``; every process calls it."""
    state = json.loads((path / STATE_FILE).read_text())
    if "lr_scheduler" not in state:
        raise UserError(f"--resume {path}: written by an older version of the trainer (its EMA and learning-rate "
                        f"state are pickles; this one reads {EMA_FILE} and {STATE_FILE}); start without "
                        "--resume, or from model.init_from")
    if trainer.ema is not None and not (path / EMA_FILE).is_file():
        raise UserError(f"--resume {path}: the checkpoint has no {EMA_FILE} (written with ema_decay: 0) but this "
                        "run keeps an EMA; resume with ema_decay: 0, or start from model.init_from")
    trainer.accelerator.load_state(str(path))
    trainer.lr_scheduler.load_state_dict(state["lr_scheduler"])
    if trainer.ema is not None:
        trainer.ema.load(path / EMA_FILE)
    trainer.step = int(state["step"])
    trainer.log(f"resumed from {path} at step {trainer.step}")


def remove_temporaries(output_dir: Path) -> None:
    """Delete what a killed run left half-written (see ``TEMPORARY_PATTERNS``)."""
    for pattern in TEMPORARY_PATTERNS:
        for path in output_dir.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def discard(folder: Path) -> None:
    """Remove a folder so that it vanishes at once (renamed to a temporary name first; a kill during the deletion
    leaves only that, which the next start-up deletes)."""
    doomed = folder.with_name(f".tmp-discard-{folder.name}")
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
