"""Wall time of ``interanimate evaluate`` on N clips × F frames (default: the issue's 18 × 24 at 128×128).

Ground truth is a SynthHF root given with --gt, or, without one, pans over skimage's astronaut written here in the
dataset format; predictions are perturbed copies (Gaussian noise σ=8, a 2-pixel shift, slight blur).

  python benchmarks/eval_speed.py --work /tmp/eval_bench [--gt SYNTH_ROOT --split test] [--no-fid]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_ground_truth(root: Path, clips: int, frames: int, size: int) -> None:
    import cv2
    from skimage import data

    from interanimate.data.format import ClipRecord, clip_dir, save_annotations, write_manifest
    from interanimate.keypoints.layout import NUM_KEYPOINTS
    from interanimate.utils.video import write_mp4

    side = size * 2 + max(frames * 2, clips * 3)
    zoom = cv2.resize(data.astronaut(), (side, side))
    records = []
    for index in range(clips):
        video = np.stack([zoom[index * 3:index * 3 + size * 2:2, 2 * t:2 * t + size * 2:2] for t in range(frames)])
        face = np.zeros((frames, size, size), np.uint8)
        hand = np.zeros_like(face)
        face[:, size // 8:size // 2, size // 3:2 * size // 3] = 1
        hand[:, size // 2:3 * size // 4, size // 8:size // 3] = 1
        ann = {"keypoints": np.zeros((frames, NUM_KEYPOINTS, 2), np.float32),
               "scores": np.zeros((frames, NUM_KEYPOINTS), np.float32), "hand_mask": hand, "face_mask": face,
               "contact": np.zeros(frames, np.float32), "identity_embedding": np.zeros(8, np.float32)}
        clip_id = f"clip_{index:03d}"
        write_mp4(root / clip_dir(clip_id) / "video.mp4", video)
        save_annotations(root / clip_dir(clip_id) / "annotations.npz", ann, clip_id)
        records.append(ClipRecord(clip_id, "test", None, f"id{index}", frames, 8.0, size, size,
                                  f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz"))
    write_manifest(root, records)


def make_predictions(gt_root: Path, out: Path, split: str | None, seed: int = 0) -> None:
    """Perturbed copy of every ground-truth clip: noise σ=8, 2-pixel shift, 3×3 blur."""
    import cv2

    from interanimate.data.format import load_frames, read_manifest
    from interanimate.utils.video import write_mp4

    rng = np.random.default_rng(seed)
    for record in read_manifest(gt_root):
        if split is not None and record.split != split:
            continue
        video = load_frames(gt_root, record).astype(np.float32)
        video = np.stack([cv2.blur(np.roll(f, 2, axis=1), (3, 3)) for f in video])
        video = np.clip(video + rng.normal(0, 8, video.shape), 0, 255).astype(np.uint8)
        write_mp4(out / f"{record.clip_id}.mp4", video)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--gt", type=Path, help="a dataset root (e.g. SynthHF); default: astronaut pans")
    parser.add_argument("--clips", type=int, default=18)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--split", help="with --gt: evaluate only this split (SynthHF's 'test' has 18 clips)")
    parser.add_argument("--no-fid", action="store_true")
    args = parser.parse_args()
    gt = args.gt or args.work / "gt"
    if args.gt is None and not (gt / "manifest.jsonl").is_file():
        make_ground_truth(gt, args.clips, args.frames, args.size)
    make_predictions(gt, args.work / "pred", args.split)
    command = [sys.executable, "-m", "interanimate", "evaluate", "--pred", str(args.work / "pred"), "--gt", str(gt),
               "--out", str(args.work / "report"), "--quiet"] + (["--no-fid"] if args.no_fid else [])
    command += ["--split", args.split] if args.split else []
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    report = json.loads((args.work / "report" / "report.json").read_text())
    print(json.dumps({"command": " ".join(command), "wall_s_total": round(wall, 1),
                      "wall_s_evaluate": report["wall_time_s"], **report["inputs"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
