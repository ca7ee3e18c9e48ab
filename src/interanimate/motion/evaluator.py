"""Motion evaluator: a small temporal encoder with an 18-way head, trained on the train split, and the metrics
computed in its feature space (as InterGen/InterMask report them, with 95% intervals over repeated runs).

Metrics are pure functions over features / logits / keypoint features:

* ``topk_accuracy``: recognition accuracy of the head;
* ``frechet_distance``: FID between two feature sets;
* ``diversity``: mean distance between random pairs of a set;
* ``multimodality``: mean distance between random pairs generated for the same class;
* ``acting_side``: which hand acts, measured from the keypoints (fingertips closest to the face);
* ``reaction_error``: where the generated face deforms, against where the class touches (see ``docs/motion.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interanimate.metrics.frechet import frechet_distance_from_features
from interanimate.keypoints.layout import (FACE_CHIN, FACE_LEFT_BROW, FACE_LEFT_EYE, FACE_NOSE_BASE,
                                           FACE_NOSE_BRIDGE, FACE_RIGHT_BROW, FACE_RIGHT_EYE, HAND_TIPS)
from interanimate.motion.representation import (FACE_PARTY, HAND, HAND_SIDES, VELOCITY_SCALE, VISIBILITY_THRESHOLD,
                                               rigid_track)
from interanimate.taxonomy import CLASSES, NUM_CLASSES


@dataclass
class EvaluatorConfig:
    width: int = 128
    feature_dim: int = 64
    layers: int = 3
    dropout: float = 0.1
    num_classes: int = NUM_CLASSES

    def to_dict(self) -> dict:
        return asdict(self)


def evaluator_input(hand: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """Hand (B, T, 42, 5) and face (B, T, 68, 6) features -> (B, C_in, T) frames.

    Velocities are recomputed from the positions so that decoded and real motions are measured alike.
    """
    pos = torch.cat([hand[..., :2], face[..., :2]], dim=2)  # (B, T, 110, 2)
    vel = torch.zeros_like(pos)
    vel[:, 1:] = (pos[:, 1:] - pos[:, :-1]) * VELOCITY_SCALE
    x = torch.cat([pos.flatten(2), vel.flatten(2), hand[..., 4]], dim=-1)  # (B, T, 110*4 + 42)
    return x.transpose(1, 2)  # (B, C_in, T)


class MotionEvaluator(nn.Module):
    IN_CHANNELS = (HAND.num_points + FACE_PARTY.num_points) * 4 + HAND.num_points

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        w = config.width
        layers = [nn.Conv1d(self.IN_CHANNELS, w, 1)]
        for i in range(config.layers):
            layers += [nn.GroupNorm(8, w), nn.SiLU(), nn.Dropout(config.dropout),
                       nn.Conv1d(w, w, 5, stride=2 if i > 0 else 1, padding=2)]
        self.encoder = nn.Sequential(*layers)
        self.project = nn.Linear(2 * w, config.feature_dim)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, hand: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        h = self.encoder(evaluator_input(hand, face))  # (B, W, T')
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)  # (B, 2W)
        return self.project(pooled)  # (B, feature_dim)

    def forward(self, hand: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        return self.head(F.silu(self.features(hand, face)))


# ---- metrics (pure functions) ---------------------------------------------------------------------------------
def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D) (the suite's one FID)."""
    return frechet_distance_from_features(a, b)


def diversity(features: np.ndarray, pairs: int, rng: np.random.Generator) -> float:
    """Mean L2 distance between ``pairs`` random pairs of distinct rows."""
    n = features.shape[0]
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n
    return float(np.linalg.norm(features[i] - features[j], axis=1).mean())


def multimodality(features: np.ndarray, labels: np.ndarray, pairs: int, rng: np.random.Generator) -> float:
    """Mean over classes of the diversity within the samples generated for that class."""
    values = [diversity(features[labels == c], pairs, rng) for c in np.unique(labels) if (labels == c).sum() > 1]
    return float(np.mean(values))


