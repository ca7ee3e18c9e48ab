"""Render one SynthHF clip: background and body, the (deformed) face layer, the acting hand, with exact masks and
DWPose-layout keypoints.

Per frame: the face layer (drawn once per clip) is warped by head sway plus the contact deformation with one
``cv2.remap``; the hand is drawn over it; the frame is drawn at ``supersample``× and area-downsampled (anti-aliasing);
lighting and camera jitter are applied at output size. Face landmarks move with the same deformation field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from interanimate.data.synth.face import (DEFORM_CUTOFF, FaceGeometry, displacement_field, draw_face_layer, ear_centers_uv,
                                          face_landmarks_uv, shade_field)
from interanimate.data.synth.hand import draw_hand
from interanimate.data.synth.identity import IdentityLook, identity_embedding
from interanimate.data.synth.trajectories import MotionParams, hand_frame
from interanimate.keypoints.layout import (BODY, BODY_INDEX, FACE, FACE_LEFT_EYE, FACE_NOSE_TIP, FACE_RIGHT_EYE,
                                           HANDS, NUM_KEYPOINTS)
from interanimate.taxonomy import InteractionClass, get_class

OCCLUDED_SCORE = 0.3  # confidence of a face point hidden behind the hand


@dataclass(frozen=True)
class SynthConfig:
    supersample: int = 2
    deform: bool = True  # contact deformation of the face (off only to test its effect)
    camera_jitter: float = 0.006  # std of the per-frame camera shake, fraction of the width
    head_sway: float = 0.01  # amplitude of slow head motion, fraction of the width


@dataclass
class SynthClip:
    frames: np.ndarray  # uint8 (F, H, W, 3)
    keypoints: np.ndarray  # float32 (F, 134, 2)
    scores: np.ndarray  # float32 (F, 134)
    hand_mask: np.ndarray  # uint8 (F, H, W)
    face_mask: np.ndarray  # uint8 (F, H, W)
    contact: np.ndarray  # float32 (F,)
    class_code: str
    identity: str
    identity_embedding: np.ndarray  # float32 (D,)
    contact_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (F, 2) main contact, NaN if none


def _background(rng: np.random.Generator, height: int, width: int, look: IdentityLook,
                geom: FaceGeometry) -> np.ndarray:
    top, bottom = rng.uniform(40, 230, 3), rng.uniform(20, 200, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    bg = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))  # (H, W, 3)
    for _ in range(int(rng.integers(2, 5))):  # soft shapes: a room's furniture, out of focus
        center = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.uniform(0.1, 0.4) * width), int(rng.uniform(0.1, 0.4) * height))
        cv2.ellipse(bg, center, axes, float(rng.uniform(0, 180)), 0, 360, rng.uniform(30, 230, 3).tolist(), -1)
    bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=0.03 * width)
    cloth = tuple(float(c) for c in look.clothing)
    neck_w, chin_y = 0.45 * geom.a, geom.cy + 0.9 * geom.b
    shoulders = np.array([(geom.cx - 2.6 * geom.a, height * 1.1), (geom.cx - 2.2 * geom.a, chin_y + 0.55 * geom.b),
                          (geom.cx + 2.2 * geom.a, chin_y + 0.55 * geom.b), (geom.cx + 2.6 * geom.a, height * 1.1)])
    neck_color = tuple(float(c) * 0.85 for c in look.skin)
    cv2.rectangle(bg, (int(geom.cx - neck_w), int(geom.cy)), (int(geom.cx + neck_w), int(chin_y + 0.7 * geom.b)),
                  neck_color, -1, cv2.LINE_AA)
    cv2.fillPoly(bg, [np.round(shoulders).astype(np.int32)], cloth, cv2.LINE_AA)
    cv2.ellipse(bg, (int(geom.cx), int(chin_y + 0.55 * geom.b)), (int(neck_w * 1.1), int(0.2 * geom.b)), 0, 0, 180,
                tuple(c * 0.7 for c in cloth), -1, cv2.LINE_AA)
    return bg.astype(np.float32)


def _lighting(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    ramp = ((xs / width - 0.5) * np.cos(angle) + (ys / height - 0.5) * np.sin(angle))
    gain = rng.uniform(0.85, 1.1) * (1.0 + rng.uniform(0.1, 0.35) * ramp)
    return gain[..., None].astype(np.float32)  # (H, W, 1)


def _body_keypoints(kpts, scores, geom: FaceGeometry, face: np.ndarray, hand_side: str, wrist: np.ndarray):
    chin_y = geom.cy + geom.b
    neck = np.array([geom.cx, chin_y + 0.45 * geom.b])
    named = {"nose": face[FACE_NOSE_TIP], "neck": neck,
             "right_eye": face[FACE_RIGHT_EYE].mean(0), "left_eye": face[FACE_LEFT_EYE].mean(0),
             "right_shoulder": neck + (-2.0 * geom.a, 0.25 * geom.b), "left_shoulder": neck + (2.0 * geom.a, 0.25 * geom.b)}
    ears = geom.to_pixels(ear_centers_uv(None))
    named["right_ear"], named["left_ear"] = ears[0], ears[1]
    named[f"{hand_side}_wrist"] = wrist
    shoulder = named[f"{hand_side}_shoulder"]
    named[f"{hand_side}_elbow"] = shoulder + (wrist - shoulder) * 0.5 + (0.0, 1.2 * geom.b)
    for name, point in named.items():
        kpts[BODY.start + BODY_INDEX[name]] = point
        scores[BODY.start + BODY_INDEX[name]] = 1.0


def render_clip(look: IdentityLook, identity: str, interaction: str | InteractionClass, num_frames: int,
                size: tuple[int, int], rng: np.random.Generator, config: SynthConfig = SynthConfig()) -> SynthClip:
    """Render ``num_frames`` frames of ``identity`` performing ``interaction`` at ``size`` (H, W)."""
    cls = interaction if isinstance(interaction, InteractionClass) else get_class(interaction)
    height, width = size
    ss = config.supersample
    a = look.face_width * width
    geom = FaceGeometry(width * 0.5 + rng.normal(0, 0.02) * width, height * 0.43 + rng.normal(0, 0.015) * height,
                        a, a * look.face_ratio)
    params = MotionParams.sample(rng)
    background = cv2.resize(_background(rng, height, width, look, geom), (width * ss, height * ss),
                            interpolation=cv2.INTER_LINEAR)
    face_rgba, face_region = draw_face_layer(look, geom, height, width, ss)
    lighting = _lighting(rng, height, width)
    sway_phase, sway_freq = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0.5, 1.5, 2)
    jitter = np.cumsum(rng.normal(0, config.camera_jitter * width, (num_frames, 2)), 0) * 0.5
    uv = face_landmarks_uv(look)
    hs, ws = height * ss, width * ss
    grid_y, grid_x = np.mgrid[0:hs, 0:ws].astype(np.float32)  # (H·ss, W·ss) each
    face_alpha = face_rgba[..., 3:4]
    face_premul = face_rgba[..., :3] * face_alpha  # (H·ss, W·ss, 3), colour premultiplied by alpha
    layer = np.concatenate([face_premul, face_alpha, face_region[..., None].astype(np.float32)], -1)  # (.., 5)
    # The layer is zero outside its bounding box, so a frame's warp and composite only need the box moved by the
    # sway (plus one pixel for bilinear taps) and the contact windows; the rest of the canvas is the background.
    rows, cols = np.nonzero(layer[..., 3] + layer[..., 4])
    layer_box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) if rows.size else (0, 0, 0, 0)
    background_u8 = np.clip(background, 0, 255).astype(np.uint8)  # (H·ss, W·ss, 3)
    region_full = np.zeros((hs, ws), bool)

    out = {k: [] for k in ("frames", "keypoints", "scores", "hand", "face", "contact", "point")}
    for f in range(num_frames):
        t = f / max(1, num_frames - 1)
        sway = config.head_sway * width * np.sin(2 * np.pi * sway_freq * t + sway_phase)  # (2,)
        face_pts = geom.to_pixels(uv) + sway  # (68, 2) before deformation
        state = hand_frame(cls, t, face_pts, geom, params, (height, width))
        contacts = state.contacts if config.deform else []
        windows = [_contact_window(c, ss, hs, ws) for c in contacts]
        dy, dx = sway[1] * ss, sway[0] * ss
        box = [int(np.floor(layer_box[0] + dy)) - 1, int(np.ceil(layer_box[1] + dy)) + 1,
               int(np.floor(layer_box[2] + dx)) - 1, int(np.ceil(layer_box[3] + dx)) + 1]
        for ys, xs in windows:
            box = [min(box[0], ys.start), max(box[1], ys.stop), min(box[2], xs.start), max(box[3], xs.stop)]
        top, left = min(max(box[0], 0), hs - 1), min(max(box[2], 0), ws - 1)
        by, bx = slice(top, max(min(box[1], hs), top + 1)), slice(left, max(min(box[3], ws), left + 1))  # non-empty
        map_x = grid_x[by, bx] - np.float32(dx)  # backward map into the undeformed face layer, box only
        map_y = grid_y[by, bx] - np.float32(dy)
        local = [(slice(ys.start - by.start, ys.stop - by.start), slice(xs.start - bx.start, xs.stop - bx.start))
                 for ys, xs in windows]
        for c, (ys, xs), (ly, lx) in zip(contacts, windows, local):  # the deformation is zero outside each window
            pts = np.stack([grid_x[ys, xs], grid_y[ys, xs]], -1) / ss  # (h_w, w_w, 2) output pixels
            disp = displacement_field(pts, [c]) * ss
            map_x[ly, lx] -= disp[..., 0].astype(np.float32)
            map_y[ly, lx] -= disp[..., 1].astype(np.float32)
        warped = cv2.remap(layer, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        for c, (ys, xs), (ly, lx) in zip(contacts, windows, local):  # a dent's shadow
            pts = np.stack([grid_x[ys, xs], grid_y[ys, xs]], -1) / ss
            warped[ly, lx, :3] *= shade_field(pts, [c])[..., None].astype(np.float32)
        alpha = warped[..., 3:4]
        region = region_full.copy()
        region[by, bx] = warped[..., 4] > 0.5
        canvas = background_u8.copy()  # (H·ss, W·ss, 3); premultiplied "over" inside the box
        canvas[by, bx] = np.clip(background[by, bx] * (1 - alpha) + warped[..., :3], 0, 255).astype(np.uint8)
        hand_canvas = np.zeros((height * ss, width * ss), np.uint8)
        _draw_arm(canvas, state, look, height, ss)
        draw_hand(canvas, hand_canvas, state.joints, state.pose, look.skin, state.scale, ss)

        small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) * lighting
        hand_small = cv2.resize(hand_canvas.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0.5
        face_small = cv2.resize(region.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0.5
        shift = np.float32([[1, 0, jitter[f, 0]], [0, 1, jitter[f, 1]]])
        frame = cv2.warpAffine(np.clip(small, 0, 255).astype(np.uint8), shift, (width, height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        hand_m = cv2.warpAffine(hand_small.astype(np.uint8), shift, (width, height), flags=cv2.INTER_NEAREST)
        face_m = cv2.warpAffine(face_small.astype(np.uint8), shift, (width, height), flags=cv2.INTER_NEAREST)

        kpts = np.zeros((NUM_KEYPOINTS, 2), np.float32)
        scores = np.zeros(NUM_KEYPOINTS, np.float32)
        moved_face = face_pts + (displacement_field(face_pts, contacts) if contacts else 0.0)
        kpts[FACE], scores[FACE] = moved_face, 1.0
        kpts[HANDS[cls.hand]], scores[HANDS[cls.hand]] = state.joints, 1.0
        _body_keypoints(kpts, scores, geom, moved_face, cls.hand, state.joints[0])
        kpts += jitter[f]
        _visibility(kpts, scores, hand_m, height, width)
        out["frames"].append(frame)
        out["keypoints"].append(kpts)
        out["scores"].append(scores)
        out["hand"].append(hand_m)
        out["face"].append(face_m)
        out["contact"].append(state.strength)
        out["point"].append(contacts[0].point + jitter[f] if contacts else np.full(2, np.nan))
    return SynthClip(
        frames=np.stack(out["frames"]), keypoints=np.stack(out["keypoints"]).astype(np.float32),
        scores=np.stack(out["scores"]), hand_mask=np.stack(out["hand"]), face_mask=np.stack(out["face"]),
        contact=np.asarray(out["contact"], np.float32), class_code=cls.code, identity=identity,
        identity_embedding=identity_embedding(look), contact_points=np.stack(out["point"]),
    )


def _contact_window(contact, ss: int, hs: int, ws: int) -> tuple[slice, slice]:
    """Rows and columns (supersampled) within the contact's cutoff radius."""
    radius = DEFORM_CUTOFF * contact.sigma + float(np.abs(contact.displacement).max()) + 2
    x0, x1 = contact.point[0] - radius, contact.point[0] + radius
    y0, y1 = contact.point[1] - radius, contact.point[1] + radius
    clamp = lambda v, hi: int(min(max(v, 0), hi))  # noqa: E731
    return slice(clamp(y0 * ss, hs), clamp(y1 * ss + 1, hs)), slice(clamp(x0 * ss, ws), clamp(x1 * ss + 1, ws))


