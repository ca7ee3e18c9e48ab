"""Argument types shared by subcommands: thin argparse wrappers over :mod:`interanimate.validation`.

An argparse type that fails makes the parser print one line (``interanimate CMD: error: argument --X: …``) and exit
with code 2 before the command runs, so nothing is loaded and nothing is written.
"""

from __future__ import annotations

import argparse
import re

from interanimate import validation
from interanimate.errors import UserError

SIZE_PATTERN = re.compile(r"^(\d+)x(\d+)$")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) and exit with code 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _typed(check, label: str):
    """Turn a validation function ``check(text) -> value`` into an argparse type named ``label`` in messages."""
    def convert(text: str):
        try:
            return check(text)
        except UserError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("value: ")) from None
    convert.__name__ = label
    return convert


def parse_size(text: str) -> tuple[int, int]:
    """``'128x96'`` -> ``(128, 96)`` as (height, width); both multiples of 8 in [16, MAX_SIDE]."""
    match = SIZE_PATTERN.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"size must look like HxW (e.g. 128x128), got {text!r}")
    try:
        return validation.frame_size(int(match.group(1)), int(match.group(2)), name="size")
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def int_range(low: int | None, high: int | None, label: str = "integer"):
    return _typed(lambda text: validation.integer(text, "value", low, high), label)


def number_range(low: float | None, high: float | None, label: str = "number", low_inclusive: bool = True):
    return _typed(lambda text: validation.finite_number(text, "value", low, high, low_inclusive), label)


positive_int = int_range(1, 10 ** 9, "positive integer")
positive_float = number_range(0.0, 1e9, "positive number", low_inclusive=False)
strength_fraction = number_range(0.0, 1.0, "strength in (0, 1]", low_inclusive=False)
seed_int = _typed(lambda text: validation.seed(text, "value"), "seed")
guidance_scale = number_range(0.0, 100.0, "guidance scale")
fps_value = number_range(0.0, 1000.0, "frame rate", low_inclusive=False)
frames_count = int_range(1, 100_000, "frame count")
steps_count = int_range(1, 1000, "step count")
workers_count = int_range(1, 1024, "worker count")


def add_placement_options(parser) -> None:
    """``--device``, ``--dtype``, ``--offload``, ``--decode-chunk``: where the video model runs
    (:mod:`interanimate.pipelines.placement`)."""
    from interanimate.pipelines.placement import DEFAULT_DECODE_CHUNK, DEVICES_HELP, DTYPES, OFFLOADS

    parser.add_argument("--device", default="auto", help=f"where the model runs: {DEVICES_HELP} (default auto: "
                                                         "the first GPU when there is one, else the CPU)")
    parser.add_argument("--dtype", default="auto", choices=DTYPES,
                        help="the weights' precision (default auto: bf16 on a GPU that has it, else fp16; fp32 on "
                             "the CPU); the sampler stays in fp32")
    parser.add_argument("--offload", default="none", choices=OFFLOADS,
                        help="GPU only: model (one model on the GPU at a time) or sequential (least memory, slowest)")
    parser.add_argument("--decode-chunk", type=positive_int, default=DEFAULT_DECODE_CHUNK, dest="decode_chunk",
                        help=f"frames the VAE decodes at once (default {DEFAULT_DECODE_CHUNK})")


def placement_from_args(args):
    """The checked :class:`~interanimate.pipelines.placement.Placement` of ``add_placement_options``' options."""
    from interanimate.pipelines.placement import resolve_placement

    return resolve_placement(args.device, args.dtype, args.offload, args.decode_chunk)
