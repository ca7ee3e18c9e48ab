"""Pipeline inputs from keypoints and images: pose frames, hand/face masks and the reference, as tensors."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor


def image_to_tensor(image: np.ndarray) -> Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return torch.as_tensor(np.asarray(image, dtype=np.float32)).div(127.5).sub(1.0).movedim(-1, -3)  # a copy


def cover_crop(image_size: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Scale an image of ``image_size`` (H, W) to cover ``size`` (H, W), then centre-crop: returns the resized
    (width, height) and the crop's (left, top). One definition for ``load_reference`` and the keypoint map of
    ``interanimate.pipelines.retarget.center_crop_matrix``."""
    (image_h, image_w), (height, width) = image_size, size
    scale = max(height / image_h, width / image_w)
    resized_w, resized_h = max(width, round(image_w * scale)), max(height, round(image_h * scale))
    return resized_w, resized_h, (resized_w - width) // 2, (resized_h - height) // 2


def load_reference(path: str | os.PathLike, size: tuple[int, int]) -> Tensor:
    """Read an image file, centre-crop it to the aspect of ``size`` (H, W), resize: (3, H, W) in [-1, 1]."""
    from interanimate.errors import UserError
    from interanimate.utils.media import read_image

    try:
        image = read_image(path)
    except (OSError, ValueError) as err:  # unreadable, or too large to decode (checked before decoding)
        raise UserError(f"cannot read reference image {path}: {err}") from None
    return reference_tensor(image, size)


def cover_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) scaled to cover ``size`` (H, W) (Lanczos) and centre-cropped: uint8 (*size, 3)."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, np.uint8))
    height, width = size
    resized_w, resized_h, left, top = cover_crop((picture.height, picture.width), size)
    resized = picture.resize((resized_w, resized_h), Image.Resampling.LANCZOS)
    return np.asarray(resized.crop((left, top, left + width, top + height)))


def reference_tensor(image: np.ndarray, size: tuple[int, int]) -> Tensor:
    """uint8 (H, W, 3) centre-cropped to the aspect of ``size`` (H, W) and resized (Lanczos): (3, H, W) in [-1, 1]."""
    return image_to_tensor(cover_resize(image, size))


# SynthHF's framing, which the bundled model was trained on (measured over 20 held-out renders at 128×128): the
# face's 68 points span 0.355 of the frame's width, their centre at 0.49 / 0.48 of its width / height
FACE_WIDTH_FRACTION = 0.355
FACE_CENTRE = (0.49, 0.48)


def face_framing_box(image_size: tuple[int, int], face_points: np.ndarray) -> tuple[int, int, int]:
    """The square (left, top, side) in an image of ``image_size`` (H, W) that frames the face whose confident points
    are ``face_points`` (N, 2) as SynthHF frames its people (``FACE_WIDTH_FRACTION``, ``FACE_CENTRE``), kept inside
    the image (smaller when the image is: then as close to that framing as it allows)."""
    height, width = image_size
    span = float(np.ptp(face_points[:, 0]))
    centre_x, centre_y = face_points.mean(axis=0)
    side = int(round(min(max(span / FACE_WIDTH_FRACTION, 16), height, width)))
    left = int(round(centre_x - FACE_CENTRE[0] * side))
    top = int(round(centre_y - FACE_CENTRE[1] * side))
    return min(max(left, 0), width - side), min(max(top, 0), height - side), side


def conditions_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, source_size: tuple[int, int],
                              size: tuple[int, int], hand_map: bool = False) -> dict[str, Tensor]:
    """DWPose-layout keypoints (F, 134, 2) in pixels of ``source_size`` (H, W) -> the pipeline's pose frames
    (F, 3 + K, H, W) in [-1, 1] (the skeleton, then with ``hand_map`` the hand shape map: give
    ``pipe.takes_hand_map()``) and hand/face masks (F, 1, H, W) in {0, 1} at ``size`` — drawn by
    :func:`interanimate.keypoints.conditions.keypoint_conditions`, as the trainer's are."""
    from interanimate.keypoints.conditions import keypoint_conditions, scale_keypoints

    height, width = size
    drawn = keypoint_conditions(scale_keypoints(keypoints, source_size, size), scores, height, width,
                                hand_map=hand_map)
    return {"pose_frames": image_to_tensor(drawn["pose"]),
            "hand_mask": torch.from_numpy(drawn["hand_mask"].astype(np.float32))[:, None],  # (F, 1, H, W)
            "face_mask": torch.from_numpy(drawn["face_mask"].astype(np.float32))[:, None]}
