"""Argument parsers shared by subcommands."""

from __future__ import annotations

import argparse
import re

SIZE_PATTERN = re.compile(r"^(\d+)x(\d+)$")


def parse_size(text: str) -> tuple[int, int]:
    """``'128x96'`` -> ``(128, 96)`` as (height, width); both must be positive multiples of 8."""
    match = SIZE_PATTERN.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"size must look like HxW (e.g. 128x128), got {text!r}")
    height, width = int(match.group(1)), int(match.group(2))
    if height < 16 or width < 16 or height % 8 or width % 8:
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be multiples of 8 and >= 16")
    return height, width


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value
