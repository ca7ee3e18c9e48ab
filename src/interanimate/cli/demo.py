"""``interanimate demo``: what ``make demo`` runs.

Until the bundled animation model lands, the demo renders the SynthHF preview contact sheet.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the bundled demo and print where its outputs are",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interanimate.data.synth import write_preview

    out = args.out / "synthhf_preview.png"
    write_preview(out, seed=args.seed)
    print(f"SynthHF preview: {out.resolve()}")
    return 0
