"""The training loop shared by the torch models (image, text): multitask heads
on a shared trunk, focal loss with masking, AdamW, bf16 autocast on CUDA,
seeded and single-process on CPU so that a seed gives the same model."""

from __future__ import annotations

import contextlib
import math
import random
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .losses import inverse_frequency_weights, multitask_focal_loss


def seed_everything(seed: int, threads: Optional[int] = None) -> None:
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


def train_multitask(net: nn.Module, n: int, get_batch: Callable[[np.ndarray], tuple], Y: np.ndarray,
                    sizes: Sequence[int], *, gamma: float, epochs: int, batch_size: int, lr: float,
                    device: str, seed: int, weight_decay: float = 1e-4, param_groups=None,
                    progress: bool = False, desc: str = "train") -> list[float]:
    """Train ``net`` (returns a list of logits per task) on rows 0..n-1; returns the loss per epoch."""
    net.to(device)
    weights = class_weights(Y, sizes, device)
    Yt = torch.as_tensor(Y, dtype=torch.long)
    opt = torch.optim.AdamW(param_groups or net.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * ((n + batch_size - 1) // batch_size))
    warm = max(1, steps // 10)

    def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    for _ in bar:
        net.train()
        perm = torch.randperm(n, generator=gen).numpy()
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            inputs = [x.to(device) if torch.is_tensor(x) else x for x in get_batch(idx)]
            target = Yt[idx].to(device)
            with autocast(device):
                logits = net(*inputs)
            loss = multitask_focal_loss(logits, target, gamma, weights)
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
                opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.append(total / max(count, 1))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    bar.close()
    return history


@torch.no_grad()
def predict_multitask(net: nn.Module, n: int, get_batch: Callable[[np.ndarray], tuple], n_tasks: int,
                      batch_size: int, device: str, progress: bool = False, desc: str = "predict") -> list[np.ndarray]:
    net.to(device)
    net.eval()
    outs: list[list[np.ndarray]] = [[] for _ in range(n_tasks)]
    for start in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
        idx = np.arange(start, min(n, start + batch_size))
        inputs = [x.to(device) if torch.is_tensor(x) else x for x in get_batch(idx)]
        with autocast(device):
            logits = net(*inputs)
        for t, lg in enumerate(logits):
            outs[t].append(torch.softmax(lg.float(), dim=-1).cpu().numpy())
    return [np.concatenate(o) if o else np.zeros((0, 0)) for o in outs]
