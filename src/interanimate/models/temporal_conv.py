"""SVD's temporal convolutions, run on the CPU as the convolution they equal.

diffusers' ``TemporalResnetBlock`` convolves over frames only: ``nn.Conv3d`` with a (k, 1, 1) kernel on (B, C, F, h, w).
PyTorch runs a 3-D convolution on the CPU through its slow reference kernel, while the same arithmetic as a 2-D
convolution over (F, h·w) with a (k, 1) kernel takes oneDNN's: measured here (one thread) 1.5–2.9× faster on the
bundled model's shapes, outputs equal up to float rounding (tests/models/test_temporal_conv.py). The module keeps its
class's parameters and state-dict keys; on other devices it is the plain ``nn.Conv3d``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class FrameAxisConv3d(nn.Conv3d):
    """An ``nn.Conv3d`` whose kernel spans frames only; on the CPU computed as a 2-D convolution over (F, h·w)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or x.ndim != 5 or not spans_frames_only(self):
            return super().forward(x)
        h, w = x.shape[-2:]
        y = F.conv2d(x.flatten(3), self.weight.squeeze(-1), self.bias, self.stride[:2], self.padding[:2],
                     self.dilation[:2], self.groups)  # (B, C, F, h·w) -> (B, C', F', h·w)
        return y.unflatten(3, (h, w))  # (B, C', F', h, w)


def spans_frames_only(conv: nn.Conv3d) -> bool:
    """A (k, 1, 1) kernel moving one pixel at a time with no spatial padding, zero-padded: a 2-D convolution."""
    return (tuple(conv.kernel_size[1:]) == (1, 1) and tuple(conv.stride[1:]) == (1, 1)
            and tuple(conv.dilation[1:]) == (1, 1) and not isinstance(conv.padding, str)
            and tuple(conv.padding[1:]) == (0, 0) and conv.padding_mode == "zeros")


def use_frame_axis_convs(model: nn.Module) -> int:
    """Every plain ``nn.Conv3d`` of ``model`` that convolves over frames only becomes a :class:`FrameAxisConv3d`
    (in place: same parameters, same keys); returns how many."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.Conv3d and spans_frames_only(module):
            module.__class__ = FrameAxisConv3d
            swapped += 1
    return swapped
