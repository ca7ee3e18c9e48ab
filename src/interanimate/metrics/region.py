"""Frame metrics restricted to the hand ∪ face region (from the dataset's ``hand_mask`` / ``face_mask``).

Per frame with a non-empty mask M (frames whose mask is empty are skipped and counted):

* SSIM: the protocol's SSIM map (grayscale for ``disco``, channel mean for ``standard``) averaged over M without
  skimage's border of (window − 1) / 2 pixels (so a full mask gives the whole-frame SSIM);
* PSNR: from the float MSE over the pixels of M (all channels), 100 when 0 — no uint8 wrap-around here;
* L1: mean |P − G| over M, on the protocol's scale (divided by H·W for ``disco``, so it reads like the whole-frame
  L1 column; in [0, 1] for ``standard``);
* LPIPS: on the bounding box of M grown by ``LPIPS_MARGIN`` pixels (at least ``LPIPS_MIN_CROP`` wide), since LPIPS
  is a patch metric; needs the VGG weights like the whole-frame LPIPS.
"""

from __future__ import annotations

import numpy as np

from interanimate.metrics import frame as frame_metrics

LPIPS_MARGIN = 8
LPIPS_MIN_CROP = 32


def resize_masks(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """(F, h, w) {0, 1} → bool (F, height, width), nearest neighbour."""
    mask = np.asarray(mask)
    if mask.shape[1:] == (height, width):
        return mask.astype(bool)
    import cv2

    return np.stack([cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) for m in mask
                     ]).astype(bool)


def region_frame_metrics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, protocol: str = "disco"
                         ) -> dict[str, float] | None:
    """SSIM / PSNR / L1 of one frame pair inside bool mask (H, W); None when the mask is empty."""
    if not mask.any():
        return None
    pred = frame_metrics.match_size(pred, gt)
    _, smap = frame_metrics.ssim(pred, gt, protocol, full=True)
    border = frame_metrics.SSIM_BORDER[protocol]
    inner = np.zeros_like(mask)
    inner[border:-border, border:-border] = mask[border:-border, border:-border]  # skimage's border crop
    diff = pred.astype(np.float64)[mask] - gt.astype(np.float64)[mask]  # (n, 3)
    mse = float(np.mean(diff ** 2))
    psnr = frame_metrics.PSNR_IDENTICAL if mse == 0 else 20 * np.log10(frame_metrics.MAX_PIXEL / np.sqrt(mse))
    scale = gt.shape[0] * gt.shape[1] if protocol == "disco" else frame_metrics.MAX_PIXEL
    ssim = float(smap[inner].mean()) if inner.any() else float(smap[mask].mean())  # mask only in the border: keep it
    return {"ssim": ssim, "psnr": float(psnr), "l1": float(np.abs(diff).mean() / scale)}


def mask_box(mask: np.ndarray, margin: int = LPIPS_MARGIN, min_size: int = LPIPS_MIN_CROP
             ) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the mask's bounding box, grown and clamped to the frame; None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    h, w = mask.shape
    box = []
    for lo, hi, size in ((rows[0], rows[-1] + 1, h), (cols[0], cols[-1] + 1, w)):
        lo, hi = max(lo - margin, 0), min(hi + margin, size)
        grow = max(min(min_size, size) - (hi - lo), 0)
        lo = max(min(lo - grow // 2, size - (hi - lo + grow)), 0)
        box += [lo, min(lo + max(hi - lo, min(min_size, size)), size)]
    return tuple(box)


def clip_region_scores(pred: np.ndarray, gt: np.ndarray, masks: np.ndarray, protocol: str = "disco",
                       first_frame: int = 1) -> dict[str, float]:
    """uint8 videos (F, H, W, 3) and bool masks (F, H, W) -> mean region SSIM / PSNR / L1 over the frames from
    ``first_frame`` on whose mask is not empty (``first_frame=1`` leaves out frame 0 when it is the reference image
    itself); NaN when no frame has a mask."""
    rows = [region_frame_metrics(pred[t], gt[t], masks[t], protocol) for t in range(first_frame, len(gt))]
    rows = [r for r in rows if r is not None]
    if not rows:
        return {"ssim": float("nan"), "psnr": float("nan"), "l1": float("nan"), "frames": 0}
    return {**{k: float(np.mean([r[k] for r in rows])) for k in ("ssim", "psnr", "l1")}, "frames": len(rows)}
