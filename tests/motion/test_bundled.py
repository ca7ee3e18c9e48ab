"""The bundled motion model: present, small, loads strictly, generates the requested class's hand."""

import pytest
import torch

from interanimate.motion.model import BUNDLED_DIR, CONFIG_NAME, WEIGHTS_NAME, MotionModel
from interanimate.motion.sampling import SamplingConfig


def test_bundled_model_is_small_and_loads_strictly():
    size = (BUNDLED_DIR / WEIGHTS_NAME).stat().st_size
    assert size <= 20 * 1024 * 1024, f"bundled weights are {size / 2**20:.1f} MiB"
    assert (BUNDLED_DIR / CONFIG_NAME).is_file()
    model = MotionModel.load()
    assert model.evaluator is not None and next(model.parameters()).dtype == torch.float32


@pytest.mark.slow
def test_bundled_model_generates_frames():
    model = MotionModel.load()
    hand, face = model.generate([0, 1], frames=8, sampling=SamplingConfig(steps=2), seed=0)
    assert hand.shape == (2, 8, 42, 5) and face.shape == (2, 8, 68, 4)
    assert torch.isfinite(hand).all() and torch.isfinite(face).all()
