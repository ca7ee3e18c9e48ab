"""A small hand-made dataset in the InterHF format (no SynthHF needed) for format and Dataset tests."""

import numpy as np
import pytest

from interanimate import keypoints as K
from interanimate.data.format import ClipRecord, clip_dir, save_annotations, write_manifest
from interanimate.utils.video import write_mp4


def make_clip(root, clip_id, identity, split, class_code, frames=20, size=(32, 48), seed=0):
    rng = np.random.default_rng(seed)
    height, width = size
    video = np.zeros((frames, height, width, 3), np.uint8)
    for t in range(frames):  # a bright square moving right: frame t is recognisable by its position
        video[t, 8:16, 2 + t:10 + t] = 255
    kpts = rng.uniform(4, min(size) - 4, (frames, 134, 2)).astype(np.float32)
    scores = np.ones((frames, 134), np.float32)
    hand, face = K.masks_for_sequence(kpts, scores, height, width)
    ann = {"keypoints": kpts, "scores": scores, "hand_mask": hand, "face_mask": face,
           "contact": np.linspace(0, 1, frames, dtype=np.float32),
           "identity_embedding": rng.normal(size=16).astype(np.float32)}
    folder = root / clip_dir(clip_id)
    write_mp4(folder / "video.mp4", video, fps=8)
    save_annotations(folder / "annotations.npz", ann, clip_id)
    return ClipRecord(clip_id, split, class_code, identity, frames, 8.0, height, width,
                      f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz")


@pytest.fixture
def tiny_root(tmp_path):
    records = [make_clip(tmp_path, "c0", "id0", "train", "LH-NP", seed=0),
               make_clip(tmp_path, "c1", "id1", "train", "RL-FS", seed=1),
               make_clip(tmp_path, "c2", "id2", "test", None, frames=10, seed=2)]
    write_manifest(tmp_path, records)
    return tmp_path