def interval(values) -> tuple[float, float]:
    """Mean and 95% half-width (1.96 · std / sqrt(n)) over repeated runs."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(len(v))) if len(v) > 1 else 0.0


# ---- keypoint measures ----------------------------------------------------------------------------------------
def _fingertips(hand: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Hand features (F, 42, 5) -> tips (F, 5, 2) and their visibility (F, 5) for one side."""
    local = np.array([HAND_SIDES[side].start + t for t in HAND_TIPS])
    return hand[:, local, :2], hand[:, local, 4]


def hand_face_distance(hand: np.ndarray, face: np.ndarray, side: str) -> np.ndarray:
    """(F,) distance from the side's closest visible fingertip to the closest face point (inf when unseen)."""
    tips, vis = _fingertips(hand, side)
    d = np.linalg.norm(tips[:, :, None] - face[:, None, :, :2], axis=-1).min(-1)  # (F, 5)
    d = np.where(vis >= VISIBILITY_THRESHOLD, d, np.inf)
    return d.min(-1)


def acting_side(hand: np.ndarray, face: np.ndarray) -> str:
    """The hand that comes closer to the face (10th percentile over frames of fingertip-to-face distance)."""
    far = 1e6  # a hand never seen counts as far away
    scores = {s: np.percentile(np.minimum(hand_face_distance(hand, face, s), far), 10) for s in ("left", "right")}
    return min(scores, key=scores.get)


# Target region of each class on the 68-point face (local face indices; sides are the subject's own).
def _region_points(cls) -> np.ndarray:
    nose = np.r_[FACE_NOSE_BRIDGE.start:FACE_NOSE_BASE.stop]
    brows = {"right": np.r_[FACE_RIGHT_BROW], "left": np.r_[FACE_LEFT_BROW]}
    eyes = {"right": np.r_[FACE_RIGHT_EYE], "left": np.r_[FACE_LEFT_EYE]}
    if cls.region == "nose":
        return nose
    if cls.region == "eyebrow":
        return brows[cls.side]
    if cls.region == "forehead":
        return np.r_[brows["right"], brows["left"]]
    if cls.region == "chin":
        return np.array([FACE_CHIN - 1, FACE_CHIN, FACE_CHIN + 1])
    if cls.region == "ear":
        return np.array([0, 1, 2]) if cls.side == "right" else np.array([14, 15, 16])
    if cls.region == "cheek":
        return np.array([2, 3, 4, 31]) if cls.side == "right" else np.array([12, 13, 14, 35])
    return np.r_[nose, eyes["right"], eyes["left"]]  # face (swipes): the middle of the face


def region_centre(face: np.ndarray, cls) -> np.ndarray:
    """Target region centre (F, 2) of ``cls`` on face features (F, 68, C)."""
    centre = face[:, _region_points(cls), :2].mean(1)
    if cls.region == "forehead":
        chin = face[:, FACE_CHIN, :2]
        centre = centre + 0.3 * (centre - chin)  # above the brows
    return centre


def deformation(face: np.ndarray) -> np.ndarray:
    """Per-point non-rigid displacement (F, 68) of face features: |p_t − S_t(p_0)|, inter-ocular units.

    S_t is the least-squares similarity taking frame 0's face onto frame t's (``rigid_track``, the same head motion
    the representation's deformation channels remove), so head translation, rotation and scale do not count as
    deformation; a local dent or squeeze does.
    """
    return np.linalg.norm(face[..., :2] - rigid_track(face[..., :2]), axis=-1)


DEFORMED_POINTS = 7  # the centroid uses the most displaced points only (about 10 % of the face)


def _target_regions() -> list:
    """One representative class per distinct target (region, side): nose, each brow, forehead, chin, each ear, each
    cheek, mid-face (swipes) — 10 regions."""
    seen, out = set(), []
    for cls in CLASSES:
        if (cls.region, cls.side) not in seen:
            seen.add((cls.region, cls.side))
            out.append(cls)
    return out


TARGET_REGIONS = _target_regions()


