"""I3D feature networks for FVD (400-d Kinetics logits of a clip at 224×224 in [−1, 1]).

* :class:`InceptionI3d` re-implements DisCo's ``tool/metrics/inception3d.py`` (piergiaj's pytorch-i3d) with the
  same state-dict names, for ``i3d_pretrained_400.pt``. ``width`` scales every channel count (1.0 = the real network;
  it is read back from the file) so tests can save tiny networks in the same format.
* :func:`load_i3d_torchscript` loads StyleGAN-V's ``i3d_torchscript.pt`` and calls it with
  ``rescale=False, resize=False, return_features=True`` (input already 224×224 in [−1, 1]).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from interanimate.metrics.backbones.loading import load_state_dict, load_strict, load_torchscript

I3D_SIZE = 224
NUM_CLASSES = 400
# (name, b0, b1a, b1b, b2a, b2b, b3b) of each Inception module, in order
MIXED = (("Mixed_3b", 64, 96, 128, 16, 32, 32), ("Mixed_3c", 128, 128, 192, 32, 96, 64),
         ("Mixed_4b", 192, 96, 208, 16, 48, 64), ("Mixed_4c", 160, 112, 224, 24, 64, 64),
         ("Mixed_4d", 128, 128, 256, 24, 64, 64), ("Mixed_4e", 112, 144, 288, 32, 64, 64),
         ("Mixed_4f", 256, 160, 320, 32, 128, 128), ("Mixed_5b", 256, 160, 320, 32, 128, 128),
         ("Mixed_5c", 384, 192, 384, 48, 128, 128))
# max-pool (name, kernel, stride) in front of the first module of each stage
POOL_BEFORE = {"Mixed_3b": ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
               "Mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
               "Mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2))}


def _same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """TF 'SAME' padding of (B, C, T, H, W), as pytorch-i3d computes it per forward."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Unit3D(nn.Module):
    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn: bool = True, relu: bool = True,
                 bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, kernel_size=kernel, stride=stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if bn else None

    def forward(self, x):
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x):
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], kernel=(3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], kernel=(3, 3, 3))
        self.b3a, self.b3b = MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, width: float = 1.0):
        super().__init__()

        def w(c: int) -> int:
            return max(1, round(c * width))

        self.width = width
        self.Conv3d_1a_7x7 = Unit3D(3, w(64), kernel=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(w(64), w(64))
        self.Conv3d_2c_3x3 = Unit3D(w(64), w(192), kernel=(3, 3, 3))
        self.order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3"]
        channels = w(192)
        for name, *c in MIXED:
            if name in POOL_BEFORE:
                pool, kernel, stride = POOL_BEFORE[name]
                setattr(self, pool, MaxPool3dSame(kernel, stride))
                self.order.append(pool)
            module = InceptionModule(channels, tuple(w(x) for x in c))
            setattr(self, name, module)
            self.order.append(name)
            channels = module.out_channels
        self.logits = Unit3D(channels, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, T, 224, 224) in [−1, 1] → logits (B, num_classes), averaged over time as pytorch-i3d."""
        for name in self.order:
            x = getattr(self, name)(x)  # (B, C, T/8, 7, 7) at the end
        x = F.avg_pool3d(x, kernel_size=(1, 7, 7), stride=1)  # (B, C, T', 1, 1) at 224×224 input
        x = self.logits(x)  # dropout is the identity in eval mode
        return x.mean(dim=(3, 4)).mean(dim=2)  # (B, num_classes)


def load_i3d(path: str | os.PathLike) -> InceptionI3d:
    """DisCo's ``i3d_pretrained_400.pt`` (or any state dict of this architecture; width read from the file)."""
    state = load_state_dict(path, "I3D")
    first = state.get("Conv3d_1a_7x7.conv3d.weight")
    logits = state.get("logits.conv3d.weight")
    if first is None or logits is None:
        from interanimate.errors import UserError

        raise UserError(f"I3D weights: {path} lacks Conv3d_1a_7x7 / logits tensors; is it an I3D state dict?")
    model = InceptionI3d(num_classes=int(logits.shape[0]), width=first.shape[0] / 64)
    return load_strict(model, state, path, "I3D")


class I3DTorchScript(nn.Module):
    def __init__(self, scripted):
        super().__init__()
        self.net = scripted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, rescale=False, resize=False, return_features=True)


def load_i3d_torchscript(path: str | os.PathLike) -> I3DTorchScript:
    return I3DTorchScript(load_torchscript(path, "I3D TorchScript")).eval()


def load_any_i3d(path: str | os.PathLike) -> nn.Module:
    """A TorchScript file is StyleGAN-V's I3D; anything else must be an :class:`InceptionI3d` state dict."""
    from interanimate.metrics.backbones.loading import is_torchscript

    return load_i3d_torchscript(path) if is_torchscript(path) else load_i3d(path)
