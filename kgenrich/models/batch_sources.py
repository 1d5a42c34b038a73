"""Where the torch training loop (torchutil.py) gets its batches, and in which order.

- :class:`TensorBatches`: batches built in this process (``get_batch(idx)``: tensors in memory);
- :class:`LoaderBatches`: a ``DataLoader`` whose worker processes decode and augment images;
- :func:`batch_order`: one epoch's batches of rows, shuffled by (seed, epoch) so that a resumed
  fit sees the same order, and under torchrun each rank's share of every global batch.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from . import distributed


class TensorBatches:
    """Batches built in this process: ``get_batch(idx) -> tuple of model inputs``."""

    def __init__(self, get_batch: Callable[[np.ndarray], tuple]):
        self.get_batch = get_batch

    def batches(self, order: list[np.ndarray], seed: int) -> Iterator[tuple[tuple, np.ndarray]]:
        for idx in order:
            yield tuple(self.get_batch(idx)), idx


def _worker_init(_: int) -> None:
    # Ctrl-C reaches the whole process group; the main process decides when to stop and
    # shuts the workers down, a worker dying of it mid-batch would only garble that.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LoaderBatches:
    """Batches from a ``DataLoader`` over ``dataset`` (item ``i`` -> ``(tensor, readable)``): worker
    processes decode, resize and augment; pinned memory and prefetch feed a GPU.  ``readable``
    records, per row, whether its item could be read (unreadable items are zeros)."""

    def __init__(self, dataset, workers: int = 0, pin_memory: bool = False, prefetch: int = 4):
        self.dataset = dataset
        self.workers = max(0, int(workers))
        self.pin_memory = bool(pin_memory)
        self.prefetch = max(1, int(prefetch))
        self.readable = np.zeros(len(dataset), dtype=bool)

    def loader(self, order: list[np.ndarray], seed: int):
        from torch.utils.data import DataLoader

        kwargs: dict[str, Any] = {}
        if self.workers:
            kwargs = {"prefetch_factor": self.prefetch, "worker_init_fn": _worker_init}
        return DataLoader(self.dataset, batch_sampler=[idx.tolist() for idx in order], num_workers=self.workers,
                          pin_memory=self.pin_memory, generator=torch.Generator().manual_seed(seed), **kwargs)

    def batches(self, order: list[np.ndarray], seed: int) -> Iterator[tuple[tuple, np.ndarray]]:
        for (x, ok), idx in zip(self.loader(order, seed), order):
            self.readable[idx] = ok.numpy()
            yield (x,), idx


def as_source(batches) -> TensorBatches | LoaderBatches:
    return batches if hasattr(batches, "batches") else TensorBatches(batches)


def batch_order(rows: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, epoch: int) -> list[np.ndarray]:
    """This process's batches of ``rows`` for one epoch.

    Shuffled with a ``DistributedSampler`` seeded by (seed, epoch), so an epoch's
    order is the same whether a run is resumed or not; under DDP every rank takes
    its share (padded to the same number of batches) of a global batch of
    ``batch_size`` rows.
    """
    from torch.utils.data import DistributedSampler

    d = distributed.info() if distributed.sharding_active() else distributed.DistInfo()
    per_rank = max(1, -(-batch_size // d.world))
    if shuffle:
        # the sampler only takes len() of its dataset: the row positions will do
        sampler: DistributedSampler = DistributedSampler(range(len(rows)),  # type: ignore[arg-type]
                                                         num_replicas=d.world, rank=d.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        mine = rows[np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))] if len(rows) else rows
    else:
        mine = rows
    return [mine[i:i + per_rank] for i in range(0, len(mine), per_rank)]
