"""Motion representation: a face-centred frame shared by the hand and face parties, (x, y, vx, vy[, vis]) features,
semantic part groups, and mirror augmentation.

Frame: the origin is the midpoint between the eye centres at the first frame of the window and the unit is the
inter-ocular distance (eye centre to eye centre) at that frame. Both parties live in this one frame, so a fingertip
on the nose tip has the nose tip's coordinates: contact is preserved. The y axis points down, as in images.

Parties (hand ≠ face, unlike InterMask's two people):

* hand: both 21-point hands (42 points), features (x, y, vx, vy, vis) with the detector score as visibility. A point
  below ``VISIBILITY_THRESHOLD`` is "parked" at a fixed spot below its side of the face with zero velocity, so an
  absent hand is one constant pattern rather than noise.
* face: the 68 iBUG points, features (x, y, vx, vy, dx, dy): positions (head motion and deformation together)
  plus the *deformation* on its own, ``DEFORM_SCALE`` × (p_t − S_t(p_0)), where S_t is the least-squares similarity
  (head motion) taking the window's first face onto frame t's. A contact squeeze is ~0.04 inter-ocular units, as
  small as a VQ-VAE's position error; scaled up in its own channels it dominates the face tokens, and decoding
  (``refine_face``) rebuilds the positions as S_t(p_0) + (dx, dy) / ``DEFORM_SCALE``.

Parts (the rows of the VQ-VAE's 2D token map): hand = palm + five fingers per hand (12); face = jaw, right brow,
left brow, nose, right eye, left eye, mouth (7). The part tables are data, never hard-coded counts elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interanimate.keypoints.layout import (FACE, FACE_JAW, FACE_LEFT_BROW, FACE_LEFT_EYE, FACE_MOUTH_INNER,
                                           FACE_MOUTH_OUTER, FACE_NOSE_BASE, FACE_NOSE_BRIDGE, FACE_RIGHT_BROW,
                                           FACE_RIGHT_EYE, HAND_FINGERS, HAND_WRIST, LEFT_HAND, MIRROR_PERMUTATION,
                                           NUM_HAND, NUM_KEYPOINTS, RIGHT_HAND)
from interanimate.keypoints.similarity import apply_similarity, fit_similarities
from interanimate.taxonomy import CLASSES, NUM_CLASSES

VISIBILITY_THRESHOLD = 0.3  # a hand point below this score counts as absent
VELOCITY_SCALE = 5.0  # per-frame velocities (inter-ocular units) are multiplied by this to be O(1)
DEFORM_SCALE = 10.0  # non-rigid face displacements (inter-ocular units) are multiplied by this to be O(1)
PARK_X, PARK_Y = 3.0, 6.0  # parked spot of an absent hand's points: below the face, on the hand's own side
NULL_CLASS = NUM_CLASSES  # index of the "no class" embedding (classifier-free guidance)
MIRROR_CLASS = np.array([next(c.index for c in CLASSES if c.code == k.mirror) for k in CLASSES] + [NULL_CLASS])


def _r(s: slice) -> tuple[int, ...]:
    return tuple(range(s.start, s.stop))


@dataclass(frozen=True)
class PartySpec:
    """One party: which of the 134 keypoints it holds, how they group into parts, and its feature channels."""

    name: str
    keypoints: tuple[int, ...]  # global DWPose indices, in party order
    parts: tuple[tuple[str, tuple[int, ...]], ...]  # (part name, local indices into ``keypoints``)
    with_visibility: bool
    with_deformation: bool = False  # (dx, dy) channels: displacement from the similarity-moved first frame

    @property
    def num_points(self) -> int:
        return len(self.keypoints)

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    @property
    def channels(self) -> int:
        return 4 + int(self.with_visibility) + 2 * int(self.with_deformation)

    @property
    def x_channels(self) -> tuple[int, ...]:
        """Channels that change sign under a horizontal mirror: x, vx and, with deformation, dx.

        Channel order (``party_features``): x, y, vx, vy, [vis], [dx, dy].
        """
        return (0, 2) + tuple(self.deformation_channels[:1])

    @property
    def deformation_channels(self) -> list[int]:
        """The (dx, dy) channels (empty without deformation)."""
        first = 4 + int(self.with_visibility)
        return [first, first + 1] if self.with_deformation else []

    @property
    def max_part_size(self) -> int:
        return max(len(idx) for _, idx in self.parts)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parts)

    def mirror_permutation(self) -> np.ndarray:
        """Local permutation ``perm`` so that the mirrored party is ``points[perm]`` with x negated."""
        lookup = {g: i for i, g in enumerate(self.keypoints)}
        return np.array([lookup[int(MIRROR_PERMUTATION[g])] for g in self.keypoints])


def _hand_parts() -> tuple[tuple[str, tuple[int, ...]], ...]:
    parts = []
    for h, side in enumerate(("left", "right")):
        offset = h * NUM_HAND
        palm = (HAND_WRIST,) + tuple(joints[0] for joints in HAND_FINGERS.values())
        parts.append((f"{side}_palm", tuple(offset + j for j in palm)))
        for finger, joints in HAND_FINGERS.items():
            parts.append((f"{side}_{finger}", tuple(offset + j for j in joints[1:])))
    return tuple(parts)


def _face_parts() -> tuple[tuple[str, tuple[int, ...]], ...]:
    return (("jaw", _r(FACE_JAW)), ("right_brow", _r(FACE_RIGHT_BROW)), ("left_brow", _r(FACE_LEFT_BROW)),
            ("nose", _r(FACE_NOSE_BRIDGE) + _r(FACE_NOSE_BASE)), ("right_eye", _r(FACE_RIGHT_EYE)),
            ("left_eye", _r(FACE_LEFT_EYE)), ("mouth", _r(FACE_MOUTH_OUTER) + _r(FACE_MOUTH_INNER)))


HAND = PartySpec("hand", _r(LEFT_HAND) + _r(RIGHT_HAND), _hand_parts(), with_visibility=True)
FACE_PARTY = PartySpec("face", _r(FACE), _face_parts(), with_visibility=False, with_deformation=True)
PARTIES = (HAND, FACE_PARTY)
HAND_SIDES = {"left": slice(0, NUM_HAND), "right": slice(NUM_HAND, 2 * NUM_HAND)}  # local slices in HAND
PARKED = np.concatenate([np.tile([PARK_X, PARK_Y], (NUM_HAND, 1)),  # subject's left hand: image right (x > 0)
                         np.tile([-PARK_X, PARK_Y], (NUM_HAND, 1))]).astype(np.float32)


@dataclass(frozen=True)
class FaceFrame:
    """Pixel origin and scale of the face-centred frame: ``pixels = origin + scale * normalised``."""

    origin: tuple[float, float]
    scale: float

    def to_dict(self) -> dict:
        return {"origin": list(self.origin), "scale": self.scale}


def eye_centres(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 134, 2) -> subject's right and left eye centres, each (..., 2)."""
    face = keypoints[..., FACE, :]
    return face[..., FACE_RIGHT_EYE, :].mean(-2), face[..., FACE_LEFT_EYE, :].mean(-2)


