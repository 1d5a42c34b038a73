"""Tabular classifier: LightGBM per task on what the graph says besides the
value being predicted -- the museum graph, the groups of the artifact's other
tasks (categorical; unknown = missing, a value in a dropped group = "other"),
how many images and texts it has, and the configured literal properties
(``literal_features``, see ``Featurizer``).

Museum and co-occurring values carry much of the signal in museum data (a
museum's holdings cluster by place and period; velvet implies silk ...), which
is why this simple model is a strong baseline and a fusion input.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

import numpy as np

from ..errors import ModelError
from ..records import ArtifactRecord
from .base import ModalityModel

LGB_DEFAULTS = {
    "num_boost_round": 200,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 5,
    "lambda_l2": 1.0,
    "feature_fraction": 1.0,
    "n_jobs": 0,  # 0 = LightGBM's default (all cores); tests use 1
    "balanced": True,  # inverse-frequency sample weights (macro-F1 rewards the rare groups)
}


MAX_LITERAL_CATEGORIES = 50  # most frequent values of a non-numeric literal feature; the rest are "other"


def _number(value: str) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


class Featurizer:
    """Turns records into the tabular features of one task; vocabularies fixed at fit time.

    Columns: museum, the other tasks' groups, the numbers of images and texts,
    then one column per configured literal property (``literal_features``): its
    first value as a number when every value seen in training is numeric, else
    a category among the most frequent values.
    """

    def __init__(self, groups: dict[str, list[str]], museums: Optional[list[str]] = None,
                 literals: Optional[dict[str, dict]] = None):
        self.groups = groups
        self.museums = museums or []
        self.literals = literals or {}

    @classmethod
    def from_json(cls, groups: dict[str, list[str]], data: dict) -> "Featurizer":
        return cls(groups, data.get("museums", []), data.get("literals", {}))

    def fit(self, records: Sequence[ArtifactRecord]) -> "Featurizer":
        self.museums = sorted({r.museum or r.graph for r in records})
        self.literals = {}
        for prop in sorted({p for r in records for p in r.literals}):
            values = [v for r in records for v in r.literals.get(prop, [])[:1]]
            if values and all(_number(v) is not None for v in values):
                self.literals[prop] = {"kind": "number"}
            else:
                counts: dict[str, int] = {}
                for v in values:
                    counts[v] = counts.get(v, 0) + 1
                top = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_LITERAL_CATEGORIES]
                self.literals[prop] = {"kind": "category", "values": top}
        return self

    def _base(self, task: str) -> int:
        return 3 + len([u for u in self.groups if u != task])

    def names(self, task: str) -> list[str]:
        return (["museum"] + [f"group:{u}" for u in self.groups if u != task] + ["n_images", "n_texts"]
                + [f"literal:{p}" for p in self.literals])

    def categorical(self, task: str) -> list[int]:
        base = self._base(task)
        literal_categories = [base + i for i, spec in enumerate(self.literals.values()) if spec["kind"] == "category"]
        return list(range(1 + len([u for u in self.groups if u != task]))) + literal_categories

    def transform(self, records: Sequence[ArtifactRecord], task: str) -> np.ndarray:
        museum_index = {m: i for i, m in enumerate(self.museums)}
        others = [u for u in self.groups if u != task]
        index = {u: {g: i for i, g in enumerate(self.groups[u])} for u in others}
        base = self._base(task)
        categories = {p: {v: i for i, v in enumerate(spec.get("values", []))} for p, spec in self.literals.items()}
        X = np.full((len(records), base + len(self.literals)), np.nan, dtype=np.float64)
        for i, r in enumerate(records):
            X[i, 0] = museum_index.get(r.museum or r.graph, np.nan)  # unseen museum: missing
            for j, u in enumerate(others, start=1):
                label = r.labels.get(u)
                if label is not None and label in index[u]:
                    X[i, j] = index[u][label]
                elif r.values.get(u):
                    X[i, j] = len(self.groups[u])  # "other": a value whose group was not kept
            X[i, base - 2] = len(r.images)
            X[i, base - 1] = sum(1 for t, _ in r.texts if t and t.strip())
            for j, (prop, spec) in enumerate(self.literals.items(), start=base):
                values = r.literals.get(prop, [])
                if not values:
                    continue  # missing
                if spec["kind"] == "number":
                    number = _number(values[0])
                    X[i, j] = np.nan if number is None else number
                else:
                    X[i, j] = categories[prop].get(values[0], len(categories[prop]))  # unseen: "other"
        return X

    def to_json(self) -> dict:
        return {"museums": self.museums, "literals": self.literals}


def sample_weights(y: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(y, minlength=k).astype(np.float64)
    present = (counts > 0).sum()
    return len(y) / (present * counts[y])


class LgbTask:
    """One multiclass LightGBM (or a class prior when the data cannot train one)."""

    def __init__(self, k: int, booster=None, prior: Optional[np.ndarray] = None):
        self.k, self.booster, self.prior = k, booster, prior

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, k: int, categorical: list[int], params: dict, seed: int) -> "LgbTask":
        import lightgbm as lgb

        counts = np.bincount(y, minlength=k).astype(np.float64)
        if len(y) < 2 or (counts > 0).sum() < 2:
            # nothing to separate: predict the (smoothed) class frequencies
            prior = (counts + 1.0) / (counts.sum() + k)
            return cls(k, prior=prior)
        p = {**LGB_DEFAULTS, **params}
        lgb_params = {
            "objective": "multiclass", "num_class": k, "learning_rate": float(p["learning_rate"]),
            "num_leaves": int(p["num_leaves"]), "min_data_in_leaf": int(p["min_data_in_leaf"]),
            "lambda_l2": float(p["lambda_l2"]), "feature_fraction": float(p["feature_fraction"]),
            "min_data_per_group": 5, "cat_smooth": 10.0, "max_cat_to_onehot": 8,
            "num_threads": int(p["n_jobs"]), "seed": int(seed), "deterministic": True, "force_row_wise": True,
            "verbose": -1,
        }
        weight = sample_weights(y, k) if p.get("balanced", True) else None
        ds = lgb.Dataset(X, label=y, weight=weight, categorical_feature=categorical, free_raw_data=True,
                         params={"verbose": -1})
        booster = lgb.train(lgb_params, ds, num_boost_round=int(p["num_boost_round"]))
        return cls(k, booster=booster)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            return np.tile(self.prior, (len(X), 1))
        if not len(X):
            return np.zeros((0, self.k))
        return np.asarray(self.booster.predict(X)).reshape(len(X), self.k)

    def save(self, path) -> dict:
        if self.booster is None:
            return {"k": self.k, "prior": self.prior.tolist()}
        self.booster.save_model(str(path))  # LightGBM's text format
        return {"k": self.k, "file": path.name}

    @classmethod
    def load(cls, directory, entry: dict) -> "LgbTask":
        import lightgbm as lgb

        if "prior" in entry:
            return cls(entry["k"], prior=np.asarray(entry["prior"]))
        return cls(entry["k"], booster=lgb.Booster(model_file=str(directory / entry["file"])))


class TabularModel(ModalityModel):
    name = "tabular"
    modality = "tabular"
    reads_labels = True  # the other tasks' groups are features
    defaults = dict(LGB_DEFAULTS)

    def __init__(self, groups, params=None, settings=None):
        super().__init__(groups, params, settings)
        self.featurizer = Featurizer(self.groups)
        self.models: dict[str, LgbTask] = {}

    def _fit(self, records, targets, progress):
        self.featurizer.fit(records)
        for task in self.tasks:
            y = targets[task]
            rows = y >= 0
            X = self.featurizer.transform([r for r, ok in zip(records, rows) if ok], task)
            self.models[task] = LgbTask.fit(X, y[rows], len(self.groups[task]), self.featurizer.categorical(task),
                                            self.params, self.seed)

    def _predict(self, records, progress):
        return {t: self.models[t].predict(self.featurizer.transform(records, t)) for t in self.tasks}

    def _save(self, directory):
        entries = {t: m.save(directory / f"tabular_{i}.txt") for i, (t, m) in enumerate(self.models.items())}
        (directory / "tabular.json").write_text(json.dumps({"featurizer": self.featurizer.to_json(),
                                                            "tasks": entries}, indent=1))

    def _load(self, directory):
        data = json.loads((directory / "tabular.json").read_text())
        self.featurizer = Featurizer.from_json(self.groups, data["featurizer"])
        self.models = {t: LgbTask.load(directory, e) for t, e in data["tasks"].items()}
        if set(self.models) != set(self.groups):
            raise ModelError(f"{directory}: tabular models do not match the card's tasks")

    def describe(self) -> str:
        literals = (f", and the literal features {', '.join(self.featurizer.literals)}"
                    if self.featurizer.literals else "")
        return ("tabular: LightGBM per task on the museum graph, the groups of the other tasks "
                f"({', '.join(self.tasks)}) and the numbers of images and texts{literals}")
