"""Checks of model folders on disk — JSON configs, safetensors headers, pipeline layouts — without importing torch
or diffusers, so that a command can refuse a bad folder in a fraction of a second, before any model loads (the
strict loaders are in ``interanimate.models.loading``)."""

from __future__ import annotations

import os
from pathlib import Path

from interanimate.errors import UserError

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
                       "scheduler": "scheduler_config.json", "tokenizer": "tokenizer_config.json"}
UNWEIGHTED = ("scheduler", "tokenizer")  # components without a weights file


WAN_PIPELINE = "InterAnimateWanPipeline"  # model_index.json's _class_name of the Wan backbone's pipeline


def default_size(folder: str | os.PathLike, index: dict) -> tuple[int, int]:
    """(H, W) a pipeline folder generates at by default: the Wan pipeline's height and width, else its VAE's
    ``sample_size`` (square)."""
    if index.get("_class_name") == WAN_PIPELINE:
        return int(index.get("height", 480)), int(index.get("width", 832))
    side = int(read_json_file(Path(folder) / "vae" / "config.json").get("sample_size", 64))
    return side, side


def denoiser_config(folder: str | os.PathLike) -> dict:
    """The config of a pipeline folder's denoiser: ``unet/`` (the SVD backbone) or ``transformer/`` (Wan's) — where
    ``id_embed_dim``, ``use_id`` and ``hand_map_channels`` are read from."""
    folder = Path(folder)
    index = read_json_file(folder / "model_index.json") if (folder / "model_index.json").is_file() else {}
    name = "transformer" if index.get("_class_name") == WAN_PIPELINE else "unet"
    return read_json_file(folder / name / "config.json")


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
        check_component_folder(folder / name, config_name, needs_weights=name not in UNWEIGHTED)
    required = ("transformer", "vae", "scheduler") if index.get("_class_name") == WAN_PIPELINE else \
        ("unet", "vae", "scheduler")
    missing = [name for name in required if name not in index]
    if missing:
        raise UserError(f"{index_path}: names no {', '.join(missing)} component")
    return index
