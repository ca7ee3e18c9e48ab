"""The synthetic face: 68 iBUG landmarks from a look, the face layer (colour + alpha + face mask) drawn from them,
and the contact deformation (a local warp) applied to both.

Face coordinates (u, v): x = cx + u·a, y = cy + v·b with a, b the face's half-width and half-height; v grows down.
Landmark 0 is on the subject's right (image left), as in iBUG-68.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.data.synth.identity import IdentityLook
from interanimate.keypoints.layout import (FACE_JAW, FACE_LEFT_BROW, FACE_LEFT_EYE, FACE_MOUTH_INNER,
                                           FACE_MOUTH_OUTER, FACE_NOSE_BASE, FACE_NOSE_BRIDGE, FACE_RIGHT_BROW,
                                           FACE_RIGHT_EYE, NUM_FACE)

DEFORM_CUTOFF = 3.0  # a contact's warp is exactly zero beyond this many sigmas


@dataclass(frozen=True)
class FaceGeometry:
    cx: float
    cy: float
    a: float  # half-width in pixels
    b: float  # half-height in pixels

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        return np.stack([self.cx + uv[..., 0] * self.a, self.cy + uv[..., 1] * self.b], -1)


def face_landmarks_uv(look: IdentityLook) -> np.ndarray:
    """(68, 2) landmark positions in face coordinates."""
    uv = np.zeros((NUM_FACE, 2), np.float64)
    phi = np.pi + 0.25 - (np.pi + 0.5) * np.arange(17) / 16  # image-left temple, down round the chin, image right
    jaw_u = np.cos(phi) * (1 - look.chin_taper * np.clip(np.sin(phi), 0, None) ** 2)
    uv[FACE_JAW] = np.stack([jaw_u, np.sin(phi)], -1)  # v = sin(phi): -0.25 at the temples, 1 at the chin
    sep, ew, eh = look.eye_sep, look.eye_width, look.eye_height
    eye_v = -0.1
    for sign, part in ((-1, FACE_RIGHT_EYE), (1, FACE_LEFT_EYE)):
        c = sign * sep
        # left to right along the upper lid, back along the lower: 36 outer .. 39 inner (image-left eye),
        # 42 inner .. 45 outer (image-right eye), as iBUG-68 orders them
        pts = [(c - ew, 0), (c - ew / 3, -eh), (c + ew / 3, -eh), (c + ew, 0), (c + ew / 3, eh), (c - ew / 3, eh)]
        uv[part] = np.asarray(pts) + (0, eye_v)
    t = np.linspace(0, 1, 5)
    brow_v = eye_v - look.brow_height
    right_brow_u = -sep - ew * 1.15 + t * ew * 2.1  # outer -> inner
    uv[FACE_RIGHT_BROW] = np.stack([right_brow_u, brow_v - look.brow_arch * np.sin(np.pi * (0.3 + 0.7 * t))], -1)
    uv[FACE_LEFT_BROW] = uv[FACE_RIGHT_BROW][::-1] * (-1, 1)  # inner -> outer, mirrored
    tip_v = eye_v + look.nose_length + 0.08
    uv[FACE_NOSE_BRIDGE] = np.stack([np.zeros(4), np.linspace(eye_v - 0.02, tip_v, 4)], -1)
    nw = look.nose_width
    uv[FACE_NOSE_BASE] = np.stack([np.linspace(-nw, nw, 5), tip_v + np.array([0.05, 0.07, 0.08, 0.07, 0.05])], -1)
    mw, mv, lt = look.mouth_width, look.mouth_height, look.lip_thickness
    outer = [(-mw, mv), (-mw * 0.6, mv - lt * 0.8), (-mw * 0.22, mv - lt), (0, mv - lt * 0.8), (mw * 0.22, mv - lt),
             (mw * 0.6, mv - lt * 0.8), (mw, mv), (mw * 0.6, mv + lt * 0.9), (mw * 0.25, mv + lt * 1.15),
             (0, mv + lt * 1.2), (-mw * 0.25, mv + lt * 1.15), (-mw * 0.6, mv + lt * 0.9)]
    uv[FACE_MOUTH_OUTER] = outer
    inner = [(-mw * 0.85, mv), (-mw * 0.3, mv - lt * 0.15), (0, mv - lt * 0.1), (mw * 0.3, mv - lt * 0.15),
             (mw * 0.85, mv), (mw * 0.3, mv + lt * 0.15), (0, mv + lt * 0.1), (-mw * 0.3, mv + lt * 0.15)]
    uv[FACE_MOUTH_INNER] = inner
    return uv


def ear_centers_uv(look: IdentityLook) -> np.ndarray:
    """Ear centres (subject's right = image left first), (2, 2) in face coordinates."""
    return np.array([(-1.02, -0.02), (1.02, -0.02)])


def _poly(points: np.ndarray, scale: float) -> np.ndarray:
    return np.round(points * scale).astype(np.int32).reshape(-1, 1, 2)


def draw_face_layer(look: IdentityLook, geom: FaceGeometry, height: int, width: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw the head (hair, ears, skin, features) at ``ss``× supersampling.

    Returns ``rgba`` float32 (H·ss, W·ss, 4) with alpha in [0, 1], and ``face`` uint8 (H·ss, W·ss): the face region
    (skin polygon and ears, not hair) used for the exact face mask.
    """
    hs, ws = height * ss, width * ss
    color = np.zeros((hs, ws, 3), np.uint8)
    alpha = np.zeros((hs, ws), np.uint8)
    face_region = np.zeros((hs, ws), np.uint8)
    aa = cv2.LINE_AA
    skin = tuple(int(c) for c in look.skin)
    shade = tuple(int(c * 0.8) for c in look.skin)
    hair = tuple(int(c) for c in look.hair)
    uv = face_landmarks_uv(look)
    px = geom.to_pixels(uv)

    top = np.linspace(0.0, -np.pi, 25)
    head_outline = np.concatenate([geom.to_pixels(uv[FACE_JAW]),
                                   geom.to_pixels(np.stack([np.cos(top) * 0.98, np.sin(top) * 1.08 - 0.2], -1))[1:-1]])
    if look.hair_style == 2:  # long hair behind the head
        back = geom.to_pixels(np.array([(-1.25, -0.4), (-1.3, 0.9), (1.3, 0.9), (1.25, -0.4)]))
        cv2.fillPoly(color, [_poly(back, ss)], hair, aa)
        cv2.fillPoly(alpha, [_poly(back, ss)], 255, aa)
        cv2.ellipse(color, _c(geom.to_pixels(np.array([0, -0.45])), ss), _ax(geom.a * 1.28, geom.b * 0.95, ss),
                    0, 0, 360, hair, -1, aa)
        cv2.ellipse(alpha, _c(geom.to_pixels(np.array([0, -0.45])), ss), _ax(geom.a * 1.28, geom.b * 0.95, ss),
                    0, 0, 360, 255, -1, aa)
    ear_axes = _ax(geom.a * look.ear_size, geom.b * look.ear_size * 1.5, ss)
    for center in geom.to_pixels(ear_centers_uv(look)):
        for canvas, value in ((color, shade), (alpha, 255), (face_region, 1)):
            cv2.ellipse(canvas, _c(center, ss), ear_axes, 0, 0, 360, value, -1, aa)
        inner_axes = (max(1, ear_axes[0] // 2), max(1, ear_axes[1] // 2))
        cv2.ellipse(color, _c(center, ss), inner_axes, 0, 0, 360, tuple(int(c * 0.7) for c in look.skin), -1, aa)
    cv2.fillPoly(color, [_poly(head_outline, ss)], shade, aa)
    cv2.fillPoly(alpha, [_poly(head_outline, ss)], 255, aa)
    cv2.fillPoly(face_region, [_poly(head_outline, ss)], 1)
    inner = geom.cx + (head_outline[:, 0] - geom.cx) * 0.9, geom.cy - 0.05 * geom.b + (head_outline[:, 1] - geom.cy) * 0.92
    cv2.fillPoly(color, [_poly(np.stack(inner, -1), ss)], skin, aa)
    color = cv2.GaussianBlur(color, (0, 0), sigmaX=max(1.0, 0.06 * geom.a * ss))  # soft shading from border to skin

    _draw_features(color, look, geom, px, ss)
    _draw_hair_top(color, alpha, look, geom, ss)
    rgba = np.concatenate([color.astype(np.float32), alpha[..., None].astype(np.float32) / 255.0], -1)
    return rgba, face_region


def _c(point, ss) -> tuple[int, int]:
    return int(round(point[0] * ss)), int(round(point[1] * ss))


def _ax(ax, ay, ss) -> tuple[int, int]:
    return max(1, int(round(ax * ss))), max(1, int(round(ay * ss)))


def _draw_features(color, look: IdentityLook, geom: FaceGeometry, px: np.ndarray, ss: int) -> None:
    aa = cv2.LINE_AA
    thick = max(1, int(round(0.025 * geom.a * ss)))
    dark = tuple(int(c * 0.45) for c in look.skin)
    for part in (FACE_RIGHT_EYE, FACE_LEFT_EYE):
        eye = px[part]
        cv2.fillPoly(color, [_poly(eye, ss)], (245, 245, 240), aa)
        center = eye.mean(0)
        r = (eye[:, 1].max() - eye[:, 1].min()) * 0.55
        cv2.circle(color, _c(center, ss), max(1, int(r * ss)), tuple(int(c) for c in look.iris), -1, aa)
        cv2.circle(color, _c(center, ss), max(1, int(r * 0.45 * ss)), (15, 15, 15), -1, aa)
        cv2.polylines(color, [_poly(eye, ss)], True, dark, thick, aa)
    brow_thick = max(1, int(round(look.brow_thickness * geom.b * ss)))
    brow_color = tuple(int(c * 0.9) for c in look.hair)
    for part in (FACE_RIGHT_BROW, FACE_LEFT_BROW):
        cv2.polylines(color, [_poly(px[part], ss)], False, brow_color, brow_thick, aa)
    nose_shadow = tuple(int(c * 0.7) for c in look.skin)
    bridge, base = px[FACE_NOSE_BRIDGE], px[FACE_NOSE_BASE]
    cv2.polylines(color, [_poly(np.concatenate([bridge[1:], base[:1]]), ss)], False, nose_shadow, thick, aa)
    cv2.polylines(color, [_poly(base, ss)], False, nose_shadow, thick, aa)
    for nostril in (base[1], base[3]):
        cv2.circle(color, _c(nostril, ss), max(1, int(0.03 * geom.a * ss)), tuple(int(c * 0.4) for c in look.skin), -1, aa)
    lips = tuple(int(c) for c in look.lips)
    cv2.fillPoly(color, [_poly(px[FACE_MOUTH_OUTER], ss)], lips, aa)
    cv2.polylines(color, [_poly(px[FACE_MOUTH_INNER], ss)], True, tuple(int(c * 0.5) for c in look.lips), thick, aa)
    cheek = tuple(int(c) for c in np.clip(np.asarray(look.skin) * np.array([1.0, 0.88, 0.88]), 0, 255))
    for u in (-0.55, 0.55):
        cv2.circle(color, _c(geom.to_pixels(np.array([u, 0.25])), ss), max(1, int(0.13 * geom.a * ss)), cheek, -1, aa)


def _draw_hair_top(color, alpha, look: IdentityLook, geom: FaceGeometry, ss: int) -> None:
    if look.hair_style == 3:
        return
    aa = cv2.LINE_AA
    hair = tuple(int(c) for c in look.hair)
    vol = look.hair_volume
    t = np.linspace(0.0, -np.pi, 25)
    crown = np.stack([np.cos(t) * (1.02 + vol), np.sin(t) * (1.12 + vol) - 0.2], -1)
    fringe_v = -0.62 if look.hair_style != 1 else -0.58
    fringe_u = np.linspace(-1.02, 1.02, 9)  # left to right: closes the crown polygon without crossing
    wave = 0.05 * np.sin(np.linspace(0, 3 * np.pi, 9)) + (0.06 * fringe_u if look.hair_style == 1 else 0)
    fringe = np.stack([fringe_u, fringe_v + wave], -1)
    outline = geom.to_pixels(np.concatenate([crown, fringe]))
    cv2.fillPoly(color, [_poly(outline, ss)], hair, aa)
    cv2.fillPoly(alpha, [_poly(outline, ss)], 255, aa)
    highlight = tuple(int(min(255, c * 1.35 + 20)) for c in look.hair)
    arc = geom.to_pixels(np.stack([np.cos(t[6:12]) * 0.75, np.sin(t[6:12]) * 0.95 - 0.2], -1))
    cv2.polylines(color, [_poly(arc, ss)], False, highlight, max(1, int(0.04 * geom.a * ss)), aa)


@dataclass(frozen=True)
class Contact:
    """One contact: at ``point`` (pixels), skin displaced by ``displacement`` (pixels) with Gaussian width ``sigma``."""

    point: np.ndarray  # (2,)
    displacement: np.ndarray  # (2,)
    sigma: float
    shade: float = 0.0  # darkening at the centre (a dent's shadow), 0..1


def displacement_field(points: np.ndarray, contacts: list[Contact]) -> np.ndarray:
    """Forward displacement at ``points`` (..., 2): Σ displacement · gauss(|p − c| / σ), exactly 0 past the cutoff."""
    disp = np.zeros_like(points, dtype=np.float64)
    for c in contacts:
        d2 = ((points - c.point) ** 2).sum(-1) / (c.sigma ** 2)  # (...,)
        weight = np.where(d2 < DEFORM_CUTOFF ** 2, np.exp(-0.5 * d2) - np.exp(-0.5 * DEFORM_CUTOFF ** 2), 0.0)
        disp += weight[..., None] * c.displacement
    return disp


def shade_field(points: np.ndarray, contacts: list[Contact]) -> np.ndarray:
    """Multiplicative shading (...,) in (0, 1]: darker at dents, exactly 1 past the cutoff."""
    shade = np.ones(points.shape[:-1])
    for c in contacts:
        if c.shade <= 0:
            continue
        d2 = ((points - c.point) ** 2).sum(-1) / ((0.6 * c.sigma) ** 2)
        weight = np.where(d2 < DEFORM_CUTOFF ** 2, np.exp(-0.5 * d2) - np.exp(-0.5 * DEFORM_CUTOFF ** 2), 0.0)
        shade *= 1.0 - c.shade * weight
    return shade
