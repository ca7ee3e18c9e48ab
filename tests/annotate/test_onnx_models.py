"""DWPose and ArcFace loaders with tiny ONNX models built here (torch.onnx.export) with the real models' interfaces.

Real files and their interfaces (all the code relies on):
- ``yolox_l.onnx``: input ``images`` (1, 3, 640, 640) -> ``output`` (1, 8400, 85), the raw YOLOX head.
- ``dw-ll_ucoco_384.onnx``: input ``input`` (1, 3, 384, 288) -> ``simcc_x`` (1, 133, 576), ``simcc_y`` (1, 133, 768).
- insightface ``w600k_r50.onnx``: input ``input.1`` (N, 3, 112, 112) -> one (N, 512) output (a numeric name there,
  which torch.onnx.export refuses; the loader reads the first output whatever its name).

The tiny detector always reports one person box; the tiny pose model puts every keypoint on the brightest spot of its
input crop. A white square in a black frame must therefore come back as all 133 keypoints at the square, in frame
pixels, which exercises letterboxing, box decoding, the affine crop, SimCC decoding and the way back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from interanimate.annotate.backends import get_backend
from interanimate.annotate.backends.dwpose import (DET_OUTPUTS, DET_PAD_VALUE, DET_SIZE, DETECTOR_FILE, NUM_WHOLEBODY,
                                                   POSE_FILE, POSE_H, POSE_W, letterbox)
from interanimate.annotate.identity import (ARCFACE_DIM, ARCFACE_SIZE, ArcFaceEmbedder, DlibFaces,
                                            five_points_from_ibug68, get_embedder)
from interanimate.errors import UserError
from interanimate.keypoints.layout import BODY, BODY_INDEX, NUM_KEYPOINTS

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

FRAME_W, FRAME_H = 320, 240  # letterbox ratio min(640/240, 640/320) = 2
PERSON_BOX = (100.0, 40.0, 220.0, 200.0)  # x0, y0, x1, y1 in frame pixels
DOT = (150, 100, 5)  # x, y, side: the white square the tiny pose model finds


def yolox_head_for(box, ratio: float) -> np.ndarray:
    """A raw YOLOX head (1, 8400, 85) whose only confident anchor decodes to ``box`` (frame pixels)."""
    head = np.zeros((1, DET_OUTPUTS, 85), np.float32)
    x0, y0, x1, y1 = (v * ratio for v in box)  # letterboxed pixels
    stride, size = 32, DET_SIZE // 32
    cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride  # grid units
    gx, gy = int(cx), int(cy)
    row = (DET_SIZE // 8) ** 2 + (DET_SIZE // 16) ** 2 + gy * size + gx  # anchors of strides 8 and 16 come first
    head[0, row, :4] = cx - gx, cy - gy, np.log((x1 - x0) / stride), np.log((y1 - y0) / stride)
    head[0, row, 4], head[0, row, 5] = 0.9, 0.9  # objectness, person
    return head


class TinyDetector(torch.nn.Module):
    def __init__(self, head: np.ndarray):
        super().__init__()
        self.register_buffer("head", torch.from_numpy(head))

    def forward(self, images):  # (1, 3, 640, 640) -> (1, 8400, 85)
        return self.head + 0.0 * images.mean()


class TinyPose(torch.nn.Module):
    def forward(self, x):  # (1, 3, 384, 288), ImageNet-normalised
        grey = x.mean(dim=1)  # (1, 384, 288)
        cols = torch.sigmoid(4 * grey.amax(dim=1)).repeat_interleave(2, dim=-1)  # (1, 576): SimCC split ratio 2
        rows = torch.sigmoid(4 * grey.amax(dim=2)).repeat_interleave(2, dim=-1)  # (1, 768)
        return cols[:, None].expand(1, NUM_WHOLEBODY, -1), rows[:, None].expand(1, NUM_WHOLEBODY, -1)


class TinyArcFace(torch.nn.Module):
    """A fixed random projection of the 4×4-pooled face to 512-d: similar crops give similar vectors."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("weight", torch.randn(ARCFACE_DIM, 3 * 28 * 28, generator=generator))

    def forward(self, x):  # (N, 3, 112, 112) -> (N, 512)
        pooled = torch.nn.functional.avg_pool2d(x, 4).flatten(1)  # (N, 3 * 28 * 28)
        return pooled @ self.weight.T


