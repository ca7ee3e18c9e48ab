"""Plan and generate a dataset: the job folder, resume, failures, shards and the local engine.

Layout of an out folder::

    recipe.json       the resolved recipe, its content hash, the weights' hashes, the generator version
    plan.jsonl        every clip, written once before any clip is made (``interanimate dataset plan``)
    excluded.jsonl    portraits left out at plan time, with the reason
    clips/<id>/       video.mp4, poses.npz, masks.npz, preview.png, label.json (renamed into place when complete)
    failures.jsonl    clips that failed, with the reason (skipped on reruns unless --retry-failed)
    shards/           manifest-I-of-N.jsonl of ``--shard I/N`` runs, until ``interanimate dataset merge``
    manifest.jsonl, manifest.parquet   the labels of every finished clip, in plan order

What is done is read from disk (``clips/<id>/label.json``), never from an engine's state, so any run can be killed at
any moment and rerun with the same command: finished clips are skipped, partial ones are made again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from interanimate.datasets.clip import (CHECKSUMS, ClipMaker, Context, is_done, read_label, remove_damaged_clips,
                                        remove_partial_clips)
from interanimate.datasets.plan import Plan, PlanRow, batches_to_make, folder_sha256, make_plan, shard_rows
from interanimate.datasets.process_engine import default_workers, run_processes
from interanimate.datasets.recipe import DatasetRecipe, recipe_from_dict
from interanimate.errors import UserError
from interanimate.jobs import (FailureLog, Summary, append_timing, check_writable, failure_reason, parse_shard,
                               progress_bar, stop_for_machine)
from interanimate.jobs import pending as pending_items
from interanimate.utils.io import read_jsonl_whole, write_json_atomic, write_text_atomic

RECIPE_NAME, PLAN_NAME, EXCLUDED_NAME = "recipe.json", "plan.jsonl", "excluded.jsonl"
MANIFEST_JSONL, MANIFEST_PARQUET, SHARDS = "manifest.jsonl", "manifest.parquet", "shards"


@dataclass
class Job:
    """A planned dataset: its recipe, rows and where it lives."""
    out: Path
    recipe: DatasetRecipe
    recipe_hash: str
    rows: list[PlanRow]
    context: Context
    excluded: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ the job
def generator_version() -> str:
    from interanimate import __version__

    return f"interanimate {__version__}"


def _model_dirs(recipe: DatasetRecipe) -> tuple[Path, Path | None]:
    from interanimate.model_folders import check_pipeline_folder
    from interanimate.motion.model import BUNDLED_DIR, check_model_folder
    from interanimate.pipelines import bundled_model_dir

    model_dir = Path(recipe.generation.model) if recipe.generation.model else bundled_model_dir()
    check_pipeline_folder(model_dir, "generation.model")
    _check_identity_width(recipe, model_dir)
    motion_dir = None
    if recipe.motion.source == "motion-model":
        motion_dir = Path(recipe.motion.model) if recipe.motion.model else BUNDLED_DIR
        check_model_folder(motion_dir, "motion.model")
    return model_dir, motion_dir


def _check_identity_width(recipe: DatasetRecipe, model_dir: Path) -> None:
    """The identity source gives vectors of the width the model takes (before anything is planned or written)."""
    from interanimate.annotate.identity import ARCFACE_DIM, DLIB_DIM
    from interanimate.model_folders import denoiser_config

    source = recipe.generation.identity
    widths = {"dlib": DLIB_DIM, "arcface": ARCFACE_DIM}
    if source not in widths:
        return
    denoiser = denoiser_config(model_dir)
    takes = denoiser.get("id_embed_dim") if denoiser.get("use_id", True) else None
    if takes is not None and int(takes) != widths[source]:
        other = [name for name, width in widths.items() if width == int(takes)]
        raise UserError(f"generation.identity {source} gives {widths[source]}-d vectors but the model takes "
                        f"{takes}-d ones; set generation.identity: {other[0] if other else 'none'}")


def _planning_leftover(name: str) -> bool:
    """What a run killed while planning leaves: the files written before ``recipe.json`` (the last, which marks the
    plan done) and the temporary files of all three; the next run writes them again."""
    planning = (PLAN_NAME, EXCLUDED_NAME, RECIPE_NAME)
    return name in planning[:2] or any(name.startswith(f".{n}.") for n in planning)


def _check_out(out: Path, stored: dict | None) -> None:
    """``out`` is new, empty (but for what an interrupted planning left), or a set of this engine (whose recipe the
    caller has compared)."""
    from interanimate import validation

    validation.output_dir(out, "--out")
    if stored is not None or not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir() if not _planning_leftover(p.name))
    if not foreign:
        return
    raise UserError(f"--out {out}: not empty and holds no dataset ({', '.join(foreign[:3])}"
                    f"{' …' if len(foreign) > 3 else ''}); choose a new or empty folder")


def _differences(old: dict, new: dict | None) -> str:
    if new is None:
        return ""
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return f"; differs in {', '.join(keys)}" if keys else ""


def load_job(recipe: DatasetRecipe, out: Path, write: bool = True) -> Job:
    """Check everything, plan, and (``write``) record the recipe and the plan in ``out`` unless already there.

    An out folder of another recipe is refused before anything is written. Every input problem is a ``UserError``.
    """
    model_dir, motion_dir = _model_dirs(recipe)
    model_sha = folder_sha256(model_dir)
    motion_sha = folder_sha256(motion_dir) if motion_dir is not None else ""
    from interanimate.datasets.plan import recipe_hash as hash_of

    rhash = hash_of(recipe, model_sha, motion_sha)
    stored = _read_json(out / RECIPE_NAME)
    if stored is not None and stored.get("recipe_hash") != rhash:
        differs = _differences(stored.get("recipe", {}), recipe.to_dict())
        raise UserError(f"--out {out} holds another recipe's set (recipe hash {stored.get('recipe_hash', '?')[:12]}, "
                        f"this one {rhash[:12]}{differs}); use a new folder")
    _check_out(out, stored)
    backend = None
    if recipe.identities.folder is not None:
        from interanimate.annotate.backends import backend_for

        backend = backend_for(recipe.identities.pose_backend, static=True)
    plan: Plan = make_plan(recipe, model_sha, motion_sha, backend)
    context = Context(recipe=recipe, out=out, model_dir=model_dir, model_name=model_dir.name, model_sha256=model_sha,
                      generator_version=generator_version())
    job = Job(out, recipe, rhash, plan.rows, context, plan.excluded)
    if write and stored is None:
        out.mkdir(parents=True, exist_ok=True)
        for leftover in [p for p in out.iterdir() if p.name.startswith(".") and _planning_leftover(p.name)]:
            leftover.unlink()  # an interrupted planning's temporary files
        write_text_atomic(out / PLAN_NAME, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in plan.rows))
        write_text_atomic(out / EXCLUDED_NAME, "".join(json.dumps(e, sort_keys=True) + "\n" for e in plan.excluded))
        write_json_atomic(out / RECIPE_NAME, {"recipe_hash": rhash, "recipe": recipe.to_dict(),
                                              "model_dir": str(model_dir), "model_sha256": model_sha,
                                              "motion_sha256": motion_sha, "generator_version": generator_version(),
                                              "clips": len(plan.rows), "identities": len(plan.identities),
                                              "splits": plan.splits})
    elif write:
        fresh = [r.to_dict() for r in plan.rows]
        try:
            stored_rows = read_jsonl_whole(out / PLAN_NAME)
        except (OSError, ValueError):  # damaged or gone: the plan is the recipe's, deterministic; write it again
            write_text_atomic(out / PLAN_NAME, "".join(json.dumps(r, sort_keys=True) + "\n" for r in fresh))
            stored_rows = fresh
        if stored_rows != fresh:
            raise UserError(f"{out / PLAN_NAME}: differs from the plan of this recipe (edited by hand?); use a new "
                            "folder")
    return job


def load_job_from_out(out: Path) -> Job:
    """The job recorded in a set's folder (``report``, ``verify``, ``merge``)."""
    stored = _read_json(out / RECIPE_NAME)
    if stored is None:
        raise UserError(f"{out}: not a dataset folder (no {RECIPE_NAME}); run `interanimate dataset plan` first")
    recipe = recipe_from_dict(stored["recipe"])
    try:
        rows = [PlanRow(**row) for row in read_jsonl_whole(out / PLAN_NAME)]
        excluded = read_jsonl_whole(out / EXCLUDED_NAME) if (out / EXCLUDED_NAME).is_file() else []
    except (OSError, ValueError, TypeError) as err:
        raise UserError(f"{err}; run `interanimate dataset generate` with the set's recipe to write it again") \
            from None
    context = Context(recipe=recipe, out=out, model_dir=Path(stored["model_dir"]),
                      model_name=Path(stored["model_dir"]).name, model_sha256=stored["model_sha256"],
                      generator_version=stored["generator_version"])
    return Job(out, recipe, stored["recipe_hash"], rows, context, excluded)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


