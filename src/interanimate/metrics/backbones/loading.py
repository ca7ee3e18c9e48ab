"""Reading weight files with errors that say which file is wrong and why."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

from interanimate.errors import UserError


def _check_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} weights: no such file {path}")
    return path


def is_torchscript(path: str | os.PathLike) -> bool:
    """A TorchScript archive is a zip holding ``*/constants.pkl`` or ``*/code/``; a state dict has neither."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_state_dict(path: str | os.PathLike, what: str, unwrap: tuple[str, ...] = ("state_dict",),
                    strip_prefix: str = "module.") -> dict:
    """Load a tensor state dict (``weights_only``), unwrapping ``{'state_dict': …}`` and stripping ``module.``."""
    import torch

    path = _check_file(path, what)
    if is_torchscript(path):
        raise UserError(f"{what} weights: {path} is a TorchScript file, expected a state dict (.pth)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip/EOF errors all mean "not a readable state dict"
        raise UserError(f"{what} weights: cannot read {path} as a PyTorch state dict ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:200]})") from None
    for key in unwrap:
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(f"{what} weights: {path} does not hold a state dict of tensors")
    return {(k[len(strip_prefix):] if strip_prefix and k.startswith(strip_prefix) else k): v for k, v in data.items()}


def load_strict(module, state_dict: dict, path: str | os.PathLike, what: str, ignore: tuple[str, ...] = ()):
    """``load_state_dict(strict=True)`` after dropping keys starting with ``ignore``; mismatches become UserError."""
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(ignore)}
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        lines = str(err).splitlines()
        raise UserError(f"{what} weights: {path} does not match the {what} architecture: "
                        f"{' '.join(line.strip() for line in lines[:4])[:600]}") from None
    return module.eval()


def load_torchscript(path: str | os.PathLike, what: str):
    import torch

    path = _check_file(path, what)
    if not is_torchscript(path):
        raise UserError(f"{what} weights: {path} is not a TorchScript file")
    try:
        with warnings.catch_warnings():  # torch ≥ 2.9 deprecates TorchScript; these files only exist as TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as err:
        raise UserError(f"{what} weights: cannot load TorchScript {path} ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:200]})") from None
