"""The local engine with several worker processes: every core of one machine used without Ray.

``generation.torch_threads`` fixes the threads of each worker (so every engine and worker count computes the same
bytes); ``--workers N`` processes (default: the machine's cores ÷ torch_threads) each load the models once
(:class:`~interanimate.datasets.clip.ClipMaker`) and take whole plan batches in plan order. On this 2-core CPU, two
1-thread workers make clips faster than one 2-thread process (docs/datasets.md, "Speed"): a 2-thread model call does
not use two cores fully, and the motion model, the QC and the writing are single-threaded.

``INTERANIMATE_WORKER_SETUP=module.function``: called first in every worker process (as Ray's
``worker_process_setup_hook``), for logging or profiling.

A clip that fails is returned as its reason and recorded by the driver; a machine fault (disk full, read-only folder)
stops the run with one line; a worker that dies (killed, out of memory) stops it too (``MachineError``: nothing is
recorded as failed, and the next run resumes — unlike Ray, the workers are not restarted). Ctrl-C or SIGTERM stop
the workers at once; what they leave half-written is a temporary folder the next run removes.
"""

from __future__ import annotations

import json
import os
import signal

from interanimate.datasets.clip import ClipMaker
from interanimate.datasets.context import batch_outcomes, context_from_payload, context_payload, record_outcome
from interanimate.datasets.plan import PlanRow

SETUP_HOOK_ENV = "INTERANIMATE_WORKER_SETUP"  # "module.function" each worker calls first (as Ray's setup hook)
_MAKER: ClipMaker | None = None
_STOPPING = False  # set by SIGTERM: batches still queued to this worker are not started


def default_workers(torch_threads: int) -> int:
    """The machine's cores ÷ threads per worker, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(torch_threads)))


def _die_with_parent() -> None:
    """Linux: this process is killed when the driver dies (even by SIGKILL), so no orphan keeps writing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: orphans finish their batch (atomic writes) and exit
        pass


def _start(payload: dict) -> None:
    global _MAKER
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    signal.signal(signal.SIGTERM, _exit_now)  # the driver stopping us: unwind, releasing what we hold
    hook = os.environ.get(SETUP_HOOK_ENV)
    if hook:  # logging, profiling, a test's fault injection: the local twin of Ray's worker_process_setup_hook
        import importlib

        module, _, name = hook.rpartition(".")
        getattr(importlib.import_module(module), name)()
    _MAKER = ClipMaker(context_from_payload(payload))


def _exit_now(signum, frame) -> None:
    """SIGTERM in a worker: unwind as an exit, so that a half-made clip's temporary folder is removed and the
    process's semaphores are released (a plain kill leaves them for the resource tracker to complain about)."""
    global _STOPPING
    _STOPPING = True
    raise SystemExit(128 + signum)


def _make(task: str) -> list[dict]:
    """One plan batch (JSON: rows and the clip ids to write) -> its clips' outcomes (``context.batch_outcomes``)."""
    if _STOPPING:
        raise SystemExit(143)
    item = json.loads(task)
    return batch_outcomes(_MAKER, [PlanRow(**row) for row in item["rows"]], set(item["write"]))


def run_processes(job, work: list[tuple[list[PlanRow], list[str]]], summary, record_failure, workers: int,
                  progress: bool = True) -> None:
    """Make ``work`` (``plan.batches_to_make``) with ``workers`` processes; ``record_failure(job, row, reason,
    summary)`` records a clip that failed of its own fault."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from interanimate.jobs import machine_error, progress_bar

    by_id = {row.clip_id: row for batch, _ in work for row in batch}
    tasks = [json.dumps({"rows": [row.to_dict() for row in batch], "write": write}) for batch, write in work]
    bar = progress_bar(sum(len(write) for _, write in work), progress)
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))),
                               mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(context_payload(job.context),))
    try:
        for outcomes in pool.map(_make, tasks):  # in plan order: the logs come out as the one-process engine's
            for outcome in outcomes:
                record_outcome(job, by_id[outcome["clip_id"]], outcome, summary, record_failure, "local")
                bar.update()
            bar.set_postfix_str(f"failed {summary.failed}", refresh=False)
    except BrokenProcessPool:
        _stop(pool)
        raise machine_error("a worker process died (killed, or out of memory?)") from None
    except BaseException:  # Ctrl-C, SIGTERM, a machine fault: the workers stop now, not after their batch
        _stop(pool)
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)


def _stop(pool) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
