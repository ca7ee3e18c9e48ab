"""Articulated hand fitting: the motion model's hands projected onto a hand that can exist.

Measured (docs/motion.md, "Hand fitting"): the hand VQ-VAE codes each finger as its own part of absolute positions,
so its round trip already crumples fingers — a finger bends back on itself, the thumb points out of the wrist — and
every motion the model generates inherits it. An off-the-shelf hand detector then finds no hand in a video drawn from
such a pose, however well the video model draws what the pose says. The face party has the same kind of cleanup
(``representation.refine_face``: head motion + deformation); this is the hand's.

Each decoded hand, frame by frame, is replaced by the articulated hand of :mod:`interanimate.data.synth.hand` (the
hand family SynthHF draws, which the bundled motion model was trained on) that best fits its 21 points in the least
squares sense: rotation, size, position, a curl in [0, 1] per finger and the thumb's spread — 10 numbers. Both
chiralities of the template are tried (a left hand seen from the back is a right hand seen from the palm) and the
closer one kept. Each frame starts from the previous frame's fit and is pulled gently towards it
(``TEMPORAL_WEIGHT``), so fingers do not flicker. A hand with too few visible points is left as it is; visibility is
never changed. Works in any frame related to pixels by a similarity (the fit is equivariant to one).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from interanimate.keypoints.layout import HAND_WRIST, NUM_HAND
from interanimate.motion.representation import HAND, VISIBILITY_THRESHOLD, recompute_velocity

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
MIN_VISIBLE = 10  # fewer visible points than this (or no visible wrist) and a hand is left unfitted
TEMPORAL_WEIGHT = 0.05  # pull of each parameter towards the previous frame's fit (relative to a point residual)
SPREAD_RANGE = (0.2, 1.6)  # the thumb's opening, × its template angle
FIT_TOLERANCE = 1e-6
_PALM_SPAN = 0.53  # wrist to middle-finger base in the template, in hand lengths


def _joints(params: np.ndarray, side: str) -> np.ndarray:
    """The template hand (21, 2) for ``params``: angle, log scale, x, y, five curls, spread."""
    from interanimate.data.synth.hand import place_joints

    angle, log_scale, x, y = params[:4]
    local, _ = _template(side, *_articulation(params))
    return place_joints(local, float(angle), float(np.exp(log_scale)), np.array([x, y]), "palm")


def _articulation_gradient(params: np.ndarray, side: str) -> np.ndarray:
    """d joints / d ``params[4:10]`` (21, 2, 6): the template's derivative turned and scaled like the hand (the palm
    point it is placed by does not move with the articulation)."""
    angle, scale = params[0], np.exp(params[1])
    _, grad = _template(side, *_articulation(params))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.einsum("ij,njk->nik", rot, grad) * scale  # (21, 2, 6)


def _articulation(params: np.ndarray) -> tuple[float, ...]:
    """The five curls (clipped to [0, 1]) and the spread: ``_template``'s cache key."""
    return (*(float(v) for v in np.clip(params[4:9], 0.0, 1.0)), float(params[9]))


@lru_cache(maxsize=256)
def _template(side: str, thumb: float, index: float, middle: float, ring: float, pinky: float,
              spread: float) -> tuple[np.ndarray, np.ndarray]:
    """The articulated hand before placement and its derivative, cached: the residual and the Jacobian at one point
    of the fit, and the final check, share them."""
    from interanimate.data.synth.hand import HandPose, articulated_template

    local, grad = articulated_template(HandPose(dict(zip(FINGERS, (thumb, index, middle, ring, pinky))), spread),
                                       side)
    local.flags.writeable = grad.flags.writeable = False  # shared by the cache
    return local, grad


