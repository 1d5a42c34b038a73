"""The training loop shared by the torch models (image, text).

Multitask heads on a shared trunk, focal loss with masking, AdamW with a linear
warm-up and a cosine decay, and what long runs on a GPU need:

- phases: heads first (the trunk frozen), then the whole network;
- gradient accumulation (``accumulate`` micro-batches per optimiser step);
- early stopping on an inner validation split (``val_share``; rows of one
  group -- the images of one artifact -- stay on one side), best epoch restored;
- on CUDA: bf16 autocast, channels_last inputs, optional ``torch.compile``;
- a checkpoint after an epoch (at most every ``checkpoint_seconds``), from
  which a fit started again with the same checkpoint path resumes;
- Ctrl-C stops at the next batch (:class:`TrainingInterrupted`), a second one at once;
- under torchrun, DDP with every rank taking its ``DistributedSampler`` share
  of each batch (``batch_size`` stays the global batch), see distributed.py.

On the CPU a fit is single-process and seeded: a seed gives the same model.
Batches come from a :class:`TensorBatches` (tensors in memory, built in this
process) or a :class:`LoaderBatches` (a ``DataLoader`` whose worker processes
decode and augment images).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .losses import inverse_frequency_weights, multitask_focal_loss

CHECKPOINT_VERSION = 1
MIN_VALIDATION_ROWS = 16  # fewer than this and early stopping would follow noise: train on everything


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit: raised at the next batch boundary."""


def seed_everything(seed: int, threads: int | None = None) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))


def autocast(device: str):
    # bf16 needs no loss scaling, unlike fp16; CPU autocast is slower than fp32 on most CPUs.
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class MultiHead(nn.Module):
    """One linear head per task (optionally after a shared hidden layer) on a feature vector."""

    def __init__(self, in_dim: int, sizes: Sequence[int], hidden: int = 0, dropout: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout)]
            in_dim = hidden
        self.shared = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Linear(in_dim, k) for k in sizes])

    def forward(self, x):
        h = self.shared(x)
        return [head(h) for head in self.heads]


def class_weights(Y: np.ndarray, sizes: Sequence[int], device: str) -> list[torch.Tensor]:
    return [inverse_frequency_weights(Y[:, t], k).to(device) for t, k in enumerate(sizes)]


# ------------------------------------------------------------------ batch sources
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


# ------------------------------------------------------------------ options, phases, state
@dataclass
class Phase:
    """Epochs with one set of trainable parameters; the others are frozen."""

    name: str
    epochs: int
    param_groups: list[dict]  # AdamW groups: {"params": [...], "lr": ...}


@dataclass
class FitOptions:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    gamma: float = 2.0
    device: str = "cpu"
    seed: int = 0
    accumulate: int = 1
    val_share: float = 0.0
    patience: int = 3
    channels_last: bool = False
    compile: bool = False
    checkpoint: Path | None = None
    checkpoint_seconds: float = 30.0
    progress: bool = False
    desc: str = "train"


@dataclass
class FitState:
    """Where a fit stands; saved in a checkpoint."""

    phase: int = 0
    epoch: int = 0  # epochs done in the current phase
    history: list = field(default_factory=list)  # training loss per epoch
    val_history: list = field(default_factory=list)
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False