def face_frame(keypoints: np.ndarray) -> FaceFrame:
    """The frame of one pose ``(134, 2)``: origin between the eyes, unit = inter-ocular distance."""
    right, left = eye_centres(keypoints)
    scale = float(np.linalg.norm(left - right))
    if not np.isfinite(scale) or scale < 1e-6:
        raise ValueError("cannot build a face frame: the eyes coincide or are missing")
    origin = (right + left) / 2
    return FaceFrame((float(origin[0]), float(origin[1])), scale)


def _velocity(positions: np.ndarray) -> np.ndarray:
    """(F, J, 2) -> (F, J, 2) backward differences, zero at frame 0, times ``VELOCITY_SCALE``."""
    vel = np.zeros_like(positions)
    vel[1:] = positions[1:] - positions[:-1]
    return vel * VELOCITY_SCALE


def rigid_track(positions: np.ndarray) -> np.ndarray:
    """Face positions (..., F, J, 2) -> the first frame's shape moved by each frame's head motion (..., F, J, 2)."""
    first = np.broadcast_to(positions[..., :1, :, :], positions.shape)
    return apply_similarity(first, fit_similarities(first, positions))  # float32


def party_features(positions: np.ndarray, visibility: np.ndarray | None, spec: PartySpec) -> np.ndarray:
    """Normalised positions (F, J, 2) [+ visibility (F, J)] -> features (F, J, C) for ``spec``."""
    positions = positions.astype(np.float32)
    if spec.with_visibility:
        if visibility is None:
            raise ValueError(f"party {spec.name!r} needs visibility")
        absent = visibility < VISIBILITY_THRESHOLD  # (F, J)
        positions = np.where(absent[..., None], PARKED[None], positions)
        feats = [positions, _velocity(positions), visibility[..., None].astype(np.float32)]
    else:
        feats = [positions, _velocity(positions)]
    if spec.with_deformation:
        feats.append(DEFORM_SCALE * (positions - rigid_track(positions)))
    return np.concatenate(feats, axis=-1).astype(np.float32)  # (F, J, C)


