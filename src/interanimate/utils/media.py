"""Opening a user's images, refusing those too large to decode before decoding them.

A PNG of a few hundred KB can hold 30000×30000 pixels (2.7 GB decoded): every command that reads a user's image
(references, portraits, evaluation folders, ``annotate --image``) goes through :func:`read_image`, which reads the size
from the header and refuses an image over ``MAX_IMAGE_PIXELS`` before any pixel is decoded. Videos have their own
budget in :func:`interanimate.utils.video.read_video` (``MAX_FRAME_PIXELS`` per frame, ``MAX_VIDEO_BYTES`` decoded).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAX_IMAGE_PIXELS = 64_000_000  # 8000×8000: far above any portrait the models take (they resize to ≤ 1024 px)


class TooLarge(ValueError):
    """An input over the decoding budget; the message says its size and the budget."""


def check_image_size(width: int, height: int, what: str | os.PathLike = "image") -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise TooLarge(f"{what}: {width}×{height} pixels is over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel "
                       f"budget for an image (not decoded)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """uint8 RGB (H, W, 3). Raises :class:`TooLarge` for an image over ``MAX_IMAGE_PIXELS`` (checked on the header,
    before decoding) and ``ValueError`` for a file that is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:  # lazy: the header only
            check_image_size(image.width, image.height, path)
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as err:  # PIL's own, larger limit, raised while reading the header
        raise TooLarge(f"{path}: over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel budget for an image ({err})") \
            from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None
