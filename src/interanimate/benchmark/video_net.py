"""The benchmark's one video classifier: a compact 3-D CNN over the pixels of a clip (benchmark.clips), used for
challenge verification (which interaction is shown) and for presentation-attack detection (bona fide or attack).

Three 3×3×3 convolution blocks (``width``, 2·``width``, 4·``width`` channels; batch norm, ReLU, 2×2×2 max pooling
after the first two), global average pooling, dropout, a linear head. Trained with AdamW, cross-entropy (class weights
optional: a PAD set is rarely balanced), and two augmentations that keep the label: a random shift of up to
``SHIFT`` pixels and a random brightness/contrast change per clip (no horizontal flip: left and right hands are
different classes). Deterministic for a seed on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

SHIFT = 2  # pixels


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-2
    width: int = 16
    dropout: float = 0.3
    seed: int = 0
    device: str = "cpu"


class VideoNet(nn.Module):
    def __init__(self, classes: int, width: int = 16, dropout: float = 0.3, in_channels: int = 6):
        super().__init__()

        def block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
            layers = [nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU()]
            return layers + [nn.MaxPool3d(2)] if pool else layers

        self.features = nn.Sequential(*block(in_channels, width, True), *block(width, 2 * width, True),
                                      *block(2 * width, 4 * width, False))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4 * width, classes)

    def forward(self, video: Tensor) -> Tensor:  # (B, 6, T, S, S) -> (B, classes)
        return self.head(self.dropout(self.features(video).mean(dim=(2, 3, 4))))  # pooled (B, 4·width)


def _augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random shift (up to SHIFT px, edge-padded) and brightness/contrast per clip of ``x`` (B, 6, T, S, S)."""
    b = x.shape[0]
    dy, dx = (torch.randint(-SHIFT, SHIFT + 1, (2,), generator=generator)).tolist()
    s = x.shape[-1]
    padded = F.pad(x.flatten(1, 2), (SHIFT, SHIFT, SHIFT, SHIFT), mode="replicate")  # (B, 6·T, S+2p, S+2p)
    x = padded[..., SHIFT + dy:SHIFT + dy + s, SHIFT + dx:SHIFT + dx + s].unflatten(1, (6, -1))  # (B, 6, T, S, S)
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, 1, generator=generator) - 0.5)
    bias = 0.2 * (torch.rand(b, 1, 1, 1, 1, generator=generator) - 0.5)
    frames = (x[:, :3] * gain + bias).clamp(-1, 1)  # (B, 3, T, S, S)
    return torch.cat([frames, frames - frames[:, :, :1]], dim=1)  # (B, 6, T, S, S): the motion recomputed


def train_classifier(data: Dataset, classes: int, options: TrainOptions, class_weights: list[float] | None = None,
                     progress=None) -> VideoNet:
    """A :class:`VideoNet` trained on ``data`` (``(tensor, label)`` items, benchmark.clips.ClipTensors)."""
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    model = VideoNet(classes, options.width, options.dropout).to(options.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32,
                                                               device=options.device)
    loader = DataLoader(data, batch_size=options.batch_size, shuffle=True, generator=generator, drop_last=False)
    model.train()
    for _ in range(options.epochs):
        for videos, labels in loader:
            if len(labels) < 2:  # batch norm needs two samples
                continue
            videos = _augment(videos.float(), generator).to(options.device)
            loss = F.cross_entropy(model(videos), labels.to(options.device), weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if progress is not None:
            progress.update(1)
    return model.eval()


@torch.no_grad()
def predict(model: VideoNet, data: Dataset, device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    """Class probabilities (N, classes) for the items of ``data``, in order."""
    model.eval()
    out = []
    for videos, _ in DataLoader(data, batch_size=batch_size, shuffle=False):
        out.append(model(videos.float().to(device)).softmax(dim=1).float().cpu())  # (B, classes)
    return torch.cat(out).numpy()
