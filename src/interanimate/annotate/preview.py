"""What the model will see: keypoints (``render_pose``) and hand/face masks drawn over the picture."""

from __future__ import annotations

import numpy as np

from interanimate.keypoints.masks import MaskConfig, face_mask, hand_mask
from interanimate.keypoints.render import render_pose

HAND_TINT = np.array([255, 64, 64], np.float32)  # red
FACE_TINT = np.array([64, 128, 255], np.float32)  # blue
MASK_ALPHA = 0.35


def overlay(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
            mask_config: MaskConfig = MaskConfig()) -> np.ndarray:
    """uint8 RGB (H, W, 3) + one pose (134, 2), (134,) -> uint8 (H, W, 3): tinted masks, then the pose on top."""
    height, width = image.shape[:2]
    out = image.astype(np.float32)
    for mask, tint in ((face_mask(keypoints, scores, height, width, mask_config), FACE_TINT),
                       (hand_mask(keypoints, scores, height, width, mask_config), HAND_TINT)):
        sel = mask.astype(bool)
        out[sel] = (1 - MASK_ALPHA) * out[sel] + MASK_ALPHA * tint
    pose = render_pose(keypoints, scores, height, width)  # (H, W, 3) on black
    drawn = pose.any(axis=-1)
    out[drawn] = pose[drawn]
    return out.round().clip(0, 255).astype(np.uint8)


def contact_sheet(images: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Equal-sized (H, W, 3) images -> one grid image, row-major, black where a cell is empty."""
    rows = -(-len(images) // columns)
    height, width = images[0].shape[:2]
    sheet = np.zeros((rows * height, min(columns, len(images)) * width, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * height:(r + 1) * height, c * width:(c + 1) * width] = image
    return sheet
