"""A plan batch's inputs (datasets.inputs): the motion model's motions in one call, each as it would be alone; a
row whose motion fails fails alone."""

from types import SimpleNamespace

import numpy as np
import pytest

from interanimate.errors import UserError
from interanimate.pipelines import driving


@pytest.mark.slow
def test_a_batch_of_motions_is_the_motions_made_one_by_one():
    from interanimate.motion.model import MotionModel

    model = MotionModel.load()
    requests = [(3, "LH-NP", None), (4, None, "the right hand pokes the nose"), (5, "LH-NP", None)]
    together = driving.from_motion_model_batch(8, requests, model)
    for (seed, code, text), motion in zip(requests, together):
        alone = driving.from_motion_model(8, seed, code, text, model=model)
        assert motion.seed == seed and motion.source == ("text" if text else "class")
        assert motion.class_code == alone.class_code and motion.text == alone.text
        np.testing.assert_allclose(motion.keypoints, alone.keypoints, atol=1e-3)
        np.testing.assert_array_equal(motion.scores > 0.3, alone.scores > 0.3)
    assert not np.allclose(together[0].keypoints, together[2].keypoints)  # same class, other seed


def test_a_motion_that_fails_fails_only_its_row(monkeypatch):
    from interanimate.datasets.inputs import ClipInputs

    def make(frames, requests, model):
        if any(text == "bad" for _, _, text in requests):
            raise UserError("the prompt names no interaction")
        return [f"motion {seed}" for seed, _, _ in requests]

    monkeypatch.setattr(driving, "from_motion_model_batch", make)
    inputs = object.__new__(ClipInputs)  # only what _motions reads
    inputs.ctx, inputs.motion_model = SimpleNamespace(recipe=SimpleNamespace(frames=8)), object()
    rows = [SimpleNamespace(motion_source="motion-model", motion_seed=seed, class_code="RH-NP", prompt=prompt)
            for seed, prompt in ((1, ""), (2, "bad"), (3, ""))]
    stages = [{}, {}, {}]
    motions = inputs._motions(rows, [(None, None, None, None)] * 3, stages)
    assert motions[0] == "motion 1" and motions[2] == "motion 3"
    assert isinstance(motions[1], UserError) and "names no interaction" in str(motions[1])
    assert all(stage["motion"] >= 0 for stage in stages)
    failed_input = inputs._motions(rows[:1], [OSError("unreadable portrait")], [{}])
    assert failed_input == [None]  # a row whose reference failed gets no motion (its own error is reported)
