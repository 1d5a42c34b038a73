"""Focal loss with per-class weights and task masking (multitask heads).

Focal loss (Lin et al. 2017), as SILKNOW used it against the heavy class
imbalance of museum data: FL = -w[y] * (1 - p_y)^gamma * log p_y.  With
gamma = 0 it is exactly the class-weighted cross-entropy, and the mean is taken
the way ``torch.nn.functional.cross_entropy`` takes it (divided by the sum of
the weights of the counted samples), so the two agree to the last bit.

A target of -1 means "no label for this task" (unknown value, or a value in a
group too small to train on): the sample contributes nothing -- neither loss
nor gradient -- to that task's head, while its other tasks still train the
shared backbone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

MASK = -1


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss over the unmasked rows; 0 (with a graph) when all are masked."""
    logits = logits.float()  # stable under bf16 autocast
    valid = target >= 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    logits, target = logits[valid], target[valid]
    logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
    p = logp.exp()
    w = torch.ones_like(logp) if weight is None else weight.to(logp.device, logp.dtype)[target]
    loss = -w * (1.0 - p).clamp(min=0.0).pow(gamma) * logp
    return loss.sum() / w.sum().clamp(min=1e-12)


def multitask_focal_loss(logits: Sequence[torch.Tensor], targets: torch.Tensor, gamma: float = 2.0,
                         weights: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Sum over tasks of the masked focal loss; ``targets`` is (batch, n_tasks) with -1 = masked."""
    total: torch.Tensor | None = None
    for t, task_logits in enumerate(logits):
        w = None if weights is None else weights[t]
        loss = focal_loss(task_logits, targets[:, t], gamma, w)
        total = loss if total is None else total + loss
    assert total is not None, "no task heads"
    return total


def inverse_frequency_weights(y: np.ndarray, n_classes: int, clip: float = 20.0) -> torch.Tensor:
    """w[c] = n / (K * count[c]) over the labelled rows (1 for a balanced task).

    Classes absent from ``y`` get weight 1 (they never occur in the loss).  The
    clip keeps a group with one or two examples from dominating a batch -- with
    raw inverse frequency a singleton in 10,000 rows would weigh 1,000x.
    """
    y = np.asarray(y)
    y = y[y >= 0]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.ones(n_classes, dtype=np.float64)
    if present.any():
        w[present] = len(y) / (present.sum() * counts[present])
        w = np.clip(w, 1.0 / clip, clip)
    return torch.tensor(w, dtype=torch.float32)
