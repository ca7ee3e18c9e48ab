"""Where does mediapipe find a clean drawn hand on a real photo? A probe of the hand metric, not of a model.

    python benchmarks/real_photo_context.py [--classes LH-NP,RC-SF,LH-ER,RH-CH]

For each real photo a locked package ships (``real_photo_hands.photos``: skimage's astronaut, matplotlib's Grace
Hopper), framed on the face as ``animate`` frames it, the bundled motion model's motion for each class is retargeted
onto the photo (``animate``'s defaults) and, in every frame whose motion shows a hand, the hand is drawn **cleanly**
over the photo by SynthHF's own hand drawing (outline, nails, knuckles; 4× supersampled) — what a perfect cartoon
renderer would give, no model involved. The hand metric (``metrics.hands.HandDetector``) is then asked whether it
finds a hand, over variants of the backdrop (the photo as is, the photo darkened, another photo), of the hand's
colour, position and size. Prints the fraction of frames in which a hand is found, per variant and photo.
"""
from __future__ import annotations

import argparse

import numpy as np

SKINS = {"tan": (200, 160, 130), "dark": (100, 65, 45), "rosy": (230, 150, 120), "pale": (240, 200, 180)}


def hand_frames(photo, classes, size, backend):
    """The hands (list per frame of (21, 2) keypoints at ``size``) of each class's motion retargeted onto ``photo``."""
    from interanimate.keypoints.conditions import scale_keypoints
    from interanimate.keypoints.layout import HANDS
    from interanimate.pipelines import driving

    frames = []
    for code in classes:
        placed = driving.retarget(driving.from_motion_model(16, 0, code), photo, size, backend, "mediapipe", "photo")
        kp = scale_keypoints(placed.keypoints, placed.size, size)  # (F, K, 2)
        for t in range(len(kp)):
            hands = [kp[t, h] for h in HANDS.values()
                     if (placed.scores[t, h] > 0.3).sum() >= 10 and placed.scores[t, h][0] >= 0.3]
            if hands:
                frames.append(hands)
    return frames


def found_rate(detector, backdrop, frames, size, skin=SKINS["tan"], shift=(0.0, 0.0), scale=1.0, ss=4):
    import cv2

    from interanimate.data.synth.hand import HandPose, draw_hand

    found = 0
    for hands in frames:
        canvas = cv2.resize(backdrop, (size[0] * ss, size[1] * ss), interpolation=cv2.INTER_CUBIC)
        mask = np.zeros(canvas.shape[:2], np.uint8)
        for joints in hands:
            centre = joints.mean(0)
            joints = (joints - centre) * scale + centre + np.asarray(shift) * size[0] / 128.0  # (21, 2)
            palm = np.median(np.linalg.norm(joints[[5, 9, 13, 17]] - joints[0], axis=1))
            draw_hand(canvas, mask, joints, HandPose({}), skin, palm / 0.5, ss)
        found += bool(detector(cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)))
    return found / max(len(frames), 1)


def main() -> None:
    from real_photo_hands import photos

    from interanimate.annotate.backends import backend_for
    from interanimate.metrics.hands import HandDetector
    from interanimate.pipelines import driving
    from interanimate.pipelines.conditioning import reference_tensor
    from interanimate.pipelines.outputs import to_uint8

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", default="LH-NP,RC-SF,LH-ER,RH-CH")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    size = (args.size, args.size)
    backend = backend_for("mediapipe", None, static=True)
    detector = HandDetector()
    framed = {n: driving.frame_on_face(im, backend, "mediapipe")[0] for n, im in photos().items()}
    backdrops = {n: to_uint8(reference_tensor(im, size)[None])[0] for n, im in framed.items()}  # (H, W, 3) uint8
    names = list(backdrops)
    print("| hands of | drawn over | variant | hand found |\n|---|---|---|---|")
    for name in names:
        frames = hand_frames(framed[name], args.classes.split(","), size, backend)
        other = names[1 - names.index(name)] if len(names) == 2 else name
        rows = [(name, "as is", {}), (other, "as is", {})]
        rows += [(name, f"darkened ×{k}", {"darken": k}) for k in (0.7, 0.55)]
        rows += [(name, f"skin {s} {SKINS[s]}", {"skin": SKINS[s]}) for s in SKINS if s != "tan"]
        rows += [(name, f"moved by {sh} px", {"shift": sh}) for sh in ((-30, 0), (30, 0), (0, 25), (0, -25))]
        rows += [(name, f"scaled ×{sc}", {"scale": sc}) for sc in (1.4, 1.8)]
        for where, variant, kw in rows:
            backdrop = backdrops[where]
            if "darken" in kw:
                backdrop = (backdrop * kw.pop("darken")).astype(np.uint8)
            rate = found_rate(detector, backdrop, frames, size, **kw)
            print(f"| {name} ({len(frames)} frames) | {where} | {variant} | {rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