def inner_split(n: int, share: float, seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): a seeded share of the groups (rows of one group stay together)."""
    rows = np.arange(n)
    if share <= 0 or n == 0:
        return rows, rows[:0]
    groups = rows if groups is None else np.asarray(groups)
    ids = np.unique(groups)
    rng = np.random.default_rng(seed + 7919)
    k = int(round(share * len(ids)))
    held = set(rng.choice(ids, size=k, replace=False).tolist()) if k else set()
    val = np.array([g in held for g in groups], dtype=bool)
    if val.sum() < MIN_VALIDATION_ROWS or (~val).sum() < MIN_VALIDATION_ROWS:
        return rows, rows[:0]
    return rows[~val], rows[val]


def _schedule(steps: int) -> Callable[[int], float]:
    warm = max(1, steps // 10)

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))
    return factor


@contextlib.contextmanager
def stop_at_next_batch():
    """Ctrl-C sets a flag the loop reads after each batch; a second Ctrl-C interrupts at once."""
    flag = {"set": False}
    # a process started with Ctrl-C ignored (nohup, a background job of a script) keeps ignoring it
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield flag
        return

    def handler(signum, frame):
        if flag["set"]:
            raise KeyboardInterrupt
        flag["set"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _to_device(x, device: str, channels_last: bool):
    if not torch.is_tensor(x):
        return x
    if channels_last and x.dim() == 4:
        return x.to(device, non_blocking=True, memory_format=torch.channels_last)
    return x.to(device, non_blocking=True)


def _unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)


# ------------------------------------------------------------------ checkpoints
def _save_checkpoint(path: Path, net: nn.Module, opt, sched, state: FitState, best_state) -> None:
    if not distributed.info().leader:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"version": CHECKPOINT_VERSION, "net": _unwrap(net).state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "state": state.__dict__, "best_state": best_state,
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, tmp)
    os.replace(tmp, path)  # a kill while writing leaves the previous checkpoint whole


def _load_checkpoint(path: Path | None) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True)  # tensors and plain values only
    if ckpt.get("version") != CHECKPOINT_VERSION:
        return None
    return ckpt


# ------------------------------------------------------------------ the loop
def fit_multitask(net: nn.Module, batches, Y: np.ndarray, sizes: Sequence[int], phases: Sequence[Phase],
                  opts: FitOptions, split_groups: np.ndarray | None = None, val_batches=None) -> FitState:
    """Train ``net`` (returns a list of logits per task) on rows 0..len(Y)-1 through ``phases``.

    ``batches`` gives the training inputs of rows (a callable ``idx -> inputs`` or a batch source);
    ``val_batches`` those of the validation rows (default: the same; images: without augmentation);
    ``split_groups`` keeps rows of one group on one side of the validation split.
    """
    source = as_source(batches)
    val_source = as_source(val_batches) if val_batches is not None else source
    device = opts.device
    net.to(device)
    if opts.channels_last:
        net.to(memory_format=torch.channels_last)
    weights = class_weights(Y, sizes, device)
    Yt = torch.as_tensor(Y, dtype=torch.long)
    train_rows, val_rows = inner_split(len(Y), opts.val_share, opts.seed, split_groups)
    state, best_state = FitState(), None
    ckpt = _load_checkpoint(opts.checkpoint)
    if ckpt is not None:
        _unwrap(net).load_state_dict(ckpt["net"])
        state = FitState(**ckpt["state"])
        best_state = ckpt["best_state"]
        torch.set_rng_state(ckpt["rng"])
        if ckpt.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
    last_save = time.monotonic()
    all_params = list(net.parameters())
    with stop_at_next_batch() as stop:
        for p_index, phase in enumerate(phases):
            if p_index < state.phase or phase.epochs <= 0 or state.stopped_early:
                continue
            trainable = {id(p) for g in phase.param_groups for p in g["params"]}
            for p in all_params:
                p.requires_grad_(id(p) in trainable)
            opt = torch.optim.AdamW(phase.param_groups, lr=opts.lr, weight_decay=opts.weight_decay)
            per_epoch = len(batch_order(train_rows, opts.batch_size, shuffle=True, seed=opts.seed, epoch=0))
            steps = max(1, phase.epochs * math.ceil(per_epoch / max(1, opts.accumulate)))
            sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(steps))
            if ckpt is not None and p_index == state.phase and state.epoch > 0:
                opt.load_state_dict(ckpt["opt"])
                sched.load_state_dict(ckpt["sched"])
            model = net
            if distributed.sharding_active():
                from torch.nn.parallel import DistributedDataParallel

                model = DistributedDataParallel(net, device_ids=[torch.device(device).index]
                                                if device.startswith("cuda") else None)
            forward = torch.compile(model) if opts.compile else model
            last_phase = p_index == len(phases) - 1
            bar = tqdm(range(state.epoch, phase.epochs), desc=f"{opts.desc} ({phase.name})" if len(phases) > 1
                       else opts.desc, disable=not opts.progress, leave=False, unit="epoch")
            for epoch in bar:
                global_epoch = len(state.history)
                loss = _train_epoch(model, forward, source, train_rows, Yt, weights, opt, sched, opts,
                                    global_epoch, stop)
                state.history.append(loss)
                state.epoch = epoch + 1
                postfix = {"loss": f"{loss:.4f}"}
                if len(val_rows) and last_phase:
                    val = evaluate_loss(_unwrap(net), val_source, val_rows, Yt, weights, opts)
                    state.val_history.append(val)
                    postfix["val"] = f"{val:.4f}"
                    if val < state.best - 1e-6:
                        state.best, state.best_epoch, state.bad_epochs = val, len(state.history) - 1, 0
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in _unwrap(net).state_dict().items()}
                    else:
                        state.bad_epochs += 1
                        if state.bad_epochs >= opts.patience:
                            state.stopped_early = True
                bar.set_postfix(postfix)
                if opts.checkpoint is not None and (time.monotonic() - last_save >= opts.checkpoint_seconds
                                                    or state.stopped_early or epoch + 1 == phase.epochs):
                    if epoch + 1 == phase.epochs or state.stopped_early:
                        state.phase, state.epoch = p_index + 1, 0
                    _save_checkpoint(opts.checkpoint, net, opt, sched, state, best_state)
                    last_save = time.monotonic()
                if state.stopped_early:
                    break
            bar.close()
            state.phase, state.epoch = p_index + 1, 0
    for p in all_params:
        p.requires_grad_(True)
    if best_state is not None:
        _unwrap(net).load_state_dict(best_state)
    if distributed.sharding_active():
        # the weights agree across the ranks (DDP averages the gradients); running statistics
        # (BatchNorm) are each rank's own: take rank 0's -- the model rank 0 saves -- everywhere
        import torch.distributed as dist

        for buffer in _unwrap(net).buffers():
            dist.broadcast(buffer.data, src=0)
    return state


def _train_epoch(model, forward, source, rows, Yt, weights, opt, sched, opts: FitOptions, epoch: int, stop) -> float:
    model.train()
    order = batch_order(rows, opts.batch_size, shuffle=True, seed=opts.seed, epoch=epoch)
    accumulate = max(1, int(opts.accumulate))
    total, count = 0.0, 0
    opt.zero_grad(set_to_none=True)
    for i, (inputs, idx) in enumerate(source.batches(order, seed=opts.seed * 1_000_003 + epoch)):
        inputs = [_to_device(x, opts.device, opts.channels_last) for x in inputs]
        target = Yt[idx].to(opts.device, non_blocking=True)
        step_now = (i + 1) % accumulate == 0 or i + 1 == len(order)
        sync = contextlib.nullcontext() if step_now or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(opts.device):
                logits = forward(*inputs)
            loss = multitask_focal_loss(logits, target, opts.gamma, weights)
            if loss.requires_grad:
                (loss / accumulate).backward()
        if step_now:
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        total += float(loss.detach()) * len(idx)
        count += len(idx)
        if stop["set"]:
            raise TrainingInterrupted()
    loss_sum, rows_sum = distributed.all_sum([total, count])
    return loss_sum / max(rows_sum, 1)


@torch.no_grad()
def evaluate_loss(net: nn.Module, source, rows: np.ndarray, Yt, weights, opts: FitOptions) -> float:
    """Mean masked focal loss on ``rows`` (each rank its share; summed over the ranks)."""
    net.eval()
    start, stop = distributed.shard_bounds(len(rows))
    mine = rows[start:stop]
    total, count = 0.0, 0
    order = [mine[i:i + opts.batch_size] for i in range(0, len(mine), opts.batch_size)]
    for inputs, idx in source.batches(order, seed=opts.seed):
        inputs = [_to_device(x, opts.device, opts.channels_last) for x in inputs]
        with autocast(opts.device):
            logits = net(*inputs)
        loss = multitask_focal_loss(logits, Yt[idx].to(opts.device), opts.gamma, weights)
        total += float(loss) * len(idx)
        count += len(idx)
    loss_sum, rows_sum = distributed.all_sum([total, count])
    return loss_sum / max(rows_sum, 1)


@torch.no_grad()
def predict_multitask(net: nn.Module, n: int, batches, n_tasks: int, batch_size: int, device: str,
                      progress: bool = False, desc: str = "predict", channels_last: bool = False) -> list[np.ndarray]:
    """Softmax probabilities per task for rows 0..n-1 (under DDP each rank predicts its shard, all get all)."""
    source = as_source(batches)
    net.to(device)
    net.eval()
    start, stop = distributed.shard_bounds(n)
    rows = np.arange(start, stop)
    order = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    outs: list[list[np.ndarray]] = [[] for _ in range(n_tasks)]
    for inputs, _ in tqdm(source.batches(order, seed=0), total=len(order), desc=desc, disable=not progress,
                          leave=False):
        inputs = [_to_device(x, device, channels_last) for x in inputs]
        with autocast(device):
            logits = net(*inputs)
        for t, lg in enumerate(logits):
            outs[t].append(torch.softmax(lg.float(), dim=-1).cpu().numpy())
    local = [np.concatenate(o) if o else np.zeros((0, 0)) for o in outs]
    if distributed.sharding_active():
        parts = distributed.all_gather(local)
        return [np.concatenate([p[t] for p in parts if len(p[t])]) if any(len(p[t]) for p in parts)
                else np.zeros((0, 0)) for t in range(n_tasks)]
    return local

