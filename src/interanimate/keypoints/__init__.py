"""DWPose-layout keypoints: named slices, mirroring, pose rendering and hand/face masks."""

from interanimate.keypoints.layout import *  # noqa: F401,F403  (the layout's names are the public API)
from interanimate.keypoints.layout import NUM_KEYPOINTS, mirror_keypoints  # noqa: F401
from interanimate.keypoints.masks import MaskConfig, face_mask, hand_mask, masks_for_sequence  # noqa: F401
from interanimate.keypoints.render import render_pose, render_pose_sequence  # noqa: F401
