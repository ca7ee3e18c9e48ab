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


# ------------------------------------------------------------------------------------------ folder checks
# Cheap checks of a saved model folder, made before anything is loaded: every file a component needs is there, its
# JSON parses, and each safetensors file is whole (its header parses and its data ends where the header says). A
# problem is one line naming the file.
WEIGHT_SUFFIX = ".safetensors"


def read_json_file(path: str | os.PathLike) -> dict:
    """Parse a JSON object file; any problem is a ``UserError`` naming the file."""
    import json

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def check_safetensors_file(path: str | os.PathLike) -> dict:
    """Read a safetensors header without loading tensors; a truncated or corrupt file is a ``UserError``.

    Returns the header (tensor name -> {dtype, shape, data_offsets}).
    """
    import json
    import struct

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: missing")
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise ValueError(f"{size} bytes, too short for a header")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8 or length > 100 * 2 ** 20:
                raise ValueError(f"header length {length} does not fit in {size} bytes")
            header = json.loads(handle.read(length).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: not a readable safetensors file (header is not an object)")
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        raise UserError(f"{path}: truncated or corrupt safetensors file ({size} bytes; its header needs {expected})")
    return header


def check_component_folder(folder: str | os.PathLike, config_name: str = "config.json",
                           needs_weights: bool = True) -> dict:
    """One component folder (unet/, vae/, …): its config parses and its safetensors weights are whole.

    Returns the parsed config.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: missing (the model folder names this component)")
    config = read_json_file(folder / config_name)
    if not needs_weights:
        return config
    weights = sorted(folder.glob(f"*{WEIGHT_SUFFIX}"))
    index = sorted(folder.glob(f"*{WEIGHT_SUFFIX}.index.json"))
    for path in index:
        shards = set(read_json_file(path).get("weight_map", {}).values())
        missing = sorted(s for s in shards if not (folder / s).is_file())
        if missing:
            raise UserError(f"{path}: names shard(s) that are missing: {', '.join(missing)}")
    if not weights:
        others = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        hint = f" (found {', '.join(others)}: only safetensors weights are loaded)" if others else ""
        raise UserError(f"{folder}: no {WEIGHT_SUFFIX} weights{hint}")
    for path in weights:
        check_safetensors_file(path)
    return config


PIPELINE_COMPONENTS = {"unet": "config.json", "vae": "config.json", "image_encoder": "config.json",
                       "scheduler": "scheduler_config.json"}


def check_pipeline_folder(folder: str | os.PathLike, option: str = "--model") -> dict:
    """A pipeline folder: model_index.json and every component it names, checked as above. Returns the index."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{option} {folder}: no such folder")
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise UserError(f"{option} {folder}: not a pipeline folder (no model_index.json)")
    index = read_json_file(index_path)
    for name, entry in index.items():
        if name.startswith("_") or not isinstance(entry, list):
            continue
        if len(entry) != 2 or entry[0] is None:
            continue  # a component saved as None
        config_name = PIPELINE_COMPONENTS.get(name, "config.json")
        check_component_folder(folder / name, config_name, needs_weights=name != "scheduler")
    missing = [name for name in ("unet", "vae", "scheduler") if name not in index]
    if missing:
        raise UserError(f"{index_path}: names no {', '.join(missing)} component")
    return index


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
