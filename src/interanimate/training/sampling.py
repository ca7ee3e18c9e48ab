"""Which clips a step trains on: an endless, seeded stream of epochs cut into per-process micro-batches, so that
the data order is a function of (seed, step) and a resumed run sees what the uninterrupted one would."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class StepData(torch.utils.data.Dataset):
    """Position ``p`` of an endless stream of epochs: epoch ``p // n`` visits a seeded permutation of the clips."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, seed
        self._orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return 2 ** 62

    def locate(self, position: int) -> tuple[int, int]:
        epoch, offset = divmod(position, len(self.dataset))
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))}
        return epoch, int(self._orders[epoch][offset])

    def __getitem__(self, position: int) -> dict:
        epoch, index = self.locate(position)
        self.dataset.set_epoch(epoch)  # which window and reference frame the clip draws
        return self.dataset[index]


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of stream positions for one process: micro-batch ``m`` of process ``r`` is
    ``[(m·W + r)·B, (m·W + r + 1)·B)``. Starts at ``start`` and stops after ``stop`` micro-batches."""

    def __init__(self, batch_size: int, rank: int, world: int, start: int, stop: int):
        self.batch_size, self.rank, self.world, self.start, self.stop = batch_size, rank, world, start, stop

    def __iter__(self):
        for micro in range(self.start, self.stop):
            first = (micro * self.world + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def collate(items: list[dict]) -> dict:
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.stack(values) if isinstance(values[0], Tensor) else values
    return batch


def short_clips(dataset, num_frames: int):
    """The same clips as ``dataset`` (an InterHFDataset) cut to ``num_frames`` (the first stage trains on a few
    frames at a time)."""
    from dataclasses import replace

    from interanimate.data.dataset import InterHFDataset
    return InterHFDataset(dataset.root, split=None, config=replace(dataset.config, num_frames=num_frames),
                          records=list(dataset.records))
