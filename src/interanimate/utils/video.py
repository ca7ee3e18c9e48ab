"""H.264 mp4 reading and writing with PyAV (which bundles libx264), written atomically."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from interanimate.utils.io import atomic_path


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float = 8.0, crf: int = 18,
              metadata: dict[str, str] | None = None) -> None:
    """Write uint8 RGB frames (F, H, W, 3) as H.264 (yuv420p); H and W must be even. Atomic."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (F, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"H.264 needs even sizes, got {height}x{width}")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            for key, value in (metadata or {}).items():
                container.metadata[key] = value
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # mbtree=0: with x264's macroblock-tree rate control the same frames gave different bytes from run to
            # run when the machine was busy (4 of 4 concurrent processes differed, yuv frames made by hand too);
            # without it 18 of 18 encodes under the same load were identical. Datasets promise identical bytes.
            stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}
            stream.codec_context.thread_count = 1
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


MAX_FRAME_PIXELS = 36_000_000  # per frame: 8K UHD (33 MP) passes
MAX_VIDEO_BYTES = 4 << 30  # decoded RGB in memory (F·H·W·3): 4 GiB, e.g. 1000 frames of 1080p; pass max_frames


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video to uint8 RGB (F, H, W, 3) and its frame rate. Raises ``ValueError`` when unreadable and
    :class:`interanimate.utils.media.TooLarge` when a frame is over ``MAX_FRAME_PIXELS`` (from the stream header,
    before decoding) or the decoded frames would pass ``MAX_VIDEO_BYTES``."""
    import av

    from interanimate.utils.media import TooLarge

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such video: {path}")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0) or 8.0
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            if width * height > MAX_FRAME_PIXELS:
                raise TooLarge(f"{path}: {width}×{height} frames are over the {MAX_FRAME_PIXELS // 1_000_000} "
                               "megapixel budget for a video frame (not decoded)")
            decoded = 0
            for frame in container.decode(stream):
                decoded += frame.width * frame.height * 3
                if frame.width * frame.height > MAX_FRAME_PIXELS or decoded > MAX_VIDEO_BYTES:
                    raise TooLarge(f"{path}: more than {MAX_VIDEO_BYTES >> 30} GiB of decoded frames (stopped at "
                                   f"frame {len(frames)}); give fewer frames (e.g. --frames) or a shorter video")
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (av.error.FFmpegError, av.error.InvalidDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot decode video ({err})") from err
    if not frames:
        raise ValueError(f"{path}: video has no frames")
    return np.stack(frames), fps


def read_video_metadata(path: str | os.PathLike) -> dict[str, str]:
    import av

    with av.open(str(path)) as container:
        return dict(container.metadata)
