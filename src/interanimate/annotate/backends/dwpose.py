"""DWPose with onnxruntime: a YOLOX person detector + the DWPose-L whole-body SimCC model, from a user-given folder.

Files (as DWPose / controlnet_aux publish them):

- ``yolox_l.onnx``: input ``images`` float32 (1, 3, 640, 640) = the frame letterboxed into the top-left corner of a
  640×640 canvas filled with 114, unnormalised 0..255; output (1, 8400, 85) raw YOLOX head (cx, cy, w, h in grid
  units, objectness, 80 COCO class logits after sigmoid), decoded here with strides 8/16/32.
- ``dw-ll_ucoco_384.onnx``: input ``input`` float32 (1, 3, 384, 288) = the person box (padded by 1.25, widened to
  3:4) affinely warped to 288×384, normalised with the ImageNet mean/std; outputs ``simcc_x`` (1, 133, 576) and
  ``simcc_y`` (1, 133, 768): 1-D classification over x and y at twice the input resolution (SimCC split ratio 2).

Frames are fed in RGB, as DWPose's own annotator does. The 133 COCO-WholeBody points map to the 134-point DWPose layout
by inserting the neck (shoulder midpoint) and reordering the 17 COCO body points into OpenPose order (``COCO_BODY``).
Only the most confident person is kept (this project's clips show one subject); without a detection the whole frame
is used as the person box.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from interanimate.annotate.backends.base import check_frame
from interanimate.annotate.onnx import load_session
from interanimate.errors import UserError
from interanimate.keypoints.layout import (BODY, BODY_INDEX, FACE, FOOT, LEFT_HAND, NUM_BODY, NUM_FACE, NUM_FOOT,
                                           NUM_HAND, NUM_KEYPOINTS, RIGHT_HAND)

DETECTOR_FILE, POSE_FILE = "yolox_l.onnx", "dw-ll_ucoco_384.onnx"
DET_SIZE = 640
DET_PAD_VALUE = 114.0
DET_STRIDES = (8, 16, 32)
DET_OUTPUTS = sum((DET_SIZE // s) ** 2 for s in DET_STRIDES)  # 8400
DET_CHANNELS = 85  # box (4) + objectness + 80 COCO classes
PERSON_CLASS = 0
DET_SCORE_THRESHOLD = 0.3
POSE_W, POSE_H = 288, 384  # model input width, height
SIMCC_SPLIT = 2.0
BOX_PADDING = 1.25
POSE_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
POSE_STD = np.array([58.395, 57.12, 57.375], np.float32)
NUM_WHOLEBODY = 133

# COCO-WholeBody 133: 17 body (COCO order), 6 feet, 68 face, 21 left hand, 21 right hand.
COCO_BODY_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                   "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                   "right_knee", "left_ankle", "right_ankle")
COCO_BODY = slice(0, len(COCO_BODY_NAMES))
COCO_FOOT = slice(COCO_BODY.stop, COCO_BODY.stop + NUM_FOOT)  # same order as the layout's FOOT_NAMES
COCO_FACE = slice(COCO_FOOT.stop, COCO_FOOT.stop + NUM_FACE)
COCO_LEFT_HAND = slice(COCO_FACE.stop, COCO_FACE.stop + NUM_HAND)
COCO_RIGHT_HAND = slice(COCO_LEFT_HAND.stop, COCO_LEFT_HAND.stop + NUM_HAND)
assert COCO_RIGHT_HAND.stop == NUM_WHOLEBODY and len(COCO_BODY_NAMES) == NUM_BODY - 1


def wholebody_to_dwpose(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-WholeBody (133, 2), (133,) -> DWPose layout (134, 2), (134,): neck inserted, body in OpenPose order."""
    out_kp = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    out_sc = np.zeros(NUM_KEYPOINTS, np.float32)
    for i, name in enumerate(COCO_BODY_NAMES):
        out_kp[BODY.start + BODY_INDEX[name]] = keypoints[i]
        out_sc[BODY.start + BODY_INDEX[name]] = scores[i]
    shoulders = [COCO_BODY_NAMES.index("left_shoulder"), COCO_BODY_NAMES.index("right_shoulder")]
    out_kp[BODY.start + BODY_INDEX["neck"]] = keypoints[shoulders].mean(axis=0)
    out_sc[BODY.start + BODY_INDEX["neck"]] = scores[shoulders].min()
    for dst, src in ((FOOT, COCO_FOOT), (FACE, COCO_FACE), (LEFT_HAND, COCO_LEFT_HAND), (RIGHT_HAND, COCO_RIGHT_HAND)):
        out_kp[dst], out_sc[dst] = keypoints[src], scores[src]
    return out_kp, out_sc


def _expect_io(session, path: Path, inputs: dict[str, tuple], outputs: dict[str, tuple]) -> None:
    got_in = {i.name: tuple(i.shape) for i in session.get_inputs()}
    got_out = {o.name: tuple(o.shape) for o in session.get_outputs()}
    for want, got, kind in ((inputs, got_in, "input"), (outputs, got_out, "output")):
        for name, shape in want.items():
            if name not in got or any(isinstance(g, int) and g != s for g, s in zip(got[name][1:], shape[1:])):
                raise UserError(f"{path}: expected {kind} {name!r} of shape {shape}, found {got}")


