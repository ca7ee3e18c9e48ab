"""What a ``model.backbone: wan`` run holds, from the configured transformer built on the meta device (no memory, no
weights): parameter counts by part, InterAnimate's added modules, the LoRA the config asks for (counted from the
shapes of the Linear layers it wraps), the trainable total of the config's ``trainable`` groups, and bytes in bf16.

``interanimate train --dry-run`` prints this report for the Wan backbone, then the traced memory plan per GPU
(:func:`interanimate.training.wan_memory.wan_dry_run`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from interanimate.models.wan import MODULE_GROUPS, WAN_ANIMATE_PREFIXES, parameter_group_names
from interanimate.training.config import TrainConfig

GiB = 2 ** 30
# Parts of the Wan-Animate base the report lists, by parameter-name prefix (everything else of the base: "other")
BASE_PARTS = {
    "blocks": ("blocks.",),
    **{prefix.rstrip("."): (prefix,) for prefix in WAN_ANIMATE_PREFIXES},
    "embeddings": ("patch_embedding.", "condition_embedder.", "rope."),
}


def meta_transformer(config: TrainConfig, device: str = "meta", **overrides):
    """The configured InterAnimate Wan-Animate transformer (named size with ``model.wan.overrides``, or a folder's
    config) on the meta device (or ``device``: randomly initialised there), without LoRA. ``overrides``: constructor
    arguments changed on top (e.g. a ``num_layers`` for a shorter trace)."""
    from interanimate.models.wan import InterAnimateWanAnimateTransformer as Model
    from interanimate.training.wan_backbone import transformer_config

    folder = config.model.wan.transformer
    with torch.device(device):
        if Path(folder).is_dir():  # an InterAnimate Wan folder: its config.json
            return Model.from_config(Model.load_config(folder), **overrides)
        return Model(**{**transformer_config(config.model), **overrides})


def lora_layers(model: nn.Module, targets: Sequence[str]) -> list[tuple[str, int, int]]:
    """(name, in_features, out_features) of the Linear layers LoRA wraps: ``blocks.N.attn1|attn2.<target>`` of the
    base blocks (never the face adapter's or InterAnimate's own ``to_q``-like layers)."""
    from interanimate.models.wan_lora import target_pattern

    pattern = re.compile(target_pattern(targets))
    return [(name, m.in_features, m.out_features) for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and pattern.fullmatch(name)]


@dataclass
class WanCounts:
    """Parameter counts of the configured transformer."""
    parts: dict[str, int]  # BASE_PARTS + "other": the Wan-Animate base
    modules: dict[str, int]  # MODULE_GROUPS: InterAnimate's added modules
    lora: int  # 0 without LoRA
    lora_layers: int
    trainable: dict[str, int]  # the config's trainable groups (a parameter counted in its first group)
    num_layers: int

    @property
    def base(self) -> int:
        return sum(self.parts.values())

    @property
    def added(self) -> int:
        return sum(self.modules.values())

    @property
    def total(self) -> int:
        return self.base + self.added + self.lora

    @property
    def trainable_total(self) -> int:
        return sum(self.trainable.values())

    @property
    def frozen(self) -> int:
        return self.total - self.trainable_total


def trainable_names(model: nn.Module, groups: Sequence[str]) -> set[str]:
    """Names of the parameters of ``model`` that the trainable ``groups`` name."""
    members = parameter_group_names(n for n, _ in model.named_parameters())
    return set().union(*(members[g] for g in groups))


def count_parameters(config: TrainConfig, model: nn.Module | None = None) -> WanCounts:
    """``WanCounts`` of the configured transformer (built on the meta device without LoRA unless ``model`` is
    given); LoRA is counted from the shapes of the layers it would wrap."""
    model = meta_transformer(config) if model is None else model
    wan = config.model.wan
    sizes = {n: p.numel() for n, p in model.named_parameters() if "lora_" not in n}
    members = parameter_group_names(sizes)
    known = tuple(p for prefixes in BASE_PARTS.values() for p in prefixes)
    parts = {part: sum(sizes[n] for n in members["transformer"] if n.startswith(prefixes))
             for part, prefixes in BASE_PARTS.items()}
    parts["other"] = sum(sizes[n] for n in members["transformer"] if not n.startswith(known))
    modules = {g: sum(sizes[n] for n in members[g]) for g in MODULE_GROUPS}
    layers = lora_layers(model, wan.lora_targets) if wan.lora_rank > 0 else []
    lora = sum(wan.lora_rank * (fan_in + fan_out) for _, fan_in, fan_out in layers)
    seen, trainable = set(), {}
    for group in config.trainable:  # a parameter counts in the first group naming it
        if group == "lora":
            trainable[group] = lora
            continue
        names = members[group] - seen
        seen |= names
        trainable[group] = sum(sizes[n] for n in names)
    return WanCounts(parts, modules, lora, len(layers), trainable, int(model.config.num_layers))


def _m(n: int) -> str:
    return f"{n:,}"


def wan_parameter_report(config: TrainConfig, counts: WanCounts | None = None) -> list[str]:
    """Lines: the base and its parts, each InterAnimate module, LoRA, the trainable total, bytes in bf16."""
    c = count_parameters(config) if counts is None else counts
    wan = config.model.wan
    rows = [f"transformer: {wan.transformer} ({c.num_layers} blocks), built on the meta device (no weights)",
            f"  Wan-Animate base            {_m(c.base):>15}   ({c.base / 1e9:.2f} B parameters)"]
    rows += [f"    {part:<26}{_m(c.parts[part]):>15}" for part in (*BASE_PARTS, "other") if c.parts[part]]
    rows.append(f"  InterAnimate modules        {_m(c.added):>15}")
    names = {"interaction_latents": "interaction_latents", "region": "region_blocks",
             "id_preserver": "id_projector + id_blocks"}
    rows += [f"    {names[g]:<26}{_m(k):>15}" for g, k in c.modules.items()]
    if c.lora:
        rows.append(f"  LoRA rank {wan.lora_rank} on {', '.join(wan.lora_targets)} of attn1/attn2 "
                    f"({c.lora_layers} Linear layers, rank·(in+out) each): {_m(c.lora)}")
    else:
        rows.append("  LoRA: none (model.wan.lora_rank 0)")
    rows += [f"  total                       {_m(c.total):>15}   bf16 weights {2 * c.total / GiB:.1f} GiB "
             f"({2 * c.total / 1e9:.1f} GB)",
             f"  trainable ({', '.join(config.trainable)}): {_m(c.trainable_total)} = "
             + " + ".join(f"{g} {_m(k)}" for g, k in c.trainable.items())
             + f"; frozen {_m(c.frozen)}"]
    return rows
