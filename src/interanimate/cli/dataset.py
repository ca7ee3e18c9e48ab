"""``interanimate dataset``: labelled, identity-disjoint sets of synthetic interaction videos, resumable, on Ray.

  dataset plan     RECIPE --out DIR            write the job list (plan.jsonl) and the recipe, make nothing
  dataset generate RECIPE --out DIR [--engine local|ray] [--workers N] [--shard I/N] [--retry-failed]
  dataset merge    DIR                         one manifest from the shards of a sharded run
  dataset report   DIR                         report.md / report.json, histograms and a contact sheet
  dataset verify   DIR                         every file present and decodable, watermarked, labels consistent

Rerun ``generate`` with the same command after any kill: finished clips are skipped, partial ones made again.
Exit codes: 0 all clips made, 1 some failed (reasons in DIR/failures.jsonl; --allow-partial accepts that), 2 bad
input (nothing written). Recipes: configs/dataset_*.yaml; docs/datasets.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interanimate.cli.common import number_range, workers_count


def register(subparsers) -> None:
    parser = subparsers.add_parser("dataset", help="generate labelled interaction datasets (plan, generate, report)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION")
    for name, helptext in (("plan", "write the job list of a recipe without making clips"),
                           ("generate", "make the clips of a recipe (resumes)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("recipe", type=Path, help="recipe YAML (configs/dataset_*.yaml)")
        p.add_argument("--out", type=Path, required=True, help="dataset folder (new, empty, or this recipe's)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, e.g. --set clips_per_class=4 (repeatable)")
        if name == "generate":
            p.add_argument("--engine", choices=("local", "ray"), default="local",
                           help="local (default: this process, the model loaded once) or ray")
            p.add_argument("--workers", type=workers_count, default=None,
                           help="local: worker processes (default: this machine's cores ÷ generation.torch_threads; "
                                "1: this process only); ray: actors (default 2)")
            p.add_argument("--gpus-per-worker", type=number_range(0.0, 16.0, "GPU count"), default=0.0,
                           help="GPUs per Ray actor (default 0: CPU)")
            p.add_argument("--ray-address", default=None,
                           help="a running cluster (host:port or 'auto'); default: a local one for this run")
            p.add_argument("--shard", default=None, metavar="I/N",
                           help="make only the plan batches whose number (index // generation.batch_size) %% N == I "
                                "(SLURM arrays; then `dataset merge`)")
            p.add_argument("--retry-failed", action="store_true", help="retry clips listed in failures.jsonl")
            p.add_argument("--allow-partial", action="store_true", help="exit 0 even when some clips failed")
            p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
        p.set_defaults(func=run_plan if name == "plan" else run_generate)
    for name, helptext, func in (("merge", "one manifest from the shards of a sharded run", "run_merge"),
                                 ("report", "counts, identities, failures, time, quality plots", "run_report"),
                                 ("verify", "check every file, watermark and label", "run_verify")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("dir", type=Path, help="dataset folder")
        p.set_defaults(func=globals()[func])
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _job(args, write: bool):
    from interanimate import validation
    from interanimate.datasets.engine import load_job
    from interanimate.datasets.recipe import load_recipe

    validation.input_file(args.recipe, "recipe", (".yaml", ".yml"))
    validation.output_dir(args.out, "--out")
    return load_job(load_recipe(args.recipe, args.overrides), args.out, write=write)


def run_plan(args: argparse.Namespace) -> int:
    job = _job(args, write=True)
    print(f"planned {len(job.rows)} clips of {len(job.recipe.classes)} classes in {args.out.resolve()} "
          f"(recipe {job.recipe_hash[:12]}); {len(job.excluded)} portrait(s) left out")
    for item in job.excluded:
        print(f"  left out: {item['file']} ({item['reason']})")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from interanimate.datasets.engine import generate
    from interanimate.jobs import FAILURES_NAME, parse_shard

    parse_shard(args.shard)  # before anything is written
    if args.engine == "ray":
        from interanimate.datasets.ray_engine import check_address

        check_address(args.ray_address)
        try:
            import ray  # noqa: F401
        except ImportError:
            from interanimate.errors import UserError

            raise UserError("--engine ray needs Ray: pip install 'interanimate[scale]'") from None
    job = _job(args, write=True)
    options = {"workers": args.workers, "gpus_per_worker": args.gpus_per_worker,
               "ray_address": args.ray_address} if args.engine == "ray" else {"workers": args.workers}
    summary = generate(job, args.engine, shard=args.shard, retry_failed=args.retry_failed, progress=args.progress,
                       **options)
    failures = summary.failed_total
    for item in summary.remade:
        print(f"  made again: {item['clip_id']} ({item['reason']})")
    print(summary.line() + (f" (reasons in {args.out / FAILURES_NAME})" if failures else ""))
    if summary.done:
        print(f"time per clip: {summary.seconds / summary.done:.2f} s")
    if failures and not args.allow_partial:
        print(f"interanimate dataset generate: {failures} of {len(job.rows) if args.shard is None else 'this shard'}"
              f"'s clips failed; exit 1 (--allow-partial accepts a partial set)", file=sys.stderr)
        return 1
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from interanimate.datasets.engine import merge

    path, clips, missing = merge(args.dir)
    print(f"manifest: {path.resolve()} ({clips} clips" + (f"; {missing} not made yet" if missing else "") + ")")
    return 1 if missing else 0


def run_report(args: argparse.Namespace) -> int:
    from interanimate.datasets.report import write_report

    paths = write_report(args.dir)
    print("\n".join(str(p.resolve()) for p in paths))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from interanimate.datasets.verify import verify

    problems, checked = verify(args.dir)
    for problem in problems:
        print(problem)
    print(f"checked {checked} clips: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0
