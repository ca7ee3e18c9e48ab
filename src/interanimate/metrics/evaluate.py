"""One evaluation run: pair videos, compute every metric, return the report dictionary.

Videos are streamed one pair at a time; only per-frame scores and features are kept, so memory does not grow with
the test set. Averages follow DisCo: SSIM/PSNR/L1/LPIPS over all frames of all videos; FID over all frames;
FID-VID and FVD over all clips.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from interanimate.errors import UserError
from interanimate.metrics import PROTOCOLS
from interanimate.metrics.clips import CLIP_LENGTH, CLIP_MODES

TABLE1_METRICS = ("fid", "ssim", "psnr", "lpips", "l1", "fid_vid", "fvd")
IDENTITY_STRIDE = 4  # identity is scored on every 4th frame (dlib costs ~30 ms a face)


@dataclass
class EvalConfig:
    protocol: str = "disco"
    clip_mode: str = "sliding"
    clip_length: int = CLIP_LENGTH
    clip_stride: int = 1
    pad_short: bool = False
    inception_weights: Path | None = None  # pytorch-fid pt_inception; None → fid-helper's bundled network
    vgg_weights: Path | None = None
    lpips_weights: Path | None = None  # None → torchmetrics' copy of lpips v0.1 vgg.pth
    resnet3d_weights: Path | None = None
    i3d_weights: Path | None = None  # DisCo state dict or StyleGAN-V TorchScript
    arcface: Path | None = None
    fid: bool = True
    identity: bool = True
    identity_stride: int = IDENTITY_STRIDE
    temporal: bool = True
    hands: bool = True  # hand re-detection (metrics/hands.py); needs the masks root's keypoints
    device: str = "cpu"
    batch_size: int = 16

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise UserError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.clip_mode not in CLIP_MODES:
            raise UserError(f"clip mode must be one of {', '.join(CLIP_MODES)}, got {self.clip_mode!r}")
        if self.clip_length < 1 or self.clip_stride < 1 or self.identity_stride < 1 or self.batch_size < 1:
            raise UserError("clip length, clip stride, identity stride and batch size must be positive")


@dataclass
class _Accumulator:
    frame: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ("ssim", "psnr", "l1", "lpips")})
    region: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ("ssim", "psnr", "l1", "lpips")})
    region_empty: int = 0
    feats: dict[str, dict[str, list[np.ndarray]]] = field(
        default_factory=lambda: {k: {"pred": [], "gt": []} for k in ("fid", "fid_vid", "fvd")})
    identity: list[float] = field(default_factory=list)
    identity_counts: dict[str, int] = field(default_factory=lambda: {"detected": 0, "from_mask": 0, "skipped": 0})
    temporal: dict[str, list[float]] = field(
        default_factory=lambda: {"flicker": [], "warp_error": [], "warp_error_gt": []})
    hands: dict[str, list[dict]] = field(default_factory=lambda: {"model": [], "ground_truth": []})
    per_video: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    frames: int = 0
    clips: int = 0


def _align(pred: np.ndarray, gt: np.ndarray, name: str, acc: _Accumulator) -> tuple[np.ndarray, np.ndarray]:
    """Same length (common prefix) and size (prediction resized to the ground truth, as DisCo)."""
    from interanimate.metrics.frame import match_size

    if len(pred) != len(gt):
        acc.notes.append(f"{name}: prediction has {len(pred)} frames, ground truth {len(gt)}; "
                         f"the first {min(len(pred), len(gt))} are compared")
        n = min(len(pred), len(gt))
        pred, gt = pred[:n], gt[:n]
    if pred.shape[1:3] != gt.shape[1:3]:
        acc.notes.append(f"{name}: prediction {pred.shape[2]}x{pred.shape[1]} resized to ground truth "
                         f"{gt.shape[2]}x{gt.shape[1]} (cv2 bilinear)")
        pred = np.stack([match_size(p, g) for p, g in zip(pred, gt)])
    return pred, gt


def _frame_scores(pred, gt, config, extractors, acc) -> dict[str, float]:
    from interanimate.metrics.frame import frame_metrics
    from interanimate.metrics.lpips import lpips_frames
    from interanimate.metrics.extractors import Extractor

    scores = [frame_metrics(p, g, config.protocol) for p, g in zip(pred, gt)]
    summary = {}
    for key in ("ssim", "psnr", "l1"):
        values = [s[key] for s in scores]
        acc.frame[key] += values
        summary[key] = float(np.mean(values))
    if isinstance(extractors["lpips"], Extractor):
        values = lpips_frames(extractors["lpips"].model, pred, gt, config.protocol, config.batch_size, config.device)
        acc.frame["lpips"] += values
        summary["lpips"] = float(np.mean(values))
    return summary


def _region_scores(pred, gt, mask, config, extractors, acc) -> None:
    from interanimate.metrics.extractors import Extractor
    from interanimate.metrics.lpips import lpips_frames
    from interanimate.metrics.region import mask_box, region_frame_metrics

    for p, g, m in zip(pred, gt, mask):
        scores = region_frame_metrics(p, g, m, config.protocol)
        if scores is None:
            acc.region_empty += 1
            continue
        for key, value in scores.items():
            acc.region[key].append(value)
        if isinstance(extractors["lpips"], Extractor):
            top, bottom, left, right = mask_box(m)
            acc.region["lpips"] += lpips_frames(extractors["lpips"].model, p[None, top:bottom, left:right],
                                                g[None, top:bottom, left:right], config.protocol, 1, config.device)


def _identity_scores(pred, gt, face_mask, embedder, config, acc) -> None:
    from interanimate.metrics.identity import identity_scores
    from interanimate.metrics.region import mask_box

    def box(index):
        return None if face_mask is None else mask_box(face_mask[index], margin=4, min_size=16)

    indices = list(range(0, len(pred), config.identity_stride))
    result = identity_scores(embedder, gt[0], pred[indices], [box(i) for i in indices], box(0))
    acc.identity += result["similarities"]
    acc.identity_counts["detected"] += result["detected"]
    acc.identity_counts["from_mask"] += len(result["similarities"]) - result["detected"]
    acc.identity_counts["skipped"] += result["skipped"]


def _distribution_features(name, pred, gt, config, extractors, acc) -> int:
    from interanimate.metrics import extractors as ex
    from interanimate.metrics.clips import clip_starts

    if isinstance(extractors["fid"], ex.Extractor):
        for side, frames in (("pred", pred), ("gt", gt)):
            acc.feats["fid"][side].append(ex.frame_features(extractors["fid"], frames, config.device,
                                                            config.batch_size))
    needs_clips = any(isinstance(extractors[k], ex.Extractor) for k in ("fid_vid", "fvd"))
    try:
        starts = clip_starts(len(gt), config.clip_length, config.clip_mode, config.clip_stride, config.pad_short,
                             name)
    except UserError:
        if needs_clips:
            raise
        acc.notes.append(f"{name}: shorter than {config.clip_length} frames, no clips")
        return 0
    for key, prepare in (("fid_vid", ex.fid_vid_input), ("fvd", lambda f: ex.fvd_input(f, config.protocol))):
        if isinstance(extractors[key], ex.Extractor):
            for side, frames in (("pred", pred), ("gt", gt)):
                acc.feats[key][side].append(ex.clip_features(extractors[key], prepare(frames), starts,
                                                             config.clip_length, config.device))
    return len(starts)


def _hand_scores(pred, gt, mask, detector, config, acc) -> dict:
    """Hand re-detection in the prediction and the ground truth (all frames), keypoint agreement with the clip's own
    keypoints, hand-only PSNR/SSIM: one row per side into ``acc.hands``; returns the prediction's for ``per_video``."""
    from interanimate.keypoints.conditions import scale_keypoints
    from interanimate.metrics.hands import clip_hand_scores

    n = min(len(gt), len(mask["keypoints"]), len(mask["hand_resized"]))  # annotations may hold fewer frames
    keypoints = scale_keypoints(mask["keypoints"][:n], mask["hand"].shape[1:3], gt.shape[1:3])  # (n, 134, 2)
    scores = mask["scores"][:n]
    hand = mask["hand_resized"][:n]
    model = clip_hand_scores(pred[:n], keypoints, scores, detector, gt[:n], hand, config.protocol, first_frame=0)
    truth = clip_hand_scores(gt[:n], keypoints, scores, detector, first_frame=0)
    acc.hands["model"].append(model)
    acc.hands["ground_truth"].append(truth)
    return {"hand_found": model["frames_detected"], "hand_found_gt": truth["frames_detected"],
            "hand_frames": model["frames_with_hand"]}