def letterbox(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """RGB (H, W, 3) -> float32 (1, 3, 640, 640) padded with 114 in the top-left corner, and the resize ratio."""
    import cv2

    height, width = frame.shape[:2]
    ratio = min(DET_SIZE / height, DET_SIZE / width)
    new_h, new_w = int(round(height * ratio)), int(round(width * ratio))
    canvas = np.full((DET_SIZE, DET_SIZE, 3), DET_PAD_VALUE, np.float32)
    canvas[:new_h, :new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), ratio  # (1, 3, 640, 640)


def decode_yolox(raw: np.ndarray, ratio: float) -> tuple[np.ndarray, float] | None:
    """(1, 8400, 85) raw head -> the best person box (x0, y0, x1, y1) in frame pixels and its score, or None."""
    pred = raw.reshape(-1, DET_CHANNELS).astype(np.float32)  # (8400, 85)
    grids, strides = [], []
    for stride in DET_STRIDES:
        size = DET_SIZE // stride
        ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((size * size, 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)  # (8400, 2), (8400, 1)
    centre = (pred[:, :2] + grid) * stride
    size = np.exp(np.clip(pred[:, 2:4], -10, 10)) * stride
    score = pred[:, 4] * pred[:, 5 + PERSON_CLASS]  # objectness × person probability
    best = int(np.argmax(score))
    if score[best] < DET_SCORE_THRESHOLD:
        return None
    box = np.concatenate([centre[best] - size[best] / 2, centre[best] + size[best] / 2]) / ratio
    return box, float(score[best])


def box_to_affine(box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person box -> (centre, scale (w, h) at 3:4, 2×3 matrix frame -> 288×384 model input)."""
    x0, y0, x1, y1 = box
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)
    w, h = (x1 - x0) * BOX_PADDING, (y1 - y0) * BOX_PADDING
    aspect = POSE_W / POSE_H
    w, h = (h * aspect, h) if w < h * aspect else (w, w / aspect)
    scale = np.array([max(w, 1.0), max(h, 1.0)], np.float32)
    sx, sy = POSE_W / scale[0], POSE_H / scale[1]  # equal up to rounding
    matrix = np.array([[sx, 0, POSE_W / 2 - sx * centre[0]], [0, sy, POSE_H / 2 - sy * centre[1]]], np.float32)
    return centre, scale, matrix


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1, 133, 576), (1, 133, 768) -> points (133, 2) in model-input pixels and scores (133,)."""
    sx, sy = simcc_x[0], simcc_y[0]  # (133, 576), (133, 768)
    points = np.stack([sx.argmax(-1), sy.argmax(-1)], -1).astype(np.float32) / SIMCC_SPLIT  # (133, 2)
    scores = np.minimum(sx.max(-1), sy.max(-1)).astype(np.float32)  # (133,)
    points[scores <= 0] = 0.0
    return points, np.clip(scores, 0.0, 1.0)


class DWPoseBackend:
    """``DWPoseBackend(model_dir)(frame)`` -> (134, 2), (134,) in the DWPose layout."""

    def __init__(self, model_dir: str | os.PathLike | None = None, detector: str | os.PathLike | None = None,
                 pose: str | os.PathLike | None = None, threads: int = 1):
        if model_dir is None and (detector is None or pose is None):
            raise UserError(f"the dwpose backend needs --dwpose-dir DIR holding {DETECTOR_FILE} and {POSE_FILE}")
        detector = Path(detector) if detector else Path(model_dir) / DETECTOR_FILE
        pose = Path(pose) if pose else Path(model_dir) / POSE_FILE
        self.detector = load_session(detector, f"DWPose person detector ({DETECTOR_FILE}, YOLOX ONNX)", threads)
        _expect_io(self.detector, detector, {"images": (1, 3, DET_SIZE, DET_SIZE)}, {})
        out = self.detector.get_outputs()[0].shape
        if len(out) != 3 or (isinstance(out[-1], int) and out[-1] != DET_CHANNELS):
            raise UserError(f"{detector}: expected a YOLOX output (1, {DET_OUTPUTS}, {DET_CHANNELS}), found {out}")
        self.pose = load_session(pose, f"DWPose whole-body model ({POSE_FILE}, SimCC ONNX)", threads)
        _expect_io(self.pose, pose, {"input": (1, 3, POSE_H, POSE_W)},
                   {"simcc_x": (1, NUM_WHOLEBODY, int(POSE_W * SIMCC_SPLIT)),
                    "simcc_y": (1, NUM_WHOLEBODY, int(POSE_H * SIMCC_SPLIT))})

    def detect(self, frame: np.ndarray) -> np.ndarray:
        blob, ratio = letterbox(frame)
        raw = self.detector.run(None, {"images": blob})[0]
        found = decode_yolox(np.asarray(raw), ratio)
        height, width = frame.shape[:2]
        return np.array([0, 0, width, height], np.float32) if found is None else found[0]

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        frame = check_frame(frame)
        centre, scale, matrix = box_to_affine(self.detect(frame))
        crop = cv2.warpAffine(frame, matrix, (POSE_W, POSE_H), flags=cv2.INTER_LINEAR)  # (384, 288, 3)
        blob = ((crop.astype(np.float32) - POSE_MEAN) / POSE_STD).transpose(2, 0, 1)[None]  # (1, 3, 384, 288)
        simcc_x, simcc_y = self.pose.run(["simcc_x", "simcc_y"], {"input": np.ascontiguousarray(blob)})
        points, scores = decode_simcc(np.asarray(simcc_x), np.asarray(simcc_y))
        points = points / np.array([POSE_W, POSE_H], np.float32) * scale + centre - scale / 2  # back to frame pixels
        return wholebody_to_dwpose(points, scores)
