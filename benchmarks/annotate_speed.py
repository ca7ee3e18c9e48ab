"""Frames per second of the mediapipe pose backend at 640×384, and what it finds, on a pan over skimage's astronaut.

The astronaut photo (512×512) is scaled to 768×768 and a 640×384 window pans 4 pixels a frame over it (the face
stays in view). Reported: frames per second of the backend in video (tracking) mode and in still-image mode, the
share of frames in which it finds the face, each hand and the upper body, mask time per frame, and the dlib
identity-embedding time per frame. One thread (OMP_NUM_THREADS=1), the machine's load average printed alongside.

  OMP_NUM_THREADS=1 nice -n 10 python benchmarks/annotate_speed.py [--frames 32]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

WIDTH, HEIGHT, STEP = 640, 384, 4


def pan_video(frames: int) -> np.ndarray:
    """(F, 384, 640, 3) uint8: a window panning right over the astronaut scaled to 768×768."""
    import cv2
    from skimage import data

    side = max(768, WIDTH + STEP * frames)
    image = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    return np.stack([image[:HEIGHT, STEP * t:STEP * t + WIDTH] for t in range(frames)])


def timed_poses(backend, frames: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    backend(frames[0])  # warm-up: graph construction and model loading are not per-frame costs
    if hasattr(backend, "reset"):
        backend.reset()
    start = time.perf_counter()
    poses = [backend(frame) for frame in frames]
    seconds = time.perf_counter() - start
    return len(frames) / seconds, np.stack([k for k, _ in poses]), np.stack([s for _, s in poses])


def found(scores: np.ndarray, part: slice, threshold: float = 0.3, need: int = 3) -> float:
    """Share of frames with at least ``need`` points of ``part`` scored >= ``threshold``."""
    return float(((scores[:, part] >= threshold).sum(axis=1) >= need).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from interanimate.annotate.backends import get_backend
    from interanimate.annotate.identity import DlibEmbedder
    from interanimate.keypoints.layout import BODY, FACE, LEFT_HAND, RIGHT_HAND
    from interanimate.keypoints.masks import masks_for_sequence

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    frames = pan_video(args.frames)
    print(f"video: {len(frames)} frames of {WIDTH}x{HEIGHT} (astronaut pan, {STEP} px/frame)")

    for static in (False, True):
        backend = get_backend("mediapipe", static_image_mode=static)
        fps, keypoints, scores = timed_poses(backend, frames)
        backend.close()
        mode = "still-image mode" if static else "video mode      "
        print(f"mediapipe {mode}: {fps:5.2f} frames/s ({1000 / fps:6.1f} ms/frame); found in % of frames: "
              f"face {100 * found(scores, FACE):.0f}, body {100 * found(scores, BODY):.0f}, "
              f"left hand {100 * found(scores, LEFT_HAND):.0f}, right hand {100 * found(scores, RIGHT_HAND):.0f}")

    start = time.perf_counter()
    masks_for_sequence(keypoints, scores, HEIGHT, WIDTH)
    print(f"masks from keypoints: {1000 * (time.perf_counter() - start) / len(frames):.1f} ms/frame")

    embedder = DlibEmbedder()
    embedder(frames[0])
    probes = frames[:: max(1, len(frames) // 4)]
    start = time.perf_counter()
    hits = sum(embedder(f) is not None for f in probes)
    print(f"dlib identity embedding: {1000 * (time.perf_counter() - start) / len(probes):.0f} ms/frame "
          f"(face found in {hits}/{len(probes)} probed frames)")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
