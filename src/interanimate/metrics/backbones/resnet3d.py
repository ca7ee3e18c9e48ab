"""3D ResNet-50 (Hara et al., Kinetics-400) for FID-VID: 2048-d pooled features of 16-frame clips at 112×112.

Re-implements DisCo's ``tool/metrics/resnet3d.py`` (``resnet50(shortcut_type='B', last_fc=False)``) with the same
state-dict names, so ``resnet-50-kinetics.pth`` (``{'state_dict': {'module.…': …}}``) loads strictly. The unused
``fc`` is kept so the file's ``fc.*`` keys load too. ``width`` (base planes / 64) is read back from the file so tests
can save tiny networks in the same format.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from interanimate.metrics.backbones.loading import load_state_dict, load_strict

RESNET50_BLOCKS = (3, 4, 6, 3)
EXPANSION = 4
CLIP_SIZE = 112
KINETICS_MEAN = (114.7748, 107.7354, 99.4750)  # subtracted from 0–255 RGB, as DisCo


class Bottleneck(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * EXPANSION)
        self.downsample = None
        if stride != 1 or cin != planes * EXPANSION:  # shortcut type B: projection
            self.downsample = nn.Sequential(nn.Conv3d(cin, planes * EXPANSION, kernel_size=1, stride=stride,
                                                      bias=False), nn.BatchNorm3d(planes * EXPANSION))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet3D50(nn.Module):
    def __init__(self, num_classes: int = 400, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        channels = width
        for index, (blocks, stride) in enumerate(zip(RESNET50_BLOCKS, (1, 2, 2, 2)), start=1):
            planes = width * 2 ** (index - 1)
            layer = [Bottleneck(channels, planes, stride)]
            channels = planes * EXPANSION
            layer += [Bottleneck(channels, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.fc = nn.Linear(channels, num_classes)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, 16, 112, 112), 0–255 minus the Kinetics mean → features (B, 2048) (``last_fc=False``)."""
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 64, 16, 56, 56)
        x = F.max_pool3d(x, kernel_size=3, stride=2, padding=1)  # (B, 64, 8, 28, 28)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 2048, 1, 4, 4)
        return x.mean(dim=(2, 4, 3))  # DisCo's AvgPool3d((1, 4, 4)) for 16×112×112 clips → (B, 2048)


def load_resnet3d(path: str | os.PathLike) -> ResNet3D50:
    state = load_state_dict(path, "3D ResNet-50")
    if "conv1.weight" not in state or "fc.weight" not in state:
        from interanimate.errors import UserError

        raise UserError(f"3D ResNet-50 weights: {path} lacks conv1/fc tensors; is it resnet-50-kinetics.pth?")
    model = ResNet3D50(num_classes=int(state["fc.weight"].shape[0]), width=int(state["conv1.weight"].shape[0]))
    return load_strict(model, state, path, "3D ResNet-50")