# ------------------------------------------------------------------------------------------ failures
def failure_log(out: Path) -> FailureLog:
    """The engine's failures.jsonl: one line per failed clip (clip_id, index, class_code, identity, reason)."""
    return FailureLog(out, "clip_id")


def read_failures(out: Path) -> dict[str, dict]:
    """clip id -> its last failure (a torn last line, from a kill mid-write, is ignored)."""
    return failure_log(out).read()


# ------------------------------------------------------------------------------------------ generate
def pending(job: Job, shard: tuple[int, int], retry_failed: bool, summary: Summary) -> list[PlanRow]:
    """The rows of this shard still to make; counts what is finished or failed earlier in ``summary``."""
    return pending_items(shard_rows(job.rows, shard, job.recipe.generation.batch_size), lambda row: row.clip_id,
                         lambda row: is_done(job.out, row.clip_id), failure_log(job.out), retry_failed, summary)


def generate(job: Job, engine: str = "local", shard: str | None = None, retry_failed: bool = False,
             progress: bool = True, **engine_options) -> Summary:
    """Make every pending clip of this shard with ``engine`` (local | ray), then write the manifest (or the shard's
    part of it). Returns the counts; failed clips are in failures.jsonl. ``workers``: local worker processes
    (default: cores ÷ ``generation.torch_threads``; 1 runs in this process) or Ray actors (default 2)."""
    shard_spec = parse_shard(shard)
    remove_partial_clips(job.out)
    summary = Summary()
    # a finished clip whose files were damaged since (a cut label, a changed video) is made again
    rows = shard_rows(job.rows, shard_spec, job.recipe.generation.batch_size)
    summary.remade = remove_damaged_clips(job.out, [r.clip_id for r in rows])
    todo = pending(job, shard_spec, retry_failed, summary)
    work = batches_to_make(rows, todo, job.recipe.generation.batch_size)
    start = time.perf_counter()
    if todo:
        if engine == "local":
            from interanimate.datasets.context import recipe_placement

            recipe_placement(job.context.recipe.generation)  # a GPU option without a GPU: one line, nothing made
            workers = engine_options.get("workers") or default_workers(job.recipe.generation.torch_threads)
            if workers > 1 and len(work) > 1:
                run_processes(job, work, summary, record_failure, workers, progress)
            else:
                run_local(job, work, summary, progress)
        elif engine == "ray":
            from interanimate.datasets.ray_engine import run_ray

            options = dict(engine_options)
            options["workers"] = options.get("workers") or 2
            run_ray(job, work, summary, record_failure, progress, **options)
        else:
            raise UserError(f"--engine {engine!r}: choose local or ray")
    summary.seconds = time.perf_counter() - start
    write_manifest_part(job, shard_spec)
    return summary


