"""Checks of user input, made before any model loads or any file is written.

Every check raises :class:`~interanimate.errors.UserError` with one line that names the option and what it accepts,
so the CLI (through the argparse types in ``interanimate.cli.common``) and the library entry points (the dataset
engine, the pipeline's loaders) refuse the same inputs with the same words. Nothing here imports torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from interanimate.errors import UserError

MAX_SIDE = 8192  # pixels; larger frames are refused before any memory is estimated
MAX_SEED = 2 ** 63 - 1  # torch.Generator.manual_seed takes 64-bit integers; numpy's rngs refuse negatives
# Copies of the frame tensor in float32 that a generation holds at once (pose frames, masks, the output, the
# decoded tiles, the uint8 copies for writing): a deliberately low count, so a refused size surely cannot fit.
FRAME_COPIES = 4


# ---------------------------------------------------------------------------------------------------- numbers
def finite_number(value, name: str, low: float | None = None, high: float | None = None,
                  low_inclusive: bool = True) -> float:
    """A finite float within [low, high] (``low_inclusive=False``: (low, high])."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UserError(f"{name}: expected a finite number, got {value!r}")
    below = low is not None and (number < low if low_inclusive else number <= low)
    if below or (high is not None and number > high):
        raise UserError(f"{name}: {value!r} is out of range ({_interval(low, high, low_inclusive)})")
    return number


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """An integer within [low, high]; ``'3.0'`` and ``True`` are refused."""
    if isinstance(value, bool):
        raise UserError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise UserError(f"{name}: expected an integer, got {value!r}")
        value = int(value)
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise UserError(f"{name}: expected an integer, got {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise UserError(f"{name}: {value!r} is out of range ({_interval(low, high, True)})")
    return number


def seed(value, name: str = "--seed") -> int:
    return integer(value, name, 0, MAX_SEED)


def _interval(low, high, low_inclusive: bool) -> str:
    def show(x) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if low is not None and high is not None:
        return f"{'[' if low_inclusive else '('}{show(low)}, {show(high)}]"
    if low is not None:
        return f"{'>=' if low_inclusive else '>'} {show(low)}"
    return f"<= {show(high)}"


# ---------------------------------------------------------------------------------------------------- sizes
def frame_size(height: int, width: int, name: str = "--size", multiple: int = 8, minimum: int = 16) -> tuple[int, int]:
    """(H, W) with both sides in [minimum, MAX_SIDE] and multiples of ``multiple``."""
    for side in (height, width):
        if side < minimum or side > MAX_SIDE or side % multiple:
            raise UserError(f"{name} {height}x{width}: height and width must be multiples of {multiple} between "
                            f"{minimum} and {MAX_SIDE}")
    return int(height), int(width)


def memory_limit_bytes() -> int:
    """Physical memory of this machine (or of its cgroup, when that is lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def check_video_memory(frames: int, height: int, width: int, name: str = "--size",
                       copies: int = FRAME_COPIES) -> int:
    """Refuse a (frames, height, width) job whose float32 frame tensors alone cannot fit in this machine's memory.

    The estimate is a lower bound (``copies`` float32 copies of the RGB frames, no model, no activations), so what
    is refused surely fails; what passes may still be slow. Returns the estimate in bytes.
    """
    need = int(copies) * int(frames) * int(height) * int(width) * 3 * 4
    limit = memory_limit_bytes()
    if need > limit:
        raise UserError(f"{name} {height}x{width} with {frames} frames needs at least {gib(need)} for its frames "
                        f"alone; this machine has {gib(limit)} of memory")
    return need


def gib(n: int) -> str:
    """Bytes as GiB (TiB past 1024 GiB), one decimal."""
    return f"{n / 2 ** 30:.1f} GiB" if n < 2 ** 40 else f"{n / 2 ** 40:.1f} TiB"


# ---------------------------------------------------------------------------------------------------- paths
def _nearest_existing(path: Path) -> Path:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_creatable(path: Path, name: str) -> None:
    """The folder that would hold ``path`` exists or can be made, and is writable."""
    anchor = _nearest_existing(path.parent)
    if not anchor.is_dir():
        raise UserError(f"{name} {path}: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise UserError(f"{name} {path}: cannot write in {anchor} (permission denied)")


def output_file(path, name: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """A file we are about to write: not a folder, of the right kind, in a writable place. Nothing is created."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{name} {path}: expected a {' or '.join(suffixes)} file")
    if path.is_dir():
        raise UserError(f"{name} {path}: is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{name} {path}: exists and is not writable")
    _check_creatable(path, name)
    return path


def output_dir(path, name: str) -> Path:
    """A folder we are about to write into: not a file, and creatable or writable. Nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{name} {path}: is a file, not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{name} {path}: cannot write in it (permission denied)")
    else:
        _check_creatable(path, name)
    return path


def input_file(path, name: str, suffixes: tuple[str, ...] | None = None) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{name} {path}: is a folder, expected a file")
    if not path.is_file():
        raise UserError(f"{name} {path}: no such file")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{name} {path}: expected a {' or '.join(suffixes)} file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{name} {path}: not readable (permission denied)")
    return path


def input_dir(path, name: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{name} {path}: no such folder" if not path.exists() else f"{name} {path}: not a folder")
    return path


# ---------------------------------------------------------------------------------------------------- text
def interaction_class(code: str, name: str = "--class") -> str:
    """A class code (any case) -> its canonical code, else the valid codes."""
    from interanimate.taxonomy import get_class

    try:
        return get_class(code).code
    except ValueError as err:
        raise UserError(f"{name}: {err}") from None


def interaction_text(text: str, name: str = "--text") -> str:
    """A prompt that names an interaction (a kind of touch or a face region), else the words we understand."""
    from interanimate.motion.text import checked_prompt

    checked_prompt(text, name)
    return text