def _evaluate_pair(pair, masks, embedder, config, extractors, acc, detector=None) -> None:
    pred, gt = _align(pair.pred.load(), pair.gt.load(), pair.name, acc)
    row = {"name": pair.name, "frames": len(gt), **_frame_scores(pred, gt, config, extractors, acc)}
    mask = masks[pair.name]() if masks is not None and pair.name in masks else None
    if mask is not None:
        from interanimate.metrics.region import resize_masks

        resized = {k: resize_masks(mask[k][:len(gt)], *gt.shape[1:3]) for k in ("region", "face", "hand")}
        _region_scores(pred, gt, resized["region"], config, extractors, acc)
        if detector is not None:
            row |= _hand_scores(pred, gt, {**mask, "hand_resized": resized["hand"]}, detector, config, acc)
        mask = resized
    if embedder is not None:
        _identity_scores(pred, gt, None if mask is None else mask["face"], embedder, config, acc)
    if config.temporal and len(gt) >= 2:
        from interanimate.metrics.temporal import flicker, warp_errors

        row |= {"flicker": flicker(pred, gt), **warp_errors(pred, gt)}
        for key in acc.temporal:
            acc.temporal[key].append(row[key])
    row["clips"] = _distribution_features(pair.name, pred, gt, config, extractors, acc)
    acc.frames += len(gt)
    acc.clips += row["clips"]
    acc.per_video.append(row)


