"""Per-identity looks and the identity vector that stands in for a face-recognition embedding."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np

EMBEDDING_DIM = 128
_PROJECTION_SEED = 20241124  # fixed: the identity vector is a fixed function of the look

SKIN_TONES = np.array([  # RGB, light to dark
    (255, 224, 196), (241, 194, 160), (224, 172, 135), (198, 140, 100), (161, 110, 75), (120, 80, 56), (90, 60, 42),
], np.float32)
HAIR_COLORS = np.array([(30, 22, 18), (70, 45, 30), (120, 80, 45), (190, 150, 90), (150, 60, 30), (110, 110, 110)],
                       np.float32)
IRIS_COLORS = np.array([(60, 40, 25), (90, 60, 30), (60, 100, 140), (70, 110, 70), (40, 40, 40)], np.float32)


@dataclass(frozen=True)
class IdentityLook:
    """Everything that makes one synthetic person look like themselves (sizes relative to the face)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    lips: tuple[float, float, float]
    clothing: tuple[float, float, float]
    face_width: float  # face half-width / image width
    face_ratio: float  # half-height / half-width
    chin_taper: float
    eye_sep: float
    eye_width: float
    eye_height: float
    brow_height: float
    brow_arch: float
    brow_thickness: float
    nose_length: float
    nose_width: float
    mouth_width: float
    mouth_height: float
    lip_thickness: float
    ear_size: float
    hair_style: int  # 0 short cap, 1 side part, 2 long, 3 bald-ish
    hair_volume: float

    def vector(self) -> np.ndarray:
        values = []
        for item in astuple(self):
            values.extend(np.atleast_1d(np.asarray(item, np.float64)).tolist())
        return np.asarray(values, np.float64)


def _jitter_color(rng: np.random.Generator, palette: np.ndarray, spread: float) -> tuple[float, float, float]:
    base = palette[rng.integers(len(palette))]
    return tuple(np.clip(base + rng.normal(0, spread, 3), 0, 255).tolist())


def sample_identity(rng: np.random.Generator) -> IdentityLook:
    skin = _jitter_color(rng, SKIN_TONES, 8)
    lips = tuple(np.clip(np.asarray(skin) * np.array([0.85, 0.55, 0.55]) + rng.normal(0, 6, 3), 0, 255).tolist())
    return IdentityLook(
        skin=skin, hair=_jitter_color(rng, HAIR_COLORS, 10), iris=_jitter_color(rng, IRIS_COLORS, 10), lips=lips,
        clothing=tuple(rng.uniform(20, 235, 3).tolist()),
        face_width=rng.uniform(0.16, 0.2), face_ratio=rng.uniform(1.2, 1.42), chin_taper=rng.uniform(0.05, 0.3),
        eye_sep=rng.uniform(0.36, 0.44), eye_width=rng.uniform(0.15, 0.2), eye_height=rng.uniform(0.05, 0.075),
        brow_height=rng.uniform(0.27, 0.34), brow_arch=rng.uniform(0.01, 0.05), brow_thickness=rng.uniform(0.025, 0.05),
        nose_length=rng.uniform(0.2, 0.3), nose_width=rng.uniform(0.12, 0.2), mouth_width=rng.uniform(0.26, 0.38),
        mouth_height=rng.uniform(0.5, 0.58), lip_thickness=rng.uniform(0.035, 0.06), ear_size=rng.uniform(0.16, 0.24),
        hair_style=int(rng.integers(4)), hair_volume=rng.uniform(0.05, 0.2),
    )


def identity_embedding(look: IdentityLook) -> np.ndarray:
    """A fixed random projection of the look parameters to a unit 128-d vector (same look => same vector)."""
    vec = look.vector()
    scale = np.where(np.abs(vec) > 2.0, 1.0 / 255.0, 1.0)  # colours to [0, 1], the rest are already small
    feats = vec * scale
    feats = (feats - feats.mean()) / (feats.std() + 1e-8)
    proj = np.random.default_rng(_PROJECTION_SEED).normal(size=(EMBEDDING_DIM, len(feats)))
    emb = proj @ feats
    return (emb / np.linalg.norm(emb)).astype(np.float32)
