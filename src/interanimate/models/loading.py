"""Strict weight loading: every key in the folder must be used and every parameter of the model must be filled.

diffusers' ``from_pretrained`` only *warns* about missing or unexpected keys; here any of them is an error that names
the keys, so a wrong or truncated checkpoint can never load silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import UNetSpatioTemporalConditionModel

from interanimate.errors import UserError

MAX_KEYS_SHOWN = 20


class StrictLoadError(UserError):
    """A weights folder does not match the model exactly (missing, unexpected or mis-shaped keys)."""


def raise_on_key_mismatch(missing: list[str], unexpected: list[str], source: str | os.PathLike, model_name: str,
                          mismatched: list | None = None) -> None:
    """Raise ``StrictLoadError`` naming every missing, unexpected or mis-shaped key (up to MAX_KEYS_SHOWN each)."""
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched or [])):
        names = sorted(str(k[0] if isinstance(k, (tuple, list)) else k) for k in keys)
        if names:
            more = f" … and {len(names) - MAX_KEYS_SHOWN} more" if len(names) > MAX_KEYS_SHOWN else ""
            problems.append(f"{len(names)} {label} key(s): {', '.join(names[:MAX_KEYS_SHOWN])}{more}")
    if problems:
        raise StrictLoadError(f"{model_name} weights at {source} do not match the model: " + "; ".join(problems))


def strict_load(from_pretrained: Callable, path: str | os.PathLike, model_name: str, **kwargs):
    """Call a diffusers ``from_pretrained`` (bound to its class) and fail on any key mismatch instead of warning.

    Returns the model, or ``(model, loading_info)`` when ``output_loading_info=True`` is passed.
    """
    folder = Path(path) / kwargs["subfolder"] if kwargs.get("subfolder") else Path(path)
    if not (folder / "config.json").is_file():
        raise StrictLoadError(f"no config.json in {folder}: not a diffusers model folder")
    want_info = kwargs.pop("output_loading_info", False)
    try:
        model, info = from_pretrained(path, output_loading_info=True, **kwargs)
    except (ValueError, RuntimeError) as err:  # diffusers raises on some mismatches itself; keep its key names
        raise StrictLoadError(f"{model_name} weights at {folder} do not match the model: {err}") from err
    raise_on_key_mismatch(info["missing_keys"], info["unexpected_keys"], folder, model_name,
                          info.get("mismatched_keys"))
    return (model, info) if want_info else model


def load_svd_unet(path: str | os.PathLike, torch_dtype: torch.dtype | None = None,
                  variant: str | None = None) -> UNetSpatioTemporalConditionModel:
    """Load a diffusers SVD ``unet/`` folder strictly. ``path`` may be the unet folder or the pipeline root."""
    path = Path(path)
    if not (path / "config.json").is_file() and (path / "unet" / "config.json").is_file():
        path = path / "unet"
    return strict_load(UNetSpatioTemporalConditionModel.from_pretrained, path, "UNetSpatioTemporalConditionModel",
                       torch_dtype=torch_dtype, variant=variant)


# ------------------------------------------------------------------------------------------ config checks
# (the cheap checks of a folder on disk, before anything loads, are in ``interanimate.model_folders``)
def check_config_keys(config: dict, cls, source: str | os.PathLike, model_name: str) -> None:
    """A config dict must hold exactly the arguments of ``cls.__init__`` (keys starting with ``_`` aside)."""
    import inspect

    params = {name for name, p in inspect.signature(cls.__init__).parameters.items()
              if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    given = {key for key in config if not key.startswith("_")}
    missing, unexpected = sorted(params - given), sorted(given - params)
    problems = [f"{len(keys)} {label} key(s): {', '.join(keys)}" for label, keys in
                (("missing", missing), ("unexpected", unexpected)) if keys]
    if problems:
        raise StrictLoadError(f"{model_name} config {source} does not match {cls.__name__}: " + "; ".join(problems))
