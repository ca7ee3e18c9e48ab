"""Progressive latent fusion (MimicMotion): tiles, weights and the blend, as pure functions."""

import pytest
import torch

from interanimate.pipelines.fusion import fuse_tiles, tile_indices, triangular_weights


def test_tiles_hold_the_reference_frame_and_cover_the_sequence():
    tiles = tile_indices(40, 16, 4)
    assert all(t[0] == 0 and len(t) == 16 for t in tiles)
    assert sorted(set(i for t in tiles for i in t)) == list(range(40))
    assert tiles[0][1:] == list(range(1, 16)) and tiles[1][1] == 13  # stride 12 = 16 - 4
    assert tiles[-1][-1] == 39
    assert tile_indices(10, 16, 4) == [list(range(10))]


def test_triangular_weights_peak_mid_tile():
    w = triangular_weights(16)
    assert torch.allclose(w, w.flip(0)) and w[0] == pytest.approx(1 / 16) and w.max() == pytest.approx(1 - 1 / 16)


def test_fusion_of_40_frames_returns_40_and_preserves_a_consistent_prediction():
    full = torch.randn(2, 40, 4, 3, 3)
    calls = []

    def predict(idx):
        calls.append(idx)
        return full[:, idx] * 1.0

    fused = fuse_tiles(predict, 40, 16, 4)
    assert fused.shape == (2, 40, 4, 3, 3) and len(calls) == len(tile_indices(40, 16, 4))
    torch.testing.assert_close(fused, full)  # every tile agrees -> the blend is the prediction itself


def test_fusion_blends_disagreeing_tiles_with_triangular_weights():
    tiles = tile_indices(20, 8, 2)
    values = {}

    def predict(idx):
        k = len(values)
        values[k] = idx
        return torch.full((1, len(idx)), float(k))

    fused = fuse_tiles(predict, 20, 8, 2)[0]
    w = triangular_weights(8)
    # frame 7 is the last of tile 0 (weight w[7]) and the second of tile 1 (weight w[1])
    assert fused[7].item() == pytest.approx((0 * w[7] + 1 * w[1]) / (w[7] + w[1]))
    assert fused[3].item() == 0 and fused[19].item() == len(tiles) - 1


def test_single_window_equals_the_plain_prediction():
    full = torch.randn(1, 12, 4, 2, 2)
    fused = fuse_tiles(lambda idx: full[:, idx].exp(), 12, 16, 4)
    assert torch.equal(fused, full.exp())  # one tile: the weights cancel exactly


def test_bad_tiles_rejected():
    with pytest.raises(ValueError):
        tile_indices(10, 4, 3)
    with pytest.raises(ValueError):
        tile_indices(0)
