"""Data-parallel runs across processes, on torch's own engine (torchrun + DDP).

``torchrun --nproc-per-node N -m kgenrich [global options] train`` starts N
processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in
their environment.  :func:`setup` joins them into one process group (NCCL on
CUDA, gloo on the CPU); without torchrun it does nothing and every helper here
is the single-process identity.

Who does what (training.py and the commands use this):
- rank 0 -- the leader -- reads the store, writes the models directory and
  every graph; the other ranks never open the store;
- work that every rank must do together (a training run, a prediction of an
  ensemble) runs inside :func:`collective` on every rank, with the same
  arguments: the leader hands them over with :func:`broadcast`;
- inside it, torch fits wrap their network in DDP and take their shard of
  every batch (a ``DistributedSampler`` order), and predictions are computed
  shard by shard and gathered, so that every rank ends with the same arrays.
Outside :func:`collective` (a model predicted by the leader alone, e.g. in
``kgenrich evaluate``'s scoring) nothing is sharded, so no rank can wait for
a collective call another rank never makes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def card(self) -> dict:
        return {"world_size": self.world, "backend": self.backend}


_depth = 0  # nesting of collective() blocks


def _dist():
    import torch.distributed as dist

    return dist


def launched() -> bool:
    """Whether this process was started by torchrun with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def setup() -> DistInfo:
    """Join the process group torchrun prepared (once per process); the single-process info otherwise."""
    if not launched():
        return info()
    dist = _dist()
    if not dist.is_initialized():
        import torch

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info()


def info() -> DistInfo:
    if "torch" not in sys.modules:  # no process group without torch; a tabular-only run never imports it
        return DistInfo()
    try:
        dist = _dist()
        if dist.is_available() and dist.is_initialized():
            return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(),
                            local_rank=int(os.environ.get("LOCAL_RANK", "0")), backend=str(dist.get_backend()))
    except ImportError:
        pass
    return DistInfo()


def teardown() -> None:
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def collective():
    """Marks a block that every rank runs together, in the same order: inside it, work is sharded."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def sharding_active() -> bool:
    return _depth > 0 and info().world > 1


def local_device(device: str) -> str:
    """Under torchrun each process drives the GPU of its local rank."""
    if device == "cuda" and info().world > 1:
        return f"cuda:{info().local_rank}"
    return device


# ------------------------------------------------------------------ collectives
def broadcast(obj: Any = None) -> Any:
    """The leader's ``obj`` on every rank."""
    if info().world == 1:
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Every rank waits here until all have come (no-op in a single process)."""
    if info().world == 1:
        return
    _dist().barrier()


def all_gather(obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if info().world == 1:
        return [obj]
    out: list = [None] * info().world
    _dist().all_gather_object(out, obj)
    return out


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum over the ranks (losses, counts)."""
    if not sharding_active():
        return list(values)
    return [float(sum(v)) for v in zip(*all_gather([float(x) for x in values]))]


def shard_bounds(n: int) -> tuple[int, int]:
    """This rank's contiguous slice [start, stop) of n rows (all of them when not sharding)."""
    if not sharding_active():
        return 0, n
    d = info()
    per = (n + d.world - 1) // d.world
    return min(n, d.rank * per), min(n, (d.rank + 1) * per)
