"""Does the model draw a hand on a real photo? ``interanimate animate --reference PHOTO --class CODE`` for every class,
scored by the hand check ``animate`` prints (mediapipe re-detection on the frames whose motion shows a hand).

    python benchmarks/real_photo_hands.py [--model DIR] [--classes all] [--out runs/real_photo_hands]

The photos are the real ones a locked package ships: skimage's ``astronaut`` (Eileen Collins, NASA, public domain)
and matplotlib's ``grace_hopper.jpg`` sample. Each goes through the same library calls as the ``animate`` command with
its defaults (the motion model's motion for the class, seed 0; ``--retarget auto`` with the mediapipe backend; the
model's training size; 16 frames, 25 steps, guidance 2; the dlib identity of the photo; ``--framing face``,
the photo cropped to the face as SynthHF frames its people; the model's hand prior strength). Prints one row per photo and
class and the pooled rate per photo; writes each preview grid (reference | pose | generated) as
``OUT/<photo>_<class>.png`` to look at.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def photos() -> dict[str, np.ndarray]:
    from PIL import Image
    import matplotlib
    import skimage.data

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(hopper) as img:
        return {"astronaut": skimage.data.astronaut(), "grace_hopper": np.asarray(img.convert("RGB"))}


def main() -> None:
    import torch
    from PIL import Image

    from interanimate.annotate.backends import backend_for
    from interanimate.metrics.hands import pooled
    from interanimate.pipelines import bundled_model_dir, driving
    from interanimate.pipelines.conditioning import reference_tensor
    from interanimate.pipelines.outputs import preview_grid, write_png
    from interanimate.pipelines.pipeline import InterAnimatePipeline
    from interanimate.taxonomy import CODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--classes", default="all")
    parser.add_argument("--out", type=Path, default=Path("runs/real_photo_hands"))
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--framing", choices=("face", "full"), default="face")
    parser.add_argument("--hand-prior-strength", type=float, default=None)
    args = parser.parse_args()
    classes = list(CODES) if args.classes == "all" else args.classes.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    pipe = InterAnimatePipeline.from_pretrained(args.model or bundled_model_dir(), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.vae.config.sample_size,) * 2
    backend = backend_for("mediapipe", None, static=True)
    results = {}
    for name, image in photos().items():
        if args.framing == "face":
            image, _ = driving.frame_on_face(image, backend, "mediapipe")
        Image.fromarray(image).save(args.out / f"{name}.png")
        identity = driving.reference_identity(image, "dlib") if pipe.identity_dim() else None
        reference = reference_tensor(image, size)  # (3, H, W)
        rows = []
        for code in classes:
            motion = driving.from_motion_model(16, 0, code)
            placed = driving.retarget(motion, image, size, backend, "mediapipe", name)
            frames, cond = driving.animate_motion(pipe, reference, placed, size, identity, steps=args.steps,
                                                  guidance=2.0, seed=0,
                                                  hand_prior_strength=args.hand_prior_strength)
            check = driving.hand_check(frames, placed, size)
            rows.append(check)
            write_png(args.out / f"{name}_{code}.png", preview_grid(reference, cond["pose_frames"], frames))
            print(f"{name} {code}: hand found in {check['frames_detected']} of {check['frames_with_hand']} frames "
                  f"({check['frames_located']} where the pose puts it)", flush=True)
        results[name] = {"classes": dict(zip(classes, rows)), "pooled": pooled(rows)}
        p = results[name]["pooled"]
        print(f"{name}: hand found in {p['frames_detected']} of {p['frames_with_hand']} frames "
              f"({p['detection_rate']:.3f}; where the pose puts it {p['located_rate']:.3f}), size {size[0]}", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