def refine_face(face: np.ndarray) -> np.ndarray:
    """Decoded face features (..., F, 68, 6) -> the same with positions rebuilt from head motion + deformation.

    Positions become S_t(p_0) + (dx, dy) / DEFORM_SCALE, with S_t fitted on the decoded positions (coarse, carries the
    head motion) and (dx, dy) the decoded deformation (fine); velocities are recomputed. An encoded (real) face is a
    fixed point up to float rounding.
    """
    out = np.array(face, dtype=np.float32, copy=True)
    out[..., :2] = rigid_track(out[..., :2]) + out[..., FACE_PARTY.deformation_channels] / DEFORM_SCALE
    return recompute_velocity(out, FACE_PARTY)


def encode_keypoints(keypoints: np.ndarray, scores: np.ndarray,
                     frame: FaceFrame | None = None) -> tuple[np.ndarray, np.ndarray, FaceFrame]:
    """DWPose pixels (F, 134, 2) + scores (F, 134) -> hand (F, 42, 5), face (F, 68, 6) features and the frame.

    The frame defaults to that of the first frame.
    """
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 2) or scores.shape != keypoints.shape[:2]:
        raise ValueError(f"expected keypoints (F, 134, 2) and scores (F, 134), got {keypoints.shape}, {scores.shape}")
    frame = frame or face_frame(keypoints[0])
    normed = (keypoints - np.asarray(frame.origin, np.float32)) / frame.scale  # (F, 134, 2)
    hand = party_features(normed[:, list(HAND.keypoints)], scores[:, list(HAND.keypoints)], HAND)
    face = party_features(normed[:, list(FACE_PARTY.keypoints)], None, FACE_PARTY)
    return hand, face, frame


def recompute_velocity(features: np.ndarray, spec: PartySpec) -> np.ndarray:
    """Replace the velocity channels of (…, F, J, C) features by differences of their positions (for decoded motion)."""
    out = features.copy()
    vel = np.zeros_like(features[..., :2])
    vel[..., 1:, :, :] = features[..., 1:, :, :2] - features[..., :-1, :, :2]
    out[..., 2:4] = vel * VELOCITY_SCALE
    return out


def mirror_features(features: np.ndarray, spec: PartySpec) -> np.ndarray:
    """Mirror (…, J, C) features of ``spec`` about the frame's vertical axis: permute left/right points, negate x, vx
    (and dx).

    An involution: mirroring twice returns the input exactly.
    """
    out = features[..., spec.mirror_permutation(), :].copy()
    for c in spec.x_channels:
        out[..., c] = -out[..., c]
    return out


def mirror_class(index: int | np.ndarray) -> int | np.ndarray:
    """Class index -> its mirror partner's index (the null class maps to itself)."""
    return MIRROR_CLASS[index]


def decode_features(hand: np.ndarray, face: np.ndarray, frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    """Hand (F, 42, 5) and face (F, 68, 6) features -> DWPose (F, 134, 2) pixels and (F, 134) scores.

    Hand scores are the visibility channel clipped to [0, 1], zeroed below ``VISIBILITY_THRESHOLD``; face scores are
    1. Body and feet get zero scores here (``export`` adds a body).
    """
    frames = hand.shape[0]
    keypoints = np.zeros((frames, NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros((frames, NUM_KEYPOINTS), np.float32)
    origin, scale = np.asarray(frame.origin, np.float32), frame.scale
    keypoints[:, list(HAND.keypoints)] = origin + scale * hand[..., :2]
    keypoints[:, list(FACE_PARTY.keypoints)] = origin + scale * face[..., :2]
    vis = np.clip(hand[..., 4], 0.0, 1.0)
    scores[:, list(HAND.keypoints)] = np.where(vis < VISIBILITY_THRESHOLD, 0.0, vis)
    scores[:, list(FACE_PARTY.keypoints)] = 1.0
    return keypoints, scores
