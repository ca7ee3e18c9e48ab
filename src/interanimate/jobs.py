"""Bookkeeping of resumable item jobs — one module for ``prepare`` (videos) and the dataset engine (clips).

A job is a list of items, each finished (its files on disk, written atomically), failed (a line in
``failures.jsonl``) or pending. A rerun of the same command skips what is finished and what failed earlier
(``--retry-failed`` tries those again), and makes the rest.

Two kinds of fault, kept apart:

* a fault of an **item** (its video does not decode, no face is found, its generation raises) is recorded in
  ``failures.jsonl`` with the reason and the job goes on;
* a fault of the **machine** (the disk is full, the output folder is read-only or gone, an I/O error) is not the
  item's: :func:`machine_fault` recognises it, the job stops at once with :class:`MachineError` (one line, exit 3),
  nothing is recorded as failed, and the same command resumes once the fault is fixed.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from interanimate.errors import MachineError, UserError
from interanimate.utils.io import read_jsonl, write_text_atomic

FAILURES_NAME = "failures.jsonl"
TIMINGS_NAME = "timings.jsonl"  # seconds per item as measured (kept out of the labels, which are deterministic)
MAX_SHARDS = 100_000

# always the machine's, whichever file they name
MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
# the machine's when they name a path inside the job's output folder (or the folder is gone); an input the item reads
# that is unreadable or missing is the item's fault
OUTPUT_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR}
# what libraries that write through their own C/C++/Rust code raise instead of an OSError when the disk fills or turns
# read-only (torch.save's "PytorchStreamWriter failed writing file …: file write failed", safetensors' and Arrow's
# messages carry the OS's text)
MACHINE_MESSAGES = ("no space left on device", "disk quota exceeded", "read-only file system",
                    "file write failed", "input/output error")


@dataclass
class Summary:
    """What one run of a job did."""
    done: int = 0  # made in this run
    skipped: int = 0  # finished earlier, or failed earlier and not retried (then also in ``failed_before``)
    failed: int = 0  # failed in this run
    failed_before: int = 0  # listed in failures.jsonl from an earlier run and skipped
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)  # this run's: {item key, "reason"}
    remade: list[dict] = field(default_factory=list)  # finished items found damaged and made again: {key, "reason"}
    unit: str = "clips"

    def line(self) -> str:
        rate = f", {self.done / self.seconds:.2f} {self.unit}/s" if self.done and self.seconds else ""
        earlier = f" ({self.failed_before} failed earlier, see --retry-failed)" if self.failed_before else ""
        took = f" in {self.seconds:.1f} s" if self.seconds else ""
        remade = f" ({len(self.remade)} of them found damaged and made again)" if self.remade else ""
        return f"done {self.done}{remade}, skipped {self.skipped}{earlier}, failed {self.failed}{took}{rate}"

    @property
    def failed_total(self) -> int:
        """Items of this job that are not made: failed now or earlier."""
        return self.failed + self.failed_before


# ------------------------------------------------------------------------------------------ faults
def machine_fault(err: BaseException, out: Path | None = None) -> str | None:
    """A one-line description when ``err`` is a fault of the machine rather than of an item (None otherwise):
    an ``OSError`` of a full disk or quota, a read-only file system or an I/O error anywhere, or a permission /
    missing-path error about a path inside ``out`` (or while ``out`` itself is gone or not writable)."""
    if isinstance(err, MachineError):
        return str(err)
    if not isinstance(err, OSError):
        text = " ".join(str(err).split())
        found = next((m for m in MACHINE_MESSAGES if m in text.lower()), None)
        return None if found is None else f"{found} ({type(err).__name__}: {text[:160]})"
    names = [n for n in (err.filename, getattr(err, "filename2", None)) if n]
    where = f" ({names[0]})" if names else ""
    if err.errno in MACHINE_ERRNOS:
        return f"{os.strerror(err.errno).lower()}{where}"
    if err.errno in OUTPUT_ERRNOS and out is not None:
        out = Path(out).absolute()
        inside = any(_inside(Path(n), out) for n in names)
        if inside or not out.is_dir() or not os.access(out, os.W_OK):
            return f"{os.strerror(err.errno).lower()}{where}"
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.absolute().relative_to(root)
        return True
    except ValueError:
        return False


def machine_error(reason: str) -> MachineError:
    """The one line a job stops with for a fault of the machine (``reason``: what happened)."""
    return MachineError(f"stopped: {reason}; nothing was recorded as failed — fix it and run the same command again "
                        "to resume")


def stop_for_machine(err: BaseException, out: Path | None = None) -> None:
    """Raise :class:`MachineError` (from ``err``) when ``err`` is the machine's fault; return otherwise."""
    if isinstance(err, MachineError):
        raise err
    reason = machine_fault(err, out)
    if reason is not None:
        raise machine_error(reason) from err