def run_local(job: Job, work: list[tuple[list[PlanRow], list[str]]], summary: Summary,
              progress: bool = True) -> None:
    """One process, the models loaded once; ``work``: plan batches (one model call each) and the clips of each to
    write (``plan.batches_to_make``)."""
    maker = ClipMaker(job.context)
    bar = progress_bar(sum(len(write) for _, write in work), progress)
    try:
        for batch, write in work:
            for row, result in zip(batch, maker.make_batch(batch, set(write))):
                if result is None:  # made before (a resumed batch): not written again
                    continue
                if isinstance(result, BaseException):
                    stop_for_machine(result, job.out)  # a full disk, a read-only folder: not this clip's fault
                    record_failure(job, row, result, summary)
                else:
                    summary.done += 1
                    append_timing(job.out, row.clip_id, result["seconds"], "local", result["stages"])
                bar.update()
            bar.set_postfix_str(f"failed {summary.failed}", refresh=False)
    finally:
        bar.close()


def record_failure(job: Job, row: PlanRow, err: BaseException | str, summary: Summary) -> None:
    """Record a clip that failed of its own fault (raises ``MachineError`` instead when the output folder has gone
    or turned read-only meanwhile: then nothing is recorded)."""
    check_writable(job.out)
    reason = failure_reason(err)
    failure_log(job.out).append(row.clip_id, reason, index=row.index, class_code=row.class_code,
                                identity=row.identity)
    summary.failed += 1
    summary.failures.append({"clip_id": row.clip_id, "reason": reason})


