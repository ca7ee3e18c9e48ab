"""A finished set read back for training: ``GeneratedClips(root, split)`` yields frames, label, masks and split.

    from interanimate.datasets.torch_dataset import GeneratedClips
    train = GeneratedClips("runs/dataset_small", split="train")
    item = train[0]  # {"frames": uint8 (F, 3, H, W), "label": class index, "hand_mask"/"face_mask": (F, H, W), ...}

The manifest is also plain Parquet: ``datasets.load_dataset("parquet", data_files="DIR/manifest.parquet")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from interanimate.errors import DataError


class GeneratedClips(Dataset):
    """The clips of a generated set (its manifest.jsonl), optionally of one split. Paths stay inside the root."""

    def __init__(self, root: str | Path, split: str | None = None, masks: bool = True):
        self.root = Path(root).resolve()
        manifest = self.root / "manifest.jsonl"
        if not manifest.is_file():
            raise DataError(f"{self.root}: no manifest.jsonl (not a finished `interanimate dataset` set)")
        from interanimate.utils.io import read_jsonl_whole

        try:
            rows = read_jsonl_whole(manifest)
        except ValueError as err:
            raise DataError(str(err)) from None
        ids = [r["clip_id"] for r in rows]
        if len(ids) != len(set(ids)):
            raise DataError(f"{manifest}: duplicate clip ids")
        self.rows = [r for r in rows if split is None or r["split"] == split]
        self.masks = masks

    def __len__(self) -> int:
        return len(self.rows)

    def _path(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise DataError(f"{relative}: points outside the dataset root {self.root}")
        return path

    def __getitem__(self, index: int) -> dict:
        from interanimate.utils.io import load_npz
        from interanimate.utils.video import read_video

        row = self.rows[index]
        frames, _ = read_video(self._path(row["video_path"]))  # (F, H, W, 3)
        item = {"frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),  # (F, 3, H, W)
                "label": int(row["class_index"]), "class_code": row["class_code"], "split": row["split"],
                "clip_id": row["clip_id"], "identity": row["identity"]}
        if self.masks and row.get("masks_path"):
            masks = load_npz(self._path(row["masks_path"]))
            item["hand_mask"] = torch.from_numpy(masks["hand_mask"])  # (F, H, W) uint8
            item["face_mask"] = torch.from_numpy(masks["face_mask"])
        return item