def _draw_arm(canvas: np.ndarray, state, look: IdentityLook, height: int, ss: int) -> None:
    """The forearm in its sleeve, from below the frame to the wrist (drawn under the hand)."""
    wrist = state.joints[0]
    direction = state.joints[9] - wrist
    direction = direction / (np.linalg.norm(direction) + 1e-6)
    elbow = wrist - direction * 1.6 * state.scale
    width = max(2, int(0.32 * state.scale * ss))
    sleeve = tuple(int(c * 0.9) for c in look.clothing)
    cuff = wrist - direction * 0.35 * state.scale
    p = lambda x: (int(round(x[0] * ss)), int(round(x[1] * ss)))  # noqa: E731
    cv2.line(canvas, p(cuff), p(wrist), tuple(int(c * 0.9) for c in look.skin), int(width * 0.8), cv2.LINE_AA)
    cv2.line(canvas, p(elbow), p(cuff), sleeve, width, cv2.LINE_AA)


def _visibility(kpts, scores, hand_mask, height, width) -> None:
    """Points off-frame get score 0; face points under the hand get ``OCCLUDED_SCORE``."""
    inside = (kpts[:, 0] >= 0) & (kpts[:, 0] <= width - 1) & (kpts[:, 1] >= 0) & (kpts[:, 1] <= height - 1)
    scores[~inside] = 0.0
    xy = np.clip(np.round(kpts).astype(int), 0, [width - 1, height - 1])
    covered = hand_mask[xy[:, 1], xy[:, 0]] > 0
    face_idx = np.arange(FACE.start, FACE.stop)
    hidden = face_idx[covered[FACE] & (scores[FACE] > 0)]
    scores[hidden] = OCCLUDED_SCORE
