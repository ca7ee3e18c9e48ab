"""``interanimate synth``: render SynthHF, procedural hand-face interaction clips in the InterHF layout.

Examples:
  interanimate synth --out data/synth --identities 20 --clips-per-class 2 --frames 24 --size 128x128 --seed 1
  interanimate synth --preview synth_preview.png

Rerunning the same command on the folder of an interrupted run continues it (finished clips are kept, the result is
byte-identical to an uninterrupted run's); other parameters on that folder are refused, naming what differs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interanimate.cli.common import parse_size, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("synth", help="render SynthHF clips (or a preview contact sheet)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="dataset folder to write: new, empty, or a SynthHF run with the "
                                                 "same parameters (an interrupted one is continued)")
    parser.add_argument("--preview", type=Path, metavar="OUT.png", help="write the contact sheet PNG instead")
    parser.add_argument("--identities", type=positive_int, default=20, help="number of identities (default 20)")
    parser.add_argument("--clips-per-class", type=positive_int, default=2, help="clips per identity and class")
    parser.add_argument("--frames", type=positive_int, default=24, help="frames per clip (default 24)")
    parser.add_argument("--size", type=parse_size, default=(128, 128), metavar="HxW", help="frame size (128x128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera-jitter", type=float, default=None, metavar="FRAC",
                        help="std of the per-frame camera shake, fraction of the width (default: SynthConfig's, "
                             "0.006; 0: steady)")
    parser.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interanimate.errors import UserError

    if (args.out is None) == (args.preview is None):
        raise UserError("give exactly one of --out DIR or --preview OUT.png")
    if args.preview is not None:
        from interanimate.data.synth import write_preview

        if args.preview.suffix.lower() != ".png":
            raise UserError(f"--preview must name a .png file, got {args.preview}")
        write_preview(args.preview, seed=args.seed, size=args.size)
        print(f"preview: {args.preview.resolve()}")
        return 0
    if args.frames < 2:
        raise UserError("--frames must be at least 2")
    from interanimate.data.synth import SynthConfig, write_dataset

    jitter = SynthConfig.camera_jitter if args.camera_jitter is None else args.camera_jitter
    start = time.perf_counter()
    records = write_dataset(args.out, args.identities, args.clips_per_class, args.frames, args.size, seed=args.seed,
                            workers=args.workers, camera_jitter=jitter)
    seconds = time.perf_counter() - start
    n_test = sum(r.split == "test" for r in records)
    print(f"wrote {len(records)} clips ({len(records) - n_test} train, {n_test} test) to {args.out.resolve()} "
          f"in {seconds:.1f} s ({len(records) / seconds:.1f} clips/s)")
    return 0
