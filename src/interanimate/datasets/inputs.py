"""What a clip's model call needs, made for a plan batch: the reference at the output size, the driving motion
(retargeted to the reference's face) and the identity vector — with each step's seconds.

:class:`ClipInputs` holds the models one worker loads once for that (the motion model, the portrait pose backend, the
identity embedder). The motion model's motions of a batch come from one call, each with its own seed, as it would
be drawn alone; a row whose inputs fail is returned as its exception (the engine records it, the batch goes on).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from interanimate.datasets.context import Context
from interanimate.datasets.plan import PlanRow


class _KnownPose:
    """A pose 'backend' that returns the keypoints the renderer drew (SynthHF identities: no estimation needed)."""

    def __init__(self, keypoints: np.ndarray, scores: np.ndarray):
        self.keypoints, self.scores = keypoints, scores

    def __call__(self, image):
        return self.keypoints.copy(), self.scores.copy()


class Clock:
    """Adds the seconds of named steps to a dict: ``with clock("motion"): ...`` or ``start``/``stop``."""

    def __init__(self, stages: dict):
        self.stages, self._started = stages, {}

    def start(self, name: str) -> None:
        self._started[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - self._started.pop(name)

    @contextmanager
    def __call__(self, name: str):
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)


class ClipInputs:
    """A worker's input models (motion model, portrait pose backend, identity embedder) and :meth:`prepare`."""

    def __init__(self, context: Context, size: tuple[int, int]):
        self.ctx, self.size = context, size
        recipe = context.recipe
        self.motion_model = None
        if recipe.motion.source == "motion-model":
            from interanimate.motion.model import MotionModel

            self.motion_model = MotionModel.load(recipe.motion.model)
        self.portrait_backend = None
        if recipe.identities.folder is not None:
            from interanimate.annotate.backends import backend_for

            self.portrait_backend = backend_for(recipe.identities.pose_backend, static=True)
        self.embedder = None
        if recipe.generation.identity in ("dlib", "arcface"):
            from interanimate.annotate.identity import get_embedder

            self.embedder = get_embedder(recipe.generation.identity, recipe.generation.arcface_model)

    def prepare(self, rows: list[PlanRow]) -> tuple[list, list[dict]]:
        """Everything each row's model call needs — the reference at the output size, the (retargeted) motion and
        the identity vector (or None) — or the exception its inputs failed with; and each row's stage seconds. The
        motion model's motions of the batch come from one call (each with its own seed; its time split evenly)."""
        from interanimate.pipelines.driving import retarget

        recipe = self.ctx.recipe
        stages: list[dict] = [{} for _ in rows]
        inputs: list = [None] * len(rows)
        for i, row in enumerate(rows):
            try:
                with Clock(stages[i])("reference"):
                    inputs[i] = self._reference(row)
            except Exception as err:  # noqa: BLE001 - recorded by the engine
                inputs[i] = err
        motions = self._motions(rows, inputs, stages)
        prepared: list = []
        for i, row in enumerate(rows):
            if isinstance(inputs[i], Exception) or isinstance(motions[i], Exception):
                prepared.append(inputs[i] if isinstance(inputs[i], Exception) else motions[i])
                continue
            reference, portrait, backend, render = inputs[i]
            clock, motion = Clock(stages[i]), motions[i]
            try:
                with clock("retarget"):
                    if recipe.motion.retarget and not motion.retargeted:
                        motion = retarget(motion, portrait, self.size, backend, recipe.identities.pose_backend,
                                          f"identity {row.identity}")
                with clock("identity"):
                    identity = self._identity(reference, render)
            except Exception as err:  # noqa: BLE001 - recorded by the engine
                prepared.append(err)
                continue
            prepared.append({"reference": reference, "motion": motion, "identity": identity})
        return prepared, stages

    def _motions(self, rows: list[PlanRow], inputs: list, stages: list[dict]) -> list:
        """Each row's driving motion (or the exception making it raised); the motion model's in one batch."""
        from interanimate.pipelines import driving

        motions: list = [None] * len(rows)
        generated = [i for i, row in enumerate(rows)
                     if row.motion_source == "motion-model" and not isinstance(inputs[i], Exception)]
        if generated:
            start = time.perf_counter()
            requests = [(rows[i].motion_seed, None if rows[i].prompt else rows[i].class_code, rows[i].prompt or None)
                        for i in generated]
            try:
                made = driving.from_motion_model_batch(self.ctx.recipe.frames, requests, self.motion_model)
            except Exception:  # noqa: BLE001 - e.g. a prompt that names no interaction: find the row(s) it was
                made = [_attempt(driving.from_motion_model_batch, self.ctx.recipe.frames, [request],
                                 self.motion_model) for request in requests]
            share = (time.perf_counter() - start) / len(generated)
            for i, motion in zip(generated, made):
                motions[i] = motion
                stages[i]["motion"] = stages[i].get("motion", 0.0) + share
        for i, row in enumerate(rows):
            if motions[i] is not None or isinstance(inputs[i], Exception):
                continue
            try:
                with Clock(stages[i])("motion"):
                    motions[i] = self._motion(row, inputs[i][3])
            except Exception as err:  # noqa: BLE001 - recorded by the engine
                motions[i] = err
        return motions

    def _reference(self, row: PlanRow) -> tuple[np.ndarray, np.ndarray, object, dict | None]:
        """The reference at the output size (uint8 (H, W, 3)), the image its face is found in (the portrait at full
        resolution, whose keypoints ``retarget`` maps to the output size), a pose backend for that image, and the
        SynthHF render (or None)."""
        from interanimate.data.synth.heldout import render_heldout_clip

        recipe = self.ctx.recipe
        if row.identity_kind == "synthhf":
            clip = render_heldout_clip(row.class_code, row.identity_index, recipe.frames, self.size, recipe.seed)
            reference = clip["frames"][0]
            return reference, reference, _KnownPose(clip["keypoints"][0], clip["scores"][0]), clip
        from interanimate.pipelines.conditioning import cover_resize
        from interanimate.utils.media import read_image

        portrait = read_image(Path(recipe.identities.folder) / row.portrait)
        if recipe.identities.framing == "face":  # as `animate --framing face`
            from interanimate.pipelines.driving import frame_on_face

            portrait, _ = frame_on_face(portrait, self.portrait_backend, recipe.identities.pose_backend)
        return cover_resize(portrait, self.size), portrait, self.portrait_backend, None

    def _motion(self, row: PlanRow, render: dict | None):
        """A row's motion from SynthHF or a pose file (the motion model's come from ``_motions`` in one batch)."""
        from interanimate.pipelines import driving

        recipe = self.ctx.recipe
        if row.motion_source == "synthhf":
            if render is not None:  # the identity's own trajectory: already on its face
                return driving.DrivingMotion(render["keypoints"], render["scores"], self.size, "synthhf",
                                             class_code=row.class_code, seed=recipe.seed, retargeted=True)
            return driving.from_synthhf(row.class_code, row.clip_of_class, recipe.frames, recipe.seed, self.size)
        path = Path(recipe.motion.poses_dir) / row.pose_file
        return driving.from_pose_file(path, self.size, option="motion.poses_dir").trimmed(recipe.frames)

    def _identity(self, reference: np.ndarray, render: dict | None) -> np.ndarray | None:
        source = self.ctx.recipe.generation.identity
        if source == "none":
            return None
        if source == "synthhf":
            return np.asarray(render["identity"], np.float32)
        vector = self.embedder(reference)
        if vector is None:  # no face for the embedder: no identity (zeros), a condition the model is trained on
            return None
        return np.asarray(vector, np.float32).reshape(-1)

def _attempt(make, *args):
    """``make(*args)``'s only item, or the exception it raised."""
    try:
        return make(*args)[0]
    except Exception as err:  # noqa: BLE001 - recorded by the engine
        return err
