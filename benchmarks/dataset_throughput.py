"""How fast does the dataset engine make clips? The commands a user runs, timed on this machine, in one run:

    python benchmarks/dataset_throughput.py [--classes all] [--no-ray] [--out runs/dataset_throughput]

1. ``interanimate demo --classes …`` (2 generations per class: the bar to compare with);
2. ``interanimate dataset generate configs/dataset_small.yaml`` as shipped (2 clips per class of ``--classes``; all
   18: the shipped recipe's 36 clips), local engine: one process at ``generation.batch_size`` 1 (``--workers 1``),
   and the defaults (worker processes = cores ÷ ``generation.torch_threads``, the recipe's batch size);
3. the same with ``--engine ray --workers 1`` and ``--workers 2`` (scaling efficiency = clips/s with 2 ÷ 2 × with 1);
4. with ``--baseline CHECKOUT`` (an older checkout of this repository, e.g. ``git worktree add /tmp/old 6c12672``): its
   engine on its own ``configs/dataset_small.yaml`` (``PYTHONPATH=CHECKOUT/src``), alternated with today's defaults
   ``--rounds`` times, so that both see the same machine (a shared 2-core VM drifts by ±15 % over minutes): the
   speed-up is the ratio of the medians.

Each row: wall seconds start-up included, seconds per clip, clips per CPU-hour (the children's user + system CPU
time), and for the engine rows the mean seconds of each stage of a clip from its ``timings.jsonl`` (motion, retarget,
identity, denoise, decode, qc, write; a batch's model time split evenly over its clips; seconds of one worker, so
with two workers they add up to twice the wall time). CPU time is the machine's (``/proc/stat``: Ray's workers are
not this process's children), so run it on an idle machine. Prints a Markdown table, writes ``OUT/throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("reference", "motion", "retarget", "identity", "denoise", "decode", "qc", "write")
CLI = [sys.executable, "-m", "interanimate"]


def machine_cpu_seconds() -> float:
    """User + nice + system seconds of every CPU of this machine since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:4]
    return sum(int(v) for v in fields) / os.sysconf("SC_CLK_TCK")


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds the machine spent meanwhile) of one command, which must succeed."""
    before = machine_cpu_seconds()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=None if env is None else {**os.environ, **env})
    return time.perf_counter() - start, machine_cpu_seconds() - before


def stage_means(folder: Path) -> dict[str, float]:
    lines = [json.loads(x) for x in (folder / "timings.jsonl").read_text().splitlines() if x.strip()]
    return {s: sum(line.get("stages", {}).get(s, 0.0) for line in lines) / max(len(lines), 1) for s in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", default="all", help="class codes, comma-separated, or all (default)")
    parser.add_argument("--recipe", default="configs/dataset_small.yaml")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/dataset_throughput"))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an older checkout of this repository: its engine alternated with today's defaults")
    parser.add_argument("--rounds", type=int, default=1, help="how many times the defaults (and the baseline) run")
    parser.add_argument("--no-batch1", action="store_true", help="skip the one-process batch-1 run")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    from interanimate.taxonomy import CODES

    classes = list(CODES) if args.classes == "all" else args.classes.split(",")
    rows = []

    wall, cpu = timed([*CLI, "demo", "--classes", args.classes, "--out", str(args.out / "demo"), "--skip-preview"])
    clips = 2 * len(classes)  # the demo generates each clip twice (with and without the identity vector)
    rows.append({"run": "interanimate demo", "clips": clips, "wall_s": wall, "cpu_s": cpu})

    sized = ["--set", f"classes=[{','.join(classes)}]", "--set", "clips_per_class=2"]
    today = [*CLI, "dataset", "generate", args.recipe, "--no-progress", *sized]
    engine_runs = [] if args.no_batch1 else [
        ("engine, local, 1 process, batch 1", [*today, "--workers", "1", "--set", "generation.batch_size=1"], None)]
    for k in range(args.rounds):
        suffix = f" (round {k + 1})" if args.rounds > 1 else ""
        engine_runs.append((f"engine, local, defaults{suffix}", today, None))
        if args.baseline is not None:  # its own recipe and code; it may predate --no-progress
            engine_runs.append((f"baseline {args.baseline.name}{suffix}",
                                [*CLI, "dataset", "generate", str(args.baseline / "configs/dataset_small.yaml"),
                                 *sized], {"PYTHONPATH": str(args.baseline.resolve() / "src")}))
    if not args.no_ray:
        engine_runs += [("engine, ray, 1 worker", [*today, "--engine", "ray", "--workers", "1"], None),
                        ("engine, ray, 2 workers", [*today, "--engine", "ray", "--workers", "2"], None)]
    for i, (name, command, env) in enumerate(engine_runs):
        folder = args.out / f"engine{i}"
        wall, cpu = timed([*command, "--out", str(folder)], env)
        made = len((folder / "timings.jsonl").read_text().splitlines())
        rows.append({"run": name, "clips": made, "wall_s": wall, "cpu_s": cpu, "stages": stage_means(folder)})

    for row in rows:
        row["s_per_clip"] = row["wall_s"] / row["clips"]
        row["clips_per_cpu_hour"] = row["clips"] / (row["cpu_s"] / 3600)
    demo = rows[0]["s_per_clip"]
    table = ["| run | clips | wall s | s/clip | × demo's s/clip | clips per CPU-hour | "
             + " | ".join(STAGES) + " |", "|" + "---|" * (6 + len(STAGES))]
    for row in rows:
        stages = row.get("stages", {})
        table.append(f"| {row['run']} | {row['clips']} | {row['wall_s']:.1f} | {row['s_per_clip']:.2f} | "
                     f"{row['s_per_clip'] / demo:.2f} | {row['clips_per_cpu_hour']:.0f} | "
                     + " | ".join(f"{stages[s]:.2f}" if s in stages else "" for s in STAGES) + " |")
    ray = {r["run"]: r for r in rows}
    if "engine, ray, 2 workers" in ray:
        one, two = ray["engine, ray, 1 worker"], ray["engine, ray, 2 workers"]
        efficiency = (two["clips"] / two["wall_s"]) / (2 * one["clips"] / one["wall_s"])
        table.append(f"\nRay scaling efficiency, 2 workers against 1: {efficiency:.2f}")
    if args.baseline is not None:
        import statistics

        ours = statistics.median(r["s_per_clip"] for r in rows if r["run"].startswith("engine, local, defaults"))
        theirs = statistics.median(r["s_per_clip"] for r in rows if r["run"].startswith("baseline "))
        table.append(f"\nBaseline {args.baseline}: median {theirs:.2f} s a clip against today's defaults "
                     f"{ours:.2f}: **{theirs / ours:.2f}× faster** ({args.rounds} alternating round(s))")
    report = {"cpu_count": os.cpu_count(), "classes": classes, "rows": rows}
    (args.out / "throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
