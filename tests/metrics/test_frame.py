"""DisCo-protocol SSIM/PSNR/L1 equal independent scikit-image/numpy computations (DisCo's code path: BGR uint8)."""

import math

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from interanimate.metrics import frame


def disco_reference(pred_rgb, gt_rgb):
    """DisCo's ssim_l1_lpips_psnr.py (commit 6190108) on frames as cv2.imread returns them (BGR uint8)."""
    a, b = pred_rgb[..., ::-1].copy(), gt_rgb[..., ::-1].copy()
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    psnr = 100 if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))
    l1 = np.mean(np.absolute(a.astype("float") - b.astype("float")) / float(a.shape[0] * a.shape[1]))
    ssim, _ = structural_similarity(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.cvtColor(b, cv2.COLOR_BGR2GRAY),
                                    full=True)
    return {"ssim": ssim, "psnr": psnr, "l1": l1}


def image_pairs():
    rng = np.random.default_rng(0)
    astronaut = data.astronaut()
    noisy = np.clip(astronaut.astype(int) + rng.integers(-25, 26, astronaut.shape), 0, 255).astype(np.uint8)
    yield "random", rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), rng.integers(0, 256, (64, 80, 3),
                                                                                   dtype=np.uint8)
    yield "astronaut+noise", noisy, astronaut
    yield "astronaut shifted", np.roll(astronaut, 3, axis=1), astronaut


@pytest.mark.parametrize("name,pred,gt", list(image_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_disco_equals_reference(name, pred, gt):
    ours, ref = frame.frame_metrics(pred, gt, "disco"), disco_reference(pred, gt)
    for key in ("ssim", "psnr", "l1"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-12), key


def test_standard_psnr_and_ssim_match_skimage():
    rng = np.random.default_rng(1)
    gt = data.astronaut()[::4, ::4]
    pred = np.clip(gt.astype(int) + rng.integers(-10, 11, gt.shape), 0, 255).astype(np.uint8)
    assert frame.psnr(pred, gt, "standard") == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=255),
                                                             rel=1e-9)
    ref = structural_similarity(pred, gt, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert frame.ssim(pred, gt, "standard") == pytest.approx(ref, rel=1e-9)
    assert frame.l1(pred, gt, "standard") == pytest.approx(np.abs(pred / 255.0 - gt / 255.0).mean(), rel=1e-9)


def test_identical_frames_and_no_uint8_wraparound():
    gt = data.astronaut()[:32, :32]
    assert frame.psnr(gt, gt, "disco") == 100 and frame.psnr(gt, gt, "standard") == 100
    black, white = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    # DisCo's first version computed (a - b) ** 2 on uint8 (0 - 255 wraps to 1: 48 dB); the fixed code gives 0 dB
    assert frame.psnr(black, white, "disco") == pytest.approx(0.0, abs=1e-12)
    assert frame.psnr(black, white, "standard") == pytest.approx(0.0, abs=1e-12)


def test_prediction_resized_to_ground_truth():
    gt = data.astronaut()[::8, ::8]  # 64×64
    pred = cv2.resize(gt, (32, 32))
    assert frame.ssim(pred, gt) == pytest.approx(structural_similarity(
        frame.to_gray(cv2.resize(pred, (64, 64))), frame.to_gray(gt)), rel=1e-9)
    with pytest.raises(ValueError, match="uint8 RGB"):
        frame.psnr(gt.astype(np.float32), gt)
