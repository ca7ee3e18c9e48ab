"""Shared fixtures for the annotation tests: the astronaut photo, tiny videos, stub pose backends."""

from __future__ import annotations

import numpy as np
import pytest

from interanimate.annotate.backends import register_backend
from interanimate.keypoints.layout import FACE, LEFT_HAND, NUM_KEYPOINTS

STUB = "test-stub"  # a visible left hand and face in every frame
STUB_HANDLESS = "test-stub-handless"  # a face but never a hand


class StubBackend:
    """A fixed pose scaled to the frame: the left hand at the left, the face at the top right."""

    def __init__(self, hands: bool = True):
        self.hands = hands

    def __call__(self, frame):
        height, width = frame.shape[:2]
        keypoints = np.zeros((NUM_KEYPOINTS, 2), np.float32)
        scores = np.zeros(NUM_KEYPOINTS, np.float32)
        rng = np.random.default_rng(0)
        keypoints[FACE] = rng.uniform((0.55, 0.1), (0.9, 0.45), (68, 2)) * (width, height)
        scores[FACE] = 1.0
        if self.hands:
            keypoints[LEFT_HAND] = rng.uniform((0.1, 0.5), (0.4, 0.9), (21, 2)) * (width, height)
            scores[LEFT_HAND] = 1.0
        return keypoints, scores


register_backend(STUB, StubBackend)
register_backend(STUB_HANDLESS, lambda: StubBackend(hands=False))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)  # the machine is shared; nothing here needs more


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()  # (512, 512, 3) RGB


@pytest.fixture(scope="session")
def pan_video():
    def make(image: np.ndarray, frames: int = 6, size: tuple[int, int] = (384, 384), step: int = 8) -> np.ndarray:
        """A slow horizontal pan over ``image``: (F, H, W, 3) crops moving ``step`` pixels right each frame."""
        height, width = size
        return np.stack([image[:height, i * step:i * step + width] for i in range(frames)])

    return make


@pytest.fixture(scope="session")
def tiny_video():
    def make(frames: int, size: int = 32, seed: int = 0) -> np.ndarray:
        """(F, size, size, 3) uint8 noise: each frame distinct, so frame order is checkable after a round trip."""
        rng = np.random.default_rng(seed)
        return rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8)

    return make


def tree_state(root) -> dict[str, tuple[int, bytes]]:
    """{relative path: (mtime_ns, bytes)} of every file under ``root``: equal before and after = nothing changed."""
    from pathlib import Path

    root = Path(root)
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def snapshot():
    return tree_state
