import numpy as np
import pytest
import torch

from interanimate.data.dataset import DatasetConfig, InterHFDataset
from interanimate.errors import DataError


def test_item_shapes_dtypes_and_ranges(tiny_root):
    ds = InterHFDataset(tiny_root, "train", DatasetConfig(num_frames=8, stride=2, size=(24, 32)))
    assert len(ds) == 2
    item = ds[0]
    assert item["reference"].shape == (3, 24, 32)
    assert item["frames"].shape == item["pose"].shape == (8, 3, 24, 32)
    assert item["hand_mask"].shape == item["face_mask"].shape == (8, 1, 24, 32)
    assert item["keypoints"].shape == (8, 134, 2) and item["contact"].shape == (8,)
    for key in ("reference", "frames", "pose", "hand_mask", "identity_embedding"):
        assert item[key].dtype == torch.float32
    assert item["frames"].min() >= -1 and item["frames"].max() <= 1
    assert set(torch.unique(item["hand_mask"]).tolist()) <= {0.0, 1.0}
    assert item["class_index"].item() == 0 and item["clip_id"] == "c0"
    assert np.diff(item["frame_indices"].numpy()).tolist() == [2] * 7


def test_clip_frames_follow_indices(tiny_root):
    ds = InterHFDataset(tiny_root, "train", DatasetConfig(num_frames=4))
    item = ds[0]
    # the bright square starts at column 2 + t: its left edge tells which frame we got
    for frame, t in zip(item["frames"], item["frame_indices"].tolist()):
        bright = (frame[0] > 0.5).nonzero()
        assert abs(bright[:, 1].min().item() - (2 + t)) <= 1


def test_determinism_per_epoch(tiny_root):
    ds = InterHFDataset(tiny_root, "train", DatasetConfig(num_frames=4, seed=5))
    a, b = ds[1], ds[1]
    assert torch.equal(a["frames"], b["frames"]) and a["reference_index"] == b["reference_index"]
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts.add(ds[1]["frame_indices"][0].item())
    assert len(starts) > 1


def test_short_clips_skipped_and_unlabeled_index(tiny_root):
    ds = InterHFDataset(tiny_root, "test", DatasetConfig(num_frames=16))
    assert len(ds) == 0 and ds.skipped_short == 1
    ds = InterHFDataset(tiny_root, "test", DatasetConfig(num_frames=4))
    assert ds[0]["class_index"].item() == -1


def test_corrupt_clip_error_names_clip(tiny_root):
    (tiny_root / "clips" / "c1" / "video.mp4").write_bytes(b"garbage")
    ds = InterHFDataset(tiny_root, "train", DatasetConfig(num_frames=4))
    with pytest.raises(DataError, match="c1"):
        ds[1]


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="reference"):
        DatasetConfig(reference="last")