def _initial(points: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """A starting guess from the wrist, the finger bases and the palm's centre (open hand)."""
    bases = [j for j in (5, 9, 13, 17) if ok[j]]
    wrist = points[HAND_WRIST]
    towards = points[bases].mean(0) - wrist if bases else points[ok].mean(0) - wrist  # (2,)
    length = max(float(np.linalg.norm(towards)) / _PALM_SPAN, 1e-3)
    angle = float(np.arctan2(towards[0], -towards[1]))  # 0 = fingers up, positive = towards image right
    palm = points[[j for j in (HAND_WRIST, 5, 9, 13, 17) if ok[j]]].mean(0)
    return np.array([angle, np.log(length), palm[0], palm[1], 0.2, 0.2, 0.2, 0.2, 0.2, 1.0])


def _fit_one(points: np.ndarray, ok: np.ndarray, side: str, start: np.ndarray,
             previous: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Least-squares fit of one hand; returns (params, mean squared point error in hand lengths²)."""
    from scipy.optimize import least_squares

    lower = np.array([-np.inf, -np.inf, -np.inf, -np.inf, 0, 0, 0, 0, 0, SPREAD_RANGE[0]])
    upper = np.array([np.inf, np.inf, np.inf, np.inf, 1, 1, 1, 1, 1, SPREAD_RANGE[1]])
    start = np.clip(start, lower + 1e-6, upper - 1e-6)

    def residual(p: np.ndarray) -> np.ndarray:
        scale = np.exp(p[1])
        r = ((_joints(p, side) - points)[ok] / scale).ravel()  # (2·N,) in hand lengths
        if previous is None:
            return r
        prior = p - previous
        prior[2:4] /= scale  # positions in hand lengths
        return np.concatenate([r, TEMPORAL_WEIGHT * prior])

    def jacobian(p: np.ndarray) -> np.ndarray:
        """d residual / d params in closed form: the placement's 4 (the hand turns, grows and moves about its palm
        point, which is the (x, y) parameter) and the articulation's 6 (the template's derivative, placed)."""
        scale = np.exp(p[1])
        world, world_grad = _joints(p, side)[ok], _articulation_gradient(p, side)[ok]  # (N, 2), (N, 2, 6)
        rel = (world - p[2:4]) / scale  # (N, 2) from the palm point, hand lengths
        off = (world - points[ok]) / scale  # (N, 2) the point residuals
        n = len(world)
        jac = np.zeros((2 * n + (0 if previous is None else 10), 10))
        jac[0:2 * n:2, 0], jac[1:2 * n:2, 0] = -rel[:, 1], rel[:, 0]  # rotation: (x, y) -> (-y, x)
        jac[:2 * n, 1] = (rel - off).ravel()  # log scale: the points grow from the palm, the residual's 1/s shrinks
        jac[0:2 * n:2, 2] = jac[1:2 * n:2, 3] = 1.0 / scale  # position
        jac[:2 * n, 4:] = world_grad.reshape(2 * n, 6) / scale  # (2·N, 6): x, y of each point, as the residual
        if previous is not None:
            rows = np.arange(2 * n, 2 * n + 10)
            jac[rows, np.arange(10)] = TEMPORAL_WEIGHT
            jac[2 * n + 2, 2] = jac[2 * n + 3, 3] = TEMPORAL_WEIGHT / scale
            jac[2 * n + 2:2 * n + 4, 1] = -TEMPORAL_WEIGHT * (p[2:4] - previous[2:4]) / scale
        return jac

    # tolerances 1e-6 (scipy's default 1e-8): fitted points within 0.16 px of the default's on a 512 px canvas
    # (8 generated clips) in 0.6 of the time; 1e-4 already lands in other minima (tens of pixels away)
    result = least_squares(residual, start, jac=jacobian, bounds=(lower, upper), x_scale="jac", max_nfev=200,
                           ftol=FIT_TOLERANCE, xtol=FIT_TOLERANCE, gtol=FIT_TOLERANCE)
    p = result.x
    error = float(np.mean(((_joints(p, side) - points)[ok] / np.exp(p[1])) ** 2))
    return p, error


def fit_hand_sequence(points: np.ndarray, visible: np.ndarray, side: str) -> np.ndarray:
    """One hand over a clip: ``points`` (F, 21, 2), ``visible`` (F, 21) bool, ``side`` "left"/"right" (the subject's)
    -> (F, 21, 2), each frame with enough visible points replaced by its fitted articulated hand. The chirality is
    chosen on the first frame of each stretch in view and kept for the stretch (a hand does not turn inside out)."""
    if points.shape[1:] != (NUM_HAND, 2) or visible.shape != points.shape[:2]:
        raise ValueError(f"expected points (F, {NUM_HAND}, 2) and visibility (F, {NUM_HAND}), got {points.shape} "
                         f"and {visible.shape}")
    out = np.array(points, dtype=np.float64, copy=True)
    previous, chirality = None, side
    for t in range(len(points)):
        ok = visible[t] & np.isfinite(points[t]).all(axis=1)
        if ok.sum() < MIN_VISIBLE or not ok[HAND_WRIST]:
            previous = None  # the hand left the view: the next stretch starts afresh
            continue
        target = points[t].astype(np.float64)
        if previous is None:
            fits = [(*_fit_one(target, ok, c, _initial(target, ok), None), c)
                    for c in (side, "right" if side == "left" else "left")]
            previous, _, chirality = min(fits, key=lambda fit: fit[1])
        else:
            previous, _ = _fit_one(target, ok, chirality, previous, previous)
        out[t] = _joints(previous, chirality)
    return out.astype(points.dtype)


def fit_hands(keypoints: np.ndarray, visibility: np.ndarray, sides: dict[str, slice]) -> np.ndarray:
    """Every hand of a clip fitted: ``keypoints`` (F, K, 2), ``visibility`` (F, K) in [0, 1], ``sides`` the subject's
    side -> the slice (or index list) of its 21 points in K. Returns a new (F, K, 2); other points untouched."""
    out = np.array(keypoints, copy=True)
    for side, part in sides.items():
        out[:, part] = fit_hand_sequence(keypoints[:, part], visibility[:, part] >= VISIBILITY_THRESHOLD, side)
    return out


def refine_hands(hand: np.ndarray) -> np.ndarray:
    """Decoded hand features (..., F, 42, 5) (the motion representation's: subject's left hand then right, x, y, vx,
    vy, visibility) -> the same with each visible hand fitted (:func:`fit_hand_sequence`) and velocities recomputed."""
    out = np.array(hand, dtype=np.float32, copy=True)
    flat = out.reshape(-1, *out.shape[-3:])  # (N, F, 42, 5)
    sides = {"left": slice(0, NUM_HAND), "right": slice(NUM_HAND, 2 * NUM_HAND)}
    for clip in flat:
        clip[..., :2] = fit_hands(clip[..., :2], clip[..., 4], sides)
    return recompute_velocity(flat, HAND).reshape(out.shape)
