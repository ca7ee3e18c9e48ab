"""The trained models with whole weights, for what reads them all at once (validation previews, export).

Under DDP, DeepSpeed ZeRO-2 or one process, every process holds whole weights: the models are the ones training.
Under FSDP each process holds shards (DTensors): the whole state dict is gathered (a collective: every process
calls ``whole_models``) to the main process, which builds plain copies of the models from it; the others get None.
"""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of ``module`` is a DTensor (FSDP2's shards)."""
    from torch.distributed.tensor import DTensor
    return any(isinstance(p, DTensor) for p in module.parameters())


def plain_class(module: nn.Module) -> type:
    """The model's own class: FSDP2 turns ``Model`` into a generated subclass ``FSDPModel`` of ``FSDPModule``."""
    from torch.distributed.fsdp import FSDPModule
    return next(c for c in type(module).__mro__ if not issubclass(c, FSDPModule))


def gathered_copy(module: nn.Module, is_main: bool) -> nn.Module | None:
    """A plain, unsharded copy of an FSDP2 model on the main process (None elsewhere), fp32 weights on the CPU.

    Every process must call it: the full state dict is gathered one parameter group at a time and kept on the
    main process's CPU only (``cpu_offload``)."""
    from accelerate import init_empty_weights
    from diffusers.configuration_utils import ConfigMixin
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not is_main:
        return None
    cls = plain_class(module)
    with init_empty_weights():  # parameters on the meta device (buffers real); the gathered tensors are assigned
        copy = cls.from_config(module.config) if issubclass(cls, ConfigMixin) else cls(module.config)
    copy.load_state_dict(state, strict=True, assign=True)
    return copy.eval()


@contextmanager
def whole_models(models: dict[str, nn.Module], is_main: bool, ema=None, trainable_named=None):
    """Yield ``{name: model}`` with whole weights on the main process (``None`` on the others); with ``ema``, the
    averaged weights (swapped in on every process for the duration, then back).

    ``models`` are the unwrapped training models; the ones that are not sharded are yielded as they are (put them in
    eval mode yourself if you run them)."""
    if ema is not None:
        ema.swap(trainable_named)
    try:
        whole = {}
        for name, module in models.items():
            whole[name] = gathered_copy(module, is_main) if is_sharded(module) else module
        yield whole if is_main else None
    finally:
        if ema is not None:
            ema.swap(trainable_named)
