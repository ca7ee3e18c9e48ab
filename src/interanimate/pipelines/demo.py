"""What ``interanimate demo`` runs: animate held-out SynthHF identities with the bundled model and score them.

For every chosen interaction class a SynthHF clip is rendered for an identity the model never saw in training; its
first frame is the reference image, its keypoints drive the model (pose images, hand/face masks), and its identity
vector goes to the ID preserver. The generated frames are scored against the rendered ground truth inside the
hand ∪ face region (PSNR on uint8 RGB, SSIM on greyscale as DisCo does, both averaged over the region's pixels of
frames 1..F-1), next to the "repeat the reference frame" baseline.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from interanimate.pipelines.conditioning import conditions_from_keypoints, image_to_tensor

HELDOUT_IDENTITY_OFFSET = 100_000  # demo identities are drawn far outside the training identities' range
# What `interanimate demo` uses (chosen to keep the 18-class demo within two minutes on a 2-core CPU).
DEMO_SETTINGS = dict(frames=16, steps=12, guidance=1.5, batch_size=6, grid_classes=6)


# ------------------------------------------------------------------------------------------ region metrics
def region_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) of uint8 RGB (H, W, 3) images over the pixels where ``mask`` (H, W) is set; 100 when equal."""
    err = (pred.astype(np.float64) - target.astype(np.float64))[mask.astype(bool)]  # (N, 3)
    mse = float(np.mean(err**2)) if err.size else 0.0
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def region_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the greyscale SSIM map (skimage, 7×7 window) over the pixels where ``mask`` is set."""
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    _, ssim_map = structural_similarity(rgb2gray(pred), rgb2gray(target), data_range=1.0, full=True)
    mask = mask.astype(bool)
    return float(ssim_map[mask].mean()) if mask.any() else 1.0


def clip_scores(pred: np.ndarray, target: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """uint8 (F, H, W, 3) videos and region masks (F, H, W) -> mean region PSNR and SSIM over frames 1..F-1."""
    frames = [t for t in range(1, len(target)) if region[t].any()]
    return {"psnr": float(np.mean([region_psnr(pred[t], target[t], region[t]) for t in frames])),
            "ssim": float(np.mean([region_ssim(pred[t], target[t], region[t]) for t in frames]))}


# ------------------------------------------------------------------------------------------ held-out clips
def render_heldout_clip(class_code: str, index: int = 0, frames: int = 16, size: tuple[int, int] = (64, 64),
                        seed: int = 0) -> dict:
    """A SynthHF clip of ``class_code`` for held-out identity ``index`` (an identity index no training set of
    fewer than 100 000 identities contains): uint8 ``frames`` (F, H, W, 3) at ``size``, ``keypoints`` (F, 134, 2) in
    those pixels, ``scores`` (F, 134), ``hand_mask``/``face_mask`` (F, H, W) and the ``identity`` vector."""
    from interanimate.data.synth import SynthConfig, render_clip, sample_identity
    from interanimate.data.synth.writer import clip_rng, identity_name, identity_rng
    from interanimate.taxonomy import BY_CODE

    ident = HELDOUT_IDENTITY_OFFSET + index
    look = sample_identity(identity_rng(seed, ident))
    cls = BY_CODE[class_code]
    clip = render_clip(look, identity_name(ident), cls, frames, tuple(size), clip_rng(seed, ident, cls.index, 0),
                       SynthConfig())
    return {"frames": clip.frames, "keypoints": clip.keypoints, "scores": clip.scores, "hand_mask": clip.hand_mask,
            "face_mask": clip.face_mask, "identity": clip.identity_embedding}


# ------------------------------------------------------------------------------------------ the demo
def run_demo(out_dir: Path, model_dir: Path, classes: list[str], frames: int = 16, steps: int = 12,
             guidance: float = 1.5, seed: int = 0, batch_size: int = 6, grid_classes: int = 6,
             tile_size: int | None | str = "model", tile_overlap: int = 4) -> dict:
    from interanimate.pipelines.outputs import preview_grid, stack_grids, write_png, write_video
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    timings = {}
    start = time.perf_counter()
    pipe = InterAnimatePipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.vae.config.sample_size, pipe.vae.config.sample_size)
    timings["load_model_s"] = time.perf_counter() - start
    if tile_size == "model":
        tile_size = int(pipe.config.get("window", frames))  # the clip length the model was trained on

    start = time.perf_counter()
    clips = [render_heldout_clip(code, i, frames, size, seed) for i, code in enumerate(classes)]
    conds = [conditions_from_keypoints(c["keypoints"], c["scores"], size, size) for c in clips]
    timings["render_inputs_s"] = time.perf_counter() - start

    start = time.perf_counter()
    generated = []
    for first in range(0, len(clips), batch_size):
        part = range(first, min(first + batch_size, len(clips)))
        reference = torch.stack([image_to_tensor(clips[i]["frames"][0]) for i in part])  # (B, 3, H, W)
        out = pipe(reference, torch.stack([conds[i]["pose_frames"] for i in part]),
                   hand_mask=torch.stack([conds[i]["hand_mask"] for i in part]),
                   face_mask=torch.stack([conds[i]["face_mask"] for i in part]),
                   id_embedding=torch.stack([torch.as_tensor(clips[i]["identity"], dtype=torch.float32)
                                             for i in part]),
                   num_inference_steps=steps, max_guidance_scale=guidance, tile_size=tile_size,
                   tile_overlap=tile_overlap, generator=torch.Generator().manual_seed(seed), output_type="np")
        generated.extend(out.frames)  # (F, H, W, 3) uint8 each
    timings["generate_s"] = time.perf_counter() - start

    start = time.perf_counter()
    per_class, grids = {}, []
    for code, clip, cond, video in zip(classes, clips, conds, generated):
        region = np.maximum(clip["hand_mask"], clip["face_mask"]).astype(bool)  # (F, H, W)
        baseline = np.repeat(clip["frames"][:1], len(clip["frames"]), axis=0)
        per_class[code] = {"model": clip_scores(video, clip["frames"], region),
                           "repeat_reference": clip_scores(baseline, clip["frames"], region)}
        write_video(out_dir / "videos" / f"{code}.mp4", video, fps=8.0)
        if len(grids) < grid_classes:
            grids.append(preview_grid(clip["frames"][0], cond["pose_frames"], video, clip["frames"]))
    write_png(out_dir / "preview.png", stack_grids(grids))
    timings["write_outputs_s"] = time.perf_counter() - start

    mean = {who: {m: float(np.mean([per_class[c][who][m] for c in classes])) for m in ("psnr", "ssim")}
            for who in ("model", "repeat_reference")}
    report = {"classes": per_class, "mean_over_classes": mean, "num_classes": len(classes), "frames": frames,
              "steps": steps, "guidance": guidance, "tile_size": tile_size, "tile_overlap": tile_overlap,
              "size": list(size), "seed": seed,
              "metric": "region = hand ∪ face masks of the ground-truth frame; frames 1..F-1; PSNR on uint8 RGB, "
                        "SSIM greyscale (skimage) averaged over the region",
              "timings_s": {k: round(v, 2) for k, v in timings.items()}}
    from interanimate.utils.io import write_json_atomic
    write_json_atomic(out_dir / "metrics.json", report)
    return report
