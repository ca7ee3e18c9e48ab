"""Should every fused tile hold the reference image's own pose as an extra frame 0, as MimicMotion does?

For each interaction class a held-out SynthHF clip of F + 1 frames is rendered; its frame 0 is the reference image
and frames 1..F drive the model (so the motion does not start at the reference's pose, as with a driving video of
someone else). Generated twice with the same seed and settings as ``interanimate demo``:

* ``plain``: the F driving frames only (frame 0 of every tile is the first driving frame);
* ``anchored``: the reference's own pose (drawn from frame 0's keypoints) prepended as an extra frame 0 of every
  tile, its output frame dropped (``InterAnimatePipeline(..., reference_pose=...)``).

Both are scored against the rendered frames 1..F inside the hand ∪ face region with the demo's metric
(``interanimate.metrics.region.clip_region_scores``, every frame scored). Prints a per-class table and the means.

    python benchmarks/frame0_anchor.py [--model DIR] [--frames 16] [--steps 12] [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from interanimate.metrics.region import clip_region_scores
    from interanimate.pipelines import bundled_model_dir
    from interanimate.pipelines.conditioning import conditions_from_keypoints, image_to_tensor
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.pipelines.demo import DEMO_SETTINGS, user_identities
    from interanimate.pipelines.pipeline import InterAnimatePipeline
    from interanimate.taxonomy import CODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=DEMO_SETTINGS["frames"])
    parser.add_argument("--steps", type=int, default=DEMO_SETTINGS["steps"])
    parser.add_argument("--guidance", type=float, default=DEMO_SETTINGS["guidance"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    pipe = InterAnimatePipeline.from_pretrained(args.model or bundled_model_dir(), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.vae.config.sample_size, pipe.vae.config.sample_size)
    clips = [render_heldout_clip(code, i, args.frames + 1, size, args.seed) for i, code in enumerate(CODES)]
    identities = user_identities([c["frames"][0] for c in clips], pipe.identity_dim())
    rows, seconds = {}, {"plain": 0.0, "anchored": 0.0}
    for code, clip, identity in zip(CODES, clips, identities):
        drive = conditions_from_keypoints(clip["keypoints"][1:], clip["scores"][1:], size, size,
                                          pipe.takes_hand_map())
        own = conditions_from_keypoints(clip["keypoints"][:1], clip["scores"][:1], size, size, pipe.takes_hand_map())
        ident = None if identity is None else torch.from_numpy(identity)[None]
        common = dict(hand_mask=drive["hand_mask"][None], face_mask=drive["face_mask"][None], id_embedding=ident,
                      num_inference_steps=args.steps, max_guidance_scale=args.guidance, output_type="np")
        reference = image_to_tensor(clip["frames"][0])[None]
        region = np.maximum(clip["hand_mask"][1:], clip["face_mask"][1:]).astype(bool)  # (F, H, W)
        rows[code] = {}
        for name, extra in (("plain", {}), ("anchored", {"reference_pose": own["pose_frames"],
                                                         "reference_hand_mask": own["hand_mask"],
                                                         "reference_face_mask": own["face_mask"]})):
            start = time.perf_counter()
            video = pipe(reference, drive["pose_frames"][None], generator=torch.Generator().manual_seed(args.seed),
                         **common, **extra).frames[0]  # (F, H, W, 3)
            seconds[name] += time.perf_counter() - start
            rows[code][name] = clip_region_scores(video, clip["frames"][1:], region, first_frame=0)
        print(f"{code:6s} plain {rows[code]['plain']['psnr']:6.2f} / {rows[code]['plain']['ssim']:.3f}   "
              f"anchored {rows[code]['anchored']['psnr']:6.2f} / {rows[code]['anchored']['ssim']:.3f}", flush=True)
    mean = {name: {m: float(np.mean([rows[c][name][m] for c in CODES])) for m in ("psnr", "ssim")}
            for name in ("plain", "anchored")}
    better = {m: int(sum(rows[c]["anchored"][m] > rows[c]["plain"][m] for c in CODES)) for m in ("psnr", "ssim")}
    print(f"mean over {len(CODES)} classes: plain PSNR {mean['plain']['psnr']:.2f} dB / SSIM "
          f"{mean['plain']['ssim']:.3f} ({seconds['plain']:.1f} s); anchored PSNR {mean['anchored']['psnr']:.2f} dB "
          f"/ SSIM {mean['anchored']['ssim']:.3f} ({seconds['anchored']:.1f} s); anchored better in "
          f"{better['psnr']} classes on PSNR, {better['ssim']} on SSIM")
    if args.out:
        args.out.write_text(json.dumps({"classes": rows, "mean": mean, "anchored_better": better,
                                        "seconds": seconds, "settings": vars(args) | {"model": str(args.model)}},
                                       indent=2, default=str))


if __name__ == "__main__":
    main()
