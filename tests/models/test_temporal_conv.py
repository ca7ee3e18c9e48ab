"""FrameAxisConv3d: SVD's (k, 1, 1) temporal convolutions computed as 2-D convolutions on the CPU, same outputs."""

import pytest
import torch
from torch import nn

from interanimate.models import build_unet
from interanimate.models.temporal_conv import FrameAxisConv3d, spans_frames_only, use_frame_axis_convs


@pytest.mark.parametrize("options", [dict(kernel_size=(3, 1, 1), padding=(1, 0, 0)),
                                     dict(kernel_size=(3, 1, 1), padding=(0, 0, 0), stride=(2, 1, 1)),
                                     dict(kernel_size=(3, 1, 1), padding=(2, 0, 0), dilation=(2, 1, 1), groups=2),
                                     dict(kernel_size=(1, 1, 1), bias=False)])
def test_the_2d_route_equals_conv3d(options):
    torch.manual_seed(0)
    plain = nn.Conv3d(4, 6, **options)
    fast = nn.Conv3d(4, 6, **options)
    fast.load_state_dict(plain.state_dict())
    assert use_frame_axis_convs(fast) == 1 and type(fast) is FrameAxisConv3d
    x = torch.randn(2, 4, 7, 5, 3)  # (B, C, F, h, w), h != w
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    assert list(fast.state_dict()) == list(plain.state_dict())


def test_spatial_kernels_are_left_alone():
    conv = nn.Conv3d(4, 4, kernel_size=3, padding=1)
    assert not spans_frames_only(conv) and use_frame_axis_convs(conv) == 0 and type(conv) is nn.Conv3d
    assert not spans_frames_only(nn.Conv3d(4, 4, (3, 1, 1), padding="same"))


def test_the_unet_runs_its_temporal_convolutions_through_it():
    unet = build_unet("tiny")
    temporal = [m for m in unet.modules() if isinstance(m, nn.Conv3d)]
    assert temporal and all(type(m) is FrameAxisConv3d for m in temporal)
