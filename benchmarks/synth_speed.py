"""SynthHF speed: clips per second at 24 frames, 128x128, mp4 and annotations written (issue target: >= 10 clips/s).

    python benchmarks/synth_speed.py [--identities 4] [--workers 2]

Prints the figure for one worker and for the requested number of workers, in the same process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from interanimate.data.synth import write_dataset


def measure(identities: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        records = write_dataset(tmp, identities, 1, 24, (128, 128), seed=0, progress=False, workers=workers)
        return len(records) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--identities", type=int, default=4, help="clips = identities x 18")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    single = measure(args.identities, 1)
    multi = measure(args.identities, args.workers)
    print(f"cores: {os.cpu_count()}, clips per run: {args.identities * 18}, 24 frames 128x128")
    print(f"1 worker:  {single:.2f} clips/s")
    print(f"{args.workers} workers: {multi:.2f} clips/s  (x{multi / single:.2f} vs 1 worker; target >= 10)")


if __name__ == "__main__":
    main()
