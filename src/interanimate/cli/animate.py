"""``interanimate animate``: animate a reference portrait along a motion with an InterAnimate model.

    interanimate animate --reference me.png --synth-class LH-NP --out out.mp4
    interanimate animate --reference me.png --driving-video clip.mp4 --out out.mp4 --frames 40
    interanimate animate --reference me.png --driving-poses poses.npz --out out.mp4 --retarget none

The motion comes from one of:
  --driving-video  a video, annotated frame by frame with --pose-backend (mediapipe by default, offline);
  --driving-poses  an .npz with ``keypoints`` (F, 134, 2, DWPose layout, pixels) and ``scores`` (F, 134), plus
                   ``size`` = [height, width] of the image the pixels refer to (without it: the reference image's
                   size, or normalised coordinates when every value is within [0, 1]);
  --synth-class    the motion of a SynthHF clip of that interaction class.

--retarget auto (default) moves the motion onto the reference's face, found with the same pose backend: the
driving face is aligned to it by a similarity transform, the hands keep their place relative to the face, and the
drawn face is the reference's own face following the driver's head motion (interanimate.pipelines.retarget).
--retarget none uses the driving keypoints as they are, stretched to the output size. Hand and face masks come from
the keypoints. Sequences longer than the model's 16-frame window use progressive latent fusion. Writes OUT (mp4
with the provenance watermark), OUT's name with .png (preview grid: reference | pose | generated) and .gif.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli.common import parse_size, positive_int

IDENTITY_HELP = ("face-identity vector of the reference for the ID preserver: dlib (128-d), arcface (512-d, needs "
                 "--arcface-model) or none (default). Keep none for the bundled model: it was trained on SynthHF "
                 "identity vectors, a different space from dlib's or ArcFace's")


def bundled_model_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("interanimate") / "assets" / "animate-small"))


def register(subparsers) -> None:
    parser = subparsers.add_parser("animate", help="animate a reference portrait along a motion",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="reference image (png/jpg)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--driving-video", type=Path, help="video whose motion to copy (annotated with --pose-backend)")
    source.add_argument("--driving-poses", type=Path, help=".npz with keypoints (F,134,2) and scores (F,134)")
    source.add_argument("--synth-class", metavar="CODE", help="use the motion of a SynthHF clip of this class")
    parser.add_argument("--out", type=Path, required=True, help="output mp4")
    parser.add_argument("--retarget", choices=("auto", "none"), default="auto",
                        help="auto (default): move the motion onto the reference's face; none: use it as is")
    parser.add_argument("--pose-backend", default="mediapipe",
                        help="pose estimator for --driving-video and the reference: mediapipe (default), dwpose, "
                             "or a registered name")
    parser.add_argument("--dwpose-dir", type=Path, help="folder with yolox_l.onnx and dw-ll_ucoco_384.onnx")
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--frames", type=positive_int, default=16, help="frames to generate (default 16)")
    parser.add_argument("--steps", type=positive_int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--guidance", type=float, default=2.0, help="max CFG scale (1 disables CFG; default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=parse_size, default=None, help="HxW (default: the model's training size)")
    identity = parser.add_mutually_exclusive_group()
    identity.add_argument("--identity", type=Path, default=None, help=".npy identity embedding (default: none)")
    identity.add_argument("--identity-from", default="none", metavar="dlib|arcface|none", help=IDENTITY_HELP)
    parser.add_argument("--arcface-model", type=Path, help="insightface recognition .onnx for --identity-from arcface")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ the driving motion
def _synth_keypoints(args):
    from interanimate.errors import UserError
    from interanimate.pipelines.demo import render_heldout_clip
    from interanimate.taxonomy import BY_CODE

    if args.synth_class not in BY_CODE:
        raise UserError(f"--synth-class: unknown class {args.synth_class!r}; known: {', '.join(BY_CODE)}")
    clip = render_heldout_clip(args.synth_class, index=args.seed, frames=args.frames)
    return clip["keypoints"], clip["scores"], clip["frames"].shape[1:3]


def _pose_file_keypoints(args, reference_size: tuple[int, int]):
    import numpy as np

    from interanimate.errors import UserError

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


def _video_keypoints(args):
    import numpy as np

    from interanimate.annotate.backends import check_pose
    from interanimate.cli.annotate import _backend
    from interanimate.errors import UserError
    from interanimate.utils.video import read_video

    try:
        frames, _ = read_video(args.driving_video, max_frames=args.frames)  # (F, H, W, 3)
    except (ValueError, OSError) as err:
        raise UserError(f"--driving-video: cannot read {args.driving_video}: {err}") from None
    backend = _backend(args, static=False)
    if hasattr(backend, "reset"):
        backend.reset()
    poses = [check_pose(*backend(frame), backend=args.pose_backend) for frame in frames]  # every frame, in order
    return np.stack([k for k, _ in poses]), np.stack([s for _, s in poses]), frames.shape[1:3]  # (F, 134, 2), ...


def _driving_keypoints(args, reference_size: tuple[int, int]):
    """-> keypoints (F, 134, 2), scores (F, 134), and the (H, W) the pixels refer to."""
    if args.synth_class:
        return _synth_keypoints(args)
    if args.driving_video:
        return _video_keypoints(args)
    return _pose_file_keypoints(args, reference_size)


# ------------------------------------------------------------------------------------------ the reference
def _read_reference(path: Path):
    """-> uint8 RGB (H, W, 3)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from interanimate.errors import UserError

    if not path.is_file():
        raise UserError(f"--reference {path}: no such file")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"--reference {path}: cannot read the image ({err})") from None


