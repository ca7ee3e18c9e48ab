"""``interanimate annotate-image`` / ``annotate-video``: keypoints and masks drawn over a picture, to check them.

Examples:
  interanimate annotate-image portrait.jpg --preview portrait_pose.png
  interanimate annotate-video clip.mp4 --preview clip_pose.png --frames 8
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli.common import int_range


def _common(parser) -> None:
    parser.add_argument("--pose-backend", default="mediapipe", help="mediapipe (default), dwpose, or a registered name")
    parser.add_argument("--dwpose-dir", type=Path, help="folder with yolox_l.onnx and dw-ll_ucoco_384.onnx")


def register(subparsers) -> None:
    image = subparsers.add_parser("annotate-image", help="draw detected keypoints and masks over an image",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    image.add_argument("image", type=Path, help="input picture (png, jpg, ...)")
    image.add_argument("--preview", "--out", dest="out", type=Path, metavar="OUT.png",
                       help="output PNG (default: IMAGE_pose.png beside the input)")
    _common(image)
    image.set_defaults(func=run_image)
    video = subparsers.add_parser("annotate-video", help="contact sheet of keypoints and masks over video frames",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    video.add_argument("video", type=Path, help="input video")
    video.add_argument("--preview", type=Path, required=True, metavar="OUT.png", help="contact sheet PNG to write")
    video.add_argument("--frames", type=int_range(1, 256, "frame count"), default=8, help="frames shown, evenly spaced (default 8)")
    _common(video)
    video.set_defaults(func=run_video)


def _backend(args, static: bool):
    from interanimate.annotate.backends import backend_for

    return backend_for(args.pose_backend, args.dwpose_dir, static)


def _check_png(path: Path) -> Path:
    from interanimate import validation
    from interanimate.errors import UserError

    if path.suffix.lower() != ".png":
        raise UserError(f"output must be a .png file, got {path}")
    return validation.output_file(path, "--preview", (".png",))


def _write_png(path: Path, image) -> None:
    from PIL import Image

    from interanimate.utils.io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    print(f"preview: {path.resolve()}")


def run_image(args: argparse.Namespace) -> int:
    from interanimate.annotate.preview import overlay
    from interanimate.errors import UserError
    from interanimate.utils.media import read_image

    out = _check_png(args.out or args.image.with_name(f"{args.image.stem}_pose.png"))
    try:
        image = read_image(args.image)  # refuses an image too large to decode before decoding it
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read image {args.image}: {err}") from None
    keypoints, scores = _backend(args, static=True)(image)
    _write_png(out, overlay(image, keypoints, scores))
    return 0


def run_video(args: argparse.Namespace) -> int:
    import numpy as np

    from interanimate.annotate.preview import contact_sheet, overlay
    from interanimate.errors import UserError
    from interanimate.utils.video import read_video

    _check_png(args.preview)
    try:
        frames, _ = read_video(args.video)
    except (ValueError, OSError) as err:
        raise UserError(f"cannot read video {args.video}: {err}") from None
    backend = _backend(args, static=False)
    poses = [backend(frame) for frame in frames]  # every frame, so a tracker sees the motion
    shown = np.unique(np.linspace(0, len(frames) - 1, min(args.frames, len(frames))).round().astype(int))
    _write_png(args.preview, contact_sheet([overlay(frames[i], *poses[i]) for i in shown]))
    return 0
