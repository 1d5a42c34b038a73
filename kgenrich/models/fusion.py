"""Late fusion: LightGBM per task on the modality models' probabilities.

Inputs per task: each modality's probability vector for the task (NaN when the
artifact lacks the modality), a missing flag per modality, and the tabular
features.  Fusion must be trained on **out-of-fold** probabilities
(cross-fitting, see training.py): a modality that fits its training rows
perfectly would otherwise look perfect to fusion, which would learn to trust it
blindly and then fail on new artifacts.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from ..records import ArtifactRecord
from .base import ModalityModel, encode_targets
from .tabular import LGB_DEFAULTS, Featurizer, LgbTask

Inputs = dict[str, dict[str, np.ndarray]]  # modality -> task -> (n, k) probabilities, NaN = missing


class FusionModel(ModalityModel):
    name = "fusion"
    modality = "fusion"
    defaults = {**LGB_DEFAULTS, "num_boost_round": 100, "num_leaves": 15, "min_data_in_leaf": 10}

    def __init__(self, groups, params=None, settings=None):
        super().__init__(groups, params, settings)
        self.modalities: list[str] = list(self.params.get("modalities", []))
        self.featurizer = Featurizer(self.groups)
        self.models: dict[str, LgbTask] = {}

    def features(self, records: Sequence[ArtifactRecord], inputs: Inputs, task: str) -> np.ndarray:
        k = len(self.groups[task])
        cols = []
        log_sum = np.zeros((len(records), k))
        for m in self.modalities:
            p = inputs.get(m, {}).get(task)
            if p is None:
                p = np.full((len(records), k), np.nan)
            missing = np.isnan(p).any(axis=1)
            cols += [np.where(missing[:, None], np.nan, p), missing[:, None].astype(np.float64)]
            log_sum += np.where(missing[:, None], 0.0, np.log(np.clip(np.nan_to_num(p), 1e-6, 1.0)))
        # the product of the available modalities' probabilities (renormalised): one
        # column per group that already combines the evidence, so shallow trees on a
        # few thousand rows need not rediscover that combination split by split
        prod = np.exp(log_sum - log_sum.max(axis=1, keepdims=True))
        cols.append(prod / prod.sum(axis=1, keepdims=True))
        cols.append(self.featurizer.transform(records, task))
        return np.concatenate(cols, axis=1)

    def categorical(self, task: str) -> list[int]:
        offset = sum(len(self.groups[task]) + 1 for _ in self.modalities) + len(self.groups[task])
        return [offset + i for i in self.featurizer.categorical(task)]

    def fit(self, records, inputs: Inputs, progress: bool = False) -> "FusionModel":  # type: ignore[override]
        records = list(records)
        self.modalities = sorted(inputs)
        self.params["modalities"] = self.modalities
        self.featurizer.fit(records)
        targets = encode_targets(records, self.groups)
        for task in self.tasks:
            rows = targets[task] >= 0
            X = self.features(records, inputs, task)[rows]
            self.models[task] = LgbTask.fit(X, targets[task][rows], len(self.groups[task]), self.categorical(task),
                                            self.params, self.seed)
        self.info["train_records"] = len(records)
        self.fitted = True
        return self

    def predict(self, records, inputs: Inputs, progress: bool = False) -> dict[str, np.ndarray]:  # type: ignore[override]
        out = {}
        for task in self.tasks:
            p = self.models[task].predict(self.features(list(records), inputs, task))
            out[task] = p / p.sum(axis=1, keepdims=True)
        return out

    def _save(self, directory):
        entries = {t: m.save(directory / f"fusion_{i}.txt") for i, (t, m) in enumerate(self.models.items())}
        (directory / "fusion.json").write_text(json.dumps({"museums": self.featurizer.museums, "tasks": entries,
                                                          "modalities": self.modalities}, indent=1))

    def _load(self, directory):
        data = json.loads((directory / "fusion.json").read_text())
        self.featurizer = Featurizer(self.groups, data["museums"])
        self.modalities = data["modalities"]
        self.models = {t: LgbTask.load(directory, e) for t, e in data["tasks"].items()}

    def describe(self) -> str:
        return (f"fusion: LightGBM per task on out-of-fold probabilities of {', '.join(self.modalities)} "
                "with a missing-modality flag each, their renormalised product, and the tabular features")
