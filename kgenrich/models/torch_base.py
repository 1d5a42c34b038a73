"""What the torch models (image, text) share: device, common parameters,
seeding, the multitask training call, and state dicts saved as safetensors.

The training loop itself is in torchutil.py; a subclass builds its network,
says how to get a batch and which phases to run (heads first, then the whole
network), this class runs it with the parameters every torch model has and
records what happened (losses, validation, early stop) in the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from . import distributed
from .base import ModalityModel
from .torchutil import FitOptions, FitState, Phase, fit_multitask, seed_everything


def resolve_device(device: str | None) -> str:
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
    # The parameters every torch model reads; a subclass overrides values, not keys.
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,  # the heads (and whatever a subclass does not give its own rate)
        "hidden": 0,  # width of a shared hidden layer before the heads; 0: none
        "dropout": 0.2,
        "focal_gamma": 2.0,
        "weight_decay": 1e-4,
        "device": None,  # None/"auto": CUDA when present
        "threads": None,  # torch CPU threads; None: torch's default
        "accumulate": 1,  # micro-batches per optimiser step (a large batch on a small GPU)
        "val_share": "auto",  # inner validation split for early stopping; auto: 0.1 when fine-tuning a network, else 0
        "patience": 3,  # epochs without a better validation loss before stopping
        "compile": False,  # torch.compile the network (CUDA; the first batches pay the compilation)
        "checkpoint_seconds": 30,  # during training: save a checkpoint after an epoch when this long since the last
    }

    @property
    def frozen(self) -> bool:
        """A frozen encoder: only heads train (no early stopping by default)."""
        return False

    @property
    def device(self) -> str:
        # the model's own device (training hands down --device and [models] device), else the run's
        device = resolve_device(self.params["device"] or (self.settings.device if self.settings is not None else None))
        return distributed.local_device(device)

    def _seed(self) -> None:
        """Seed every generator and set the thread count: first thing of a fit, for repeatable models."""
        seed_everything(self.seed, self.params["threads"])

    def _head_sizes(self) -> list[int]:
        return [len(self.groups[t]) for t in self.tasks]

    def _val_share(self) -> float:
        v = self.params["val_share"]
        if v in (None, "auto"):
            return 0.0 if self.frozen else 0.1
        return float(v)

    def _fit_net(self, net: nn.Module, batches, Y: np.ndarray, phases: Sequence[Phase], *, desc: str,
                 progress: bool, split_groups: np.ndarray | None = None, val_batches=None,
                 channels_last: bool = False) -> FitState:
        """Train ``net`` on rows 0..len(Y)-1 (``Y``: (n, tasks), -1 masked) with the model's parameters."""
        p = self.params
        checkpoint = Path(self.checkpoint_dir) / "fit.pt" if self.checkpoint_dir else None
        opts = FitOptions(epochs=int(p["epochs"]), batch_size=int(p["batch_size"]), lr=float(p["lr"]),
                          weight_decay=float(p["weight_decay"]), gamma=float(p["focal_gamma"]), device=self.device,
                          seed=self.seed, accumulate=int(p["accumulate"] or 1), val_share=self._val_share(),
                          patience=int(p["patience"] or 3), channels_last=channels_last,
                          compile=bool(p["compile"]), checkpoint=checkpoint,
                          checkpoint_seconds=float(p["checkpoint_seconds"]), progress=progress, desc=desc)
        return fit_multitask(net, batches, Y, self._head_sizes(), phases, opts, split_groups, val_batches)

    def _record_fit(self, state: FitState) -> None:
        self.info["loss"] = state.history
        if state.val_history:
            self.info["val_loss"] = state.val_history
            self.info["best_epoch"] = state.best_epoch + 1
            self.info["stopped_early"] = state.stopped_early
