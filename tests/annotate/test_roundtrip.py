"""Format round trip: SynthHF clips fed to ``prepare`` as if they were real videos, with a pose backend and an identity
embedder that return SynthHF's ground truth, load through ``InterHFDataset`` exactly like the SynthHF originals.

What prepare cannot reproduce, by design, is checked for what it must be instead:
- masks: SynthHF's are exact renders; prepare derives them from keypoints (``masks_for_sequence``). They must equal
  that derivation from the ground-truth keypoints and overlap SynthHF's exact masks (IoU checked below);
- contact: real videos have no contact annotation, so it is all zeros.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from interanimate.annotate.backends import register_backend
from interanimate.annotate.identity import register_embedder
from interanimate.annotate.prepare import PrepareConfig, prepare
from interanimate.data.dataset import DatasetConfig, InterHFDataset
from interanimate.data.format import load_annotations, read_manifest
from interanimate.data.synth import write_dataset
from interanimate.keypoints.masks import masks_for_sequence
from interanimate.utils.video import read_video

EXACT = ("reference", "frames", "pose", "keypoints", "scores", "identity_embedding", "identity_index", "class_index",
         "frame_indices", "reference_index", "clip_id")


class GroundTruth:
    """Looks a video up by the bytes of its first decoded frame; the pose backend and the embedder share it."""

    def __init__(self, root):
        self.table = {}
        for record in read_manifest(root):
            frames, _ = read_video(root / record.video)
            self.table[frames[0].tobytes()] = load_annotations(root, record)

    def backend(self):
        truth = self

        class Backend:
            def reset(self):
                self.ann, self.index = None, 0

            def __call__(self, frame):
                if self.index == 0:
                    self.ann = truth.table[frame.tobytes()]
                keypoints, scores = self.ann["keypoints"][self.index], self.ann["scores"][self.index]
                self.index += 1
                return keypoints, scores

        return Backend()

    def embedder(self, arcface_model=None):
        truth = self

        class Embedder:
            dim = 128  # SynthHF identity vectors are 128-d

            def __call__(self, image):
                return truth.table[image.tobytes()]["identity_embedding"]  # prepare probes the first frame first

        return Embedder()


@pytest.fixture(scope="module")
def synth_and_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    synth = root / "synth"
    write_dataset(synth, identities=2, clips_per_class=1, frames=10, size=(64, 64), seed=3, progress=False,
                  workers=1)
    truth = GroundTruth(synth)
    register_backend("test-ground-truth", truth.backend)
    register_embedder("test-ground-truth", truth.embedder)
    videos = root / "videos"
    videos.mkdir()
    with open(root / "labels.csv", "w", newline="") as handle:  # what a user with labelled videos would write
        writer = csv.writer(handle)
        writer.writerow(["file", "class", "identity"])
        for record in read_manifest(synth):
            (videos / f"{record.clip_id}.mp4").write_bytes((synth / record.video).read_bytes())
            writer.writerow([f"{record.clip_id}.mp4", record.class_code, record.identity])
    prepared = root / "prepared"
    summary = prepare(PrepareConfig(videos=videos, out=prepared, labels=root / "labels.csv",
                                    pose_backend="test-ground-truth", identity="test-ground-truth", min_frames=10,
                                    seed=3, progress=False))
    assert (summary.done, summary.failed) == (36, 0)
    return synth, prepared


def test_records_match(synth_and_prepared):
    synth, prepared = synth_and_prepared
    fields = ("clip_id", "split", "class_code", "identity", "num_frames", "fps", "height", "width")
    assert [[getattr(r, f) for f in fields] for r in read_manifest(prepared)] == \
        [[getattr(r, f) for f in fields] for r in read_manifest(synth)]
    assert {r.split for r in read_manifest(prepared)} == {"train", "test"}  # the same identity split as SynthHF


@pytest.mark.parametrize("split,config", [(None, DatasetConfig(num_frames=4, stride=2, seed=5)),
                                          ("test", DatasetConfig(num_frames=8, size=(48, 32), reference="first"))])
def test_dataset_items_match(synth_and_prepared, split, config):
    synth, prepared = synth_and_prepared
    original, annotated = InterHFDataset(synth, split, config), InterHFDataset(prepared, split, config)
    assert len(original) == len(annotated) > 0
    for index in range(0, len(original), 5):
        a, b = original[index], annotated[index]
        assert a.keys() == b.keys()
        for key in EXACT:
            if isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), (index, key)
            else:
                assert a[key] == b[key], (index, key)
        assert a["hand_mask"].shape == b["hand_mask"].shape and a["face_mask"].shape == b["face_mask"].shape
        assert not b["contact"].any()


def test_masks_are_the_keypoint_derivation_and_overlap_the_exact_ones(synth_and_prepared):
    synth, prepared = synth_and_prepared
    ious = {"hand_mask": [], "face_mask": []}
    for original, record in zip(read_manifest(synth), read_manifest(prepared)):
        truth, ann = load_annotations(synth, original), load_annotations(prepared, record)
        hand, face = masks_for_sequence(truth["keypoints"], truth["scores"], record.height, record.width)
        assert np.array_equal(ann["hand_mask"], hand) and np.array_equal(ann["face_mask"], face)
        for key in ious:
            both = (truth[key] & ann[key]).sum(axis=(1, 2))
            either = (truth[key] | ann[key]).sum(axis=(1, 2))
            ious[key] += list(both[either > 0] / either[either > 0])
    assert np.mean(ious["face_mask"]) > 0.7 and np.mean(ious["hand_mask"]) > 0.4, \
        {k: round(float(np.mean(v)), 3) for k, v in ious.items()}
