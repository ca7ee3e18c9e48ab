"""``interanimate benchmark``: does a generated set serve a security team? (docs/benchmark.md)

  benchmark challenge --generated DIR [DIR ...] --real DIR --out OUT
      challenge verification trained on generated clips, tested on the real set's held-out identities: the
      Classification Accuracy Score table (generated / real / real + generated), per class and factor, confusion PNG
  benchmark pad --bona-fide DIR --attack DIR [--attack DIR ...] --out OUT
      presentation-attack detection, each generated set an attack species: APCER per species and the worst, BPCER,
      BPCER at APCER 1/5/10 %, EER, counts, 95 % intervals over identities, DET PNG (ISO/IEC 30107-3)

Sets: folders made by `interanimate dataset generate` (attack / generated), `synth` or `prepare` (bona fide / real).
Everything is checked before any decoding or training (exit 2, one line, nothing written); the report (report.md,
report.json, PNGs) is written into OUT only when all is computed. Deterministic for a --seed on the CPU.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from interanimate.cli.common import int_range, number_range, seed_int

REAL_NOTE = ("the clips of --real — offline, SynthHF renders of people no generated set uses (procedural cartoons, "
             "not camera footage: say so when quoting these figures); a user's own `prepare` folder plugs in the same "
             "way.")
BONA_FIDE_NOTE = ("the clips of --bona-fide (offline: SynthHF renders, i.e. procedural cartoons standing in for live "
                  "captures; a user's own `prepare` folder of real videos is the meaningful choice).")


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="does a generated set train a detector? challenge / PAD",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark_command", metavar="ACTION")
    c = sub.add_parser("challenge", help="challenge verification and the CAS table")
    c.add_argument("--generated", type=Path, nargs="+", required=True, help="generated set(s) to train on")
    c.add_argument("--real", type=Path, required=True, help="real set: train split for the real arms, held-out "
                                                            "identities (val/test) to test on")
    c.add_argument("--arms", default="generated,real,real+generated",
                   help="comma-separated subset of generated, real, real+generated")
    p = sub.add_parser("pad", help="presentation-attack detection figures (ISO/IEC 30107-3)")
    p.add_argument("--bona-fide", dest="bona_fide", type=Path, required=True, help="bona fide (real) set")
    p.add_argument("--attack", type=Path, action="append", required=True, help="generated set (repeatable)")
    p.add_argument("--threshold", type=number_range(0.0, 1.0, "threshold"), default=0.5,
                   help="decision threshold on the attack probability (default 0.5)")
    p.add_argument("--no-balance", dest="balance", action="store_false",
                   help="train on every training clip (default: the larger kind drawn down to the smaller's count)")
    for sp, size, epochs in ((c, 32, 30), (p, 48, 20)):
        sp.add_argument("--out", type=Path, required=True, help="report folder (created; files replaced)")
        sp.add_argument("--epochs", type=int_range(1, 10_000, "epoch count"), default=epochs)
        sp.add_argument("--frames", type=int_range(2, 256, "frame count"), default=16, help="frames per clip")
        sp.add_argument("--frame-size", dest="frame_size", type=int_range(8, 512, "frame size"), default=size,
                        help=f"pixels per side the detector sees (default {size})")
        sp.add_argument("--width", type=int_range(4, 512, "width"), default=16, help="channels of the first block")
        sp.add_argument("--seed", type=seed_int, default=0)
        sp.add_argument("--bootstrap", type=int_range(0, 100_000, "round count"), default=1000,
                        help="bootstrap rounds over test identities (0: no intervals)")
        sp.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
        sp.add_argument("--no-progress", dest="progress", action="store_false")
    c.set_defaults(func=run_challenge)
    p.set_defaults(func=run_pad)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _common(args):
    from interanimate import validation
    from interanimate.benchmark.video_net import TrainOptions
    from interanimate.pipelines.placement import resolve_placement

    validation.output_dir(args.out, "--out")
    device = resolve_placement(args.device).device
    return TrainOptions(epochs=args.epochs, width=args.width, seed=args.seed, device=device)


def run_challenge(args: argparse.Namespace) -> int:
    from interanimate.benchmark.challenge import ARMS, ChallengeOptions, plan_challenge, run_challenge as run
    from interanimate.benchmark.report import challenge_markdown, confusion_png, write_report
    from interanimate.benchmark.sets import load_set
    from interanimate.errors import UserError

    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    if not arms or any(a not in ARMS for a in arms):
        raise UserError(f"--arms {args.arms!r}: use a comma-separated subset of {', '.join(ARMS)}")
    train = _common(args)
    options = ChallengeOptions(train, args.frames, args.frame_size, args.bootstrap, arms)
    generated = [load_set(d, "--generated") for d in args.generated]
    real = load_set(args.real, "--real")
    plan = plan_challenge(generated, real, options)
    result = run(plan, options, args.progress)
    report = {"command": _command(), "generated": [str(s.root) for s in generated], "real": str(real.root),
              "real_note": REAL_NOTE, "options": _options(args), "result": result}
    written = write_report(args.out, report, challenge_markdown(report),
                           {"confusion.png": confusion_png(result["classes"], result["arms"])})
    for arm, a in result["arms"].items():
        lo, hi = a["top1_ci95"]
        print(f"trained on {arm}: top-1 {a['top1']:.3f} [{lo:.3f}, {hi:.3f}] on {a['test_clips']} held-out clips")
    print(f"report: {written[-2]}")
    return 0


def run_pad(args: argparse.Namespace) -> int:
    from interanimate.benchmark.pad import PadOptions, plan_pad, run_pad as run
    from interanimate.benchmark.report import det_png, pad_markdown, write_report
    from interanimate.benchmark.sets import load_set

    train = _common(args)
    options = PadOptions(train, args.frames, args.frame_size, args.bootstrap, args.threshold)
    bona_fide = load_set(args.bona_fide, "--bona-fide")
    attacks = [load_set(d, "--attack") for d in args.attack]
    plan = plan_pad(bona_fide, attacks, args.seed if args.balance else None)
    result = run(plan, options, args.progress)
    report = {"command": _command(), "bona_fide": str(bona_fide.root), "attacks": [str(s.root) for s in attacks],
              "bona_fide_note": BONA_FIDE_NOTE, "options": _options(args), "result": result}
    f = result["figures"]
    written = write_report(args.out, report, pad_markdown(report), {"det.png": det_png(result["det"], f["eer"])})
    print(f"APCER (worst species) {f['apcer_worst']:.3f}, BPCER {f['bpcer']:.3f}, BPCER at APCER 5 % "
          f"{f['bpcer_at_apcer']['0.05']:.3f}, EER {f['eer']:.3f}")
    print(f"report: {written[-2]}")
    return 0


def _options(args) -> dict:
    return {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, list) else v)
            for k, v in vars(args).items() if k not in ("func",)}


def _command() -> str:
    return "interanimate " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "interanimate benchmark"
