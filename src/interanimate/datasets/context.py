"""What a dataset worker in another process (a Ray actor, a local worker process) shares with its driver: the
:class:`Context` of all its clips (as plain data), where it runs the video model, and the outcome of each clip — made
into plain data by the worker (:func:`batch_outcomes`) and recorded by the driver (:func:`record_outcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interanimate.datasets.recipe import DatasetRecipe


@dataclass
class Context:
    """What a clip needs besides its row (shared by all clips of one worker)."""
    recipe: DatasetRecipe
    out: Path
    model_dir: Path
    model_name: str
    model_sha256: str
    generator_version: str


def context_payload(context: Context) -> dict:
    """A :class:`Context` as plain data for another process (Ray actors, local worker processes)."""
    from dataclasses import asdict

    payload = asdict(context)
    payload["recipe"] = context.recipe.to_dict()
    payload["out"], payload["model_dir"] = str(context.out), str(context.model_dir)
    return payload


def context_from_payload(payload: dict) -> Context:
    """The inverse of :func:`context_payload`."""
    from interanimate.datasets.recipe import recipe_from_dict

    payload = dict(payload)
    payload["recipe"] = recipe_from_dict(payload["recipe"])
    payload["out"], payload["model_dir"] = Path(payload["out"]), Path(payload["model_dir"])
    return Context(**payload)


def recipe_placement(generation, device: str | None = None):
    """Where a worker runs the video model: the recipe's ``generation.device/dtype/offload/decode_chunk``, with
    ``device`` (a Ray worker given a GPU) instead of the recipe's device when set. UserError for a GPU option
    without a GPU."""
    from interanimate.pipelines.placement import resolve_placement

    return resolve_placement(device or generation.device, generation.dtype, generation.offload,
                             generation.decode_chunk, prefix="generation.")


def batch_outcomes(maker, rows: list, write: set[str]) -> list[dict]:
    """Worker side: ``maker.make_batch(rows, write)`` as plain data, one dict per clip written or failed —
    ``clip_id``, ``ok``, ``reason`` (a failure's one line), ``machine`` (the machine fault to stop for, else ""),
    ``seconds``, ``stages``."""
    from interanimate.jobs import failure_reason, machine_fault

    outcomes = []
    for row, result in zip(rows, maker.make_batch(rows, write)):
        if result is None:
            continue
        failed = isinstance(result, BaseException)
        outcomes.append({"clip_id": row.clip_id, "ok": not failed,
                         "reason": failure_reason(result) if failed else "",
                         "machine": (machine_fault(result, maker.ctx.out) or "") if failed else "",
                         "seconds": 0.0 if failed else float(result["seconds"]),
                         "stages": {} if failed else result["stages"]})
    return outcomes


def record_outcome(job, row, outcome: dict, summary, record_failure, engine: str) -> None:
    """Driver side: stop for a machine fault (recording nothing), count a made clip and its timing, or record a
    failed one with ``record_failure(job, row, reason, summary)``."""
    from interanimate.jobs import append_timing, machine_error

    if outcome["machine"]:  # a full disk, a read-only folder: stop, record nothing
        raise machine_error(outcome["machine"])
    if outcome["ok"]:
        summary.done += 1
        append_timing(job.out, row.clip_id, outcome["seconds"], engine, outcome["stages"])
    else:
        record_failure(job, row, outcome["reason"], summary)
