"""Temporal consistency, beside the paper's metrics (reference-based, so a still video does not score well).

* ``flicker`` — temporal-difference error: mean over t of mean |(Pₜ₊₁ − Pₜ) − (Gₜ₊₁ − Gₜ)| in [0, 1] (frames as
  float RGB). 0 when the prediction changes from frame to frame exactly as the ground truth does; a prediction that
  flickers, or freezes while the truth moves, scores higher.
* ``warp_error`` — flow-warping error: optical flow ``Gₜ₊₁ → Gₜ`` is estimated on the ground truth (OpenCV
  Farnebäck), the prediction's frame t is warped with it and compared with its frame t+1: mean |Pₜ₊₁ − warp(Pₜ)| in
  [0, 1], over pixels whose ground-truth warp is consistent (|Gₜ₊₁ − warp(Gₜ)| < ``occlusion_threshold``), which
  drops occluded and flow-failure pixels. The ground truth's own warping error under the same flow is reported
  beside it (``warp_error_gt``) as the floor a perfect prediction reaches. Lower is better for both.
"""

from __future__ import annotations

import numpy as np

OCCLUSION_THRESHOLD = 0.05  # in [0, 1] intensity


def flicker(pred: np.ndarray, gt: np.ndarray) -> float:
    """pred, gt uint8 (F, H, W, 3) of equal shape, F ≥ 2."""
    if pred.shape != gt.shape or len(gt) < 2:
        raise ValueError(f"flicker needs equal shapes with ≥ 2 frames, got {pred.shape} and {gt.shape}")
    dp = np.diff(pred.astype(np.float32) / 255, axis=0)  # (F-1, H, W, 3)
    dg = np.diff(gt.astype(np.float32) / 255, axis=0)
    return float(np.abs(dp - dg).mean())


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_errors(pred: np.ndarray, gt: np.ndarray, occlusion_threshold: float = OCCLUSION_THRESHOLD
                ) -> dict[str, float]:
    """``{'warp_error': prediction's, 'warp_error_gt': ground truth's}`` under the ground truth's flow."""
    import cv2

    if pred.shape != gt.shape or len(gt) < 2:
        raise ValueError(f"warp_error needs equal shapes with ≥ 2 frames, got {pred.shape} and {gt.shape}")
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in gt]
    errors, errors_gt, weights = 0.0, 0.0, 0.0
    for t in range(len(gt) - 1):
        # flow from t+1 to t: pixel (x, y) of frame t+1 came from (x, y) + flow in frame t
        flow = cv2.calcOpticalFlowFarneback(gray[t + 1], gray[t], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        g_next, p_next = gt[t + 1].astype(np.float32) / 255, pred[t + 1].astype(np.float32) / 255
        diff_gt = np.abs(g_next - _warp(gt[t].astype(np.float32) / 255, flow)).mean(-1)  # (H, W)
        valid = diff_gt < occlusion_threshold
        diff = np.abs(p_next - _warp(pred[t].astype(np.float32) / 255, flow)).mean(-1)
        errors += float(diff[valid].sum())
        errors_gt += float(diff_gt[valid].sum())
        weights += float(valid.sum())
    if not weights:
        return {"warp_error": float("nan"), "warp_error_gt": float("nan")}
    return {"warp_error": errors / weights, "warp_error_gt": errors_gt / weights}
