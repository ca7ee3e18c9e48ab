"""``interanimate animate``: animate a reference image along a pose sequence with an InterAnimate model.

    interanimate animate --reference me.png --synth-class LH-NP --out out.mp4
    interanimate animate --reference me.png --driving-poses poses.npz --out out.mp4 --frames 40

``--driving-poses`` is an ``.npz`` with ``keypoints`` (F, 134, 2, DWPose layout, pixels) and ``scores`` (F, 134),
plus ``size`` = [height, width] of the image the pixels refer to (without it: the reference image's size, or
normalised coordinates when every value is within [0, 1]). ``--synth-class`` takes the motion of a SynthHF clip of
that interaction class instead. Hand and face masks come from the keypoints. Sequences longer than the model's
16-frame window use progressive latent fusion. Writes OUT (mp4 with the provenance watermark), OUT's name with .png
(preview grid: reference | pose | generated) and .gif.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli.common import parse_size, positive_int


def bundled_model_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("interanimate") / "assets" / "animate-small"))


def register(subparsers) -> None:
    parser = subparsers.add_parser("animate", help="animate a reference image along a pose sequence",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="reference image (png/jpg)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--driving-poses", type=Path, help=".npz with keypoints (F,134,2) and scores (F,134)")
    source.add_argument("--synth-class", metavar="CODE", help="use the motion of a SynthHF clip of this class")
    parser.add_argument("--out", type=Path, required=True, help="output mp4")
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--frames", type=positive_int, default=16, help="frames to generate (default 16)")
    parser.add_argument("--steps", type=positive_int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--guidance", type=float, default=2.0, help="max CFG scale (1 disables CFG; default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=parse_size, default=None, help="HxW (default: the model's training size)")
    parser.add_argument("--identity", type=Path, default=None, help=".npy identity embedding (default: none)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.set_defaults(func=run)


def _driving_keypoints(args, reference_size: tuple[int, int]):
    import numpy as np

    from interanimate.errors import UserError

    if args.synth_class:
        from interanimate.pipelines.demo import render_heldout_clip
        from interanimate.taxonomy import BY_CODE

        if args.synth_class not in BY_CODE:
            raise UserError(f"--synth-class: unknown class {args.synth_class!r}; known: {', '.join(BY_CODE)}")
        clip = render_heldout_clip(args.synth_class, index=args.seed, frames=args.frames)
        return clip["keypoints"], clip["scores"], clip["frames"].shape[1:3]
    try:
        with np.load(args.driving_poses, allow_pickle=False) as data:
            keypoints, scores = data["keypoints"], data["scores"]
            size = tuple(int(v) for v in data["size"]) if "size" in data.files else None
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"--driving-poses {args.driving_poses}: need an .npz with keypoints and scores ({err})") \
            from None
    if keypoints.ndim != 3 or keypoints.shape[1:] != (134, 2) or scores.shape != keypoints.shape[:2]:
        raise UserError(f"--driving-poses: keypoints must be (F, 134, 2) and scores (F, 134), got "
                        f"{keypoints.shape} and {scores.shape}")
    if size is None:
        size = (1, 1) if np.nanmax(np.abs(keypoints)) <= 1.0 else reference_size
    return keypoints, scores, size


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from interanimate.errors import UserError
    from interanimate.pipelines.conditioning import conditions_from_keypoints, load_reference
    from interanimate.pipelines.outputs import preview_grid, write_gif, write_png, write_video
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    model_dir = args.model or bundled_model_dir()
    if not (model_dir / "model_index.json").is_file():
        raise UserError(f"--model {model_dir}: not a pipeline folder (no model_index.json)")
    if not args.reference.is_file():
        raise UserError(f"--reference {args.reference}: no such file")
    pipe = InterAnimatePipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    size = args.size or (pipe.vae.config.sample_size, pipe.vae.config.sample_size)
    with Image.open(args.reference) as img:
        reference_size = (img.height, img.width)
    keypoints, scores, source_size = _driving_keypoints(args, reference_size)
    if len(keypoints) < args.frames:
        raise UserError(f"the driving poses have {len(keypoints)} frames, fewer than --frames {args.frames}")
    cond = conditions_from_keypoints(keypoints[:args.frames], scores[:args.frames], source_size, size)
    reference = load_reference(args.reference, size)
    identity = None
    if args.identity is not None:
        identity = torch.from_numpy(np.load(args.identity).astype(np.float32)).reshape(1, -1)
    out = pipe(reference[None], cond["pose_frames"][None], hand_mask=cond["hand_mask"][None],
               face_mask=cond["face_mask"][None], id_embedding=identity, num_inference_steps=args.steps,
               max_guidance_scale=args.guidance, generator=torch.Generator().manual_seed(args.seed))
    frames = out.frames[0]  # (F, 3, H, W) in [-1, 1]
    write_video(args.out, frames, fps=args.fps)
    write_png(args.out.with_suffix(".png"), preview_grid(reference, cond["pose_frames"], frames))
    write_gif(args.out.with_suffix(".gif"), frames, fps=args.fps)
    print(f"video: {args.out.resolve()} (watermarked)\npreview: {args.out.with_suffix('.png').resolve()}\n"
          f"gif: {args.out.with_suffix('.gif').resolve()}")
    return 0
