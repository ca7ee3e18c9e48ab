"""VGG16 ``features`` in plain torch with torchvision's module indices, so ``vgg16-397923af.pth`` loads as is.

Only ``features.*`` is used (LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3); ``classifier.*`` keys in
the file are ignored by name. Stage widths are read from the file, so tests can save tiny VGG-format networks.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from interanimate.metrics.backbones.loading import load_state_dict, load_strict

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_CONVS_PER_STAGE = (2, 2, 3, 3, 3)


class VGG16Features(nn.Module):
    """``features`` of torchvision's VGG16; ``forward`` returns the five ReLU outputs LPIPS uses."""

    def __init__(self, widths: tuple[int, ...] = VGG16_WIDTHS):
        super().__init__()
        layers, taps, channels = [], [], 3
        for stage, (width, convs) in enumerate(zip(widths, VGG16_CONVS_PER_STAGE)):
            if stage:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = width
            taps.append(len(layers) - 1)  # index of the stage's last ReLU: 3, 8, 15, 22, 29 for VGG16
        self.features = nn.Sequential(*layers)
        self.taps = tuple(taps)
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)  # (B, C_stage, H / 2^stage, W / 2^stage)
        return outputs


def load_vgg16_features(path: str | os.PathLike) -> VGG16Features:
    """Load torchvision-format VGG16 weights (``features.N.weight`` …) into :class:`VGG16Features`."""
    state = load_state_dict(path, "VGG16")
    conv_keys = sorted((int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")))
    if len(conv_keys) != sum(VGG16_CONVS_PER_STAGE):
        from interanimate.errors import UserError

        raise UserError(f"VGG16 weights: {path} has {len(conv_keys)} conv layers under 'features.', VGG16 has 13")
    first_of_stage = [0]
    for convs in VGG16_CONVS_PER_STAGE[:-1]:
        first_of_stage.append(first_of_stage[-1] + convs)
    widths = tuple(int(state[f"features.{conv_keys[i]}.weight"].shape[0]) for i in first_of_stage)
    return load_strict(VGG16Features(widths), state, path, "VGG16", ignore=("classifier.",))
