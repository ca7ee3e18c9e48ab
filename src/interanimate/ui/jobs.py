"""Dataset generation started from the web app: ``interanimate dataset generate RECIPE --out DIR`` as a child process
of the server, one per output folder. The job belongs to the server, not to a page, so reloading the page (or
opening it in another tab) finds it running; its progress is read from the folder itself (the plan's rows against the
clips finished), so a job the engine resumes after a kill shows where it stands. Starting it again on the same folder
after it stopped resumes it (the engine skips finished clips)."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class JobStatus:
    running: bool
    planned: int
    finished: int
    returncode: int | None
    log_tail: str

    @property
    def fraction(self) -> float:
        return self.finished / self.planned if self.planned else 0.0

    def describe(self) -> str:
        state = "running" if self.running else ("not started" if self.returncode is None else
                                                 "finished" if self.returncode == 0 else
                                                 f"stopped (exit {self.returncode})")
        return f"{state}: {self.finished} of {self.planned or '?'} clips ({self.fraction:.0%})"


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


class GenerationJobs:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self._jobs: dict[Path, tuple[subprocess.Popen, Path]] = {}
        self._lock = threading.Lock()

    def start(self, recipe: Path, out: Path) -> JobStatus:
        """Start (or resume) generation into ``out`` unless a job there is running."""
        from interanimate.ui.actions import env_for_child

        out = out.resolve()
        with self._lock:
            job = self._jobs.get(out)
            if job is None or job[0].poll() is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log = self.log_dir / f"generate-{abs(hash(out)) % 10**10}.log"
                with log.open("ab") as sink:
                    proc = subprocess.Popen([sys.executable, "-m", "interanimate", "dataset", "generate", str(recipe),
                                             "--out", str(out), "--no-progress"], stdout=sink,
                                            stderr=subprocess.STDOUT, env=env_for_child())
                self._jobs[out] = (proc, log)
        return self.status(out)

    def status(self, out: Path) -> JobStatus:
        out = out.resolve()
        job = self._jobs.get(out)
        planned = _lines(out / "plan.jsonl")
        finished = sum(1 for _ in (out / "clips").glob("*/label.json")) if (out / "clips").is_dir() else 0
        if job is None:
            return JobStatus(False, planned, finished, None, "")
        proc, log = job
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-3:])
        except OSError:
            tail = ""
        return JobStatus(proc.poll() is None, planned, finished, proc.poll(), tail)

    def describe_all(self) -> str:
        """One line per job this server started (what a reloaded page shows)."""
        return "\n\n".join(f"{out}: {self.status(out).describe()}" for out in list(self._jobs))

    def stop_all(self) -> None:
        for proc, _ in self._jobs.values():
            if proc.poll() is None:
                proc.terminate()
