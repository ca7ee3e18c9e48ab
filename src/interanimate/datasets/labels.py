"""Per-clip labels: the interaction's taxonomy, contact frames, the presentation-attack label, quality scores.

Attack labelling follows ISO/IEC 30107-3 vocabulary: every clip is an attack presentation whose presentation-attack
instrument species is "synthetic video"; being generated, the set is injection-attack material (a video fed into the
capture pipeline, CEN/TS 18099), not a physical artefact shown to a camera.
"""

from __future__ import annotations

import numpy as np

from interanimate.keypoints.layout import LEFT_HAND, RIGHT_HAND

CATEGORY_NAMES = {"pinching": "pinch", "stroking": "stroke", "poking": "poke", "swiping": "swipe"}
ATTACK = {"attack": True, "pai_species": "synthetic video", "attack_type": "injection",
          "iso_iec_30107_3": "attack presentation (PAI species: synthetic video); injection-attack material"}
HAND_SCORE = 0.3  # keypoint score a hand point needs to count
HAND_POINTS = 5  # hand points a frame needs for the hand to count as seen
CONTACT_DILATION = 2  # pixels the face mask is grown by before testing for contact


def class_labels(code: str) -> dict:
    """The taxonomy of a class code as label fields."""
    from interanimate.taxonomy import BY_CODE

    cls = BY_CODE[code]
    return {"class_code": cls.code, "class_index": cls.index, "category": CATEGORY_NAMES[cls.category],
            "hand": cls.hand, "face_region": cls.region, "face_side": cls.side or "", "fingers": cls.fingers,
            "description": cls.description}


def contact_frames(hand_mask: np.ndarray, face_mask: np.ndarray) -> tuple[int, int]:
    """First and last frame (inclusive) where the hand mask touches the face mask grown by CONTACT_DILATION
    pixels; (-1, -1) when they never touch. Masks: (F, H, W) {0, 1}."""
    import cv2

    kernel = np.ones((2 * CONTACT_DILATION + 1,) * 2, np.uint8)
    touching = [bool(((hand > 0) & (cv2.dilate(face.astype(np.uint8), kernel) > 0)).any())
                for hand, face in zip(hand_mask, face_mask)]
    frames = np.flatnonzero(touching)
    return (int(frames[0]), int(frames[-1])) if len(frames) else (-1, -1)


def hand_coverage(scores: np.ndarray, hand: str) -> float:
    """Fraction of frames in which the acting hand has at least HAND_POINTS keypoints above HAND_SCORE."""
    points = scores[:, LEFT_HAND if hand == "left" else RIGHT_HAND]  # (F, 21)
    return float(((points > HAND_SCORE).sum(axis=1) >= HAND_POINTS).mean())


class FaceQuality:
    """dlib face detection and 128-d identity (``DlibEmbedder``, which upscales frames to at least 256 pixels:
    dlib's detector misses faces much under 80 pixels)."""

    def __init__(self, embedder=None):
        """``embedder``: a ``DlibEmbedder`` already built (the engine's identity source), else one is built."""
        from interanimate.annotate.identity import DlibEmbedder

        self.embedder = embedder if embedder is not None else DlibEmbedder()

    def scores(self, reference: np.ndarray, frames: np.ndarray, probes: int = 4, reference_vector=None,
               reference_known: bool = False) -> dict:
        """Face found in generated frames (fraction of ``probes`` evenly spaced ones) and the identity similarity
        of those frames to the reference: mean cosine of dlib vectors and mean dlib distance (< 0.6 = same person
        by dlib's convention). NaN where no face is found. ``reference_known``: ``reference_vector`` is this
        embedder's vector of ``reference`` already (None: it found no face), so it is not computed again."""
        ref = reference_vector if reference_known else self.embedder(reference)
        picks = np.unique(np.linspace(0, len(frames) - 1, min(probes, len(frames))).round().astype(int))
        vectors = [self.embedder(frames[i]) for i in picks]
        found = [v for v in vectors if v is not None]
        cosine = distance = float("nan")
        if ref is not None and found:
            cosine = float(np.mean([v @ ref / (np.linalg.norm(v) * np.linalg.norm(ref) + 1e-12) for v in found]))
            distance = float(np.mean([np.linalg.norm(v - ref) for v in found]))
        return {"face_found": len(found) / len(picks), "reference_face_found": ref is not None,
                "identity_cosine": cosine, "identity_distance": distance}
