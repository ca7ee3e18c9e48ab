"""What ``interanimate demo`` runs: animate held-out SynthHF identities with a model and score them.

For every chosen interaction class a SynthHF clip is rendered for an identity the model never saw in training; its
first frame is the reference image and its keypoints drive the model (pose images, hand/face masks drawn as
``animate`` draws them). Only inputs a user has go in: the identity vector is what ``animate --identity-from dlib``
computes from the reference image (the dlib embedder, which upscales small portraits), never the renderer's own face
parameters. Three rows per class are scored against the rendered ground truth inside the hand ∪ face region with
:func:`interanimate.metrics.region.clip_region_scores` (the evaluator's region protocol, ``disco``: greyscale SSIM,
PSNR from the float MSE, frames 1..F-1): the model with that identity, the model with no identity (zeros, as for a
portrait without a detectable face), and repeating the reference frame. Hand quality
(:mod:`interanimate.metrics.hands`: mediapipe re-detection on the frames whose pose shows a hand, keypoint agreement,
PSNR/SSIM inside the hand mask alone) is scored for the model, the ground truth and repeat-the-reference, per class
and pooled; the model's detection rate over the ground truth's is the demo's hand figure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from interanimate.pipelines.conditioning import conditions_from_keypoints, image_to_tensor
from interanimate.data.synth.heldout import render_heldout_clip

# What `interanimate demo` uses (chosen to keep the 18-class demo's generation within two minutes on a 2-core CPU).
DEMO_SETTINGS = dict(frames=16, steps=12, guidance=1.5, batch_size=6, grid_classes=6)
ROWS = ("model", "model_zero_identity", "repeat_reference")
ROW_NAMES = {"model": "model, identity from the reference (dlib)", "model_zero_identity": "model, no identity",
             "repeat_reference": "repeat the reference frame"}
PROTOCOL = "disco"


def user_identities(references: list[np.ndarray], dim: int | None, source: str = "dlib") -> list[np.ndarray | None]:
    """The identity vector a user gets for each reference image from ``source`` (``animate --identity-from``);
    None where no face is found (the model then gets zeros) or when the model takes no identity."""
    from interanimate.annotate.identity import get_embedder

    if not dim or source == "none":
        return [None] * len(references)
    embedder = get_embedder(source)
    vectors = [embedder(image) for image in references]
    return [None if v is None else np.asarray(v, np.float32).reshape(-1) for v in vectors]


# ------------------------------------------------------------------------------------------ the demo
def generate_clips(pipe, clips, conds, identities, steps, guidance, seed, batch_size, tile_size, tile_overlap,
                   bar, hand_prior_strength: float | None = None, decode_chunk: int = 8):
    """uint8 videos (F, H, W, 3), one per clip (its frame 0 the reference); ``conds``: pose frames and masks per
    clip; ``identities``: a (D,) vector or None (zeros) per clip; ``bar``: a tqdm bar, advanced per clip-step;
    ``hand_prior_strength``: the sampler's start (None: the model's setting)."""
    dim = pipe.identity_dim()
    videos = []
    for first in range(0, len(clips), batch_size):
        part = range(first, min(first + batch_size, len(clips)))
        reference = torch.stack([image_to_tensor(clips[i]["frames"][0]) for i in part])  # (B, 3, H, W)
        ids = None
        if dim:
            ids = torch.stack([torch.zeros(dim) if identities[i] is None else torch.from_numpy(identities[i])
                               for i in part])  # (B, D)
        out = pipe(reference, torch.stack([conds[i]["pose_frames"] for i in part]),
                   hand_mask=torch.stack([conds[i]["hand_mask"] for i in part]),
                   face_mask=torch.stack([conds[i]["face_mask"] for i in part]), id_embedding=ids,
                   num_inference_steps=steps, max_guidance_scale=guidance, tile_size=tile_size,
                   tile_overlap=tile_overlap, generator=torch.Generator().manual_seed(seed), output_type="np",
                   callback_on_step_end=lambda *_: bar.update(len(part)), hand_prior_strength=hand_prior_strength,
                   decode_chunk_size=decode_chunk)
        videos.extend(out.frames)  # (F, H, W, 3) uint8 each
    return videos


def run_demo(out_dir: Path, model_dir: Path, classes: list[str], frames: int = 16, steps: int = 12,
             guidance: float = 1.5, seed: int = 0, batch_size: int = 6, grid_classes: int = 6,
             tile_size: int | None | str = "model", tile_overlap: int = 4, identity: str = "dlib",
             progress: bool = True, camera_jitter: float | None = None, hands: bool = True,
             hand_prior_strength: float | None = None, placement=None) -> dict:
    """``placement``: where the model runs (:mod:`interanimate.pipelines.placement`; default the CPU in fp32)."""
    from tqdm import tqdm

    from interanimate.metrics.region import clip_region_scores
    from interanimate.pipelines.outputs import preview_grid, stack_grids, write_png, write_video
    from interanimate.pipelines.placement import Placement, load_pipeline
    from interanimate.utils.io import write_json_atomic, write_text_atomic

    timings = {}
    start = time.perf_counter()
    placement = placement or Placement()
    pipe = load_pipeline(model_dir, placement)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.default_size()
    timings["load_model_s"] = time.perf_counter() - start
    if tile_size == "model":
        tile_size = int(pipe.config.get("window", frames))  # the clip length the model was trained on

    start = time.perf_counter()
    clips = [render_heldout_clip(code, i, frames, size, seed, camera_jitter) for i, code in enumerate(classes)]
    conds = [conditions_from_keypoints(c["keypoints"], c["scores"], size, size, pipe.takes_hand_map()) for c in clips]
    timings["render_inputs_s"] = time.perf_counter() - start
    start = time.perf_counter()
    identities = user_identities([c["frames"][0] for c in clips], pipe.identity_dim(), identity)
    timings["identity_s"] = time.perf_counter() - start

    start = time.perf_counter()
    strength, run_steps = pipe.sampler_start(steps, hand_prior_strength)  # the steps run from the hand prior
    bar = tqdm(total=2 * len(clips) * run_steps, desc="demo: denoising", unit="clip-step", disable=not progress)
    generated = {"model": generate_clips(pipe, clips, conds, identities, steps, guidance, seed, batch_size, tile_size,
                                         tile_overlap, bar, strength, placement.decode_chunk),
                 "model_zero_identity": generate_clips(pipe, clips, conds, [None] * len(clips), steps, guidance, seed,
                                                       batch_size, tile_size, tile_overlap, bar, strength,
                                                       placement.decode_chunk)}
    bar.close()
    timings["generate_s"] = time.perf_counter() - start

    start = time.perf_counter()
    per_class, grids = {}, []
    for i, (code, clip, cond) in enumerate(zip(classes, clips, conds)):
        region = np.maximum(clip["hand_mask"], clip["face_mask"]).astype(bool)  # (F, H, W)
        videos = {**{row: generated[row][i] for row in generated},
                  "repeat_reference": np.repeat(clip["frames"][:1], len(clip["frames"]), axis=0)}
        per_class[code] = {row: clip_region_scores(videos[row], clip["frames"], region, PROTOCOL) for row in ROWS}
        per_class[code]["identity_found"] = identities[i] is not None
        write_video(out_dir / "videos" / f"{code}.mp4", videos["model"], fps=8.0)
        if len(grids) < grid_classes:
            grids.append(preview_grid(clip["frames"][0], cond["pose_frames"], videos["model"], clip["frames"]))
    write_png(out_dir / "preview.png", stack_grids(grids))
    timings["write_outputs_s"] = time.perf_counter() - start  # videos and grid
    hand_report = None
    if hands:
        from interanimate.errors import UserError

        start = time.perf_counter()
        try:
            hand_report = score_hands(classes, clips, generated["model"], per_class)
        except UserError as err:  # no usable mediapipe: the rest of the demo stands
            print(f"demo: hand figures skipped: {err}")
        timings["hand_metrics_s"] = time.perf_counter() - start

    mean = {row: {m: float(np.mean([per_class[c][row][m] for c in classes])) for m in ("psnr", "ssim")}
            for row in ROWS}
    def beats(code: str, row: str, metrics: tuple[str, ...]) -> bool:
        return all(per_class[code][row][m] > per_class[code]["repeat_reference"][m] for m in metrics)

    wins = {row: {name: int(sum(beats(c, row, metrics) for c in classes))
                  for name, metrics in (("psnr", ("psnr",)), ("ssim", ("ssim",)), ("both", ("psnr", "ssim")))}
            for row in ROWS[:2]}
    report = {"classes": per_class, "mean_over_classes": mean, "classes_beating_repeat_reference": wins,
              "num_classes": len(classes), "frames": frames, "steps": steps, "guidance": guidance,
              "hand_prior_strength": strength, "steps_run": run_steps,
              "tile_size": tile_size, "tile_overlap": tile_overlap, "size": list(size), "seed": seed,
              "identity_source": identity, "faces_found": int(sum(v is not None for v in identities)),
              "camera_jitter": camera_jitter, "hands": hand_report,
              "metric": "interanimate.metrics.region.clip_region_scores, protocol disco: region = hand ∪ face masks "
                        "of the ground-truth frame; frames 1..F-1; greyscale SSIM and PSNR (float MSE) over the region",
              "timings_s": {}}
    report["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    write_json_atomic(out_dir / "metrics.json", report)
    write_text_atomic(out_dir / "report.md", report_markdown(report))
    return report


HAND_ROWS = ("model", "ground_truth", "repeat_reference")


def score_hands(classes: list[str], clips: list[dict], generated: list[np.ndarray], per_class: dict) -> dict:
    """Hand quality per class (into ``per_class[code]["hands"]``) and pooled over classes: the model's video, the
    ground truth and repeat-the-reference, each scored by :func:`interanimate.metrics.hands.clip_hand_scores`
    against the clip's own keypoints, with hand-only PSNR/SSIM against the ground truth."""
    from interanimate.metrics.hands import HandDetector, clip_hand_scores, detection_ratio, pooled

    rows: dict[str, list[dict]] = {row: [] for row in HAND_ROWS}
    with HandDetector() as detector:
        for code, clip, video in zip(classes, clips, generated):
            videos = {"model": video, "ground_truth": clip["frames"],
                      "repeat_reference": np.repeat(clip["frames"][:1], len(clip["frames"]), axis=0)}
            mask = clip["hand_mask"].astype(bool)  # (F, H, W): the renderer's exact hand silhouette
            scores = {row: clip_hand_scores(videos[row], clip["keypoints"], clip["scores"], detector, clip["frames"],
                                            mask, PROTOCOL) for row in HAND_ROWS}
            scores["ratio"] = detection_ratio(scores["model"], scores["ground_truth"])
            per_class[code]["hands"] = scores
            for row in HAND_ROWS:
                rows[row].append(scores[row])
    total = {row: pooled(rows[row]) for row in HAND_ROWS}
    return {**total, "ratio": detection_ratio(total["model"], total["ground_truth"]),
            "metric": "interanimate.metrics.hands: mediapipe Hands 0.10.21 on frames upscaled to 256 px, frames "
                      "1..F-1 whose driving pose shows a hand; PCK@0.2 of the hand box; hand-only PSNR/SSIM over the "
                      "rendered hand silhouette (protocol disco)"}


