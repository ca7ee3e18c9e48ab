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
