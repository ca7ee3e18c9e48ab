"""Identity embedders: dlib on real offline faces, the ArcFace five points and alignment, the embedder registry.

Negatives for the dlib test are every other real face photo installed offline: matplotlib's ``grace_hopper.jpg``
(matplotlib is a mediapipe dependency) and the 100 face crops of skimage's ``lfw_subset`` (25×25 grey LFW faces,
upscaled to 150×150 so dlib's detector finds most of them). Mirror images of the astronaut are NOT negatives: dlib
maps her mirrored face within 0.2 of the original (same person), so they would prove nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from interanimate.annotate.identity import (ARCFACE_SIZE, ARCFACE_TEMPLATE, DLIB_DIM, DlibEmbedder, DlibFaces,
                                            align_arcface, five_points_from_ibug68, get_embedder)
from interanimate.errors import UserError

pytest.importorskip("dlib")
LFW_FACES = 100  # skimage's lfw_subset: the first 100 images are faces, the last 100 are not


def shifted_crop(image: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """The photo cropped ``fraction`` off its top and left and scaled back to full size (a new resampling)."""
    height, width = image.shape[:2]
    crop = image[int(fraction * height):, int(fraction * width):]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def other_offline_faces() -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data

    faces = {}
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None:
        hopper = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if hopper.is_file():
            faces["grace_hopper"] = np.asarray(Image.open(hopper).convert("RGB"))
    for i, grey in enumerate(data.lfw_subset()[:LFW_FACES]):
        big = cv2.resize((np.clip(grey, 0, 1) * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
        faces[f"lfw_{i}"] = np.repeat(big[..., None], 3, axis=-1)
    return faces


@pytest.fixture(scope="module")
def dlib_embedder():
    return DlibEmbedder()


def test_dlib_shifted_crop_is_closer_than_every_other_offline_face(dlib_embedder, astronaut):
    photo = dlib_embedder(astronaut)
    crop = dlib_embedder(shifted_crop(astronaut))
    assert photo.shape == (DLIB_DIM,) and photo.dtype == np.float32
    same = float(np.linalg.norm(photo - crop))
    others = {name: dlib_embedder(image) for name, image in other_offline_faces().items()}
    distances = {name: float(np.linalg.norm(photo - v)) for name, v in others.items() if v is not None}
    assert "grace_hopper" in distances and len(distances) >= 50  # enough negatives were actually embedded
    nearest = min(distances, key=distances.get)
    assert same < 0.6 <= distances[nearest], (same, nearest, distances[nearest])  # dlib's same-person threshold
    assert same < distances[nearest]


def test_dlib_no_face_gives_none(dlib_embedder):
    from skimage import data

    assert dlib_embedder(data.coffee()) is None
    assert dlib_embedder(np.zeros((64, 64, 3), np.uint8)) is None


def test_five_points_from_the_astronauts_68(astronaut):
    face68 = DlibFaces(points=68).landmarks(astronaut)
    points = five_points_from_ibug68(face68)  # (5, 2) in template order
    right_eye, left_eye, nose, mouth_right, mouth_left = points
    assert right_eye[0] < nose[0] < left_eye[0] and mouth_right[0] < mouth_left[0]  # image-left first, as the template
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_right[1], mouth_left[1])
    # the template's geometry: after the similarity fit, eyes and nose land within 2 px of it; her broad smile
    # puts the mouth corners about 10 px higher than the template's neutral mouth
    matrix, _ = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - ARCFACE_TEMPLATE)[:3].max() < 2.0
    assert np.abs(mapped - ARCFACE_TEMPLATE)[3:].max() < 12.0


def test_align_arcface_puts_the_points_on_the_template():
    scale, offset = 2.5, np.array([40.0, 25.0], np.float32)
    points = ARCFACE_TEMPLATE * scale + offset  # a face 2.5× the template's size, elsewhere in the picture
    image = np.zeros((400, 400, 3), np.uint8)
    for x, y in points.round().astype(int):
        image[y - 3:y + 4, x - 3:x + 4] = 255
    aligned = align_arcface(image, points)
    assert aligned.shape == (ARCFACE_SIZE, ARCFACE_SIZE, 3)
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert aligned[y, x].min() > 200, (x, y)
    assert aligned[5, 5].max() == 0
    with pytest.raises(ValueError):
        align_arcface(image, points[:3])


def test_embedder_registry_errors():
    assert get_embedder("none") is None
    with pytest.raises(UserError, match="unknown identity embedder 'facenet'"):
        get_embedder("facenet")
    with pytest.raises(UserError, match="needs --arcface-model"):
        get_embedder("arcface")
