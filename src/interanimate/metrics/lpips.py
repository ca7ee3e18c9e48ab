"""LPIPS (Zhang et al. 2018, v0.1) with the VGG16 backbone, in plain torch.

Features of both images at the five VGG taps are unit-normalised over channels, their squared difference is weighted
per channel by the LPIPS linear layers (1×1 conv, no bias), averaged over space and summed over taps.

The linear-layer weights are those of the ``lpips`` package (``weights/v0.1/vgg.pth``); ``torchmetrics`` ships the
same file (``torchmetrics/functional/image/lpips_models/vgg.pth``), which is the offline default here. The VGG16
backbone must come from a torchvision-format file (``--vgg-weights``).

Protocols: ``disco`` feeds [0, 1] images straight into LPIPS's scaling layer, which expects [−1, 1] (DisCo calls
``lpips.LPIPS(net='vgg')(x, y)`` on ``ToTensor()`` images without ``normalize=True``); ``standard`` maps [0, 1] to
[−1, 1] first, as LPIPS intends.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from interanimate.errors import UserError
from interanimate.metrics.backbones.loading import load_state_dict
from interanimate.metrics.backbones.vgg import VGG16Features, load_vgg16_features

# LPIPS ScalingLayer constants (lpips/pretrained_networks + lpips/lpips.py)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10


def default_linear_weights() -> Path | None:
    """The LPIPS v0.1 VGG linear layers shipped inside the installed ``torchmetrics``, or None."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "functional" / "image" / "lpips_models" / "vgg.pth"
    return path if path.is_file() else None


class LPIPS(nn.Module):
    def __init__(self, backbone: VGG16Features, linear_weights: list[torch.Tensor] | None = None):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.lins = nn.ModuleList(nn.Conv2d(w, 1, kernel_size=1, bias=False) for w in backbone.widths)
        if linear_weights is not None:
            for lin, weight in zip(self.lins, linear_weights):
                if lin.weight.shape != weight.shape:
                    raise UserError(f"LPIPS linear layer of shape {tuple(weight.shape)} does not fit a backbone tap "
                                    f"of {lin.weight.shape[1]} channels")
                lin.weight.data.copy_(weight)
        self.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """LPIPS distance per pair; x, y (B, 3, H, W) in [−1, 1], or in [0, 1] with ``normalize``. Returns (B,)."""
        if normalize:
            x, y = 2 * x - 1, 2 * y - 1
        fx = self.backbone((x - self.shift) / self.scale)
        fy = self.backbone((y - self.shift) / self.scale)
        total = 0
        for lin, a, b in zip(self.lins, fx, fy):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)  # (B, C, h, w), unit over C
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            total = total + lin((a - b) ** 2).mean(dim=(2, 3))  # (B, 1)
        return total[:, 0]


def load_linear_weights(path: str | os.PathLike) -> list[torch.Tensor]:
    state = load_state_dict(path, "LPIPS linear layers")
    keys = sorted(k for k in state if k.startswith("lin") and k.endswith(".weight"))
    if not keys:
        raise UserError(f"LPIPS linear layers: {path} has no 'linN.model.1.weight' tensors")
    return [state[k] for k in keys]


def load_lpips(vgg_path: str | os.PathLike, linear_path: str | os.PathLike | None = None) -> LPIPS:
    """LPIPS-VGG from a torchvision VGG16 file and the LPIPS linear layers (default: torchmetrics' copy)."""
    linear_path = linear_path or default_linear_weights()
    if linear_path is None:
        raise UserError("LPIPS linear layers not found: pass --lpips-weights PATH (lpips' weights/v0.1/vgg.pth)")
    return LPIPS(load_vgg16_features(vgg_path), load_linear_weights(linear_path))


def frames_to_tensor(frames, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [0, 1] (``ToTensor()``)."""
    import numpy as np

    frames = np.asarray(frames)
    return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255.0


def lpips_frames(model: LPIPS, pred, gt, protocol: str = "disco", batch_size: int = 16,
                 device: str | torch.device = "cpu") -> list[float]:
    """LPIPS per frame pair of uint8 (N, H, W, 3) arrays of equal size."""
    scores = []
    for start in range(0, len(gt), batch_size):
        x = frames_to_tensor(pred[start:start + batch_size], device)
        y = frames_to_tensor(gt[start:start + batch_size], device)
        scores += model(x, y, normalize=(protocol == "standard")).cpu().tolist()
    return scores
