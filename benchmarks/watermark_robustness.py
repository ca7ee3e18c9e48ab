"""Robustness of the invisible watermark (IA02): bits read back per output size after what a shared video goes through.

    python benchmarks/watermark_robustness.py [--clips 4] [--frames 8] [--no-model]

Content: at 64×64 the bundled model's own outputs (held-out SynthHF poses, 6 denoising steps) and SynthHF-rendered
clips; at 128×128, 384×640 and 576×1024 SynthHF-rendered clips (smooth faces and hands on blurred backgrounds). Each
clip is written as ``write_video`` writes it (the mark, then mp4 at CRF 18), decoded, and then:

    fresh     as written
    re-enc 1  written again with interanimate.utils.video.write_mp4 at CRF 23
    re-enc 2  ... and once more at CRF 23
    resize    downscaled ×0.5 (area), upscaled back (bilinear), CRF 23
    crop      the centre 90% (sides rounded down to even), CRF 23
    flip      mirrored left-right, CRF 23
    unmarked  the same clip written without the mark (CRF 18, then CRF 23)

Each cell: bits agreeing with the payload out of 32, mean over clips (in brackets the lowest; for "unmarked" the
highest), and how many clips read as present (28 bits or more). "change" is the mean absolute pixel change (grey levels) and the PSNR of the marked
frames against the unmarked ones. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = [(64, 64), (128, 128), (384, 640), (576, 1024)]
CLASSES = ["LH-NP", "RH-EB", "LC-SF", "RL-FS", "LH-CH", "RC-TH"]


def model_clips(count: int, frames: int, steps: int = 6) -> list[np.ndarray]:
    """``count`` clips of the bundled model (64×64) driven by held-out SynthHF poses: uint8 (F, H, W, 3) each."""
    import torch

    from interanimate.pipelines import bundled_model_dir
    from interanimate.pipelines.conditioning import conditions_from_keypoints, image_to_tensor
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    pipe = InterAnimatePipeline.from_pretrained(bundled_model_dir(), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.vae.config.sample_size, pipe.vae.config.sample_size)
    clips = [render_heldout_clip(CLASSES[i % len(CLASSES)], i, frames, size) for i in range(count)]
    conds = [conditions_from_keypoints(c["keypoints"], c["scores"], size, size, pipe.takes_hand_map()) for c in clips]
    out = pipe(torch.stack([image_to_tensor(c["frames"][0]) for c in clips]),  # (B, 3, H, W)
               torch.stack([c["pose_frames"] for c in conds]),  # (B, F, 3, H, W)
               hand_mask=torch.stack([c["hand_mask"] for c in conds]),
               face_mask=torch.stack([c["face_mask"] for c in conds]),
               id_embedding=torch.stack([torch.as_tensor(c["identity"], dtype=torch.float32) for c in clips]),
               num_inference_steps=steps, max_guidance_scale=1.5, tile_size=int(pipe.config.get("window", frames)),
               generator=torch.Generator().manual_seed(0), output_type="np")
    return list(out.frames)


def synth_clips(count: int, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    from interanimate.data.synth.heldout import render_heldout_clip

    return [render_heldout_clip(CLASSES[i % len(CLASSES)], 10 + i, frames, size)["frames"] for i in range(count)]


def _even(x: float) -> int:
    return int(x) // 2 * 2


def _resize_half_and_back(frames: np.ndarray) -> np.ndarray:
    import cv2

    height, width = frames.shape[1:3]
    return np.stack([cv2.resize(cv2.resize(f, (width // 2, height // 2), interpolation=cv2.INTER_AREA),
                                (width, height), interpolation=cv2.INTER_LINEAR) for f in frames])


def _centre_crop(frames: np.ndarray, fraction: float = 0.9) -> np.ndarray:
    height, width = frames.shape[1:3]
    h, w = _even(height * fraction), _even(width * fraction)
    top, left = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(frames[:, top:top + h, left:left + w])


TRANSFORMS = {  # decoded fresh video -> frames to encode at CRF 23 (None: the fresh video itself)
    "fresh": None,
    "re-enc 1": lambda f: f,
    "re-enc 2": "twice",
    "resize": _resize_half_and_back,
    "crop": _centre_crop,
    "flip": lambda f: np.ascontiguousarray(f[:, :, ::-1]),
}


def measure_clip(clip: np.ndarray, folder: Path) -> dict[str, float]:
    """Bits agreeing after each transform, and the change of the marked frames."""
    from interanimate.pipelines.watermark import detect_watermark, embed_watermark, provenance_metadata
    from interanimate.utils.video import read_video, write_mp4

    def encode(frames: np.ndarray, crf: int, name: str, metadata=None) -> np.ndarray:
        write_mp4(folder / f"{name}.mp4", frames, crf=crf, metadata=metadata)
        return read_video(folder / f"{name}.mp4")[0]

    marked = embed_watermark(clip)
    change = marked.astype(np.float64) - clip
    fresh = encode(marked, 18, "fresh", provenance_metadata())  # what write_video writes
    bits = {}
    for name, transform in TRANSFORMS.items():
        if transform is None:
            frames = fresh
        elif transform == "twice":
            frames = encode(encode(fresh, 23, "once"), 23, "twice")
        else:
            frames = encode(transform(fresh), 23, name)
        bits[name] = detect_watermark(frames).bits_agreeing
    bits["unmarked"] = detect_watermark(encode(encode(clip, 18, "plain"), 23, "plain-re")).bits_agreeing
    bits["mad"] = float(np.abs(change).mean())
    bits["psnr"] = float(10 * np.log10(255.0 ** 2 / max((change ** 2).mean(), 1e-12)))
    return bits


def _cell(values: list[int], worst=min) -> str:
    from interanimate.pipelines.watermark import DETECTION_THRESHOLD, NUM_BITS

    present = sum(v >= DETECTION_THRESHOLD * NUM_BITS for v in values)
    return f"{np.mean(values):4.1f} ({worst(values):2d}) {present}/{len(values)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="clips per size and content")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (the bundled model's window is 8)")
    parser.add_argument("--no-model", action="store_true", help="skip the bundled model's 64×64 outputs")
    args = parser.parse_args()

    start = time.perf_counter()
    rows = [] if args.no_model else [("64x64", "bundled model", model_clips(args.clips, args.frames))]
    rows += [(f"{h}x{w}", "SynthHF", synth_clips(args.clips, args.frames, (h, w))) for h, w in SIZES]
    columns = [*TRANSFORMS, "unmarked"]
    print(f"bits agreeing of 32: mean (lowest; highest for unmarked) clips-present; {args.clips} clips x "
          f"{args.frames} frames per row; present = 28+ bits")
    print(f"{'size':9s} {'content':13s} {'change MAD/PSNR':>16s} " + " ".join(f"{c:>14s}" for c in columns))
    with tempfile.TemporaryDirectory() as tmp:
        for size, content, clips in rows:
            results = [measure_clip(clip, Path(tmp)) for clip in clips]
            change = f"{np.mean([r['mad'] for r in results]):.2f} / {np.mean([r['psnr'] for r in results]):.1f} dB"
            print(f"{size:9s} {content:13s} {change:>16s} "
                  + " ".join(f"{_cell([r[c] for r in results], max if c == 'unmarked' else min):>14s}"
                             for c in columns), flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