def _contact_frames(face: np.ndarray, hand: np.ndarray, side: str, contact_quantile: float) -> np.ndarray | None:
    """Indices of the frames whose fingertip-to-face distance (``side`` hand) is in the lowest ``contact_quantile``."""
    dist = hand_face_distance(hand, face, side)
    finite = np.isfinite(dist)
    if not finite.any():
        return None
    return np.where(finite & (dist <= np.quantile(dist[finite], contact_quantile)))[0]


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def contact_pattern(face: np.ndarray, hand: np.ndarray, side: str, contact_quantile: float = 0.25) -> np.ndarray:
    """Where the face deforms at contact: per-point deformation (68,) averaged over contact frames, unit L2 norm
    (NaN when the hand is never seen)."""
    frames = _contact_frames(face, hand, side, contact_quantile)
    if frames is None:
        return np.full(face.shape[1], np.nan)
    return _unit(deformation(face)[frames].mean(0))  # (68,)


def region_signatures(faces: np.ndarray, hands: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean contact pattern (R, 68) of each of the ``TARGET_REGIONS`` over real clips (the train split), unit norm.

    The reference for ``region_hit``: which face points a real contact on each region moves. A region without real
    clips gets a NaN row (never chosen; its own clips score NaN).
    """
    patterns = np.stack([contact_pattern(f, h, CLASSES[c].hand) for f, h, c in zip(faces, hands, labels)])
    regions = np.array([region_index(CLASSES[c]) for c in labels])
    out = np.zeros((len(TARGET_REGIONS), faces.shape[2]))
    for r in range(len(TARGET_REGIONS)):
        rows = patterns[(regions == r) & np.isfinite(patterns).all(1)]
        out[r] = _unit(rows.mean(0)) if len(rows) else np.nan
    return out


def region_index(cls) -> int:
    return next(i for i, r in enumerate(TARGET_REGIONS) if (r.region, r.side) == (cls.region, cls.side))


def reaction_error(face: np.ndarray, hand: np.ndarray, cls, contact_quantile: float = 0.25,
                   signatures: np.ndarray | None = None) -> dict[str, float]:
    """Where does the face deform, against where the class touches? All distances in inter-ocular units.

    Contact frames: the frames whose fingertip-to-face distance (acting hand) is in the lowest ``contact_quantile``.
    ``centroid_to_region``: distance from the deformation-weighted centroid of the ``DEFORMED_POINTS`` most displaced
    face points (contact frames) to the class's target region centre. ``centroid_to_tip``: the same centroid to the
    nearest fingertip of the acting hand. ``deformation``: the mean deformation magnitude at contact frames.
    With ``signatures`` (``region_signatures`` of real train clips), ``region_hit``: 1 when the face's contact pattern
    is most similar (cosine) to the signature of the class's own target region among the 10 ``TARGET_REGIONS``.
    """
    side = cls.hand
    frames = _contact_frames(face, hand, side, contact_quantile)
    if frames is None:
        out = {"centroid_to_region": np.nan, "centroid_to_tip": np.nan, "deformation": np.nan}
        return out | ({"region_hit": np.nan} if signatures is not None else {})
    deform = deformation(face)[frames]  # (K, 68)
    top = np.argsort(-deform, axis=1)[:, :DEFORMED_POINTS]
    weights = np.zeros_like(deform)
    np.put_along_axis(weights, top, np.take_along_axis(deform, top, axis=1), axis=1)
    weights = weights / np.clip(weights.sum(1, keepdims=True), 1e-9, None)
    centroid = (weights[..., None] * face[frames, :, :2]).sum(1)  # (K, 2)
    target = region_centre(face, cls)[frames]
    tips, _ = _fingertips(hand, side)
    to_tip = np.linalg.norm(tips[frames] - centroid[:, None], axis=-1).min(-1)
    out = {"centroid_to_region": float(np.linalg.norm(centroid - target, axis=-1).mean()),
           "centroid_to_tip": float(to_tip.mean()), "deformation": float(deform.mean())}
    if signatures is not None:
        own = region_index(cls)
        pattern = _unit(deform.mean(0))  # as contact_pattern
        similarity = np.nan_to_num(signatures @ pattern, nan=-np.inf)  # regions without real clips never win
        out["region_hit"] = float(int(np.argmax(similarity)) == own) if np.isfinite(signatures[own]).all() else np.nan
    return out
