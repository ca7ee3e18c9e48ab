"""Shared tiny inputs for the model tests."""

import pytest
import torch

B, F, H, W = 2, 2, 16, 16  # latent size; pose frames are 8x


def tiny_inputs(seed: int = 0, cross_dim: int = 32, id_dim: int = 16, batch: int = B) -> tuple[tuple, dict]:
    g = torch.Generator().manual_seed(seed)
    args = (torch.randn(batch, F, 8, H, W, generator=g), torch.tensor(0.7),
            torch.randn(batch, 1, cross_dim, generator=g), torch.tensor([[6.0, 127.0, 0.02]] * batch))
    hand = torch.zeros(batch, F, 1, 64, 64)
    hand[..., 8:40, 4:30] = 1.0  # a non-empty box at 4x the latent resolution
    face = (torch.rand(batch, F, 1, 64, 64, generator=g) > 0.7).float()
    extra = dict(pose_frames=torch.rand(batch, F, 3, 8 * H, 8 * W, generator=g) * 2 - 1, hand_mask=hand,
                 face_mask=face, id_embedding=torch.randn(batch, id_dim, generator=g))
    return args, extra


@pytest.fixture
def make_inputs():
    return tiny_inputs
