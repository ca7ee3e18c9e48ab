"""Held-out SynthHF clips: identities far outside any training set's range, for the demo, ``animate --synth-class``,
the dataset engine's SynthHF identities, benchmarks and tests."""

from __future__ import annotations

HELDOUT_IDENTITY_OFFSET = 100_000  # held-out identities are drawn far outside the training identities' range


def render_heldout_clip(class_code: str, index: int = 0, frames: int = 16, size: tuple[int, int] = (64, 64),
                        seed: int = 0, camera_jitter: float | None = None) -> dict:
    """A SynthHF clip of ``class_code`` for held-out identity ``index`` (an identity index no training set of
    fewer than 100 000 identities contains): uint8 ``frames`` (F, H, W, 3) at ``size``, ``keypoints`` (F, 134, 2) in
    those pixels, ``scores`` (F, 134), ``hand_mask``/``face_mask`` (F, H, W) and the renderer's ``identity`` vector
    (which only SynthHF has). ``camera_jitter``: the camera shake (fraction of the width; 0 a steady camera, as when
    a still portrait is animated; None SynthHF's default)."""
    from interanimate.data.synth import SynthConfig, render_clip, sample_identity
    from interanimate.data.synth.writer import clip_rng, identity_name, identity_rng
    from interanimate.taxonomy import BY_CODE

    ident = HELDOUT_IDENTITY_OFFSET + index
    look = sample_identity(identity_rng(seed, ident))
    cls = BY_CODE[class_code]
    config = SynthConfig() if camera_jitter is None else SynthConfig(camera_jitter=float(camera_jitter))
    clip = render_clip(look, identity_name(ident), cls, frames, tuple(size), clip_rng(seed, ident, cls.index, 0),
                       config)
    return {"frames": clip.frames, "keypoints": clip.keypoints, "scores": clip.scores, "hand_mask": clip.hand_mask,
            "face_mask": clip.face_mask, "identity": clip.identity_embedding}
