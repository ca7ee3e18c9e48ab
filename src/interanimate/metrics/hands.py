"""Hand quality of generated frames: re-detection by an off-the-shelf hand detector, keypoint agreement with the
driving pose, and PSNR/SSIM inside the hand mask alone. One implementation for ``interanimate evaluate``, the demo's
report, the dataset engine's QC fields and the benchmarks.

The detector is mediapipe Hands 0.10.21 (its palm detector and landmark model ship in the wheel: offline), run on
single images (``static_image_mode=True``, up to two hands, ``min_detection_confidence`` 0.5). Frames smaller than
``DETECTOR_SIZE`` = 256 pixels (longer side) are upscaled (bicubic) to it first: the palm detector finds almost no hand
in a 64-pixel frame as it is; larger frames go in as they are. Even on SynthHF's ground truth it finds a hand in only
30-80 % of the frames whose pose shows one, depending on the clips and the size, so a model is scored by the
**ratio** of its detection rate to the ground truth's on the same frames, never by the rate alone.

Per clip (frames ``first_frame``.. only, as the region metrics: frame 0 is the reference image itself):

* ``frames_with_hand``: frames in which the driving pose shows a hand (at least ``MIN_VISIBLE_POINTS`` confident
  points of one hand inside the frame) — the frames scored below;
* ``detection_rate``: the fraction of those frames in which the detector finds at least one hand;
* ``located_rate``: the fraction in which a hand is found where the pose puts one — the centre of its points inside
  the box of a driving hand grown by ``LOCATED_MARGIN`` of its longer side on each side (a detection elsewhere, e.g.
  in patch noise, counts for ``detection_rate`` only);
* ``confidence``: the mean over frames with a detection of the highest score mediapipe reports for a hand there (its
  handedness classification score: the legacy ``solutions`` API exposes no other per-hand score);
* ``pck``: for each detected hand, the driving hand it lies closest to (mean point distance); the fraction of the
  points known in that driving hand whose detected counterpart lies within ``PCK_ALPHA`` × the longer side of the
  driving hand's box (PCK@0.2, as hand-pose papers report); mean over matched hands (NaN when none was found);
* ``hand_psnr`` / ``hand_ssim`` (when ground truth and hand masks are given): the region metric
  (:func:`interanimate.metrics.region.clip_region_scores`) over the hand mask alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interanimate.keypoints.layout import HANDS
from interanimate.keypoints.masks import MIN_PART_POINTS, MaskConfig

DETECTOR_SIZE = 256  # frames are upscaled so that their longer side has this many pixels before detection
MIN_DETECTION_CONFIDENCE = 0.5
PCK_ALPHA = 0.2  # a re-detected point is correct within this fraction of the driving hand box's longer side
MIN_VISIBLE_POINTS = MIN_PART_POINTS  # a driving hand counts as shown with this many confident points in the frame
SCORE_THRESHOLD = MaskConfig.score_threshold  # the confidence a driving keypoint needs (as for the hand masks)
LOCATED_MARGIN = 0.5  # a detection is where the pose puts a hand when its centre is in that hand's box grown by this
FIELDS = ("frames_with_hand", "frames_detected", "frames_located", "detection_rate", "located_rate", "confidence",
          "pck")


@dataclass(frozen=True)
class HandDetection:
    points: np.ndarray  # (21, 2) in pixels of the frame as given (not the upscaled one), DWPose hand order
    score: float


class HandDetector:
    """``HandDetector()(frame)`` -> the hands mediapipe finds in one uint8 RGB frame (H, W, 3). Keeps one mediapipe
    graph open; ``close()`` (or ``with``) frees it."""

    def __init__(self, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE, size: int = DETECTOR_SIZE):
        from interanimate.errors import UserError
        try:
            import mediapipe as mp
        except ImportError as err:  # pragma: no cover - mediapipe is a dependency
            raise UserError(f"the hand metric needs mediapipe==0.10.21 ({err})") from None
        if not hasattr(mp, "solutions"):
            raise UserError(f"mediapipe {mp.__version__} has no bundled 'solutions' models; install mediapipe==0.10.21")
        self.size = int(size)
        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                               min_detection_confidence=min_detection_confidence)

    def __call__(self, frame: np.ndarray) -> list[HandDetection]:
        import cv2

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"expected a uint8 RGB frame (H, W, 3), got {frame.dtype} {frame.shape}")
        height, width = frame.shape[:2]
        scale = max(1.0, self.size / max(height, width))  # small frames upscaled; mediapipe resizes large ones
        big = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
        result = self._hands.process(np.ascontiguousarray(big))
        found = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or (), result.multi_handedness or ()):
            points = np.array([(p.x * width, p.y * height) for p in landmarks.landmark], np.float32)  # (21, 2)
            found.append(HandDetection(points, float(handedness.classification[0].score)))
        return found

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()
            self._hands = None

    def __enter__(self) -> "HandDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def driving_hands(keypoints: np.ndarray, scores: np.ndarray, height: int, width: int) -> list[np.ndarray]:
    """The hands one driving pose shows: keypoints (134, 2) in pixels of a ``height``×``width`` frame, scores (134,)
    -> the (n, 2) confident in-frame points of each shown hand (n >= ``MIN_VISIBLE_POINTS``)."""
    shown = []
    for part in HANDS.values():
        pts, conf = np.asarray(keypoints[part], np.float64), np.asarray(scores[part], np.float64)
        inside = (conf >= SCORE_THRESHOLD) & (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) \
            & (pts[:, 1] < height)
        if inside.sum() >= MIN_VISIBLE_POINTS:
            shown.append(np.where(inside[:, None], pts, np.nan))  # (21, 2), NaN where not confident or outside
    return shown


def pck(detected: np.ndarray, driving: np.ndarray, alpha: float = PCK_ALPHA) -> float:
    """Fraction of a detected hand's points (21, 2) within ``alpha`` × the longer side of the driving hand's box of
    its counterpart point (driving (21, 2), NaN where the driving point is unknown; those points are not counted)."""
    known = ~np.isnan(driving).any(axis=1)
    span = np.nanmax(driving, axis=0) - np.nanmin(driving, axis=0)  # (2,)
    threshold = alpha * max(float(span.max()), 1.0)
    dist = np.linalg.norm(detected[known] - driving[known], axis=1)
    return float(np.mean(dist <= threshold))


def _closest(detected: np.ndarray, hands: list[np.ndarray]) -> np.ndarray:
    return min(hands, key=lambda d: float(np.nanmean(np.linalg.norm(detected - d, axis=1))))


def located(detected: np.ndarray, driving: np.ndarray, margin: float = LOCATED_MARGIN) -> bool:
    """Whether a detected hand (21, 2) lies where a driving hand (21, 2, NaN where unknown) is: the centre of its
    points inside the driving hand's box grown by ``margin`` × its longer side on every side."""
    low, high = np.nanmin(driving, axis=0), np.nanmax(driving, axis=0)  # (2,)
    grow = margin * max(float((high - low).max()), 1.0)
    centre = detected.mean(axis=0)
    return bool(np.all(centre >= low - grow) and np.all(centre <= high + grow))


