import json

import numpy as np
import pytest

from interanimate.data import format as F
from interanimate.errors import DataError
from interanimate.utils.io import npz_bytes


def test_manifest_round_trip(tiny_root):
    records = F.read_manifest(tiny_root)
    assert [r.clip_id for r in records] == ["c0", "c1", "c2"]
    assert records[2].class_code is None
    ann = F.load_annotations(tiny_root, records[0])
    assert ann["keypoints"].shape == (20, 134, 2) and ann["hand_mask"].dtype == np.uint8
    frames = F.load_frames(tiny_root, records[0])
    assert frames.shape == (20, 32, 48, 3)


@pytest.mark.parametrize("bad", ["../outside.mp4", "/etc/passwd", "clips/../../x.npz", ""])
def test_manifest_path_escape_rejected(tiny_root, bad):
    lines = (tiny_root / F.MANIFEST_NAME).read_text().splitlines()
    row = json.loads(lines[0])
    row["video"] = bad
    (tiny_root / F.MANIFEST_NAME).write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match="c0"):
        F.read_manifest(tiny_root)


def test_symlink_escape_rejected(tiny_root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "video.mp4").write_bytes(b"x")
    (tiny_root / "clips" / "link").symlink_to(outside)
    with pytest.raises(DataError, match="outside the dataset root"):
        F.resolve_inside(tiny_root, "clips/link/video.mp4", "c9")


def test_missing_and_corrupt_files_name_the_clip(tiny_root):
    records = F.read_manifest(tiny_root)
    (tiny_root / records[0].annotations).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="clip c0: annotations file is corrupt"):
        F.load_annotations(tiny_root, records[0])
    (tiny_root / records[1].video).unlink()
    with pytest.raises(DataError, match="clip c1: video file missing"):
        F.load_frames(tiny_root, records[1])
    (tiny_root / records[2].video).write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="clip c2: video is unreadable"):
        F.load_frames(tiny_root, records[2])


def test_missing_manifest_and_fields(tmp_path):
    with pytest.raises(DataError, match="manifest.jsonl"):
        F.read_manifest(tmp_path)
    (tmp_path / F.MANIFEST_NAME).write_text('{"clip_id": "a"}\n')
    with pytest.raises(DataError, match="missing field"):
        F.read_manifest(tmp_path)


def test_annotation_shapes_validated():
    ann = {"keypoints": np.zeros((4, 134, 2)), "scores": np.zeros((4, 133)), "hand_mask": np.zeros((4, 8, 8)),
           "face_mask": np.zeros((4, 8, 8)), "contact": np.zeros(4), "identity_embedding": np.zeros(8)}
    with pytest.raises(DataError, match="scores has shape"):
        F.validate_annotations(ann, "x")


def test_npz_bytes_deterministic_and_loadable(tmp_path):
    arrays = {"b": np.arange(5), "a": np.eye(3, dtype=np.float32)}
    assert npz_bytes(arrays) == npz_bytes(dict(reversed(list(arrays.items()))))
    (tmp_path / "x.npz").write_bytes(npz_bytes(arrays))
    with np.load(tmp_path / "x.npz") as data:
        np.testing.assert_array_equal(data["a"], arrays["a"])


def test_identity_split_is_disjoint_deterministic_and_90_10():
    idents = [f"id{i:02d}" for i in range(20)]
    split = F.split_identities(idents, seed=3)
    assert split == F.split_identities(list(reversed(idents)), seed=3)
    assert sum(v == "test" for v in split.values()) == 2
    assert F.split_identities(["a", "b"])["a"] != F.split_identities(["a", "b"])["b"]


def test_duplicate_clip_ids_are_refused_naming_the_id(tiny_root):
    path = tiny_root / F.MANIFEST_NAME
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(DataError, match=r"duplicate clip id 'c1' \(also on line 2\)") as err:
        F.read_manifest(tiny_root)
    assert "\n" not in str(err.value)
    path.write_text("\n".join(lines) + "\n")
    one = F.read_manifest(tiny_root)[0]
    with pytest.raises(DataError, match="duplicate clip id 'c0'"):
        F.write_manifest(tiny_root, [one, one])
