"""The Ray engine: plan rows through Ray Data ``map_batches`` with a callable class that holds one
:class:`~interanimate.datasets.clip.ClipMaker` (the pipeline loaded once per actor).

Workers write their clips into the shared out folder themselves (atomically, as the local engine does) and return
one small row per clip; the driver counts them, shows progress (clips done, clips/s, ETA) and records failures.
A clip that raises is a recorded failure; a worker that dies (killed, out of memory) is restarted by Ray and its
clip retried (``max_restarts`` / ``max_task_retries``). Resume never relies on Ray's state: the next run reads what
is done from disk.
"""

from __future__ import annotations

import json
import logging
import socket

import numpy as np

from interanimate.datasets.clip import ClipMaker, is_done
from interanimate.datasets.context import batch_outcomes, context_from_payload, context_payload, record_outcome
from interanimate.datasets.plan import PlanRow
from interanimate.errors import UserError

MAX_RESTARTS = 3  # per actor
MAX_TASK_RETRIES = 3  # per batch, after a worker died
RAY_ERROR_REASON = "worker died repeatedly"


class ClipWorker:
    """Ray Data callable class: built once per actor, called with batches of plan rows (batch_size 1)."""

    def __init__(self, context: dict, device: str | None = None):
        self.maker = ClipMaker(context_from_payload(context), device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``batch["rows"]``: plan batches (each a JSON list of plan rows, made in one model call), ``batch["write"]``
        the clip ids of each to write -> one result row per clip written or failed."""
        outcomes = []
        for item, write in zip(batch["rows"], batch["write"]):
            rows = [PlanRow(**{name: _python(r[name]) for name in PlanRow.__dataclass_fields__})
                    for r in json.loads(str(item))]
            outcomes += batch_outcomes(self.maker, rows, set(json.loads(str(write))))
        columns = {key: np.array([o[key] for o in outcomes]) for key in ("clip_id", "ok", "reason", "machine",
                                                                          "seconds")}
        columns["stages"] = np.array([json.dumps(o["stages"]) for o in outcomes])  # a column of plain strings
        return columns


def _python(value):
    return value.item() if hasattr(value, "item") else value


def check_address(address: str | None) -> None:
    """A ``host:port`` (or ``ray://host:port``) that answers within 3 s; None/"local"/"auto" need no check."""
    if address in (None, "", "local", "auto"):
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address!r}: expected host:port (e.g. 10.0.0.5:6379), 'auto' or 'local'")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as err:
        raise UserError(f"--ray-address {address}: cannot reach a Ray cluster there ({err})") from None


def run_ray(job, work: list[tuple[list[PlanRow], list[str]]], summary, record_failure, progress: bool = True,
            workers: int = 2,
            gpus_per_worker: float = 0, ray_address: str | None = None, cpus_per_worker: float = 1,
            runtime_env: dict | None = None) -> None:
    """Make ``work`` (plan batches, each one model call, and the clips of each to write: ``plan.batches_to_make``) on
    a Ray cluster (a local one when ``ray_address`` is None) with ``workers`` actors;
    ``record_failure(job, row, reason, summary)`` records a clip that failed (the engine's failures file).

    ``runtime_env``: Ray's per-job worker environment (``env_vars``, ``worker_process_setup_hook``, …), for a local
    cluster started here and for a running one alike."""
    import ray

    from interanimate.jobs import progress_bar

    check_address(ray_address)
    todo = [row for batch, write in work for row in batch if row.clip_id in set(write)]
    started_here = not ray.is_initialized()
    if started_here:
        if ray_address in (None, "", "local"):
            ray.init(num_cpus=max(int(workers * cpus_per_worker), 1), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING, runtime_env=runtime_env)
        else:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, runtime_env=runtime_env)
    try:
        context = context_payload(job.context)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.max_errored_blocks = len(todo)  # a batch that fails every retry is recorded, the rest goes on
        rows = ray.data.from_items([{"rows": json.dumps([r.to_dict() for r in batch]), "write": json.dumps(write)}
                                    for batch, write in work], override_num_blocks=len(work))
        results = rows.map_batches(ClipWorker, fn_constructor_kwargs={"context": context,
                                                                      "device": "cuda" if gpus_per_worker else None},
                                   batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
                                   num_cpus=cpus_per_worker,
                                   num_gpus=gpus_per_worker or None, max_restarts=MAX_RESTARTS,
                                   max_task_retries=MAX_TASK_RETRIES)
        by_id = {r.clip_id: r for r in todo}
        seen: set[str] = set()
        bar = progress_bar(len(todo), progress)
        try:
            for result in results.iter_rows():
                row = by_id[str(result["clip_id"])]
                seen.add(row.clip_id)
                outcome = {"clip_id": row.clip_id, "ok": bool(result["ok"]), "reason": str(result["reason"]),
                           "machine": str(result["machine"]), "seconds": float(result["seconds"]),
                           "stages": json.loads(str(result["stages"]))}
                record_outcome(job, row, outcome, summary, record_failure, "ray")
                bar.update()
                bar.set_postfix_str(f"failed {summary.failed}", refresh=False)
        finally:
            bar.close()
        for row in todo:  # a batch Ray gave up on (its worker died every time) returns no row
            if row.clip_id not in seen:
                if is_done(job.out, row.clip_id):  # written before its worker died
                    summary.done += 1
                else:
                    record_failure(job, row, RAY_ERROR_REASON, summary)
    finally:
        if started_here:
            ray.shutdown()
