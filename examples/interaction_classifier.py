"""A tiny interaction classifier trained on a set made by ``interanimate dataset generate`` (docs/datasets.md).

    python examples/interaction_classifier.py runs/dataset_classifier [--epochs 40] [--target class_code]

Trains a small 3-D convolutional network on the ``train`` split's videos (64×64 frames downsampled to 32×32, each
frame given with its difference to the first frame, so that the motion stands out from the person) and reports top-1
accuracy on the held-out identities of ``val`` + ``test``, next to chance. ``--target`` picks the label:
``class_code`` (18 classes), ``category`` (pinch / stroke / poke / swipe) or ``hand`` (left / right).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from interanimate.datasets.torch_dataset import GeneratedClips


class TinyVideoNet(nn.Module):
    def __init__(self, classes: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(6, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(width, 2 * width, 3, padding=1), nn.BatchNorm3d(2 * width), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm3d(4 * width), nn.ReLU())
        self.head = nn.Linear(4 * width, classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:  # (B, 6, F, H, W) -> (B, classes)
        return self.head(self.features(video).mean(dim=(2, 3, 4)))


def _tensors(clips: GeneratedClips, target: str, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    videos, labels = [], []
    for i in range(len(clips)):
        item = clips[i]
        frames = item["frames"].float().div(127.5).sub(1)  # (F, 3, H, W) in [-1, 1]
        frames = F.interpolate(frames, size=(32, 32), mode="area")  # (F, 3, 32, 32)
        frames = torch.cat([frames, frames - frames[:1]], dim=1)  # (F, 6, 32, 32): the frame and its motion
        videos.append(frames.permute(1, 0, 2, 3))  # (6, F, 32, 32)
        labels.append(names.index(clips.rows[i][target]))
    return torch.stack(videos), torch.tensor(labels)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--target", choices=("class_code", "category", "hand"), default="class_code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    train = GeneratedClips(args.root, "train", masks=False)
    held_out = GeneratedClips(args.root, None, masks=False)
    held_out.rows = [r for r in held_out.rows if r["split"] in ("val", "test")]
    names = sorted({r[args.target] for r in train.rows + held_out.rows})
    x_train, y_train = _tensors(train, args.target, names)
    x_test, y_test = _tensors(held_out, args.target, names)
    model = TinyVideoNet(len(names))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    loader = DataLoader(list(zip(x_train, y_train)), batch_size=16, shuffle=True)
    for _ in range(args.epochs):
        for videos, labels in loader:
            loss = F.cross_entropy(model(videos), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        train_acc = (model(x_train).argmax(1) == y_train).float().mean().item()
        test_acc = (model(x_test).argmax(1) == y_test).float().mean().item() if len(y_test) else float("nan")
    result = {"target": args.target, "classes": len(names), "train_clips": len(y_train),
              "held_out_clips": len(y_test), "train_top1": round(train_acc, 3), "held_out_top1": round(test_acc, 3),
              "chance": round(1 / len(names), 3), "epochs": args.epochs}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