def report_markdown(report: dict) -> str:
    """The per-class table of a demo report (PSNR dB / SSIM for each row; a bold row beats repeat-the-reference on
    that metric)."""
    lines = [f"# interanimate demo: {report['num_classes']} held-out SynthHF clips", "",
             f"{report['frames']} frames, {report['steps']} steps (from the hand prior at strength "
             f"{report.get('hand_prior_strength', 1.0)}: {report.get('steps_run', report['steps'])} run), guidance "
             f"{report['guidance']}, seed "
             f"{report['seed']}; identity from the reference image: {report['identity_source']} (a face found in "
             f"{report['faces_found']} of {report['num_classes']}). Region PSNR (dB) / SSIM over hand ∪ face, "
             "frames 1..F-1 (`interanimate.metrics.region`, protocol disco).", "",
             "| class | " + " | ".join(ROW_NAMES[r] for r in ROWS) + " |", "|---|" + "---|" * len(ROWS)]

    def cell(scores: dict, base: dict, row: str) -> str:
        parts = []
        for m, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.3f}")):
            text = fmt.format(scores[m])
            parts.append(f"**{text}**" if row != "repeat_reference" and scores[m] > base[m] else text)
        return " / ".join(parts)

    for code, rows in report["classes"].items():
        lines.append(f"| {code} | " + " | ".join(cell(rows[r], rows["repeat_reference"], r) for r in ROWS) + " |")
    mean = report["mean_over_classes"]
    lines.append("| **mean** | " + " | ".join(cell(mean[r], mean["repeat_reference"], r) for r in ROWS) + " |")
    lines.append("")
    for row, won in report["classes_beating_repeat_reference"].items():
        lines.append(f"- {ROW_NAMES[row]}: beats repeat-the-reference in {won['psnr']} classes on PSNR, "
                     f"{won['ssim']} on SSIM, {won['both']} on both (of {report['num_classes']}).")
    if report.get("hands"):
        lines += ["", *hands_markdown(report)]
    return "\n".join(lines) + "\n"


