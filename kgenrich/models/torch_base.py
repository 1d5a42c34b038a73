"""What the torch models (image, text) share: device, common parameters,
seeding, the multitask training call, and state dicts saved as safetensors.

The training loop itself is in torchutil.py; a subclass builds its network and
says how to get a batch, this class runs it with the parameters every torch
model has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .base import ModalityModel
from .torchutil import seed_everything, train_multitask

# The parameters every torch model reads; a subclass overrides values, not keys.
TORCH_DEFAULTS = {
    "epochs": 10,
    "batch_size": 32,
    "lr": 1e-3,  # the heads (and whatever a subclass does not give its own rate)
    "hidden": 0,  # width of a shared hidden layer before the heads; 0: none
    "dropout": 0.2,
    "focal_gamma": 2.0,
    "weight_decay": 1e-4,
    "device": None,  # None/"auto": CUDA when present
    "threads": None,  # torch CPU threads; None: torch's default
}


def resolve_device(device: Optional[str]) -> str:
    """'auto' -> cuda when present, else cpu; an explicit 'cuda' without a GPU is an error."""
    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' requested but no CUDA device is available (use --device cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ModelError(f"unknown device '{device}' (use auto, cpu or cuda)")
    return device


def save_state(module: nn.Module, path: Path) -> None:
    """A module's state dict as safetensors (no pickle: loading runs no code)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


def load_state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


class TorchModel(ModalityModel):
    """A modality model trained with torch: multitask heads, focal loss, AdamW."""

    reads_labels = False  # image and text read their own input only
    defaults = dict(TORCH_DEFAULTS)

    @property
    def device(self) -> str:
        return resolve_device(self.params.get("device") or getattr(self.settings, "device", "auto"))

    def _seed(self) -> None:
        """Seed every generator and set the thread count: first thing of a fit, for repeatable models."""
        seed_everything(self.seed, self.params.get("threads"))

    def _head_sizes(self) -> list[int]:
        return [len(self.groups[t]) for t in self.tasks]

    def _train(self, net: nn.Module, n: int, get_batch: Callable[[np.ndarray], tuple], Y: np.ndarray, *,
               desc: str, progress: bool, param_groups=None) -> list[float]:
        """Train ``net`` on rows 0..n-1 (``Y``: (n, tasks), -1 masked) with the model's parameters;
        returns the loss per epoch."""
        p = self.params
        return train_multitask(net, n, get_batch, Y, self._head_sizes(), gamma=float(p["focal_gamma"]),
                               epochs=int(p["epochs"]), batch_size=int(p["batch_size"]), lr=float(p["lr"]),
                               device=self.device, seed=self.seed, weight_decay=float(p["weight_decay"]),
                               param_groups=param_groups, progress=progress, desc=desc)
