import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from interanimate import keypoints as K
from interanimate.data import format as F
from interanimate.data.synth import SynthConfig, identity_embedding, render_clip, sample_identity, write_dataset
from interanimate.data.synth.writer import clip_rng, identity_rng
from interanimate.errors import UserError
from interanimate.taxonomy import CLASSES, CODES

SIZE = (64, 64)


def _clip(code, frames=12, identity=0, k=0, config=SynthConfig(), size=SIZE):
    look = sample_identity(identity_rng(0, identity))
    cls_index = CODES.index(code)
    return render_clip(look, f"id{identity}", code, frames, size, clip_rng(0, identity, cls_index, k), config)


@pytest.mark.parametrize("code", CODES)
def test_every_class_renders_with_contact(code):
    clip = _clip(code)
    assert clip.frames.shape == (12, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.keypoints.shape == (12, 134, 2) and clip.scores.shape == (12, 134)
    assert clip.hand_mask.shape == clip.face_mask.shape == (12, 64, 64)
    assert clip.contact.max() > 0.3 and clip.contact[0] == 0  # approach starts without contact
    assert clip.face_mask.sum(axis=(1, 2)).min() > 0.05 * 64 * 64
    peak = int(np.argmax(clip.contact))
    assert clip.hand_mask[peak].sum() > 0  # the hand is in view at contact


@pytest.mark.parametrize("code", ["LH-NP", "RH-EB", "LC-TF", "RL-FS"])
def test_correct_hand_acts(code):
    clip = _clip(code)
    acting = K.LEFT_HAND if CLASSES[CODES.index(code)].hand == "left" else K.RIGHT_HAND
    other = K.RIGHT_HAND if acting == K.LEFT_HAND else K.LEFT_HAND
    assert clip.scores[:, other].max() == 0
    peak = int(np.argmax(clip.contact))
    assert clip.scores[peak, acting].mean() > 0.9
    assert np.ptp(clip.keypoints[:, acting.start, 0]) > 5  # the wrist moves


def test_subjects_left_hand_appears_on_image_right():
    clip = _clip("LH-EB")
    peak = int(np.argmax(clip.contact))
    face_x = clip.keypoints[peak, K.FACE, 0].mean()
    assert clip.keypoints[peak, K.LEFT_HAND.start, 0] > face_x  # wrist to the right of the face


@pytest.mark.parametrize("code,target", [("LH-NP", "nose"), ("RH-CH", "chin"), ("LC-SF", "cheek")])
def test_fingertip_reaches_target_at_contact(code, target):
    clip = _clip(code, frames=16)
    peak = int(np.argmax(clip.contact))
    face = clip.keypoints[peak, K.FACE]
    hand = clip.keypoints[peak, K.LEFT_HAND if code.startswith("L") else K.RIGHT_HAND]
    face_height = face[:, 1].max() - face[:, 1].min()
    points = {"nose": face[K.FACE_NOSE_TIP], "chin": face[K.FACE_CHIN],
              "cheek": 0.5 * (face[K.FACE_JAW][13] + face[K.FACE_NOSE_BASE][-1])}
    tips = hand[list(K.HAND_TIPS[:3])]
    distance = np.linalg.norm(tips - points[target], axis=1).min()
    assert distance < 0.3 * face_height


def test_contact_deformation_changes_face_only_near_contact():
    on = _clip("LC-SF", frames=16)
    off = _clip("LC-SF", frames=16, config=SynthConfig(deform=False))
    peak = int(np.argmax(on.contact))
    np.testing.assert_array_equal(on.frames[0], off.frames[0])  # no contact yet: identical
    changed = np.abs(on.frames[peak].astype(int) - off.frames[peak].astype(int)).sum(-1) > 8
    changed &= on.face_mask[peak].astype(bool) & ~on.hand_mask[peak].astype(bool)
    assert changed.sum() >= 5  # the dent is visible
    ys, xs = np.nonzero(changed)
    point = on.contact_points[peak]
    face = on.keypoints[peak, K.FACE]
    radius = 0.6 * (face[:, 0].max() - face[:, 0].min())
    assert np.hypot(xs - point[0], ys - point[1]).max() < radius  # ... and only near the contact point
    moved = np.linalg.norm(on.keypoints[peak, K.FACE] - off.keypoints[peak, K.FACE], axis=1)
    assert moved.max() > 0.2 and moved.min() == 0  # landmarks near the finger move, far ones do not


def test_masks_are_exact_and_keypoints_inside():
    clip = _clip("RH-FH")
    assert set(np.unique(clip.hand_mask)) <= {0, 1}
    peak = int(np.argmax(clip.contact))
    face = clip.keypoints[peak, K.FACE].round().astype(int)
    visible = clip.scores[peak, K.FACE] > 0
    grown = cv2.dilate(clip.face_mask[peak], np.ones((3, 3), np.uint8))  # jaw points lie on the mask's edge
    inside = grown[np.clip(face[:, 1], 0, 63), np.clip(face[:, 0], 0, 63)]
    assert inside[visible].mean() > 0.95
    covered = np.isclose(clip.scores[peak, K.FACE], 0.3)
    assert covered.any()  # fingers on the forehead hide some face points: lower confidence


def test_determinism_and_seed_sensitivity():
    a, b = _clip("RC-TH"), _clip("RC-TH")
    for key in ("frames", "keypoints", "scores", "hand_mask", "face_mask", "contact"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    c = _clip("RC-TH", k=1)
    assert not np.array_equal(a.frames, c.frames)


def test_identity_vectors_stable_and_distinct():
    looks = [sample_identity(identity_rng(0, i)) for i in range(5)]
    embs = np.stack([identity_embedding(look) for look in looks])
    np.testing.assert_allclose(np.linalg.norm(embs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(embs[0], identity_embedding(sample_identity(identity_rng(0, 0))))
    sims = embs @ embs.T
    assert (sims[~np.eye(5, dtype=bool)] < 0.99).all()


def test_write_dataset_layout_splits_and_bytes(tmp_path):
    records = write_dataset(tmp_path / "a", identities=10, clips_per_class=1, frames=6, size=(32, 32), seed=3,
                            progress=False, workers=2)
    assert len(records) == 180 and {r.class_code for r in records} == set(CODES)
    train = {r.identity for r in records if r.split == "train"}
    test = {r.identity for r in records if r.split == "test"}
    assert train and test and not train & test
    loaded = F.read_manifest(tmp_path / "a")
    ann = F.load_annotations(tmp_path / "a", loaded[0])
    assert ann["keypoints"].shape == (6, 134, 2)
    assert F.load_frames(tmp_path / "a", loaded[0]).shape == (6, 32, 32, 3)
    again = write_dataset(tmp_path / "b", identities=10, clips_per_class=1, frames=6, size=(32, 32), seed=3,
                          progress=False, workers=1)
    for r in again[:20]:
        assert (tmp_path / "a" / r.annotations).read_bytes() == (tmp_path / "b" / r.annotations).read_bytes()


def test_write_dataset_refuses_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        write_dataset(tmp_path, 2, 1, 4, (32, 32), progress=False)


def test_cli_synth_and_preview(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "interanimate", "synth", "--out", str(out), "--identities", "2",
           "--clips-per-class", "1", "--frames", "4", "--size", "32x32", "--seed", "1", "--workers", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 36
    assert {row["extra"]["camera_jitter"] for row in rows} == {SynthConfig.camera_jitter}  # the renderer's default
    shaky = subprocess.run(cmd[:5] + [str(tmp_path / "j"), "--camera-jitter", "-1"] + cmd[6:],
                           capture_output=True, text=True, timeout=60)
    assert shaky.returncode == 2 and "camera jitter" in shaky.stderr and not (tmp_path / "j").exists()
    bad = subprocess.run([sys.executable, "-m", "interanimate", "synth", "--out", str(out), "--size", "33x32"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "multiples of 8" in bad.stderr
    both = subprocess.run([sys.executable, "-m", "interanimate", "synth"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "exactly one of" in both.stderr


def test_camera_jitter_zero_gives_a_steady_background_and_is_recorded(tmp_path):
    """camera_jitter=0: the background moves about half as much (head sway and the hand still move the person; at
    64×64 the default shake doubles the mean frame-to-frame change outside the masks); bad values are refused."""
    def background_change(clip):
        bg = ((clip.hand_mask == 0) & (clip.face_mask == 0)).all(0)  # (H, W): never hand or face
        return np.abs(np.diff(clip.frames.astype(int), axis=0))[:, bg].mean()

    steady, shaky = _clip("LH-NP", config=SynthConfig(camera_jitter=0.0)), _clip("LH-NP")
    assert background_change(steady) < 0.7 * background_change(shaky)
    records = write_dataset(tmp_path / "s", 2, 1, 4, (32, 32), progress=False, workers=1, camera_jitter=0.0)
    assert all(r.extra["camera_jitter"] == 0.0 for r in records)
    with pytest.raises(UserError, match="camera jitter"):
        write_dataset(tmp_path / "t", 2, 1, 4, (32, 32), progress=False, camera_jitter=-0.1)


def _synth_cmd(out, workers="2", frames="8", *extra):
    return [sys.executable, "-m", "interanimate", "synth", "--out", str(out), "--identities", "4",
            "--clips-per-class", "1", "--frames", frames, "--size", "64x64", "--seed", "2", "--workers", workers,
            *extra]


def _finished_clips(root):
    clips = root / "clips"
    return sorted(p.name for p in clips.iterdir() if not p.name.startswith(".")) if clips.is_dir() else []


def _same_videos(a, b):
    """Decoded frames equal up to H.264 noise: a re-encoded clip's bytes are not reproducible (x264's mb-tree)."""
    from interanimate.utils.video import read_video

    frames_a, frames_b = read_video(a)[0], read_video(b)[0]
    return frames_a.shape == frames_b.shape and np.abs(frames_a.astype(int) - frames_b).mean() < 2.0


def test_killed_synth_run_continues_to_the_uninterrupted_folder(tmp_path):
    import signal
    import time

    reference, out = tmp_path / "reference", tmp_path / "out"
    assert subprocess.run(_synth_cmd(reference, workers="1"), capture_output=True, timeout=300).returncode == 0
    run = subprocess.Popen(_synth_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_finished_clips(out)) < 8 and run.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    run.send_signal(signal.SIGKILL)  # the main process only, as `kill -9 PID` does: its workers must die with it
    assert run.wait(timeout=60) == -signal.SIGKILL
    assert not (out / F.MANIFEST_NAME).exists() and 8 <= len(_finished_clips(out)) < 72
    seen = sorted(p.name for p in (out / "clips").iterdir())
    time.sleep(0.5)
    assert sorted(p.name for p in (out / "clips").iterdir()) == seen, "workers went on writing after the kill"
    with pytest.raises(F.DataError, match="unfinished SynthHF run"):
        F.read_manifest(out)
    # what older writers or a kill can also leave: a clip folder without its annotations, a manifest being written
    (out / "clips" / _finished_clips(out)[0] / "annotations.npz").unlink()
    # and damage: a video cut short, an annotations archive with a changed byte (rendered again, not kept)
    video = out / "clips" / _finished_clips(out)[1] / "video.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    archive = out / "clips" / _finished_clips(out)[2] / "annotations.npz"
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # inside the first member's data: its CRC no longer matches
    archive.write_bytes(bytes(data))
    (out / f".{F.MANIFEST_NAME}.x1y2.tmp.jsonl").write_text("{")

    other = subprocess.run(_synth_cmd(out, "2", "6", "--camera-jitter", "0"), capture_output=True, text=True,
                           timeout=60)
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    assert "frames 8 there, 6 asked" in other.stderr and "camera_jitter 0.006 there, 0.0 asked" in other.stderr
    again = subprocess.run(_synth_cmd(out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "continuing the SynthHF run" in again.stdout

    ours = {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()}
    theirs = {str(p.relative_to(reference)): p for p in reference.rglob("*") if p.is_file()}
    assert set(ours) == set(theirs) and len(ours) == 2 * 72 + 2  # clips, manifest, run file: nothing else
    assert all(ours[k].read_bytes() == theirs[k].read_bytes() for k in ours if not k.endswith(".mp4"))
    assert all(_same_videos(ours[k], theirs[k]) for k in ours if k.endswith(".mp4"))
    assert len(F.read_manifest(out)) == 72


def test_earlier_writers_complete_folder_is_kept_or_refused_by_its_parameters(tmp_path):
    write_dataset(tmp_path, 2, 1, 4, (32, 32), seed=1, progress=False, workers=1)
    (tmp_path / F.SYNTH_RUN_NAME).unlink()  # as the writer before run files left it
    manifest = (tmp_path / F.MANIFEST_NAME).read_bytes()
    with pytest.raises(UserError, match="identities 2 there, 3 asked"):
        write_dataset(tmp_path, 3, 1, 4, (32, 32), seed=1, progress=False, workers=1)
    videos = {p: p.stat().st_mtime_ns for p in tmp_path.glob("clips/*/video.mp4")}
    write_dataset(tmp_path, 2, 1, 4, (32, 32), seed=1, progress=False, workers=1)  # the same: nothing to render
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("clips/*/video.mp4")} == videos
    assert (tmp_path / F.MANIFEST_NAME).read_bytes() == manifest and (tmp_path / F.SYNTH_RUN_NAME).is_file()
