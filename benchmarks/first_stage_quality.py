"""How well the closed-form PCA first stage reconstructs SynthHF inside the hand ∪ face region.

    python benchmarks/first_stage_quality.py [--root data/synthhf-small] [--components 8 16 24 32]

Fits ``PatchPCAAutoencoder`` on every 4th frame of training clips (as the trainer does), then prints the region PSNR
(uint8 RGB, hand ∪ face masks, the demo's measure) of the reconstructed held-out clips for each number of components,
beside the "repeat the reference frame" baseline on the same clips. Renders a small SynthHF set first if ``--root``
holds none.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def main() -> None:
    from interanimate.data.dataset import DatasetConfig, InterHFDataset
    from interanimate.data.synth import write_dataset
    from interanimate.pipelines.demo import region_psnr
    from interanimate.models.first_stage import PatchPCAAutoencoder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--components", type=int, nargs="+", default=[8, 12, 16, 24, 32])
    parser.add_argument("--fit-clips", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.root
    if root is None or not (root / "manifest.jsonl").is_file():
        root = Path(tempfile.mkdtemp()) / "synthhf"
        write_dataset(root, 12, 1, 24, (64, 64), seed=0, progress=False)
    config = DatasetConfig(num_frames=16, size=(64, 64), reference="first", seed=0)
    train, test = InterHFDataset(root, "train", config), InterHFDataset(root, "test", config)
    picks = np.random.default_rng(0).choice(len(train), min(args.fit_clips, len(train)), replace=False)
    images = torch.cat([train[int(i)]["frames"][::4] for i in picks])  # (N, 3, H, W)
    clips = [test[i] for i in range(len(test))]
    print(f"fit on {len(images)} frames of {len(picks)} training clips; {len(clips)} held-out clips, 64x64")
    baseline = []
    for item in clips:
        truth = to_uint8(item["frames"])  # (F, H, W, 3)
        region = (item["hand_mask"] + item["face_mask"])[:, 0].numpy() > 0  # (F, H, W)
        baseline += [region_psnr(truth[0], truth[t], region[t]) for t in range(1, len(truth)) if region[t].any()]
    print(f"repeat the reference frame: {np.mean(baseline):.2f} dB")
    for components in args.components:
        vae = PatchPCAAutoencoder(latent_channels=components, sample_size=64).fit(images)
        scores = []
        for item in clips:
            truth = to_uint8(item["frames"])
            region = (item["hand_mask"] + item["face_mask"])[:, 0].numpy() > 0
            with torch.no_grad():
                recon = to_uint8(vae.decode(vae.encode(item["frames"]).latent_dist.mode()).sample)
            scores += [region_psnr(recon[t], truth[t], region[t]) for t in range(len(truth)) if region[t].any()]
        print(f"PCA, {components:3d} of 192 components: {np.mean(scores):.2f} dB")


if __name__ == "__main__":
    main()