# ------------------------------------------------------------------------------------------ manifests
def flat_record(label: dict) -> dict:
    """A label.json as one flat manifest row: files as <name>_path, quality scores as qc_<name>."""
    row = {k: v for k, v in label.items() if k not in ("files", "qc", CHECKSUMS)}
    for name in ("video", "poses", "masks", "preview"):
        row[f"{name}_path"] = label["files"].get(name, "")
    for name, value in label["qc"].items():
        row[f"qc_{name}"] = value
    return row


def finished_records(job: Job, rows: list[PlanRow]) -> list[dict]:
    return [flat_record(read_label(job.out, row.clip_id)) for row in rows if is_done(job.out, row.clip_id)]


def write_manifest_part(job: Job, shard: tuple[int, int]) -> Path:
    """Unsharded: manifest.jsonl + manifest.parquet. Sharded: shards/manifest-I-of-N.jsonl."""
    if shard == (0, 1):
        return write_manifest(job.out, finished_records(job, job.rows))
    path = job.out / SHARDS / f"manifest-{shard[0]}-of-{shard[1]}.jsonl"
    records = finished_records(job, shard_rows(job.rows, shard, job.recipe.generation.batch_size))
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return path


def write_manifest(out: Path, records: list[dict]) -> Path:
    """JSONL (one sorted-key object per line, plan order) and Parquet of the same rows."""
    records = sorted(records, key=lambda r: r["index"])
    ids = [r["clip_id"] for r in records]
    if len(set(ids)) != len(ids):
        raise UserError(f"{out}: duplicate clip ids in the manifest")
    write_text_atomic(out / MANIFEST_JSONL, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    write_parquet(out / MANIFEST_PARQUET, records)
    return out / MANIFEST_JSONL


def write_parquet(path: Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from interanimate.utils.io import atomic_path

    columns = sorted({k for r in records for k in r})
    table = pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in records]) if records else \
        pa.table({})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def merge(out: Path) -> tuple[Path, int, int]:
    """Build the one manifest of a sharded run from the clips on disk; every shard must have run. Returns the
    manifest path, the clips in it and the clips of the plan that are neither finished nor failed."""
    job = load_job_from_out(out)
    shard_files = sorted((out / SHARDS).glob("manifest-*-of-*.jsonl")) if (out / SHARDS).is_dir() else []
    counts = {int(p.stem.rsplit("-", 1)[1]) for p in shard_files}
    if len(counts) > 1:
        raise UserError(f"{out / SHARDS}: shard files of different counts ({sorted(counts)}); one run per count")
    if counts:
        (count,) = counts
        missing = sorted(set(range(count)) - {int(p.stem.split("-")[1]) for p in shard_files})
        if missing:
            raise UserError(f"{out}: shard(s) {', '.join(f'{i}/{count}' for i in missing)} have not run; run them "
                            "first (--shard I/N), then merge")
    failures = read_failures(out)
    records = finished_records(job, job.rows)
    missing = [r for r in job.rows if not is_done(out, r.clip_id) and r.clip_id not in failures]
    return write_manifest(out, records), len(records), len(missing)