def hands_markdown(report: dict) -> list[str]:
    """The demo report's hand table: per class, hand found in model / ground truth / repeat-the-reference frames
    (detected of frames with a hand), the model's ratio to the ground truth, its PCK and hand-only PSNR/SSIM."""
    def rate(s: dict) -> str:  # found / frames with a hand (found where the pose puts the hand)
        return f"{s['frames_detected']}/{s['frames_with_hand']} ({s['frames_located']})"

    def num(value: float | None, fmt: str) -> str:
        return "–" if value is None or value != value else fmt.format(value)  # NaN / null: no frame to score

    lines = ["## Hands (mediapipe re-detection, `interanimate.metrics.hands`)", "",
             "Frames in which a hand is found, of the frames 1..F-1 whose pose shows a hand (in brackets: found where "
             "the pose puts it).", "",
             "| class | hand found: model | ground truth | repeat the reference | ratio model / ground truth | "
             "PCK@0.2 (model) | hand PSNR / SSIM (model) | hand PSNR / SSIM (repeat the reference) |",
             "|---|---|---|---|---|---|---|---|"]
    for code, rows in [*((c, r["hands"]) for c, r in report["classes"].items()), ("**all**", report["hands"])]:
        m, g, r = rows["model"], rows["ground_truth"], rows["repeat_reference"]
        lines.append(f"| {code} | {rate(m)} | {rate(g)} | {rate(r)} | {num(rows['ratio'], '{:.2f}')} | "
                     f"{num(m['pck'], '{:.2f}')} | {num(m['hand_psnr'], '{:.2f}')} / {num(m['hand_ssim'], '{:.3f}')} | "
                     f"{num(r['hand_psnr'], '{:.2f}')} / {num(r['hand_ssim'], '{:.3f}')} |")
    return lines
