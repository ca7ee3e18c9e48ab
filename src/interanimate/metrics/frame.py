"""Per-frame SSIM, PSNR and L1 under two protocols (inputs: uint8 RGB frames (H, W, 3)).

``disco`` reproduces DisCo's ``tool/metrics/ssim_l1_lpips_psnr.py`` (needed to compare with the paper's Table 1):

* frames are read as uint8 (cv2, BGR); a prediction whose size differs is resized to the ground truth with
  ``cv2.resize`` (bilinear);
* SSIM: ``skimage.metrics.structural_similarity`` on the **grayscale** uint8 frames, default settings
  (7×7 uniform window, sample covariance, data range 255);
* PSNR: ``20·log10(255/√MSE)`` with the float64 MSE, 100 when MSE is 0. (DisCo's first public version subtracted
  the uint8 arrays, so differences and squares wrapped modulo 256 and PSNR could never fall below 24.07 dB; DisCo
  commit 6190108 casts to float64. The paper's values of 13–23 dB are only possible with the fixed code, so that is
  what we reproduce.)
* L1: ``mean(|a − b|) / (H·W)`` on the 0–255 scale (hence the tiny ×1e-5 values).

``standard`` uses the common conventions: SSIM per RGB channel with the Gaussian window of Wang et al.
(σ = 1.5, population covariance), the same PSNR (100 dB for identical frames, so averages stay finite), L1 as the
mean absolute difference in [0, 1].
Every metric is averaged over frames by the caller (DisCo averages over all frames of all videos).
"""

from __future__ import annotations

import math

import numpy as np

PSNR_IDENTICAL = 100.0  # DisCo's value for MSE == 0
MAX_PIXEL = 255.0
# skimage averages the SSIM map without a border of (window − 1) / 2 pixels: 7×7 uniform window (disco),
# 11×11 Gaussian window for σ = 1.5 and skimage's truncate = 3.5 (standard)
SSIM_BORDER = {"disco": 3, "standard": 5}


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    for name, image in (("pred", pred), ("gt", gt)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{name} must be a uint8 RGB frame (H, W, 3), got {image.dtype} {image.shape}")


def match_size(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Resize ``pred`` to ``gt``'s size as DisCo does (``cv2.resize``, bilinear); unchanged when sizes agree."""
    if pred.shape == gt.shape:
        return pred
    import cv2

    return cv2.resize(pred, (gt.shape[1], gt.shape[0]))


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 RGB → uint8 gray with OpenCV's weights (equal to DisCo's ``COLOR_BGR2GRAY`` on its BGR frames)."""
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def ssim(pred: np.ndarray, gt: np.ndarray, protocol: str = "disco", full: bool = False):
    """SSIM of two uint8 RGB frames; with ``full`` also the per-pixel SSIM map (H, W)."""
    from skimage.metrics import structural_similarity

    _check_pair(pred, gt)
    pred = match_size(pred, gt)
    if protocol == "disco":
        score, smap = structural_similarity(to_gray(pred), to_gray(gt), full=True)
    elif protocol == "standard":
        score, smap = structural_similarity(pred, gt, channel_axis=-1, data_range=MAX_PIXEL, gaussian_weights=True,
                                            sigma=1.5, use_sample_covariance=False, full=True)
        smap = smap.mean(axis=-1)
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    return (float(score), smap) if full else float(score)


def psnr(pred: np.ndarray, gt: np.ndarray, protocol: str = "disco") -> float:
    _check_pair(pred, gt)
    pred = match_size(pred, gt)
    if protocol not in ("disco", "standard"):  # the two agree on PSNR (see the module docstring)
        raise ValueError(f"unknown protocol {protocol!r}")
    mse = float(np.mean((pred.astype(np.float64) - gt.astype(np.float64)) ** 2))
    if mse == 0:
        return PSNR_IDENTICAL
    return 20 * math.log10(MAX_PIXEL / math.sqrt(mse))


def l1(pred: np.ndarray, gt: np.ndarray, protocol: str = "disco") -> float:
    _check_pair(pred, gt)
    pred = match_size(pred, gt)
    err = np.abs(pred.astype(np.float64) - gt.astype(np.float64))
    if protocol == "disco":
        return float(err.mean() / (gt.shape[0] * gt.shape[1]))
    if protocol == "standard":
        return float(err.mean() / MAX_PIXEL)
    raise ValueError(f"unknown protocol {protocol!r}")


def frame_metrics(pred: np.ndarray, gt: np.ndarray, protocol: str = "disco") -> dict[str, float]:
    """SSIM, PSNR and L1 of one frame pair."""
    return {"ssim": ssim(pred, gt, protocol), "psnr": psnr(pred, gt, protocol), "l1": l1(pred, gt, protocol)}