def _retarget(args, keypoints, scores, source_size, image, size):
    """Driving keypoints in ``source_size`` pixels -> (keypoints, scores, the (H, W) their pixels refer to)."""
    if args.retarget == "none":
        return keypoints, scores, source_size
    from interanimate.annotate.backends import check_pose
    from interanimate.cli.annotate import _backend
    from interanimate.errors import UserError
    from interanimate.pipelines.retarget import (NotEnoughFacePoints, apply_similarity, center_crop_matrix, has_face,
                                                 retarget_to_reference)

    ref_kpts, ref_scores = check_pose(*_backend(args, static=True)(image), backend=args.pose_backend)
    if not has_face(ref_scores):
        raise UserError(f"--reference {args.reference}: the {args.pose_backend} pose backend finds no face to move "
                        "the motion onto; pass --retarget none to use the driving keypoints as they are")
    ref_kpts = apply_similarity(ref_kpts, center_crop_matrix(image.shape[:2], size))  # (134, 2) in output pixels
    try:
        keypoints, scores = retarget_to_reference(keypoints, scores, ref_kpts, ref_scores)
    except NotEnoughFacePoints as err:
        raise UserError(f"cannot retarget the driving motion onto the reference: {err}; pass --retarget none to use "
                        "it as is") from None
    return keypoints, scores, size


def _identity(args, image):
    """-> float32 (D,) identity vector, or None."""
    import numpy as np

    from interanimate.annotate.identity import get_embedder
    from interanimate.errors import UserError

    if args.identity is not None:
        try:
            return np.load(args.identity, allow_pickle=False).astype(np.float32).reshape(-1)  # (D,)
        except (OSError, ValueError) as err:
            raise UserError(f"--identity {args.identity}: need a .npy vector ({err})") from None
    embedder = get_embedder(args.identity_from, arcface_model=args.arcface_model)
    if embedder is None:
        return None
    vector = embedder(image)
    if vector is None:
        raise UserError(f"--identity-from {args.identity_from}: no face found in --reference {args.reference}")
    return np.asarray(vector, np.float32).reshape(-1)  # (D,)


# ------------------------------------------------------------------------------------------ the command
def run(args: argparse.Namespace) -> int:
    import torch

    from interanimate.errors import UserError
    from interanimate.pipelines.conditioning import conditions_from_keypoints, load_reference
    from interanimate.pipelines.outputs import preview_grid, write_gif, write_png, write_video
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    # 1. check inputs, read the reference and load the model
    model_dir = args.model or bundled_model_dir()
    if not (model_dir / "model_index.json").is_file():
        raise UserError(f"--model {model_dir}: not a pipeline folder (no model_index.json)")
    if args.arcface_model is not None and args.identity_from != "arcface":
        raise UserError("--arcface-model is only used with --identity-from arcface")
    image = _read_reference(args.reference)  # (H, W, 3)
    pipe = InterAnimatePipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    size = args.size or (pipe.vae.config.sample_size, pipe.vae.config.sample_size)

    # 2. the driving motion, in pixels of source_size
    keypoints, scores, source_size = _driving_keypoints(args, image.shape[:2])
    if len(keypoints) < args.frames:
        raise UserError(f"the driving poses have {len(keypoints)} frames, fewer than --frames {args.frames}")
    keypoints, scores = keypoints[:args.frames], scores[:args.frames]

    # 3. onto the reference's face (or as is)
    keypoints, scores, source_size = _retarget(args, keypoints, scores, source_size, image, size)

    # 4. pose frames, masks, reference and identity at the output size
    cond = conditions_from_keypoints(keypoints, scores, source_size, size)
    reference = load_reference(args.reference, size)  # (3, H, W)
    identity = _identity(args, image)
    id_dim = pipe._id_dim()
    if identity is not None and id_dim and identity.shape[0] != id_dim:
        raise UserError(f"the identity vector has {identity.shape[0]} values; this model takes {id_dim}")
    identity = None if identity is None else torch.from_numpy(identity)[None]  # (1, D)

    # 5. generate
    out = pipe(reference[None], cond["pose_frames"][None], hand_mask=cond["hand_mask"][None],
               face_mask=cond["face_mask"][None], id_embedding=identity, num_inference_steps=args.steps,
               max_guidance_scale=args.guidance, generator=torch.Generator().manual_seed(args.seed))
    frames = out.frames[0]  # (F, 3, H, W) in [-1, 1]

    # 6. write (each file atomically)
    write_video(args.out, frames, fps=args.fps)
    write_png(args.out.with_suffix(".png"), preview_grid(reference, cond["pose_frames"], frames))
    write_gif(args.out.with_suffix(".gif"), frames, fps=args.fps)
    print(f"video: {args.out.resolve()} (watermarked)\npreview: {args.out.with_suffix('.png').resolve()}\n"
          f"gif: {args.out.with_suffix('.gif').resolve()}")
    return 0
