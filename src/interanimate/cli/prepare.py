"""``interanimate prepare``: annotate a folder of real videos into the InterHF layout (keypoints, masks, identity).

Examples:
  interanimate prepare --videos my_videos --out data/real
  interanimate prepare --videos my_videos --labels labels.csv --out data/real --shard 3/16   # one of 16 machines
  interanimate prepare --videos my_videos --out data/real --pose-backend dwpose --dwpose-dir models/dwpose

A finished clip is skipped on re-runs; failures go to OUT/failures.jsonl and are skipped unless --retry-failed.
Exit code 0 when every video of the job is a clip, 1 when some failed (now or in an earlier run; --allow-partial
accepts that with exit 0), 2 for bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli.common import int_range, seed_int, workers_count

# flag, MaskConfig field, its default (checked against MaskConfig by a test), help. Spelled out here so that
# --help imports no cv2.
MASK_OPTIONS = (
    ("--mask-threshold", "score_threshold", 0.3, "keypoint score a point needs to count"),
    ("--hand-dilation", "hand_dilation", 0.15, "hand hull dilation, a fraction of the hand's box diagonal"),
    ("--face-dilation", "face_dilation", 0.05, "face hull dilation, a fraction of the face's box diagonal"),
    ("--forehead", "forehead", 0.45, "brows lifted by this fraction of the brow-to-chin distance (forehead cover)"),
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("prepare", help="annotate real videos into a dataset (keypoints, masks, identity)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True, help="folder of videos (searched recursively)")
    parser.add_argument("--labels", type=Path, help="CSV with columns file,class[,identity] (optional)")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write or resume")
    parser.add_argument("--pose-backend", default="mediapipe", help="mediapipe (default), dwpose, or a registered name")
    parser.add_argument("--dwpose-dir", type=Path, help="folder with yolox_l.onnx and dw-ll_ucoco_384.onnx")
    parser.add_argument("--identity", default="dlib", metavar="{dlib,arcface,none}",
                        help="identity embedder: dlib (default, 128-d), arcface (512-d, needs --arcface-model), none")
    parser.add_argument("--arcface-model", type=Path, help="insightface recognition ONNX for --identity arcface")
    parser.add_argument("--no-face", dest="on_no_face", default="fail", choices=("fail", "zeros"),
                        help="a clip without a face: fail it (default) or keep it with a zero embedding")
    parser.add_argument("--shard", default="0/1", metavar="i/n", help="process videos whose index %% n == i")
    parser.add_argument("--workers", type=workers_count, default=1, help="processes (default 1)")
    parser.add_argument("--min-frames", type=int_range(1, 100_000, "frame count"), default=16,
                        help="shorter videos fail (default 16)")
    parser.add_argument("--max-frames", type=int_range(1, 100_000, "frame count"),
                        help="keep only the first N frames of longer videos")
    parser.add_argument("--require-hands", action=argparse.BooleanOptionalAction, default=True,
                        help="fail clips in which no hand is ever seen (default on)")
    masks = parser.add_argument_group("masks", "dilated convex hulls of the keypoints (keypoints.masks.MaskConfig)")
    for flag, name, default, text in MASK_OPTIONS:
        masks.add_argument(flag, dest=name, type=float, default=default, help=f"{text} (default {default})")
    parser.add_argument("--retry-failed", action="store_true", help="retry videos listed in failures.jsonl")
    parser.add_argument("--allow-partial", action="store_true",
                        help="exit 0 even when some videos failed (default: exit 1 and say how many)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the identity train/test split")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(func=run)


def _mask_config(args: argparse.Namespace):
    from interanimate.errors import UserError
    from interanimate.keypoints.masks import MaskConfig

    values = {name: getattr(args, name) for _, name, _, _ in MASK_OPTIONS}
    limits = {name: 1.0 if name == "score_threshold" else 5.0 for name in values}
    bad = [flag for flag, name, _, _ in MASK_OPTIONS if not 0.0 <= values[name] <= limits[name]]
    if bad:
        raise UserError(f"{', '.join(bad)} out of range (threshold in [0, 1], dilations and forehead in [0, 5])")
    return MaskConfig(**values)


def check_inputs(args: argparse.Namespace) -> None:
    """Paths and options, before any model loads or anything is written."""
    from interanimate import validation
    from interanimate.annotate.backends import available_backends
    from interanimate.annotate.identity import available_embedders
    from interanimate.errors import UserError

    validation.input_dir(args.videos, "--videos")
    if args.labels is not None:
        validation.input_file(args.labels, "--labels", (".csv",))
    validation.output_dir(args.out, "--out")
    if args.pose_backend not in available_backends():
        raise UserError(f"--pose-backend: unknown pose backend {args.pose_backend!r}; choose "
                        f"{', '.join(available_backends())}")
    if args.pose_backend == "dwpose":
        if args.dwpose_dir is None:
            raise UserError("--pose-backend dwpose needs --dwpose-dir DIR (yolox_l.onnx and dw-ll_ucoco_384.onnx)")
        validation.input_dir(args.dwpose_dir, "--dwpose-dir")
    if args.identity not in available_embedders():
        raise UserError(f"--identity: unknown identity embedder {args.identity!r}; choose "
                        f"{', '.join(available_embedders())}")
    if args.arcface_model is not None:
        validation.input_file(args.arcface_model, "--arcface-model", (".onnx",))
    if args.max_frames is not None and args.max_frames < args.min_frames:
        raise UserError(f"--max-frames {args.max_frames} is below --min-frames {args.min_frames}: every video "
                        "would fail")


def run(args: argparse.Namespace) -> int:
    from interanimate.annotate.prepare import PrepareConfig, prepare
    from interanimate.jobs import FAILURES_NAME, parse_shard

    check_inputs(args)

    backend_kwargs = {"model_dir": args.dwpose_dir} if args.pose_backend == "dwpose" else {}
    config = PrepareConfig(videos=args.videos, out=args.out, labels=args.labels, pose_backend=args.pose_backend,
                           backend_kwargs=backend_kwargs, identity=args.identity, arcface_model=args.arcface_model,
                           on_no_face=args.on_no_face, shard=parse_shard(args.shard), workers=args.workers,
                           min_frames=args.min_frames, max_frames=args.max_frames, require_hands=args.require_hands,
                           retry_failed=args.retry_failed, seed=args.seed, progress=args.progress,
                           mask=_mask_config(args))
    summary = prepare(config)
    for item in summary.remade:
        print(f"  made again: {item['file']} ({item['reason']})")
    where = f" (reasons in {args.out / FAILURES_NAME})" if summary.failed_total else ""
    print(f"{summary.line()}{where}")
    if summary.failed_total and not args.allow_partial:
        import sys

        print(f"interanimate prepare: {summary.failed_total} of {summary.done + summary.skipped + summary.failed} "
              f"videos are not clips; exit 1 (--allow-partial accepts a partial dataset)", file=sys.stderr)
        return 1
    return 0
