"""MimicMotion's progressive latent fusion for sequences longer than the model's window.

At every denoising step the sequence is cut into windows ("tiles") of ``tile_size`` frames with stride
``tile_size - overlap``. Every tile also holds frame 0 (the reference frame), so the model always sees the reference
next to the frames it generates. Each tile's prediction is weighted by a triangular window that peaks mid-tile, the
weighted predictions are summed per frame and divided by the summed weights, and one scheduler step is then taken on
the whole sequence.

When the sequence fits one window there is a single tile holding every frame, and the weights cancel: the fused
prediction equals the model's own prediction exactly.
"""

from __future__ import annotations

from typing import Callable

import torch

DEFAULT_TILE_SIZE = 16
DEFAULT_OVERLAP = 4


def tile_indices(num_frames: int, tile_size: int = DEFAULT_TILE_SIZE,
                 overlap: int = DEFAULT_OVERLAP) -> list[list[int]]:
    """Frame indices of every tile; each starts with frame 0 and has ``min(tile_size, num_frames)`` entries.

    >>> tile_indices(20, 8, 2)
    [[0, 1, 2, 3, 4, 5, 6, 7], [0, 7, 8, 9, 10, 11, 12, 13], [0, 13, 14, 15, 16, 17, 18, 19]]
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if tile_size < 2 or not 0 <= overlap < tile_size - 1:
        raise ValueError(f"need tile_size >= 2 and 0 <= overlap < tile_size - 1, got {tile_size}, {overlap}")
    if num_frames <= tile_size:
        return [list(range(num_frames))]
    stride = tile_size - overlap
    # a tile is frame 0 plus (tile_size - 1) consecutive frames starting at 1 + k * stride
    tiles = [[0, *range(start, start + tile_size - 1)] for start in range(1, num_frames - tile_size + 2, stride)]
    if tiles[-1][-1] < num_frames - 1:  # the last frames did not fit the stride: one more tile flush with the end
        tiles.append([0, *range(num_frames - tile_size + 1, num_frames)])
    return tiles


def triangular_weights(tile_size: int, dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """(tile_size,) weights ``min(w, 2 - w)`` with ``w = (i + 0.5) * 2 / tile_size``: small at the ends, 1 mid-tile."""
    w = (torch.arange(tile_size, dtype=dtype, device=device) + 0.5) * 2.0 / tile_size
    return torch.minimum(w, 2.0 - w)


def fuse_tiles(predict: Callable[[list[int]], torch.Tensor], num_frames: int, tile_size: int = DEFAULT_TILE_SIZE,
               overlap: int = DEFAULT_OVERLAP) -> torch.Tensor:
    """Blend per-tile predictions into one prediction for the whole sequence.

    ``predict(indices)`` returns the model's prediction for the frames ``indices``, shaped (B, len(indices), ...).
    Returns (B, num_frames, ...). Pure: calls ``predict`` once per tile and touches nothing else.
    """
    tiles = tile_indices(num_frames, tile_size, overlap)
    if len(tiles) == 1:  # one window: the weights would cancel, so skip the (inexact) float round trip
        return predict(tiles[0])
    total = count = None
    for indices in tiles:
        pred = predict(indices)  # (B, T, ...)
        if pred.shape[1] != len(indices):
            raise ValueError(f"predict returned {pred.shape[1]} frames for a tile of {len(indices)}")
        weight = triangular_weights(len(indices), dtype=pred.dtype, device=pred.device)  # (T,)
        if total is None:
            total = pred.new_zeros((pred.shape[0], num_frames, *pred.shape[2:]))  # (B, F, ...)
            count = pred.new_zeros(num_frames)  # (F,)
        index = torch.tensor(indices, device=pred.device)
        # index_add_ accumulates correctly even though frame 0 appears in every tile
        total.index_add_(1, index, pred * weight.view(1, -1, *([1] * (pred.ndim - 2))))
        count.index_add_(0, index, weight)
    return total / count.view(1, -1, *([1] * (total.ndim - 2)))
