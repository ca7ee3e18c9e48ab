"""The demo's score under other inputs or settings — what the region masks, the identity and the guidance are worth.

Renders the demo's 18 held-out clips (``interanimate.pipelines.demo``), then generates them once per variant with
the demo's seed and settings and scores each like the demo (``metrics.region.clip_region_scores``):

* ``keypoint masks`` — what the demo and ``animate`` give the region block (drawn from the keypoints);
* ``silhouette masks`` — SynthHF's exact hand/face silhouettes instead (what no user has);
* ``guidance G`` — another maximum guidance scale (1 disables classifier-free guidance: half the UNet calls).

    python benchmarks/demo_variants.py [--model DIR] [--guidance 1.0 2.0] [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from tqdm import tqdm

    from interanimate.metrics.region import clip_region_scores
    from interanimate.pipelines import bundled_model_dir
    from interanimate.pipelines.conditioning import conditions_from_keypoints
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.pipelines.demo import DEMO_SETTINGS, generate_clips, user_identities
    from interanimate.pipelines.pipeline import InterAnimatePipeline
    from interanimate.taxonomy import CODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--guidance", type=float, nargs="*", default=[], help="extra guidance scales to score")
    parser.add_argument("--no-silhouettes", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    s = DEMO_SETTINGS
    pipe = InterAnimatePipeline.from_pretrained(args.model or bundled_model_dir(), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.vae.config.sample_size, pipe.vae.config.sample_size)
    clips = [render_heldout_clip(code, i, s["frames"], size, 0) for i, code in enumerate(CODES)]
    drawn = [conditions_from_keypoints(c["keypoints"], c["scores"], size, size, pipe.takes_hand_map()) for c in clips]
    exact = [{**d, "hand_mask": torch.from_numpy(c["hand_mask"].astype(np.float32))[:, None],
              "face_mask": torch.from_numpy(c["face_mask"].astype(np.float32))[:, None]} for c, d in zip(clips, drawn)]
    identities = user_identities([c["frames"][0] for c in clips], pipe.identity_dim())
    variants = {"keypoint masks": (drawn, s["guidance"])}
    if not args.no_silhouettes:
        variants["silhouette masks"] = (exact, s["guidance"])
    variants.update({f"guidance {g:g}": (drawn, g) for g in args.guidance})
    rows, seconds = {}, {}
    for name, (conds, guidance) in variants.items():
        bar = tqdm(total=len(clips) * s["steps"], desc=name, disable=True)
        start = time.perf_counter()
        window = int(pipe.config.get("window", s["frames"]))  # as the demo: the model's training clip length
        videos = generate_clips(pipe, clips, conds, identities, s["steps"], guidance, 0, s["batch_size"], window, 4,
                                bar)
        seconds[name] = time.perf_counter() - start
        rows[name] = {code: clip_region_scores(v, c["frames"], np.maximum(c["hand_mask"], c["face_mask"]).astype(bool))
                      for code, c, v in zip(CODES, clips, videos)}
        mean = {m: float(np.mean([rows[name][c][m] for c in CODES])) for m in ("psnr", "ssim")}
        print(f"{name:18s} PSNR {mean['psnr']:.2f} dB / SSIM {mean['ssim']:.3f}  ({seconds[name]:.1f} s to generate)",
              flush=True)
    if args.out:
        args.out.write_text(json.dumps({"classes": rows, "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
