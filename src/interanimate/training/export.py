"""What reads the whole trained weights: the validation preview grids and the exported pipeline.

Under DDP, DeepSpeed ZeRO-2 or one process, every process holds whole weights: the models used are the ones
training. Under FSDP each process holds shards (DTensors): the whole state dict is gathered (a collective: every
process calls ``validate`` / ``export``) to the main process, which builds plain copies of the models from it and
renders or writes; the others get None and wait.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from interanimate.training.state import FINAL_DIR
from interanimate.utils.io import save_pretrained_atomic


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of ``module`` is a DTensor (FSDP2's shards)."""
    from torch.distributed.tensor import DTensor
    return any(isinstance(p, DTensor) for p in module.parameters())


def plain_class(module: nn.Module) -> type:
    """The model's own class: FSDP2 turns ``Model`` into a generated subclass ``FSDPModel`` of ``FSDPModule``."""
    from torch.distributed.fsdp import FSDPModule
    return next(c for c in type(module).__mro__ if not issubclass(c, FSDPModule))


def gathered_copy(module: nn.Module, is_main: bool, device=None) -> nn.Module | None:
    """A plain, unsharded copy of an FSDP2 model on the main process (None elsewhere), in the shards' dtype, on
    ``device`` (default: the CPU).

    Every process must call it: the full state dict is gathered one parameter group at a time and kept on the
    main process's CPU only (``cpu_offload``); only then is the copy moved to ``device``."""
    from accelerate import init_empty_weights
    from diffusers.configuration_utils import ConfigMixin
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not is_main:
        return None
    cls = plain_class(module)
    with init_empty_weights():  # parameters on the meta device (buffers real); the gathered tensors are assigned
        plain = cls.from_config(module.config) if issubclass(cls, ConfigMixin) else cls(module.config)
        for name, adapter in getattr(module, "peft_config", {}).items():  # LoRA (the Wan backbone): the same layers
            plain.add_adapter(copy.deepcopy(adapter), adapter_name=name)
    plain.load_state_dict(state, strict=True, assign=True)
    return plain.eval().to(device or "cpu")


@contextmanager
def whole_models(models: dict[str, nn.Module], is_main: bool, ema=None, trainable_named=None, device=None):
    """Yield ``{name: model}`` with whole weights on the main process (``None`` on the others); with ``ema``, the
    averaged weights (applied where they are read — the main process; under FSDP every process — for the duration,
    then the weights put back exactly).

    ``models`` are the unwrapped training models; the ones that are not sharded are yielded as they are (put them in
    eval mode yourself if you run them); sharded ones as copies on ``device`` (default CPU: on a GPU, the copy of
    the svd-xt UNet takes 6.1 GB beside the training state for as long as it is held)."""
    # the averages are needed where the weights are read: on the main process, and under FSDP on every process
    # (each gives its shards to the gathering)
    sharded = {name: is_sharded(module) for name, module in models.items()}
    apply = ema is not None and (is_main or any(sharded.values()))
    with ema.applied(trainable_named) if apply else nullcontext():
        whole = {}
        for name, module in models.items():
            whole[name] = gathered_copy(module, is_main, device) if sharded[name] else module
        yield whole if is_main else None


# ------------------------------------------------------------------------------------------ the trainer's views
def training_pipeline(trainer, unet=None, image_encoder=None, merged: bool = False):
    """The models being trained (or whole copies of them), as an ``InterAnimatePipeline`` (current weights); with
    the Wan backbone an ``InterAnimateWanPipeline`` (``merged``: LoRA merged into a copy, for the export)."""
    from diffusers import EulerDiscreteScheduler

    from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config
    unwrap = trainer.accelerator.unwrap_model
    image_encoder = unwrap(trainer.image_encoder) if image_encoder is None else image_encoder
    unet = unwrap(trainer.unet) if unet is None else unet
    if trainer.config.model.backbone == "wan":
        from interanimate.training.wan_backbone import training_pipeline as wan_pipeline
        return wan_pipeline(trainer, unet, image_encoder, merged)
    pipe = InterAnimatePipeline(vae=trainer.vae, image_encoder=image_encoder, unet=unet,
                                scheduler=EulerDiscreteScheduler(**svd_scheduler_config()),
                                residual_to_reference=trainer.config.residual_to_reference,
                                residual_scale=trainer.residual_scale, window=trainer.config.data.num_frames,
                                hand_prior_strength=trainer.config.hand_prior_strength)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def trainer_whole_models(trainer, ema: bool = True, device=None):
    """``whole_models`` of the trainer's UNet and image encoder (the EMA's weights with ``ema``)."""
    unwrap = trainer.accelerator.unwrap_model
    models = {"unet": unwrap(trainer.unet), "image_encoder": unwrap(trainer.image_encoder)}
    return whole_models(models, trainer.is_main, trainer.ema if ema else None, trainer.trainable_named, device)


@torch.no_grad()
def validate(trainer) -> Path | None:
    """Preview grid (reference | pose | generated | ground truth) of held-out clips with the EMA weights, written to
    ``validation/step-N.png`` by the main process; every process calls it."""
    from interanimate.pipelines.outputs import preview_grid, stack_grids, write_png

    if len(trainer.val_set) == 0:
        return None
    cfg = trainer.config
    unet, enc = trainer.accelerator.unwrap_model(trainer.unet), trainer.accelerator.unwrap_model(trainer.image_encoder)
    modes = (unet.training, enc.training)
    unet.eval(), enc.eval()
    try:
        with trainer_whole_models(trainer, ema=True, device=trainer.device) as whole:
            if whole is None:
                return None
            pipe = training_pipeline(trainer, whole["unet"], whole["image_encoder"])
            grids = []
            count = min(cfg.validation_samples, len(trainer.val_set))
            for i in np.linspace(0, len(trainer.val_set) - 1, count).round().astype(int):
                item = trainer.val_set[int(i)]
                out = pipe(item["reference"][None], item["pose"][None], hand_mask=item["hand_mask"][None],
                           face_mask=item["face_mask"][None], id_embedding=item["identity_embedding"][None],
                           num_inference_steps=cfg.validation_steps,
                           generator=torch.Generator().manual_seed(cfg.seed), output_type="pt")
                grids.append(preview_grid(item["reference"], item["pose"], out.frames[0], item["frames"]))
    finally:
        unet.train(modes[0]), enc.train(modes[1])
    path = trainer.output_dir / "validation" / f"step-{trainer.step:08d}.png"
    write_png(path, stack_grids(grids))
    trainer.log(f"validation preview: {path}")
    return path


def export(trainer, folder: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write the whole pipeline (EMA weights) with ``save_pretrained`` into ``folder`` (default ``final/``),
    atomically and with normal permissions; ``dtype`` e.g. float16 to ship it. Every process calls it."""
    folder = Path(folder or trainer.output_dir / FINAL_DIR)
    with trainer_whole_models(trainer, ema=True) as whole:
        if whole is not None:
            pipe = training_pipeline(trainer, whole["unet"], whole["image_encoder"], merged=True)
            pipe = copy.deepcopy(pipe).to(dtype=dtype) if dtype != torch.float32 else pipe
            save_pretrained_atomic(pipe, folder)
            trainer.log(f"pipeline written to {folder}")
    trainer.accelerator.wait_for_everyone()
    return folder
