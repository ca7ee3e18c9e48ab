"""Per-class hand motion: where the hand's contact point goes, how it is oriented and posed, and what the contact
does to the skin, frame by frame.

Every clip has three phases: approach (rest position -> contact), contact (press, slide or squeeze), retreat. Phase
boundaries, force, amplitude and stroke direction are drawn per clip, so no two clips move alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interanimate.data.synth.face import Contact, FaceGeometry
from interanimate.data.synth.hand import HandPose, hand_joints
from interanimate.keypoints.layout import (FACE_CHIN, FACE_LEFT_BROW, FACE_NOSE_BRIDGE, FACE_NOSE_TIP,
                                           FACE_RIGHT_BROW, HAND_FINGERS)
from interanimate.taxonomy import InteractionClass

_CURLED = 0.9


@dataclass(frozen=True)
class MotionParams:
    t_contact: float  # start of the contact phase, fraction of the clip
    t_release: float  # end of the contact phase
    force: float  # 0.5..1: how hard the hand presses
    amplitude: float  # scales slides and pushes
    direction: float  # +1 or -1: stroke direction
    angle_jitter: float  # radians
    hand_size: float  # hand length / face height
    rest_offset: np.ndarray  # (2,) jitter of the rest position, pixels / face half-width

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "MotionParams":
        t0 = rng.uniform(0.26, 0.38)
        return cls(t_contact=t0, t_release=t0 + rng.uniform(0.28, 0.38), force=rng.uniform(0.55, 1.0),
                   amplitude=rng.uniform(0.7, 1.2), direction=float(rng.choice([-1.0, 1.0])),
                   angle_jitter=rng.normal(0, 0.08), hand_size=rng.uniform(0.8, 0.95),
                   rest_offset=rng.normal(0, 0.25, 2))


@dataclass
class HandFrame:
    joints: np.ndarray  # (21, 2) pixels
    pose: HandPose
    contacts: list  # of Contact
    strength: float  # contact strength in [0, 1]
    scale: float  # hand length in pixels


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _fingers(n_extended: int, thumb_curl: float = _CURLED) -> dict:
    curls = {"thumb": thumb_curl}
    for i, finger in enumerate(("index", "middle", "ring", "pinky")):
        curls[finger] = 0.05 if i < n_extended else _CURLED
    return curls


def _target(cls: InteractionClass, face: np.ndarray, geom: FaceGeometry, screen_side: float):
    """Contact point, finger direction (radians, towards the face), slide vector, anchor name, hand pose."""
    a, b = geom.a, geom.b
    medial = -screen_side  # +1 means "towards image right"
    if cls.category == "pinching":
        point = 0.5 * (face[FACE_NOSE_BRIDGE][2] + face[FACE_NOSE_TIP])
        return point, medial * 0.25, np.zeros(2), "pinch", HandPose(_fingers(1, thumb_curl=0.0), spread=1.0)
    if cls.category == "stroking":
        if cls.region == "eyebrow":
            brow = face[FACE_RIGHT_BROW] if cls.side == "right" else face[FACE_LEFT_BROW]
            point = brow.mean(0) + (0, -0.03 * b)
            slide = np.array([0.45 * a * -medial, 0.0])  # inner -> outer end of the brow
            return point, medial * 0.95, slide, "fingertips:2", HandPose(_fingers(2))
        if cls.region == "forehead":
            point = np.concatenate([face[FACE_RIGHT_BROW], face[FACE_LEFT_BROW]]).mean(0) + (0, -0.28 * b)
            return point, medial * 0.75, np.array([0.6 * a, 0.0]), "fingertips:3", HandPose(_fingers(3))
        if cls.region == "chin":
            point = face[FACE_CHIN] + (0, -0.06 * b)
            return point, medial * 1.2, np.array([0.45 * a, 0.0]), "fingertips:2", HandPose(_fingers(2))
        if cls.region == "ear":
            ear_x = geom.cx + (-1.0 if cls.side == "right" else 1.0) * 1.02 * a
            point = np.array([ear_x, geom.cy - 0.02 * b])
            return point, medial * 0.15, np.array([0.0, 0.35 * b]), "fingertips:2", HandPose(_fingers(2))
    if cls.category == "poking":
        cheek_u = -0.55 if cls.side == "right" else 0.55
        point = np.array([geom.cx + cheek_u * a, geom.cy + 0.3 * b])
        approach = medial * np.deg2rad(40.0)  # fingers 40 degrees off vertical, towards the face (paper: 30-45)
        return point, approach, np.zeros(2), f"fingertips:{cls.fingers}", HandPose(_fingers(cls.fingers))
    # swiping: open palm across the face at nose height
    point = np.array([geom.cx, face[FACE_NOSE_TIP][1]])
    return point, 0.0, np.zeros(2), "palm", HandPose(_fingers(4, thumb_curl=0.0), spread=0.8)


def hand_frame(cls: InteractionClass, t: float, face: np.ndarray, geom: FaceGeometry, params: MotionParams,
               frame_size: tuple[int, int]) -> HandFrame:
    """The acting hand at time ``t`` in [0, 1] for ``face`` landmarks (68, 2) in pixels."""
    height, width = frame_size
    screen_side = 1.0 if cls.hand == "left" else -1.0  # the subject's left hand is on the image right
    point, angle, slide, anchor, pose = _target(cls, face, geom, screen_side)
    angle += params.angle_jitter
    scale = params.hand_size * 2 * geom.b
    t0, t1 = params.t_contact, params.t_release
    u = (t - t0) / (t1 - t0)  # contact-phase progress
    press = float(np.clip(3.0 * np.sin(np.pi * np.clip(u, 0, 1)), 0, 1)) if 0 < u < 1 else 0.0
    strength = press * params.force

    if cls.category == "swiping":
        direction = 1.0 if cls.code == "LR-FS" else -1.0
        x = geom.cx + direction * (-2.6 + 5.2 * _smooth(t)) * geom.a
        at = np.array([x, point[1]])
        overlap = max(0.0, 1.0 - abs(x - geom.cx) / (1.1 * geom.a))
        strength = params.force * 0.6 * _smooth(overlap * 1.5)
        joints = hand_joints(pose, cls.hand, angle + direction * 0.15, scale, at, anchor)
        drag = Contact(at, np.array([direction * 0.05 * geom.a * strength, 0.0]), 0.6 * geom.a)
        return HandFrame(joints, pose, [drag] if strength > 0 else [], strength, scale)

    rest = np.array([geom.cx + screen_side * 2.4 * geom.a, height + 0.35 * scale]) + params.rest_offset * geom.a
    start = point - 0.5 * params.amplitude * params.direction * slide
    end = point + 0.5 * params.amplitude * params.direction * slide
    if t < t0:
        k = _smooth(t / t0)
        at, ang = rest + k * (start - rest), k * angle
    elif t <= t1:
        at, ang = start + _smooth(u) * (end - start), angle
    else:
        k = _smooth((t - t1) / (1 - t1))
        at, ang = end + k * (rest - end), (1 - k) * angle
    direction_vec = np.array([np.sin(ang), -np.cos(ang)])
    if cls.category == "poking":  # press in along the fingers
        at = at + direction_vec * 0.12 * geom.a * params.amplitude * strength
    if cls.category == "pinching":  # thumb closes on the nose
        pose = HandPose(pose.curl, spread=1.0 - 0.55 * press)
    joints = hand_joints(pose, cls.hand, ang, scale, at, anchor)
    return HandFrame(joints, pose, _contacts(cls, joints, direction_vec, strength, geom, params), strength, scale)


def _contacts(cls, joints, direction_vec, strength, geom, params) -> list:
    if strength <= 0:
        return []
    a = geom.a
    if cls.category == "pinching":
        tips = joints[[HAND_FINGERS["thumb"][-1], HAND_FINGERS["index"][-1]]]
        centre = tips.mean(0)
        return [Contact(tip, (centre - tip) / (np.linalg.norm(centre - tip) + 1e-6) * 0.1 * a * strength,
                        0.16 * a, shade=0.15 * strength) for tip in tips]
    fingers = ("index", "middle", "ring")[:max(1, min(cls.fingers, 3))]
    tips = joints[[HAND_FINGERS[f][-1] for f in fingers]]
    if cls.category == "poking":
        return [Contact(tip, direction_vec * 0.14 * a * strength * params.amplitude, 0.2 * a, shade=0.4 * strength)
                for tip in tips]
    # stroking: the skin is dragged along with the fingertips
    drag = np.array([params.direction, 0.0]) if cls.region != "ear" else np.array([0.0, params.direction])
    return [Contact(tips.mean(0), drag * 0.07 * a * strength, 0.3 * a, shade=0.1 * strength)]
