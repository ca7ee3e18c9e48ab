"""``interanimate motion``: the interaction motion generator (class or text -> hand + face keypoint motion).

  motion train     --config configs/motion_small.yaml [--data ROOT] [--output DIR]
  motion generate  (--class CODE | --text "...") [--frames N] [--num K] --out POSES.npz [--preview OUT.gif]
  motion react     (--hand POSES.npz | --face POSES.npz) [--class CODE | --text "..."] --out POSES.npz
  motion evaluate  --data ROOT [--model DIR] [--out REPORT.json]

Without ``--model`` the bundled model (``interanimate/assets/motion``) is used. Output files are DWPose-layout
keypoint sequences that ``interanimate animate --driving-poses`` reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interanimate.cli.common import guidance_scale, int_range, number_range, parse_size, positive_int, seed_int, \
    steps_count
from interanimate.errors import UserError

MAX_MOTION_FRAMES = 1024  # one window; longer ones take minutes per sample on a CPU (attention ~ length²)
MAX_SAMPLES = 10_000


def register(subparsers) -> None:
    parser = subparsers.add_parser("motion", help="generate hand-face interaction motion (InterMask-style)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="motion_command", metavar="ACTION")

    p = sub.add_parser("train", help="train VQ-VAEs, transformer and evaluator from a YAML config")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--data", help="dataset root (overrides data.root)")
    p.add_argument("--output", help="output folder (overrides output)")
    p.add_argument("--stages", default="vq,transformer,evaluator",
                   help="comma-separated stages to run (default: all); later stages need --init for the earlier")
    p.add_argument("--init", type=Path, help="start from this saved model (e.g. to train only the evaluator)")
    p.add_argument("--device", help="torch device (overrides device; default from the config: cpu)")
    p.set_defaults(func=run_train)

    for name, helptext in (("generate", "generate motions for a class code or a text prompt"),
                           ("react", "generate one party given the other party's keypoint track")):
        p = sub.add_parser(name, help=helptext)
        if name == "react":
            given = p.add_mutually_exclusive_group(required=True)
            given.add_argument("--hand", type=Path, help="POSES.npz whose hands are given; the face is generated")
            given.add_argument("--face", type=Path, help="POSES.npz whose face is given; the hands are generated")
            cond = p.add_mutually_exclusive_group()
        else:
            cond = p.add_mutually_exclusive_group(required=True)
            p.add_argument("--frames", type=int_range(1, MAX_MOTION_FRAMES, "frame count"),
                           help=f"frames (a multiple of the temporal stride, at most {MAX_MOTION_FRAMES})")
            p.add_argument("--num", type=int_range(1, MAX_SAMPLES, "sample count"), default=1,
                           help=f"samples (OUT_000.npz, … when > 1; at most {MAX_SAMPLES})")
            p.add_argument("--size", type=parse_size, default=(512, 512), help="canvas HxW (default 512x512)")
        cond.add_argument("--class", dest="class_code", help="interaction class code, e.g. LH-NP")
        cond.add_argument("--text", help='free text, e.g. "the left hand pinches the nose"')
        p.add_argument("--out", type=Path, required=True, help="output POSES.npz")
        p.add_argument("--preview", type=Path, help="also write a preview (.gif, or a strip .png)")
        p.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
        p.add_argument("--seed", type=seed_int, default=0)
        p.add_argument("--steps", type=steps_count, help="decoding iterations")
        p.add_argument("--guidance", type=guidance_scale, help="classifier-free guidance scale in [0, 100]")
        p.add_argument("--temperature", type=number_range(0.0, 100.0, "temperature"),
                       help="temperature on the logits in [0, 100] (0 = greedy)")
        _sampling_options(p)
        p.set_defaults(func=run_generate if name == "generate" else run_react)

    p = sub.add_parser("evaluate", help="evaluator accuracy, FID, diversity, multimodality, left/right, reaction")
    p.add_argument("--data", type=Path, required=True,
                   help="dataset root with train and test splits, or its keypoint cache (.npz)")
    p.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--runs", type=int_range(1, 1000, "run count"), default=5)
    p.add_argument("--samples-per-class", type=int_range(1, 10_000, "sample count"), default=16)
    p.add_argument("--frames", type=positive_int, help="window length (default: the model's)")
    p.add_argument("--no-text", action="store_true", help="skip the text-prompt evaluation (no MiniLM)")
    p.add_argument("--reaction-clips", type=positive_int, help="reaction on this many test clips (default: all)")
    p.add_argument("--out", type=Path, help="write the report as JSON here (and Markdown tables beside it, .md)")
    p.add_argument("--seed", type=seed_int, default=0)
    _sampling_options(p)
    p.set_defaults(func=run_evaluate)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


# ---- train ------------------------------------------------------------------------------------------------------
def run_train(args) -> int:
    from interanimate import validation
    from interanimate.motion.train import load_config, run

    validation.input_file(args.config, "--config", (".yaml", ".yml"))
    if args.init is not None:
        from interanimate.motion.model import check_model_folder

        check_model_folder(args.init, "--init")
    if args.output:
        validation.output_dir(Path(args.output), "--output")
    overrides = {k: v for k, v in (("data.root", args.data), ("output", args.output), ("device", args.device)) if v}
    cfg = load_config(args.config, overrides)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    bad = set(stages) - {"vq", "transformer", "evaluator"}
    if bad:
        raise UserError(f"unknown stage(s) {', '.join(sorted(bad))}; valid: vq, transformer, evaluator")
    if set(stages) != {"vq", "transformer", "evaluator"} and "vq" not in stages and not args.init:
        raise UserError("training without the vq stage needs --init (a saved model with trained VQ-VAEs)")
    run(cfg, stages, init=args.init)
    return 0


# ---- generate / react -------------------------------------------------------------------------------------------
def _check_outputs(args, outputs: list[Path]) -> None:
    """Before the model loads: the prompt, the model folder and every file to write."""
    from interanimate import validation
    from interanimate.motion.model import BUNDLED_DIR, check_model_folder

    if args.text is not None:
        validation.interaction_text(args.text)
    if args.class_code is not None:
        args.class_code = validation.interaction_class(args.class_code, "--class")
    check_model_folder(args.model or BUNDLED_DIR, "--model")
    for path in outputs:
        validation.output_file(path, "--out", (".npz",))
    if args.preview is not None:
        validation.output_file(args.preview, "--preview", (".gif", ".png"))


def _sampling_options(p) -> None:
    p.add_argument("--top-k", type=number_range(0.0, 1.0, "fraction"), dest="top_k",
                   help="top-k filtering in [0, 1]: with --top-k-mode intermask (default; InterMask's thres) the "
                        "most likely (1 − top_k) of the codebook are kept (0.9 keeps 10 %%, 0 keeps all); with "
                        "fraction, top_k of it (0.9 keeps 90 %%)")
    p.add_argument("--top-k-mode", choices=("intermask", "fraction"), dest="top_k_mode",
                   help="how --top-k is read (default: the model's, intermask)")
    p.add_argument("--hand-fit", action=argparse.BooleanOptionalAction, dest="hand_fit", default=None,
                   help="replace each decoded hand by the articulated hand that fits it best (default: the model's "
                        "sampling.hand_fit; the bundled model: on; docs/motion.md, 'Hand fitting')")


def _sampling_overrides(args) -> dict:
    return {k: getattr(args, k) for k in ("steps", "guidance", "temperature", "top_k", "top_k_mode",
                                            "hand_fit")
            if getattr(args, k, None) is not None}


def _load_model(args):
    from interanimate.motion.model import MotionModel
    from interanimate.motion.sampling import SamplingConfig

    model = MotionModel.load(args.model)
    overrides = _sampling_overrides(args)
    try:
        sampling = SamplingConfig(**{**model.sampling.__dict__, **overrides})
    except ValueError as err:
        raise UserError(str(err)) from None
    return model, sampling


def resolve_condition(args, num: int):
    """(class index, class code, text embedding or None) from --class / --text; says which class a text names."""
    from interanimate.motion.text import motion_condition

    cond = motion_condition(args.class_code, args.text, num)
    if args.text:
        print(f"text {args.text!r} -> class {cond.code or 'none'} (parsed {cond.parsed})")
    return cond.index, cond.code, cond.text_embedding


def _outputs(out: Path, num: int) -> list[Path]:
    return [out] if num == 1 else [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(num)]


def run_generate(args) -> int:
    import torch

    from interanimate.motion.export import default_frame, save_poses, to_dwpose
    from interanimate.motion.preview import write_preview

    _check_outputs(args, _outputs(args.out, args.num))
    model, sampling = _load_model(args)
    frames = args.frames or model.frames
    model.check_frames(frames)
    index, code, text = resolve_condition(args, args.num)
    hand, face = model.generate(torch.full((args.num,), index), frames=frames, text=text, sampling=sampling,
                                seed=args.seed)
    height, width = args.size
    frame = default_frame(height, width)
    for i, path in enumerate(_outputs(args.out, args.num)):
        kpts, scores = to_dwpose(hand[i].numpy(), face[i].numpy(), frame)
        save_poses(path, kpts, scores, height, width, class_code=code, text=args.text or "")
        print(f"wrote {path}")
        if args.preview and i == 0:
            print(f"preview {write_preview(args.preview, kpts, scores, height, width)}")
    return 0


def run_react(args) -> int:
    import torch

    from interanimate.motion.export import add_body, default_frame, load_poses, save_poses
    from interanimate.motion.preview import write_preview
    from interanimate.motion.representation import (FACE_PARTY, HAND, decode_features, encode_keypoints,
                                                    face_frame)

    _check_outputs(args, [args.out])
    poses = load_poses(args.hand or args.face, option="--hand" if args.hand else "--face")
    model, sampling = _load_model(args)
    kpts, scores = poses["keypoints"], poses["scores"]
    usable = (kpts.shape[0] // model.stride) * model.stride
    if usable == 0:
        raise UserError(f"the pose track has {kpts.shape[0]} frames; at least {model.stride} are needed")
    if usable < kpts.shape[0]:
        print(f"using the first {usable} of {kpts.shape[0]} frames (a multiple of the stride {model.stride})")
    kpts, scores = kpts[:usable], scores[:usable]
    height, width = poses["size"] or (512, 512)
    face_seen = scores[0, list(FACE_PARTY.keypoints)].mean() > 0.3
    if args.face and not face_seen:
        raise UserError(f"{args.face}: the face is not visible in the first frame")
    frame = face_frame(kpts[0]) if face_seen else default_frame(height, width)
    hand_f, face_f, _ = encode_keypoints(kpts, scores, frame)
    index, code, text = resolve_condition(args, 1)
    given = {"hand": torch.from_numpy(hand_f)[None]} if args.hand else {"face": torch.from_numpy(face_f)[None]}
    gen_hand, gen_face = model.generate(torch.tensor([index]), text=text, sampling=sampling, seed=args.seed, **given)
    out_kpts, out_scores = decode_features(gen_hand[0].numpy(), gen_face[0].numpy(), frame)
    keep = list(HAND.keypoints) if args.hand else list(FACE_PARTY.keypoints)  # the given party stays as given
    out_kpts[:, keep], out_scores[:, keep] = kpts[:, keep], scores[:, keep]
    add_body(out_kpts, out_scores)
    save_poses(args.out, out_kpts, out_scores, height, width, class_code=code, text=args.text or "",
               fps=poses["fps"])
    print(f"wrote {args.out}")
    if args.preview:
        print(f"preview {write_preview(args.preview, out_kpts, out_scores, height, width, fps=poses['fps'])}")
    return 0


# ---- evaluate ---------------------------------------------------------------------------------------------------
def run_evaluate(args) -> int:
    from interanimate.motion.data import MotionDataConfig, MotionDataset
    from interanimate import validation
    from interanimate.motion.evaluation import evaluate
    from interanimate.motion.model import MotionModel
    from interanimate.motion.sampling import SamplingConfig

    if args.data.is_file():  # a keypoint cache (MotionDataset.save_cache) or a dataset root
        validation.input_file(args.data, "--data", (".npz",))
    else:
        validation.input_dir(args.data, "--data")
    if args.out is not None:
        validation.output_file(args.out, "--out", (".json",))
    model = MotionModel.load(args.model)
    try:
        model.sampling = SamplingConfig(**{**model.sampling.__dict__, **_sampling_overrides(args)})
    except ValueError as err:
        raise UserError(str(err)) from None
    cfg = MotionDataConfig(root=str(args.data), frames=args.frames or model.frames, mirror=False)
    model.check_frames(cfg.frames)
    test_set = MotionDataset(args.data, "test", cfg)
    train_set = MotionDataset(args.data, "train", cfg)
    encoder = None
    if not args.no_text:
        from interanimate.motion.text import default_encoder
        encoder = default_encoder()
    report = evaluate(model, test_set, train_set, args.samples_per_class, args.runs, seed=args.seed,
                      text_encoder=encoder, reaction_clips=args.reaction_clips)
    report["sampling"] = dict(model.sampling.__dict__)
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.out:
        from interanimate.motion.evaluation import report_markdown
        from interanimate.utils.io import write_text_atomic

        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, text + "\n")
        write_text_atomic(args.out.with_suffix(".md"), report_markdown(report))
        print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    else:
        print(text)
    return 0
