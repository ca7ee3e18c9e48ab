"""What a first stage keeps of the hand, measured before any diffusion: the round trip image -> latents -> image.

    python benchmarks/first_stage_quality.py --root data/synthhf-128-dlib \
        --candidates 64:8:32 64:8:96 64:4:32 128:8:32 128:8:32:bundled [--json out.json]

A candidate is ``SIZE:PATCH:COMPONENTS[:bundled]``: a ``PatchPCAAutoencoder`` with PATCH-pixel patches and
COMPONENTS principal components, fitted (as the trainer fits it: every 4th frame of up to 200 training clips, seed 0)
on the training split resized to SIZE×SIZE — or, with ``:bundled``, the bundled model's own fitted basis used at that
size. Each held-out (test-split) clip's first 16 frames go through the round trip; the table gives, against the
ground truth at the same size:

* hand re-detection (``interanimate.metrics.hands``: mediapipe Hands, frames upscaled to 256 px) on the frames whose
  pose shows a hand: the round trip's rate, the ground truth's, and their ratio — what a diffusion model trained in
  that latent space can at best reach;
* region PSNR over hand ∪ face and over the hand alone (``interanimate.metrics.region``, protocol disco, frames 1..);
* the latent grid (cells per frame × channels): what the UNet pays for.

Renders a small 128×128 SynthHF set into a temporary folder when ``--root`` holds none.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def first_stage(size: int, patch: int, components: int, basis: str, train):
    from interanimate.models.first_stage import PatchPCAAutoencoder, load_vae

    if basis == "bundled":
        from interanimate.pipelines import bundled_model_dir

        vae = load_vae(bundled_model_dir() / "vae", torch.float32)
        if (vae.config.patch_size, vae.config.latent_channels) != (patch, components):
            raise SystemExit(f"the bundled first stage has {vae.config.patch_size}-pixel patches and "
                             f"{vae.config.latent_channels} components, not {patch} and {components}")
        return vae
    picks = np.random.default_rng(0).choice(len(train), min(200, len(train)), replace=False)
    images = torch.cat([train[int(i)]["frames"][::4] for i in picks])  # (N, 3, H, W)
    return PatchPCAAutoencoder(latent_channels=components, patch_size=patch, sample_size=size).fit(images)


def measure(candidate: str, root: Path, detector, max_clips: int) -> dict:
    from interanimate.data.dataset import DatasetConfig, InterHFDataset
    from interanimate.metrics.hands import clip_hand_scores, detection_ratio, pooled
    from interanimate.metrics.region import clip_region_scores

    parts = candidate.split(":")
    size, patch, components = (int(p) for p in parts[:3])
    basis = parts[3] if len(parts) > 3 else "fitted"
    config = DatasetConfig(num_frames=16, size=(size, size), reference="first", seed=0)
    train, test = InterHFDataset(root, "train", config), InterHFDataset(root, "test", config)
    vae = first_stage(size, patch, components, basis, train)
    rows = {"round_trip": [], "ground_truth": []}
    region, hand_only = [], []
    for i in range(min(len(test), max_clips)):
        item = test[i]
        truth = to_uint8(item["frames"])  # (F, H, W, 3)
        with torch.no_grad():
            recon = to_uint8(vae.decode(vae.encode(item["frames"]).latent_dist.mode()).sample)
        kp, sc = item["keypoints"].numpy(), item["scores"].numpy()
        hands = item["hand_silhouette"][:, 0].numpy() > 0  # (F, H, W)
        both = hands | (item["face_silhouette"][:, 0].numpy() > 0)
        rows["round_trip"].append(clip_hand_scores(recon, kp, sc, detector, truth, hands))
        rows["ground_truth"].append(clip_hand_scores(truth, kp, sc, detector))
        region.append(clip_region_scores(recon, truth, both)["psnr"])
        hand_only.append(rows["round_trip"][-1]["hand_psnr"])
    model, gt = pooled(rows["round_trip"]), pooled(rows["ground_truth"])
    cells = (size // patch) ** 2
    return {"candidate": candidate, "size": size, "patch": patch, "components": components, "basis": basis,
            "latent_grid": f"{size // patch}x{size // patch}x{components}", "latent_values": cells * components,
            "clips": len(region), "frames_with_hand": model["frames_with_hand"],
            "round_trip_rate": model["detection_rate"], "ground_truth_rate": gt["detection_rate"],
            "ratio": detection_ratio(model, gt), "round_trip_pck": model["pck"],
            "region_psnr": float(np.nanmean(region)), "hand_psnr": float(np.nanmean(hand_only))}


def main() -> None:
    from interanimate.data.synth import write_dataset
    from interanimate.metrics.hands import HandDetector

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--candidates", nargs="+", default=["64:8:32", "64:8:96", "64:4:32", "128:8:32"])
    parser.add_argument("--max-clips", type=int, default=72, help="held-out clips scored (default 72)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.root
    if root is None or not (root / "manifest.jsonl").is_file():
        root = Path(tempfile.mkdtemp()) / "synthhf"
        write_dataset(root, 12, 1, 24, (128, 128), seed=0, progress=False)
    print("| first stage (size:patch:components) | latent grid | hand found: round trip / ground truth | ratio | "
          "PCK@0.2 | region PSNR (dB) | hand PSNR (dB) |")
    print("|---|---|---|---|---|---|---|")
    results = []
    with HandDetector() as detector:
        for candidate in args.candidates:
            r = measure(candidate, root, detector, args.max_clips)
            results.append(r)
            print(f"| {r['candidate']} | {r['latent_grid']} | {r['round_trip_rate']:.3f} / {r['ground_truth_rate']:.3f}"
                  f" ({r['frames_with_hand']} frames) | {r['ratio']:.2f} | {r['round_trip_pck']:.2f} | "
                  f"{r['region_psnr']:.2f} | {r['hand_psnr']:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