def clip_hand_scores(frames: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, detector: HandDetector,
                     gt: np.ndarray | None = None, hand_masks: np.ndarray | None = None, protocol: str = "disco",
                     first_frame: int = 1) -> dict[str, float]:
    """uint8 frames (F, H, W, 3) and the driving pose (F, 134, 2) in their pixels, scores (F, 134) -> the module's
    per-clip fields; with ``gt`` (F, H, W, 3) and bool ``hand_masks`` (F, H, W) also ``hand_psnr`` / ``hand_ssim``
    (and ``hand_frames``: frames whose hand mask is not empty)."""
    height, width = frames.shape[1:3]
    shown = found = in_place = 0
    confidences, agreement = [], []
    for t in range(first_frame, len(frames)):
        hands = driving_hands(keypoints[t], scores[t], height, width)
        if not hands:
            continue
        shown += 1
        detections = detector(frames[t])
        if not detections:
            continue
        found += 1
        confidences.append(max(d.score for d in detections))
        matched = [(d, _closest(d.points, hands)) for d in detections]
        agreement.extend(pck(d.points, hand) for d, hand in matched)
        in_place += any(located(d.points, hand) for d, hand in matched)
    out = {"frames_with_hand": shown, "frames_detected": found, "frames_located": in_place,
           "detection_rate": found / shown if shown else math.nan,
           "located_rate": in_place / shown if shown else math.nan,
           "confidence": float(np.mean(confidences)) if confidences else math.nan,
           "pck": float(np.mean(agreement)) if agreement else math.nan}
    if gt is not None and hand_masks is not None:
        from interanimate.metrics.region import clip_region_scores

        region = clip_region_scores(frames, gt, np.asarray(hand_masks, bool), protocol, first_frame)
        out.update(hand_psnr=region["psnr"], hand_ssim=region["ssim"], hand_frames=region["frames"])
    return out


def pooled(rows: list[dict]) -> dict[str, float]:
    """Clips' scores pooled over frames: detection rate = all detected / all frames with a hand; confidence and PCK
    weighted by each clip's detected frames; hand PSNR/SSIM by its hand frames."""
    shown = sum(r["frames_with_hand"] for r in rows)
    found = sum(r["frames_detected"] for r in rows)
    in_place = sum(r["frames_located"] for r in rows)

    def weighted(key: str, weight: str) -> float:
        pairs = [(r[key], r[weight]) for r in rows if r.get(weight) and not math.isnan(r[key])]
        total = sum(w for _, w in pairs)
        return float(sum(v * w for v, w in pairs) / total) if total else math.nan

    out = {"frames_with_hand": shown, "frames_detected": found, "frames_located": in_place,
           "detection_rate": found / shown if shown else math.nan,
           "located_rate": in_place / shown if shown else math.nan,
           "confidence": weighted("confidence", "frames_detected"), "pck": weighted("pck", "frames_detected")}
    if rows and "hand_psnr" in rows[0]:
        out.update(hand_psnr=weighted("hand_psnr", "hand_frames"), hand_ssim=weighted("hand_ssim", "hand_frames"),
                   hand_frames=sum(r.get("hand_frames", 0) for r in rows))
    return out


def detection_ratio(model: dict, ground_truth: dict) -> float:
    """The model's detection rate over the ground truth's on the same frames (NaN when the ground truth has none)."""
    gt_rate = ground_truth["detection_rate"]
    return model["detection_rate"] / gt_rate if gt_rate and not math.isnan(gt_rate) else math.nan
