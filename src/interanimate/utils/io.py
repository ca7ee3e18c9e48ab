"""Atomic file writing and deterministic ``.npz`` archives."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc), else by setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence only the fallback
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0o666 less the umask (``mkstemp`` gives 0o600)."""
    return 0o666 & ~current_umask()


def normal_permissions(path: str | os.PathLike) -> None:
    """Give a file, or every file under a folder, ``file_mode()``: safetensors (0.8) writes its files 0o600, so
    model folders written by ``save_pretrained`` would be readable by their owner only."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    mode = file_mode()
    for file in files:
        os.chmod(file, mode)


def save_pretrained_atomic(model, folder: str | os.PathLike) -> Path:
    """``model.save_pretrained`` (diffusers / transformers) into ``<folder>.tmp``, with normal permissions, then
    renamed to ``folder``: readers see all of the folder or none of it."""
    import shutil

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    normal_permissions(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    Readers never see a half-written file, and an interrupted run leaves nothing behind. The file gets the usual
    permissions (0o666 less the umask), not ``mkstemp``'s private 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            normal_permissions(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def json_safe(obj):
    """``obj`` with every non-finite float (NaN, ±inf: a score that could not be computed) as None, which JSON has."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """``obj`` as indented JSON with sorted keys (non-finite floats as null, :func:`json_safe`), atomically."""
    write_text_atomic(path, json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    """Serialise arrays as an ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps, sorted names).

    ``np.savez`` stamps the current time into the archive, so two identical runs differ byte-wise; this does not.
    The result loads with ``np.load``.
    """
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def save_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    write_bytes_atomic(path, npz_bytes(arrays, compress=compress))


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` eagerly, never unpickling objects."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def read_jsonl_whole(path: str | os.PathLike) -> list[dict]:
    """The objects of a JSON-lines file that is written whole (atomically): ``ValueError`` naming the file and line
    when a line does not parse as an object (the file was damaged after it was written)."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: line {number} does not parse (damaged)")
        rows.append(data)
    return rows


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The objects of a JSON-lines file that is appended to line by line; a torn line (a kill mid-write) is skipped.
    A missing file is empty."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            rows.append(data)
    return rows
