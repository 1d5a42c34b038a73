"""Late fusion: LightGBM per task on the modality models' probabilities.

Inputs per task: each modality's log-probabilities for the task (NaN when the
artifact lacks the modality) and a missing flag per modality; the
product of experts (the renormalised sum of the available modalities'
log-probabilities) and the number of modalities present; the tabular
features.  The booster starts from ``poe_init`` times the product of experts
(LightGBM's ``init_score``), so the trees learn corrections to a sensible
combination rather than rediscovering it split by split; it is kept small and
regularised (few leaves, many rows per leaf, a low learning rate) and the
number of rounds is chosen by early stopping on an inner stratified split of
the training rows, then the booster is refitted on all of them.  Fusion must be trained on **out-of-fold** probabilities
(cross-fitting, see training.py): a modality that fits its training rows
perfectly would otherwise look perfect to fusion, which would learn to trust it
blindly and then fail on new artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelError
from ..records import ArtifactRecord
from .base import Inputs, Stacker
from .tabular import LGB_DEFAULTS, Featurizer, LgbTask, train_booster

if TYPE_CHECKING:
    from ..config import Settings

EPS = 1e-4  # probabilities are clipped here before the log: one confident mistake must not dominate


def product_of_experts(inputs: Inputs, modalities: Sequence[str], task: str, n: int, k: int):
    """(log-probabilities of each modality (NaN missing), missing flags, normalised PoE log-probs)."""
    logs, flags = [], []
    total = np.zeros((n, k))
    for m in modalities:
        p = inputs.get(m, {}).get(task)
        if p is None:
            p = np.full((n, k), np.nan)
        missing = np.asarray(np.isnan(p).any(axis=1))
        lp = np.log(np.clip(np.nan_to_num(p, nan=1.0 / k), EPS, 1.0))
        logs.append(np.where(missing[:, None], np.nan, lp))
        flags.append(missing)
        total += np.where(missing[:, None], 0.0, lp)
    total -= total.max(axis=1, keepdims=True)
    poe = total - np.log(np.exp(total).sum(axis=1, keepdims=True))
    return logs, flags, poe


class FusionTask(LgbTask):
    """A multiclass booster on top of an init score (``init`` times the PoE log-probabilities)."""

    def __init__(self, k: int, booster=None, prior=None, init: float = 0.0, rounds: int = 0):
        super().__init__(k, booster, prior)
        self.init, self.rounds = float(init), int(rounds)

    @classmethod
    def fit_fusion(cls, X, y, k, categorical, params, seed, base: np.ndarray) -> FusionTask:
        prior = cls.prior_of(y, k)
        if prior is not None:
            return cls(k, prior=prior)
        init = float(params["poe_init"])
        booster, rounds, _ = train_booster(X, y, k, categorical, params, seed, init_score=init * base)
        return cls(k, booster=booster, init=init, rounds=rounds)

    def predict_fused(self, X: np.ndarray, base: np.ndarray) -> np.ndarray:
        if self.booster is None:
            assert self.prior is not None  # a task without a booster has its prior
            return np.tile(self.prior, (len(X), 1))
        raw = self.init * base
        if len(X):
            raw = raw + np.asarray(self.booster.predict(X, raw_score=True)).reshape(len(X), self.k)
        raw = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, path) -> dict:
        return {**super().save(path), "init": self.init, "rounds": self.rounds}

    @classmethod
    def load(cls, directory, entry: dict) -> FusionTask:
        import lightgbm as lgb

        prior = np.asarray(entry["prior"]) if "prior" in entry else None
        booster = lgb.Booster(model_file=str(directory / entry["file"])) if "file" in entry else None
        return cls(entry["k"], booster=booster, prior=prior, init=entry.get("init", 0.0),
                   rounds=entry.get("rounds", 0))


class FusionModel(Stacker):
    name = "fusion"
    modality = "fusion"
    # Conservative: a few thousand rows of out-of-fold probabilities are easy to overfit.
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        **LGB_DEFAULTS, "num_boost_round": 400, "learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 20,
        "lambda_l2": 5.0, "feature_fraction": 0.8, "early_stopping_rounds": 30, "valid_fraction": 0.2,
        "poe_init": 0.5,  # weight of the product of experts in the booster's initial score
        "modalities": [],  # set at fit time: the modalities it stacks
    }

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        super().__init__(groups, params, settings)
        self.modalities: list[str] = list(self.params["modalities"])
        # the modalities' probabilities already carry what concrete concepts say: the groups will do
        self.featurizer = Featurizer(self.groups, use_concepts=False)
        self.models: dict[str, FusionTask] = {}

    def _design(self, records: Sequence[ArtifactRecord], inputs: Inputs, task: str) -> tuple[np.ndarray, np.ndarray]:
        n, k = len(records), len(self.groups[task])
        logs, flags, poe = product_of_experts(inputs, self.modalities, task, n, k)
        cols = []
        for lp, missing in zip(logs, flags):
            cols += [lp, missing[:, None].astype(np.float64)]
        present = len(self.modalities) - np.sum(flags, axis=0) if flags else np.zeros(n)
        cols += [poe, np.asarray(present, dtype=np.float64).reshape(n, 1)]
        cols.append(self.featurizer.transform(records, task))
        return np.concatenate(cols, axis=1), poe

    def features(self, records: Sequence[ArtifactRecord], inputs: Inputs, task: str) -> np.ndarray:
        return self._design(records, inputs, task)[0]

    def categorical(self, task: str) -> list[int]:
        k = len(self.groups[task])
        offset = (k + 1) * len(self.modalities) + k + 1
        return [offset + i for i in self.featurizer.categorical(task)]

    def _fit(self, records, inputs, targets, progress):
        self.modalities = sorted(inputs)
        self.params["modalities"] = self.modalities
        self.featurizer.fit(records)
        for task in self.tasks:
            rows = targets[task] >= 0
            X, base = self._design(records, inputs, task)
            self.models[task] = FusionTask.fit_fusion(X[rows], targets[task][rows], len(self.groups[task]),
                                                      self.categorical(task), self.params, self.seed, base[rows])
        self.info["rounds"] = {t: m.rounds for t, m in self.models.items()}

    def _predict(self, records, inputs, progress):
        out = {}
        for task in self.tasks:
            X, base = self._design(records, inputs, task)
            out[task] = self.models[task].predict_fused(X, base)
        return out

    def _save(self, directory):
        entries = {t: m.save(directory / f"fusion_{i}.txt") for i, (t, m) in enumerate(self.models.items())}
        (directory / "fusion.json").write_text(json.dumps({"featurizer": self.featurizer.to_json(), "tasks": entries,
                                                          "modalities": self.modalities}, indent=1))

    def _load(self, directory):
        data = json.loads((directory / "fusion.json").read_text())
        if any("init" not in e for e in data["tasks"].values()):
            # an older layout (raw probabilities, no product-of-experts start): its trees would
            # read the wrong columns
            raise ModelError(f"{directory}: fusion saved by an older kgenrich (other features); retrain")
        # "museums" alone: saved before literal features existed (same columns when none are configured)
        self.featurizer = Featurizer.from_json(self.groups, data.get("featurizer") or {"museums": data["museums"]})
        self.modalities = data["modalities"]
        self.models = {t: FusionTask.load(directory, e) for t, e in data["tasks"].items()}

    def describe(self) -> str:
        return (f"fusion: LightGBM per task on out-of-fold log-probabilities of {', '.join(self.modalities)} "
                "with a missing-modality flag each, their product of experts (also the booster's initial score, "
                f"weight {self.params['poe_init']}), and the tabular features; rounds by early stopping")
