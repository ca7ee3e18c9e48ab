"""Pose encoder (CHOSEN, the MimicMotion/StableAnimator PoseNet pattern).

Rendered pose frames (B·F, 3 + K, 8h, 8w) in [-1, 1] -> features (B·F, C0, h, w) added to the output of the UNet's
``conv_in``: the RGB skeleton, then K channels of dense hand guidance when the model takes them (the hand shape map of
:mod:`interanimate.keypoints.hand_map`, ``hand_map_channels``). Three stride-2 stages bring the frames to latent
resolution (1/8); a zero-initialised 1×1 projection to the UNet's first width and a learnable scale (init 2) make the
encoder add exactly nothing at step 0. :func:`widen_input` adds input channels to a trained encoder with zero weights,
so that it computes exactly what it did whatever the new channels hold.

The scale is a 1-element vector, not a 0-d tensor: FSDP2 shards only parameters of at least one dimension. Folders
and checkpoints written when it was 0-d still load (``scale_as_vector``, applied by the UNet's loading hooks).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DOWNSAMPLE_FACTOR = 8  # 3 stride-2 stages


class PoseEncoder(nn.Module):
    def __init__(self, out_channels: int, channels: tuple[int, ...] = (16, 32, 64, 128), scale_init: float = 2.0,
                 in_channels: int = 3):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"pose channels need 4 widths (stem + 3 stride-2 stages), got {channels}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_in, 4, stride=2, padding=1), nn.SiLU(),
                       nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.final_proj = nn.Conv2d(channels[-1], out_channels, 1)
        nn.init.zeros_(self.final_proj.weight)
        nn.init.zeros_(self.final_proj.bias)
        self.scale = nn.Parameter(torch.full((1,), float(scale_init)))  # (1,)
        self._register_load_state_dict_pre_hook(_scale_hook)

    @property
    def in_channels(self) -> int:
        return self.convs[0].in_channels

    def forward(self, pose: Tensor) -> Tensor:
        """pose (N, in_channels, 8h, 8w) in [-1, 1] -> (N, out_channels, h, w)."""
        return self.final_proj(self.convs(pose)) * self.scale


STEM_WEIGHT = "convs.0.weight"  # (C0, in_channels, 3, 3): the only parameter that sees the input channels


def widen_input(state_dict: dict, prefix: str, in_channels: int) -> None:
    """In place: the stem weight under ``prefix`` given zero weights for the input channels it lacks (appended), so
    that an encoder trained on fewer channels computes exactly the same features whatever the new ones hold."""
    key = prefix + STEM_WEIGHT
    weight = state_dict[key]  # (C0, C_old, 3, 3)
    missing = in_channels - weight.shape[1]
    if missing < 0:
        raise ValueError(f"{key} takes {weight.shape[1]} input channels, more than {in_channels}")
    if missing:
        state_dict[key] = torch.cat([weight, weight.new_zeros(weight.shape[0], missing, *weight.shape[2:])], dim=1)


def scale_as_vector(state_dict: dict, key: str = "scale") -> None:
    """In place: a 0-d ``key`` (the layout before the scale became a (1,) vector) reshaped to (1,)."""
    value = state_dict.get(key)
    if value is not None and value.ndim == 0:
        state_dict[key] = value.reshape(1)


def _scale_hook(state_dict, prefix, *args) -> None:
    scale_as_vector(state_dict, prefix + "scale")