def _mean_entry(values: list[float], unavailable: str | None = None) -> dict:
    if unavailable:
        return {"value": None, "note": unavailable}
    values = [v for v in values if np.isfinite(v)]
    return {"value": float(np.mean(values)), "n": len(values)} if values else {"value": None, "note": "n/a (no data)"}


def _frechet_entry(key: str, acc: _Accumulator, extractor) -> dict:
    from interanimate.metrics.extractors import Unavailable
    from interanimate.metrics.frechet import MIN_SAMPLES, frechet_distance_from_features

    if isinstance(extractor, Unavailable):
        return {"value": None, "note": extractor.reason}
    pred, gt = np.concatenate(acc.feats[key]["pred"]), np.concatenate(acc.feats[key]["gt"])
    if len(pred) < MIN_SAMPLES:
        return {"value": None, "note": f"n/a (needs >= {MIN_SAMPLES} samples, got {len(pred)})"}
    return {"value": frechet_distance_from_features(pred, gt), "n": len(pred), "backbone": extractor.description}


def _summarise(acc: _Accumulator, config: EvalConfig, extractors, embedder, masks) -> dict:
    from interanimate.metrics.extractors import Extractor

    lpips_missing = None if isinstance(extractors["lpips"], Extractor) else extractors["lpips"].reason
    metrics = {k: _mean_entry(acc.frame[k]) for k in ("ssim", "psnr", "l1")}
    metrics["lpips"] = _mean_entry(acc.frame["lpips"], lpips_missing)
    if not lpips_missing:
        metrics["lpips"]["backbone"] = extractors["lpips"].description
    for key in ("fid", "fid_vid", "fvd"):
        metrics[key] = _frechet_entry(key, acc, extractors[key])
    region = ({k: _mean_entry(acc.region[k], lpips_missing if k == "lpips" else None) for k in acc.region}
              | {"frames_without_mask": acc.region_empty}) if masks is not None else None
    identity = None
    if embedder is not None:
        identity = {"similarity": _mean_entry(acc.identity), "embedder": embedder.name, **acc.identity_counts}
    temporal = {k: _mean_entry(v) for k, v in acc.temporal.items()} if config.temporal else None
    hands = None
    if acc.hands["model"]:
        from interanimate.metrics.hands import detection_ratio, pooled

        model, truth = pooled(acc.hands["model"]), pooled(acc.hands["ground_truth"])
        hands = {"model": model, "ground_truth": truth, "ratio": detection_ratio(model, truth),
                 "detector": "mediapipe Hands 0.10.21, frames upscaled to 256 px (interanimate.metrics.hands)"}
    return {"metrics": metrics, "region": region, "identity": identity, "temporal": temporal, "hands": hands}


def evaluate(pred_root, gt_root, config: EvalConfig, masks_root=None, split: str | None = None,
             progress: bool = True) -> dict:
    """Evaluate the videos in ``pred_root`` against ``gt_root`` (dataset roots: clips of ``split`` only)."""
    from tqdm.auto import tqdm

    from interanimate.metrics.extractors import build_extractors
    from interanimate.metrics.inputs import is_dataset_root, mask_loaders, pair_sources

    start = time.perf_counter()
    pairs = pair_sources(pred_root, gt_root, split)
    if masks_root is None and is_dataset_root(gt_root):
        masks_root = gt_root
    masks = mask_loaders(masks_root) if masks_root is not None else None
    extractors = build_extractors(config)
    embedder = _build_embedder(config)
    detector = None
    if config.hands and masks is not None:
        from interanimate.metrics.hands import HandDetector
        detector = HandDetector()
    acc = _Accumulator()
    try:
        for pair in tqdm(pairs, desc="evaluate", unit="video", disable=not progress):
            _evaluate_pair(pair, masks, embedder, config, extractors, acc, detector)
    finally:
        if detector is not None:
            detector.close()
    if masks is not None and (missing := [p.name for p in pairs if p.name not in masks]):
        acc.notes.append(f"no masks for {len(missing)} video(s) in {masks_root}: {', '.join(missing[:5])}")
    report = {
        "protocol": config.protocol,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "inputs": {"pred": str(pred_root), "gt": str(gt_root), "split": split, "videos": len(pairs),
                   "masks": None if masks_root is None else str(masks_root), "frames": acc.frames,
                   "clips": acc.clips},
        **_summarise(acc, config, extractors, embedder, masks),
        "per_video": acc.per_video,
        "notes": acc.notes,
    }
    report["wall_time_s"] = round(time.perf_counter() - start, 2)
    return report


def _build_embedder(config: EvalConfig):
    if not config.identity:
        return None
    from interanimate.metrics.identity import ArcFaceEmbedder, DlibFaceEmbedder

    return ArcFaceEmbedder(config.arcface) if config.arcface else DlibFaceEmbedder()
