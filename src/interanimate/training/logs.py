"""Training logs that survive ``kill -9`` and resumes: one CSV row per logged step, no torn rows, no step twice.

``StepLog`` keeps a CSV's rows in memory and rewrites the whole file atomically with every new row (a kill leaves
the file as it was before the row or after it, never a torn line; logs are a few hundred rows, so rewriting is
cheap). A resumed run first calls ``truncate(step)`` with the checkpoint's step, dropping the rows that the killed
run logged after it: they are logged again, with the same values, as the run repeats those steps.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from interanimate.utils.io import write_text_atomic


class StepLog:
    """``folder/<name>.csv``: a header and one row per step, steps strictly increasing."""

    def __init__(self, folder: str | os.PathLike, name: str):
        self.path = Path(folder) / f"{name}.csv"
        self.fields: list[str] = []
        self.rows: list[dict] = []
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            self.fields = list(reader.fieldnames or [])
            by_step: dict[int, dict] = {}
            for row in reader:
                step = _step_of(row, self.fields)
                if step is not None:  # a row an older writer tore, or not ours: dropped
                    by_step.pop(step, None)  # (older runs could log a step twice: the last one stands)
                    by_step[step] = row
        self.rows = [by_step[s] for s in sorted(by_step)]

    @property
    def steps(self) -> list[int]:
        return [int(row["step"]) for row in self.rows]

    def truncate(self, step: int) -> None:
        """Drop the rows after ``step`` (and any torn or repeated row an older writer left)."""
        self.rows = [row for row in self.rows if int(row["step"]) <= step]
        if self.path.is_file():
            self._write()

    def append(self, row: dict) -> None:
        """Add the row of step ``row["step"]``, replacing any rows from that step on."""
        step = int(row["step"])
        self.rows = [r for r in self.rows if int(r["step"]) < step] + [dict(row)]
        self.fields += [key for key in row if key not in self.fields]
        self._write()

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.fields or ["step"], restval="", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


def _step_of(row: dict, fields: list[str]) -> int | None:
    if None in row or any(row.get(key) is None for key in fields):  # too many or too few fields: torn
        return None
    try:
        return int(row["step"])
    except (KeyError, TypeError, ValueError):
        return None


class RunLogs:
    """A run's logs under ``folder``: per log name a ``StepLog`` CSV and, where tensorboard is installed (the optional
    "train" extra), a TensorBoard folder ``tensorboard/<name>``. Only the process made ``active`` (the main one)
    writes; the others' calls do nothing. ``echo`` prints each row as a line."""

    def __init__(self, folder: str | os.PathLike, active: bool, echo):
        self.folder = Path(folder)
        self.active = active
        self.echo = echo
        self._csv: dict[str, StepLog] = {}
        self._tb: dict = {}  # log name -> SummaryWriter, or False without tensorboard
        self._purge: dict[str, int] = {}  # log name -> first step a resumed run logs again

    def _csv_of(self, name: str) -> StepLog:
        if name not in self._csv:
            self._csv[name] = StepLog(self.folder, name)
        return self._csv[name]

    def restart(self, name: str, step: int) -> None:
        """The run goes on from ``step``: drop the rows (and TensorBoard points) logged after it."""
        if self.active:
            self._csv_of(name).truncate(step)
            self._purge[name] = step + 1

    def write(self, step: int, values: dict, name: str = "train") -> None:
        if not self.active:
            return
        row = {"step": step, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}}
        self._csv_of(name).append(row)
        if name not in self._tb:
            try:
                from torch.utils.tensorboard import SummaryWriter
                # one folder per log: purge_step hides what a killed run logged after the step this one resumed at
                self._tb[name] = SummaryWriter(str(self.folder / "tensorboard" / name),
                                               purge_step=self._purge.get(name))
            except ImportError:
                self._tb[name] = False
        if self._tb[name]:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._tb[name].add_scalar(key, value, step)
        self.echo(f"{name} step {step}: " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()))

    def close(self) -> None:
        for writer in self._tb.values():
            if writer:
                writer.close()
