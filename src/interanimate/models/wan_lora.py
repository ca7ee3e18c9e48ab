"""LoRA on the Wan backbone's attention, through diffusers' own PEFT integration (``PeftAdapterMixin``).

Only the Linear layers of the base transformer's blocks are adapted — ``blocks.N.attn1.<target>`` (self-attention)
and ``blocks.N.attn2.<target>`` (cross-attention) — never InterAnimate's own modules (``region_blocks.``,
``id_blocks.``, which have ``to_q``-like names too, and are trained in full) nor Wan-Animate's face adapter or motion
encoder. LoRA B starts at zero, so adding an adapter leaves the model's output unchanged.

``merged_copy`` is what gets exported: a copy with the LoRA merged into the base weights and the PEFT wrappers
removed, whose state dict is exactly a plain model's (so it saves and loads strictly).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from torch import nn

from interanimate.errors import UserError

DEFAULT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
DEFAULT_ADAPTER = "interanimate"


def _require_peft():
    try:
        import peft
    except ImportError as err:
        raise UserError("model.wan.lora_rank needs peft (pip install 'interanimate[wan]')") from err
    return peft


def target_pattern(targets: Sequence[str]) -> str:
    """A regex that ``re.fullmatch``-es the names of the base blocks' attention layers ending in one of ``targets``
    (PEFT matches a string ``target_modules`` against full module names)."""
    names = "|".join(re.escape(t) for t in targets)
    return rf"blocks\.\d+\.attn[12]\.(?:{names})"


def add_base_lora(model: nn.Module, rank: int, alpha: float | None = None,
                  targets: Sequence[str] = DEFAULT_TARGETS, adapter_name: str = DEFAULT_ADAPTER) -> list[str]:
    """Add a LoRA adapter of ``rank`` (scale ``alpha / rank``; ``alpha`` None → ``rank``) to the base blocks'
    attention Linear layers named by ``targets`` and make it the active adapter. Returns the wrapped modules' names.
    The original weights stay in place (frozen or not: that is the caller's choice)."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if not targets or any(not t for t in targets):
        raise ValueError(f"LoRA targets must be non-empty names, got {targets}")
    pattern = target_pattern(targets)
    matched = [(name, module) for name, module in model.named_modules() if re.fullmatch(pattern, name)]
    not_linear = [name for name, module in matched  # a layer already wrapped by PEFT counts as its base layer
                  if not isinstance(getattr(module, "base_layer", module), nn.Linear)]
    if not_linear:
        raise ValueError(f"LoRA targets {targets} match non-Linear module(s): {', '.join(not_linear)}")
    if not matched:
        raise ValueError(f"LoRA targets {targets} match no attention layer of the base blocks "
                         f"(blocks.N.attn1/attn2.<target>, e.g. to_q, to_k, to_v, to_out.0)")
    peft = _require_peft()
    config = peft.LoraConfig(r=rank, lora_alpha=float(rank if alpha is None else alpha), target_modules=pattern,
                             lora_dropout=0.0, bias="none", init_lora_weights=True)
    model.add_adapter(config, adapter_name=adapter_name)
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.named_modules()
            if isinstance(module, LoraLayer) and adapter_name in module.lora_A]


def lora_named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The LoRA parameters (``…lora_A.<adapter>.weight``, ``…lora_B.<adapter>.weight``), in ``named_parameters``
    order."""
    return [(name, p) for name, p in model.named_parameters() if "lora_" in name]


def has_lora(model: nn.Module) -> bool:
    """Whether any PEFT layer is in ``model``."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return False
    return any(isinstance(module, BaseTunerLayer) for module in model.modules())


def merged_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with its active LoRA adapter(s) merged into the base Linear weights and the PEFT
    layers removed (diffusers' ``fuse_lora`` + ``unload_lora``): its state dict has exactly a plain model's keys.
    ``model`` itself keeps its adapter. Without LoRA, a plain deep copy.

    Memory: the copy holds a second set of weights, on the same device as ``model``."""
    merged = copy.deepcopy(model)
    if not has_lora(merged):
        return merged
    merged.fuse_lora(safe_fusing=True)  # peft's layer.merge(): W += scale · B @ A, NaN-checked
    merged.unload_lora()  # peft wrappers → their base Linear; drops peft_config
    for attr in ("lora_scale", "_safe_fusing", "_hf_peft_config_loaded"):  # left on the instance by diffusers
        merged.__dict__.pop(attr, None)
    return merged