def check_writable(out: Path) -> None:
    """Before an item is recorded as failed: an output folder that vanished or turned read-only is the machine's."""
    if not out.is_dir():
        raise machine_error(f"the output folder {out} is gone")
    if not os.access(out, os.W_OK):
        raise machine_error(f"the output folder {out} is not writable")


# ------------------------------------------------------------------------------------------ JSON lines
def append_line(path: Path, obj: dict) -> None:
    """One JSON line, flushed to disk (a kill can tear only the last line, which ``utils.io.read_jsonl`` skips)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(obj, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class FailureLog:
    """``failures.jsonl`` of a job whose items are named by ``key`` ("clip_id" for the engine, "file" for
    ``prepare``)."""
    out: Path
    key: str

    @property
    def path(self) -> Path:
        return self.out / FAILURES_NAME

    def read(self) -> dict[str, dict]:
        """item -> its last failure record (torn or damaged lines ignored)."""
        return {data[self.key]: data for data in read_jsonl(self.path) if self.key in data}

    def append(self, item: str, reason: str, **fields) -> None:
        append_line(self.path, {self.key: item, "reason": reason, **fields})

    def forget(self, items: set[str]) -> None:
        """Drop ``items`` (about to be retried) and damaged lines; atomic, and only if anything changes."""
        kept = [data for data in read_jsonl(self.path) if self.key in data and data[self.key] not in items]
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines() if self.path.is_file() else []
        if len(kept) != len(lines):  # written as append_line writes them
            write_text_atomic(self.path, "".join(json.dumps(data, sort_keys=True) + "\n" for data in kept))


def append_timing(out: Path, item: str, seconds: float, engine: str, stages: dict | None = None) -> None:
    """One line of timings.jsonl: the item's seconds (and its per-stage seconds, when known)."""
    line = {"clip_id": item, "seconds": round(float(seconds), 3), "engine": engine}
    if stages:
        line["stages"] = {k: round(float(v), 3) for k, v in stages.items()}
    append_line(out / TIMINGS_NAME, line)


def failure_reason(err: BaseException | str) -> str:
    """The one-line reason written for a failed item."""
    reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return " ".join(reason.split())[:500]


# ------------------------------------------------------------------------------------------ what to do
def pending(items: list, name_of, is_done, failures: FailureLog, retry_failed: bool, summary: Summary) -> list:
    """The items still to make, in order; counts in ``summary`` what is finished (``is_done(item)``) or failed
    earlier. With ``retry_failed`` the earlier failures of these items are forgotten first."""
    failed = failures.read()
    names = {name_of(item) for item in items}
    if retry_failed and failed and names & set(failed):
        failures.forget(names & set(failed))
        failed = failures.read()
    todo = []
    for item in items:
        if is_done(item):
            summary.skipped += 1
        elif name_of(item) in failed:
            summary.skipped += 1
            summary.failed_before += 1
        else:
            todo.append(item)
    return todo


def parse_shard(text: str | None) -> tuple[int, int]:
    """``'I/N'`` -> (I, N) with 0 <= I < N; None -> (0, 1)."""
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.strip().split("/"))
    except ValueError:
        raise UserError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count or count > MAX_SHARDS:
        raise UserError(f"--shard {text}: need 0 <= I < N <= {MAX_SHARDS}")
    return index, count


def progress_bar(total: int, enabled: bool, desc: str = "clips", unit: str = "clip"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True)
