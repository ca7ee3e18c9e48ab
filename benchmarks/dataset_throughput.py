"""Throughput of ``interanimate dataset generate``: the local engine against direct pipeline calls, and Ray with 1
and 2 workers, in one run on the same clips. Prints figures, asserts nothing.

    python benchmarks/dataset_throughput.py [--clips 6] [--model DIR] [--skip-ray]

* direct: the loop a user would write without the engine — for each plan row: reference, motion, retarget,
  ``animate_motion`` and ``write_video`` (no labels, masks, poses, preview or quality scores).
* engine local: ``generate(job, "local")`` on the same plan (everything above plus the files, labels and QC).
  Overhead = 1 − rate(engine) / rate(direct); the QC share is timed separately (dlib on 5 frames per clip).
* Ray, 1 and 2 workers: ``generate(job, "ray", workers=N)`` into fresh folders; the start-up of Ray and of the
  actors (model loading) is inside the timing, as a user sees it; scaling efficiency = rate(2) / (2 · rate(1)).

Every variant uses ``generation.torch_threads`` (1), so the figures compare engines, not thread counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _recipe(args):
    """configs/dataset_small.yaml cut to ``--clips`` clips: one per class for up to 18, else all 18 classes."""
    from interanimate.datasets.recipe import load_recipe
    from interanimate.taxonomy import CODES

    config = Path(__file__).resolve().parents[1] / "configs" / "dataset_small.yaml"
    if args.clips <= len(CODES):
        overrides = [f"classes=[{','.join(CODES[:args.clips])}]", "clips_per_class=1"]
    else:
        overrides = ["classes=[all]", "clips_per_class=null", f"total_clips={args.clips}"]
    if args.model:
        overrides.append(f"generation.model={args.model}")
    return load_recipe(config, overrides)


def direct(job) -> tuple[float, float]:
    """Seconds for the plan's clips with the bare pipeline calls; and the seconds of QC alone on those clips."""
    from interanimate.datasets.clip import ClipMaker
    from interanimate.pipelines.conditioning import image_to_tensor
    from interanimate.pipelines.driving import animate_motion, retarget
    from interanimate.pipelines.outputs import to_uint8, write_video

    maker = ClipMaker(job.context)  # loads the same models; its helpers build the same inputs
    recipe = job.recipe
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    videos = []
    for row in job.rows:
        reference, portrait, backend, render = maker._reference(row)
        motion = maker._motion(row, render)
        if recipe.motion.retarget and not motion.retargeted:
            motion = retarget(motion, portrait, maker.size, backend)
        frames, _ = animate_motion(maker.pipe, image_to_tensor(reference), motion, maker.size, None,
                                   steps=recipe.generation.steps, guidance=recipe.generation.guidance, seed=row.seed)
        write_video(out / f"{row.clip_id}.mp4", frames, fps=recipe.fps)
        videos.append((reference, to_uint8(frames)))
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for reference, video in videos:
        maker.quality.scores(reference, video)
    return seconds, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--model", help="pipeline folder (default: the bundled model)")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()

    from interanimate.datasets.engine import generate, load_job

    root = Path(tempfile.mkdtemp(prefix="dataset_throughput_"))
    recipe = _recipe(args)
    job = load_job(recipe, root / "local")
    n = len(job.rows)
    print(f"{n} clips, {recipe.frames} frames, {recipe.generation.steps} steps, model "
          f"{job.context.model_name}, torch threads {recipe.generation.torch_threads}, {os.cpu_count()} CPUs")

    seconds_direct, seconds_qc = direct(job)
    start = time.perf_counter()
    summary = generate(job, "local", progress=False)
    seconds_local = time.perf_counter() - start
    assert summary.done == n, summary
    rate_direct, rate_local = n / seconds_direct, n / seconds_local
    print(f"direct pipeline calls : {rate_direct:.3f} clips/s ({seconds_direct / n:.2f} s/clip)")
    print(f"engine local          : {rate_local:.3f} clips/s ({seconds_local / n:.2f} s/clip); overhead "
          f"{1 - rate_local / rate_direct:+.1%} (of which QC {seconds_qc / n:.2f} s/clip = "
          f"{seconds_qc / seconds_local:.1%} of the engine's time)")
    if args.skip_ray:
        return 0
    rates = {}
    for workers in (1, 2):
        ray_job = load_job(recipe, root / f"ray{workers}")
        start = time.perf_counter()
        summary = generate(ray_job, "ray", progress=False, workers=workers)
        seconds = time.perf_counter() - start
        assert summary.done == n, summary
        rates[workers] = n / seconds
        print(f"ray, {workers} worker{'s' if workers > 1 else ' '}        : {rates[workers]:.3f} clips/s "
              f"({seconds:.1f} s for {n} clips, start-up included)")
    print(f"ray scaling efficiency 1 -> 2 workers: {rates[2] / (2 * rates[1]):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
