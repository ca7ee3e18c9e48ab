"""Are the motion model's hands hands? Generated motions with and without the articulated hand fit
(``motion.hand_fit``), against SynthHF's own motions, each hand drawn by SynthHF's hand drawing on a plain background
and looked for by the hand metric's detector (mediapipe, ``interanimate.metrics.hands``).

    python benchmarks/motion_hand_fit.py [--seeds 2] [--out runs/motion_hand_fit.json]

Columns: frames whose motion shows a hand; the detector's rate on them; the median largest bend between consecutive
bones of a finger (degrees: a drawn finger of SynthHF's family folds straight away from the camera, so ~0; crumpled
fingers turn); seconds the fit took per 16-frame clip. The drawing is the same for every row, so the rate compares
the poses, not a renderer. Prints a Markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

SIZE = 128
BACKGROUND = (40, 50, 70)  # dark blue-grey: a clean backdrop, the same for every row
SKIN = (200, 160, 130)


def draw(keypoints: np.ndarray, scores: np.ndarray, scale_to: float) -> list[np.ndarray]:
    """Frames (SIZE×SIZE RGB) with the motion's visible hands drawn by SynthHF's ``draw_hand``; None where no hand."""
    import cv2

    from interanimate.data.synth.hand import HandPose, draw_hand
    from interanimate.keypoints.layout import HANDS

    ss, frames = 4, []
    for t in range(len(keypoints)):
        canvas = np.zeros((SIZE * ss, SIZE * ss, 3), np.uint8)
        canvas[:] = BACKGROUND
        shown = False
        for part in HANDS.values():
            joints, conf = keypoints[t, part] * scale_to, scores[t, part]
            if (conf >= 0.3).sum() < 10 or conf[0] < 0.3:
                continue
            palm = float(np.median(np.linalg.norm(joints[[5, 9, 13, 17]] - joints[0], axis=1)))
            draw_hand(canvas, np.zeros(canvas.shape[:2], np.uint8), joints, HandPose({}), SKIN, palm / 0.5, ss)
            shown = True
        frames.append(cv2.resize(canvas, (SIZE, SIZE), interpolation=cv2.INTER_AREA) if shown else None)
    return frames


def bends(keypoints: np.ndarray, scores: np.ndarray) -> list[float]:
    from interanimate.keypoints.layout import HAND_FINGERS, HANDS

    out = []
    for t in range(len(keypoints)):
        for part in HANDS.values():
            joints, conf = keypoints[t, part], scores[t, part]
            if (conf >= 0.3).sum() < 10:
                continue
            for finger in HAND_FINGERS.values():
                bones = np.diff(joints[list(finger)], axis=0)  # (3, 2)
                turn = np.diff(np.arctan2(bones[:, 1], bones[:, 0]))
                out.append(float(np.degrees(np.abs(np.angle(np.exp(1j * turn)))).max()))
    return out


def main() -> None:
    from interanimate.metrics.hands import HandDetector
    from interanimate.motion.export import DEFAULT_SIZE, default_frame, to_dwpose
    from interanimate.motion.model import MotionModel
    from interanimate.motion.text import motion_condition
    from interanimate.pipelines import driving
    from interanimate.taxonomy import CODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("runs/motion_hand_fit.json"))
    args = parser.parse_args()
    model = MotionModel.load()
    rows = {"SynthHF motions": [], "generated, no fit": [], "generated, fitted": []}
    fit_seconds = []
    for code in CODES:
        cond = motion_condition(code, None, 1)
        for seed in range(args.seeds):
            rows["SynthHF motions"].append(driving.from_synthhf(code, seed, args.frames, seed=seed))
            for name, fit in (("generated, no fit", False), ("generated, fitted", True)):
                start = time.perf_counter()
                hand, face = model.generate([cond.index], frames=args.frames, seed=seed,
                                            sampling=replace(model.sampling, hand_fit=fit))
                if fit:
                    fit_seconds.append(time.perf_counter() - start)
                k, s = to_dwpose(hand[0].numpy(), face[0].numpy(), default_frame(*DEFAULT_SIZE))
                rows[name].append(driving.DrivingMotion(k, s, tuple(DEFAULT_SIZE), "class", class_code=code))
    report = {}
    with HandDetector() as detector:
        for name, motions in rows.items():
            shown = found = 0
            bend = []
            for m in motions:
                for frame in draw(m.keypoints, m.scores, SIZE / m.size[0]):
                    if frame is not None:
                        shown += 1
                        found += bool(detector(frame))
                bend += bends(m.keypoints, m.scores)
            report[name] = {"frames_with_hand": shown, "detection_rate": found / max(shown, 1),
                            "median_finger_bend_deg": float(np.median(bend)) if bend else float("nan")}
    report["seconds_per_clip_generate_and_fit"] = float(np.mean(fit_seconds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| motions | frames with a hand | detector finds it | median finger bend (°) |\n|---|---|---|---|")
    for name in rows:
        r = report[name]
        print(f"| {name} | {r['frames_with_hand']} | {r['detection_rate']:.3f} | {r['median_finger_bend_deg']:.1f} |")
    print(f"generate + fit: {report['seconds_per_clip_generate_and_fit']:.2f} s per clip")


if __name__ == "__main__":
    main()
