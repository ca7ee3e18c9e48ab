"""Writing what the pipeline generates: watermarked mp4, preview grid PNG and GIF. All writes are atomic.

Every output carries the provenance tag (``watermark.METADATA_VALUE``): the mp4 in its ``comment`` metadata, the PNG
as a ``Comment`` text chunk, the GIF as a comment extension; ``watermark.read_image_tag`` reads the last two back.
"""

from __future__ import annotations

import os

import numpy as np

from interanimate.pipelines.watermark import (METADATA_VALUE, PNG_TAG_KEY, can_carry_watermark, embed_watermark,
                                              provenance_metadata)
from interanimate.utils.io import atomic_path

SEPARATOR = 2  # pixels of white between grid cells


def to_uint8(frames) -> np.ndarray:
    """Tensor or array in [-1, 1] (..., 3, H, W) or uint8 (..., H, W, 3) -> uint8 (..., H, W, 3)."""
    if hasattr(frames, "detach"):
        frames = frames.detach().float().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    if frames.shape[-1] != 3 and frames.shape[-3] == 3:
        frames = np.moveaxis(frames, -3, -1)  # (..., 3, H, W) -> (..., H, W, 3)
    return np.clip(np.round((frames + 1.0) * 127.5), 0, 255).astype(np.uint8)


def pose_preview(pose) -> np.ndarray:
    """Pose frames as the model gets them — (F, 3 + K, H, W) in [-1, 1] or uint8 (F, H, W, 3 + K) — as uint8 RGB
    (F, H, W, 3): the skeleton, over the hand shape map's two hands in grey when the frames carry one."""
    if hasattr(pose, "detach"):
        pose = pose.detach().float().cpu().numpy()
    pose = np.asarray(pose)
    if pose.dtype != np.uint8:
        pose = np.clip(np.round((np.moveaxis(pose, -3, -1) + 1.0) * 127.5), 0, 255).astype(np.uint8)  # (F, H, W, C)
    if pose.shape[-1] == 3:
        return pose
    shape = (pose[..., 3:5].max(axis=-1) // 2)[..., None]  # (F, H, W, 1): both hands' shapes, half grey
    return np.maximum(pose[..., :3], shape)


def write_video(path: str | os.PathLike, frames, fps: float = 8.0, watermark: bool = True) -> None:
    """Write generated frames as H.264 mp4 carrying the invisible watermark and the provenance metadata tag."""
    from interanimate.utils.video import write_mp4

    frames = to_uint8(frames)  # (F, H, W, 3)
    if watermark:
        frames = embed_watermark(frames)
    write_mp4(path, frames, fps=fps, metadata=provenance_metadata() if watermark else None)


def _pick_columns(num_frames: int, max_columns: int) -> np.ndarray:
    if num_frames <= max_columns:
        return np.arange(num_frames)
    return np.unique(np.round(np.linspace(0, num_frames - 1, max_columns)).astype(int))


def preview_grid(reference, pose, generated, target=None, max_columns: int = 8) -> np.ndarray:
    """One sample's block: rows pose / generated [/ target], each starting with the reference image, frames across.

    ``reference`` (H, W, 3), the others (F, H, W, 3); uint8 or [-1, 1] channel-first tensors; ``pose`` as the model
    gets it (:func:`pose_preview`). Returns uint8 RGB.
    """
    reference = to_uint8(reference)
    rows = [pose_preview(pose), to_uint8(generated)] + ([to_uint8(target)] if target is not None else [])
    columns = _pick_columns(len(rows[1]), max_columns)
    height, width = reference.shape[:2]
    cell_h, cell_w = height + SEPARATOR, width + SEPARATOR
    grid = np.full((len(rows) * cell_h, (len(columns) + 1) * cell_w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        y = r * cell_h
        grid[y:y + height, :width] = reference
        for c, index in enumerate(columns, start=1):
            grid[y:y + height, c * cell_w:c * cell_w + width] = row[index]
    return grid


def stack_grids(grids: list[np.ndarray]) -> np.ndarray:
    """Stack sample blocks vertically (padding widths with white), separated by a thicker white band."""
    width = max(g.shape[1] for g in grids)
    padded = [np.pad(g, ((0, 3 * SEPARATOR), (0, width - g.shape[1]), (0, 0)), constant_values=255) for g in grids]
    return np.concatenate(padded)


def write_png(path: str | os.PathLike, image: np.ndarray, provenance: bool = True) -> None:
    """PNG; with ``provenance`` the tag goes in a ``Comment`` text chunk (tEXt)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if provenance:
        info.add_text(PNG_TAG_KEY, METADATA_VALUE)
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="PNG", pnginfo=info)


def write_gif(path: str | os.PathLike, frames, fps: float = 8.0, watermark: bool = True) -> None:
    """Animated GIF; with ``watermark`` it carries the invisible mark (embedded before the palette reduction, which
    it survives in the tests; ``verify-watermark`` reads GIFs) and the tag as a GIF comment extension."""
    from PIL import Image

    frames = to_uint8(frames)  # (F, H, W, 3)
    if watermark and can_carry_watermark(*frames.shape[1:3]):
        frames = embed_watermark(frames)
    images = [Image.fromarray(f) for f in frames]
    extra = {"comment": METADATA_VALUE.encode()} if watermark else {}
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0, **extra)
