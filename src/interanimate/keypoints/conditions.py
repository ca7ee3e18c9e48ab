"""The UNet's keypoint-derived inputs — pose images and hand/face masks — from DWPose-layout keypoints.

One function for training and inference: the dataset (``interanimate.data.dataset``) gives the region block the
masks this draws for its clip's keypoints, and ``interanimate.pipelines.conditioning.conditions_from_keypoints``
(``animate``, ``demo``, the dataset engine) draws them from the driving keypoints, so the model is trained on the masks
it is given at inference (the paper takes both from DWPose keypoints).
"""

from __future__ import annotations

import numpy as np


def keypoint_conditions(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int,
                        confidence_aware: bool = True, hand_map: bool = False) -> dict[str, np.ndarray]:
    """Keypoints (F, 134, 2) in pixels of a ``height``×``width`` frame, scores (F, 134) -> ``pose`` uint8
    (F, H, W, 3 + K): the rendered skeleton, followed with ``hand_map`` by the K channels of the dense hand shape map
    (:mod:`interanimate.keypoints.hand_map`, what a UNet with ``hand_map_channels`` takes); ``hand_mask`` and
    ``face_mask`` uint8 (F, H, W) in {0, 1}."""
    from interanimate.keypoints.masks import masks_for_sequence
    from interanimate.keypoints.render import render_pose_sequence

    points = np.asarray(keypoints, np.float32)
    scores = np.asarray(scores, np.float32)
    pose = render_pose_sequence(points, scores, height, width, confidence_aware=confidence_aware)  # (F, H, W, 3)
    if hand_map:
        from interanimate.keypoints.hand_map import hand_map_sequence

        pose = np.concatenate([pose, hand_map_sequence(points, scores, height, width)], axis=-1)  # (F, H, W, 3+K)
    hand, face = masks_for_sequence(points, scores, height, width)  # (F, H, W) each
    return {"pose": pose, "hand_mask": hand, "face_mask": face}


def scale_keypoints(keypoints: np.ndarray, source_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., 2) in pixels of ``source_size`` (H, W) -> in pixels of ``size`` (H, W) (a plain resize)."""
    scale = np.array([size[1] / source_size[1], size[0] / source_size[0]], np.float32)
    return np.asarray(keypoints, np.float32) * scale
