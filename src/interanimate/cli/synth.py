"""``interanimate synth``: render SynthHF, procedural hand-face interaction clips in the InterHF layout.

Examples:
  interanimate synth --out data/synth --identities 20 --clips-per-class 2 --frames 24 --size 128x128 --seed 1
  interanimate synth --preview synth_preview.png

Rerunning the same command on the folder of an interrupted run continues it (finished clips are kept, the result is
byte-identical to an uninterrupted run's); other parameters on that folder are refused, naming what differs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from interanimate.cli.common import frames_count, int_range, parse_size, seed_int, workers_count


def register(subparsers) -> None:
    parser = subparsers.add_parser("synth", help="render SynthHF clips (or a preview contact sheet)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="dataset folder to write: new, empty, or a SynthHF run with the "
                                                 "same parameters (an interrupted one is continued)")
    parser.add_argument("--preview", type=Path, metavar="OUT.png", help="write the contact sheet PNG instead")
    parser.add_argument("--identities", type=int_range(1, 1_000_000, "identity count"), default=20,
                        help="number of identities (default 20)")
    parser.add_argument("--clips-per-class", type=int_range(1, 10_000, "clip count"), default=2,
                        help="clips per identity and class")
    parser.add_argument("--frames", type=frames_count, default=24, help="frames per clip (default 24)")
    parser.add_argument("--size", type=parse_size, default=(128, 128), metavar="HxW", help="frame size (128x128)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--camera-jitter", type=float, default=None, metavar="FRAC",
                        help="std of the per-frame camera shake, fraction of the width (default: SynthConfig's, "
                             "0.006; 0: steady)")
    parser.add_argument("--identity", choices=("synth", "dlib"), default="synth",
                        help="identity vector stored per clip: synth (the renderer's own face parameters, projected; "
                             "default) or dlib (what `prepare` stores for a real video: dlib on the first frame with "
                             "a face, as a user computes it from a portrait)")
    parser.add_argument("--workers", type=workers_count, default=None, help="processes (default: all cores)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interanimate import validation
    from interanimate.errors import UserError

    if (args.out is None) == (args.preview is None):
        raise UserError("give exactly one of --out DIR or --preview OUT.png")
    if args.preview is not None:
        from interanimate.data.synth import write_preview

        if args.preview.suffix.lower() != ".png":
            raise UserError(f"--preview must name a .png file, got {args.preview}")
        validation.output_file(args.preview, "--preview", (".png",))
        validation.check_video_memory(18, *args.size)  # one frame per class
        write_preview(args.preview, seed=args.seed, size=args.size)
        print(f"preview: {args.preview.resolve()}")
        return 0
    if args.frames < 2:
        raise UserError("--frames must be at least 2")
    validation.output_dir(args.out, "--out")
    validation.check_video_memory(args.frames, *args.size, copies=2 * (args.workers or os.cpu_count() or 1))
    from interanimate.data.synth import SynthConfig, write_dataset

    jitter = SynthConfig.camera_jitter if args.camera_jitter is None else args.camera_jitter
    start = time.perf_counter()
    records = write_dataset(args.out, args.identities, args.clips_per_class, args.frames, args.size, seed=args.seed,
                            workers=args.workers, camera_jitter=jitter, identity=args.identity)
    seconds = time.perf_counter() - start
    n_test = sum(r.split == "test" for r in records)
    print(f"wrote {len(records)} clips ({len(records) - n_test} train, {n_test} test) to {args.out.resolve()} "
          f"in {seconds:.1f} s ({len(records) / seconds:.1f} clips/s)")
    return 0