def export(module, example, path, inputs, outputs, dynamic=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, dynamo=False)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    dwpose = folder / "dwpose"
    dwpose.mkdir()
    export(TinyDetector(yolox_head_for(PERSON_BOX, ratio=2.0)), torch.zeros(1, 3, DET_SIZE, DET_SIZE),
           dwpose / DETECTOR_FILE, ["images"], ["output"])
    export(TinyPose(), torch.zeros(1, 3, POSE_H, POSE_W), dwpose / POSE_FILE, ["input"], ["simcc_x", "simcc_y"])
    arcface = export(TinyArcFace(), torch.zeros(1, 3, ARCFACE_SIZE, ARCFACE_SIZE), folder / "w600k_r50.onnx",
                     ["input.1"], ["embedding"], {"input.1": {0: "batch"}, "embedding": {0: "batch"}})
    garbage = folder / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 10)
    return {"dwpose": dwpose, "arcface": arcface, "garbage": garbage}


def test_letterbox_puts_the_frame_top_left_on_114():
    frame = np.full((FRAME_H, FRAME_W, 3), 7, np.uint8)
    blob, ratio = letterbox(frame)
    assert blob.shape == (1, 3, DET_SIZE, DET_SIZE) and ratio == 2.0
    assert (blob[0, :, :480, :640] == 7).all() and (blob[0, :, 480:] == DET_PAD_VALUE).all()


def test_dwpose_backend_end_to_end(models):
    backend = get_backend("dwpose", model_dir=models["dwpose"])
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    x, y, side = DOT
    frame[y:y + side, x:x + side] = 255
    assert np.allclose(backend.detect(frame), PERSON_BOX, atol=1e-3)
    keypoints, scores = backend(frame)
    assert keypoints.shape == (NUM_KEYPOINTS, 2) and scores.shape == (NUM_KEYPOINTS,)
    centre = np.array([x + (side - 1) / 2, y + (side - 1) / 2])
    assert np.abs(keypoints - centre).max() <= side / 2 + 1.0, np.abs(keypoints - centre).max()
    assert scores.min() > 0.9  # the neck too: min of the two shoulders
    assert np.allclose(keypoints[BODY][BODY_INDEX["neck"]], keypoints[BODY][BODY_INDEX["left_shoulder"]])


def test_dwpose_wrong_files_give_clear_errors(models, tmp_path):
    with pytest.raises(UserError, match="needs --dwpose-dir"):
        get_backend("dwpose")
    with pytest.raises(UserError, match="not found"):
        get_backend("dwpose", model_dir=tmp_path)
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / DETECTOR_FILE).write_bytes((models["dwpose"] / POSE_FILE).read_bytes())
    (swapped / POSE_FILE).write_bytes((models["dwpose"] / DETECTOR_FILE).read_bytes())
    with pytest.raises(UserError, match="expected input 'images'"):
        get_backend("dwpose", model_dir=swapped)
    (swapped / DETECTOR_FILE).write_bytes(models["garbage"].read_bytes())
    with pytest.raises(UserError, match="cannot load the DWPose person detector"):
        get_backend("dwpose", model_dir=swapped)


def test_arcface_embedder_aligns_and_normalises(models, astronaut):
    import cv2

    embedder = get_embedder("arcface", arcface_model=models["arcface"])
    assert isinstance(embedder, ArcFaceEmbedder)
    photo = embedder(astronaut)
    assert photo.shape == (ARCFACE_DIM,) and np.isclose(np.linalg.norm(photo), 1.0, atol=1e-5)
    height, width = astronaut.shape[:2]
    shifted = cv2.resize(astronaut[height // 20:, width // 20:], (width, height), interpolation=cv2.INTER_AREA)
    flipped_up = np.ascontiguousarray(astronaut[::-1])  # no upright face for dlib
    same = float(photo @ embedder(shifted))
    assert same > 0.8  # alignment undid the shift and scale: nearly the same 112×112 crop (landmarks jitter ~2 px)
    assert embedder(flipped_up) is None
    other = _grace_hopper()
    assert float(photo @ embedder(other)) < same - 0.2  # another face: another crop, another vector
    # misaligned on purpose (five points shifted by 10 px) the crop changes and so does the vector
    points = five_points_from_ibug68(DlibFaces(points=68).landmarks(astronaut))
    assert float(photo @ embedder(astronaut, points + 10)) < same


def _grace_hopper() -> np.ndarray:
    """matplotlib's bundled portrait (matplotlib is a mediapipe dependency), another real face."""
    import importlib.util
    from pathlib import Path

    from PIL import Image

    spec = importlib.util.find_spec("matplotlib")
    if spec is None:
        pytest.skip("matplotlib (and its grace_hopper.jpg) not installed")
    hopper = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(hopper).convert("RGB"))


def test_arcface_wrong_model_gives_clear_errors(models, tmp_path):
    with pytest.raises(UserError, match="not found"):
        get_embedder("arcface", arcface_model=tmp_path / "missing.onnx")
    with pytest.raises(UserError, match="cannot load the ArcFace"):
        get_embedder("arcface", arcface_model=models["garbage"])
    with pytest.raises(UserError, match="not an ArcFace recognition model"):
        get_embedder("arcface", arcface_model=models["dwpose"] / POSE_FILE)
