"""Hand-made motion data for the motion tests: a template face and hand, the class's hand moving to its target
region, the face squeezing a little there. No SynthHF needed."""

import numpy as np
import pytest

from interanimate.data.format import ClipRecord, clip_dir, save_annotations, write_manifest
from interanimate.keypoints.layout import FACE, HANDS, NUM_KEYPOINTS
from interanimate.taxonomy import CLASSES


def template_face(cx=64.0, cy=56.0, s=10.0) -> np.ndarray:
    """A crude frontal iBUG-68 face (68, 2) in pixels; the subject's right is the image left."""
    pts = np.zeros((68, 2))
    a = np.linspace(np.pi, 0, 17)
    pts[0:17, 0] = 2.2 * np.cos(a)  # jaw: point 0 on the subject's right (image left)
    pts[0:17, 1] = np.r_[np.linspace(0.0, 2.5, 8), 2.8, np.linspace(2.5, 0.0, 8)]
    pts[17:22] = np.c_[np.linspace(-1.6, -0.4, 5), -0.6 * np.ones(5)]
    pts[22:27] = np.c_[np.linspace(0.4, 1.6, 5), -0.6 * np.ones(5)]
    pts[27:31] = np.c_[np.zeros(4), np.linspace(0.0, 0.9, 4)]
    pts[31:36] = np.c_[np.linspace(-0.4, 0.4, 5), 1.1 * np.ones(5)]
    for start, cxe in ((36, -0.5), (42, 0.5)):
        t = np.linspace(0, 2 * np.pi, 6, endpoint=False)
        pts[start:start + 6] = np.c_[cxe + 0.25 * np.cos(t), 0.1 * np.sin(t)]
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    pts[48:60] = np.c_[0.8 * np.cos(t), 1.8 + 0.3 * np.sin(t)]
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pts[60:68] = np.c_[0.5 * np.cos(t), 1.8 + 0.1 * np.sin(t)]
    return np.array([cx, cy]) + s * pts


def template_hand(wrist, direction, s=8.0) -> np.ndarray:
    """(21, 2) open hand with its wrist at ``wrist`` pointing along ``direction``."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    n = np.array([-d[1], d[0]])
    pts = [np.zeros(2)]
    for f, off in enumerate((-0.8, -0.35, 0.0, 0.35, 0.7)):
        for k in range(1, 5):
            pts.append((0.6 + 0.35 * k) * d + off * (1 + 0.1 * k) * n)
    return np.asarray(wrist) + s * np.array(pts)


def target_point(face: np.ndarray, cls) -> np.ndarray:
    side = {"right": 0, "left": 1}
    region = {"nose": face[30], "forehead": face[17:27].mean(0) - [0, 8], "chin": face[8], "face": face[30]}
    if cls.region == "eyebrow":
        return face[[19, 24][side[cls.side]]]
    if cls.region == "ear":
        return face[[1, 15][side[cls.side]]]
    if cls.region == "cheek":
        return face[[3, 13][side[cls.side]]]
    return region[cls.region]


def make_motion(cls, frames=16, seed=0):
    rng = np.random.default_rng(seed)
    kpts = np.zeros((frames, NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros((frames, NUM_KEYPOINTS), np.float32)
    face0 = template_face(64 + rng.normal() * 2, 56 + rng.normal() * 2, 10 + rng.normal() * 0.5)
    target = target_point(face0, cls)
    start = target + np.array([30.0 if cls.hand == "left" else -30.0, 50.0])
    for t in range(frames):
        phase = np.sin(np.pi * t / (frames - 1))
        face = face0 + np.array([1.5 * np.sin(t / 3 + seed), 0.0])
        d = np.linalg.norm(face0 - target, axis=1)
        face = face + (phase * 2.0 * np.exp(-d / 8.0))[:, None] * np.array([0.0, -1.0])  # squeeze near contact
        tip = start + phase * (target - start)
        if cls.category == "swiping":
            tip = tip + np.array([(t / frames - 0.5) * 40 * (1 if cls.code.startswith("LR") else -1), 0])
        direction = target - start
        hand = template_hand(tip - direction / np.linalg.norm(direction) * 24, direction)
        kpts[t, FACE] = face
        kpts[t, HANDS[cls.hand]] = hand
        scores[t, FACE] = 1.0
        scores[t, HANDS[cls.hand]] = 0.9
    return kpts, scores


def write_root(root, identities=3, clips_per_class=1, frames=16, classes=CLASSES):
    records = []
    for i in range(identities):
        for cls in classes:
            for k in range(clips_per_class):
                clip_id = f"id{i}_{cls.code}_{k}"
                kpts, scores = make_motion(cls, frames, seed=i * 100 + k * 7 + cls.index)
                ann = {"keypoints": kpts, "scores": scores, "hand_mask": np.zeros((frames, 8, 8), np.uint8),
                       "face_mask": np.zeros((frames, 8, 8), np.uint8), "contact": np.zeros(frames, np.float32),
                       "identity_embedding": np.zeros(4, np.float32)}
                save_annotations(root / clip_dir(clip_id) / "annotations.npz", ann, clip_id)
                split = "test" if i == identities - 1 else "train"
                records.append(ClipRecord(clip_id, split, cls.code, f"id{i}", frames, 8.0, 128, 128,
                                          f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz"))
    write_manifest(root, records)
    return root


@pytest.fixture(scope="session")
def motion_root(tmp_path_factory):
    return write_root(tmp_path_factory.mktemp("motion_root"))


@pytest.fixture
def motion_of():
    """``motion_of(code, frames)`` -> hand-made (keypoints (F,134,2), scores (F,134)) of that class."""
    from interanimate.taxonomy import get_class

    return lambda code, frames=16, seed=0: make_motion(get_class(code), frames, seed)
