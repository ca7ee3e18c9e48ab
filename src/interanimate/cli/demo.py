"""``interanimate demo``: what ``make demo`` runs.

1. Renders the SynthHF preview contact sheet (one row per interaction class).
2. Renders held-out SynthHF identities (never seen in training) for the chosen classes and animates them with the
   bundled model along their own poses, given only what a user has: the reference image, the keypoints, and the
   identity vector dlib computes from the reference (as `animate --identity-from dlib`). Writes one watermarked mp4
   per class, one preview grid (rows: pose | generated | ground truth, the reference at the left), metrics.json and
   report.md: PSNR and SSIM inside the hand ∪ face region, per class and averaged, for the model with that identity,
   the model with no identity, and the "repeat the reference frame" baseline.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interanimate.cli.common import (add_placement_options, number_range, placement_from_args, seed_int, steps_count,
                                     strength_fraction)

camera_jitter = number_range(0.0, 0.1, "camera jitter")

DEFAULT_CLASSES = "all"


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the bundled demo and print where its outputs are",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--classes", default=DEFAULT_CLASSES,
                        help="comma-separated class codes, or 'all' (default: all 18)")
    parser.add_argument("--steps", type=steps_count, default=None, help="denoising steps (default: the model's demo setting)")
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--camera-jitter", type=camera_jitter, default=None, metavar="FRAC",
                        help="camera shake of the held-out clips, a fraction of the width in [0, 0.1] (default: "
                             "SynthHF's, 0.006; 0: a steady camera, as when a still portrait is animated)")
    parser.add_argument("--hand-prior-strength", type=strength_fraction, default=None, metavar="S",
                        help="start the sampler from the rendered hand prior noised to S of the schedule (1: from "
                             "pure noise; default: the model's setting)")
    add_placement_options(parser)
    parser.add_argument("--skip-preview", action="store_true", help="do not render the SynthHF contact sheet")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interanimate import validation
    from interanimate.errors import UserError
    from interanimate.model_folders import check_pipeline_folder
    from interanimate.pipelines import bundled_model_dir
    from interanimate.taxonomy import BY_CODE, CODES

    classes = list(CODES) if args.classes == "all" else [c.strip().upper() for c in args.classes.split(",") if c.strip()]
    if not classes:
        raise UserError(f"--classes {args.classes!r}: no class code given; use 'all' or codes such as LH-NP,RH-EB")
    unknown = [c for c in classes if c not in BY_CODE]
    if unknown:
        raise UserError(f"--classes: unknown class code(s) {', '.join(unknown)}; known: {', '.join(CODES)}")

    validation.output_dir(args.out, "--out")
    model_dir = args.model or bundled_model_dir()
    index = check_pipeline_folder(model_dir, "--model")  # before anything is written
    placement = placement_from_args(args)
    from interanimate.pipelines.demo import DEMO_SETTINGS
    from interanimate.pipelines.placement import check_gpu_memory
    from interanimate.model_folders import default_size

    height, width = default_size(model_dir, index)
    check_gpu_memory(placement, model_dir, DEMO_SETTINGS["batch_size"] * 16, height, width)  # a batch of 16-frame clips

    if not args.skip_preview:
        from interanimate.data.synth import write_preview

        preview = args.out / "synthhf_preview.png"
        write_preview(preview, seed=args.seed)
        print(f"SynthHF preview: {preview.resolve()}")

    from interanimate.pipelines.demo import ROW_NAMES, run_demo

    settings = dict(DEMO_SETTINGS, **({"steps": args.steps} if args.steps else {}))
    start = time.perf_counter()
    report = run_demo(args.out, model_dir, classes, seed=args.seed, camera_jitter=args.camera_jitter,
                      hand_prior_strength=args.hand_prior_strength, placement=placement, **settings)
    elapsed = time.perf_counter() - start
    mean, wins = report["mean_over_classes"], report["classes_beating_repeat_reference"]
    print(f"animated {len(classes)} held-out SynthHF clips in {elapsed:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in report['timings_s'].items())})")
    print(f"hand∪face region, mean over {len(classes)} classes (PSNR dB / SSIM; classes beating "
          "repeat-the-reference on both):")
    for row, name in ROW_NAMES.items():
        won = f"; {wins[row]['both']} of {len(classes)}" if row in wins else ""
        print(f"  {name}: {mean[row]['psnr']:.2f} / {mean[row]['ssim']:.3f}{won}")
    hands = report.get("hands")
    if hands:
        m, g = hands["model"], hands["ground_truth"]
        print(f"hands (mediapipe, frames whose pose shows one): found in {m['frames_detected']} of "
              f"{m['frames_with_hand']} generated frames ({m['frames_located']} where the pose puts it), "
              f"{g['frames_detected']} in the ground truth: ratio {hands['ratio']:.2f}")
    print(f"videos: {(args.out / 'videos').resolve()}/<CLASS>.mp4 (watermarked)")
    print(f"preview grid: {(args.out / 'preview.png').resolve()}")
    print(f"report: {(args.out / 'report.md').resolve()} (per class), metrics: {(args.out / 'metrics.json').resolve()}")
    return 0
