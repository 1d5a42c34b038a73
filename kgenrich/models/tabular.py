"""Tabular classifier: LightGBM per task on what the graph says besides the
value being predicted -- the museum graph, the groups of the artifact's other
tasks (categorical; unknown = missing, a value in a dropped group = "other"),
their concrete concepts and the broader concepts above them (thesaurus
ancestors, the places a place lies in, the century a period lies in), how many
images and texts it has, and the configured literal properties
(``literal_features``, see ``Featurizer``).

Museum and co-occurring values carry much of the signal in museum data (a
museum's holdings cluster by place and period; velvet implies silk ...), which
is why this simple model is a strong baseline and a fusion input.

Training (``train_booster``): class weights (inverse frequency to the power
``class_weight_power``), the number of rounds by early stopping on a stratified
inner split of the training rows (then refitted on all of them), and with
``concepts = "auto"`` the concept and ancestor columns are kept for a task only
when they lower the inner split's log-loss -- in a graph whose concrete values
say no more than their groups they are noise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelError
from ..records import ArtifactRecord
from .base import ModalityModel, literal_number

if TYPE_CHECKING:
    from ..config import Settings

# The LightGBM parameters of the tabular model and of fusion (both spread them into their
# DEFAULT_PARAMS and override values, not keys).
LGB_DEFAULTS: dict[str, Any] = {
    "num_boost_round": 200,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 5,
    "lambda_l2": 1.0,
    "feature_fraction": 1.0,
    "n_jobs": 0,  # 0 = LightGBM's default (all cores); tests use 1
    "balanced": True,  # inverse-frequency sample weights (macro-F1 rewards the rare groups)
    "class_weight_power": 1.0,  # those weights to this power (1: balanced, 0: none)
    "early_stopping_rounds": 0,  # 0: no early stopping, num_boost_round rounds
    "valid_fraction": 0.2,  # the inner split that early stopping scores
}
OPTIONAL_GAIN = 0.002  # optional columns are kept when they lower the inner log-loss by this share
CONCEPT_MIN_SUPPORT = 10  # a concept or ancestor becomes a column value only with this many training artifacts
MAX_ANCESTOR_COLUMNS = 30  # per other task, the best-supported ancestors


MAX_LITERAL_CATEGORIES = 50  # most frequent values of a non-numeric literal feature; the rest are "other"


class Featurizer:
    """Turns records into the tabular features of one task; vocabularies fixed at fit time.

    Columns: museum, the other tasks' groups, the numbers of images and texts,
    then one column per configured literal property (``literal_features``): its
    first value as a number when every value seen in training is numeric, else
    a category among the most frequent values.
    """

    def __init__(self, groups: dict[str, list[str]], museums: list[str] | None = None,
                 literals: dict[str, dict] | None = None, concepts: dict[str, dict] | None = None,
                 use_concepts: bool = True):
        self.groups = groups
        self.museums = museums or []
        self.literals = literals or {}
        # task -> {"values": [concept IRIs], "ancestors": [IRIs]}: the column vocabularies
        self.concepts = concepts or {}
        self.use_concepts = use_concepts

    @classmethod
    def from_json(cls, groups: dict[str, list[str]], data: dict) -> Featurizer:
        return cls(groups, data.get("museums", []), data.get("literals", {}), data.get("concepts", {}),
                   bool(data.get("concepts")))

    def _fit_concepts(self, records: Sequence[ArtifactRecord]) -> None:
        """Per task, the concepts and ancestors seen on enough training artifacts to be learnt from."""
        from collections import Counter

        self.concepts = {}
        for task in self.groups:
            values = Counter(r.values[task][0] for r in records if r.values.get(task))
            ancestors = Counter(a for r in records if r.values.get(task) for a in set(r.ancestors.get(task, [])))
            valued = sum(1 for r in records if r.values.get(task))
            kept_values = sorted(v for v, n in values.items() if n >= CONCEPT_MIN_SUPPORT)
            # an ancestor every valued artifact shares says nothing
            kept_ancestors = sorted((a for a, n in ancestors.items() if CONCEPT_MIN_SUPPORT <= n < valued),
                                    key=lambda a: (-ancestors[a], a))[:MAX_ANCESTOR_COLUMNS]
            if len(kept_values) >= 2 or kept_ancestors:
                self.concepts[task] = {"values": kept_values, "ancestors": sorted(kept_ancestors)}

    def fit(self, records: Sequence[ArtifactRecord]) -> Featurizer:
        self.museums = sorted({r.museum or r.graph for r in records})
        if self.use_concepts:
            self._fit_concepts(records)
        self.literals = {}
        for prop in sorted({p for r in records for p in r.literals}):
            values = [v for r in records for v in r.literals.get(prop, [])[:1]]
            if values and all(literal_number(v) is not None for v in values):
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

    def _concept_tasks(self, task: str) -> list[str]:
        return [u for u in self.groups if u != task and u in self.concepts]

    def names(self, task: str) -> list[str]:
        concept_names = []
        for u in self._concept_tasks(task):
            concept_names += [f"concept:{u}"] + [f"ancestor:{u}:{a}" for a in self.concepts[u]["ancestors"]]
        return (["museum"] + [f"group:{u}" for u in self.groups if u != task] + ["n_images", "n_texts"]
                + [f"literal:{p}" for p in self.literals] + concept_names)

    def concept_columns(self, task: str) -> list[int]:
        """The concept and ancestor columns of ``task``'s features (they come last)."""
        start = self._base(task) + len(self.literals)
        return list(range(start, len(self.names(task))))

    def categorical(self, task: str) -> list[int]:
        base = self._base(task)
        literal_categories = [base + i for i, spec in enumerate(self.literals.values()) if spec["kind"] == "category"]
        concept_categories, col = [], base + len(self.literals)
        for u in self._concept_tasks(task):
            concept_categories.append(col)
            col += 1 + len(self.concepts[u]["ancestors"])
        return list(range(1 + len([u for u in self.groups if u != task]))) + literal_categories + concept_categories

    def transform(self, records: Sequence[ArtifactRecord], task: str) -> np.ndarray:
        museum_index = {m: i for i, m in enumerate(self.museums)}
        others = [u for u in self.groups if u != task]
        index = {u: {g: i for i, g in enumerate(self.groups[u])} for u in others}
        base = self._base(task)
        categories = {p: {v: i for i, v in enumerate(spec.get("values", []))} for p, spec in self.literals.items()}
        concept_tasks = self._concept_tasks(task)
        value_index = {u: {v: i for i, v in enumerate(self.concepts[u]["values"])} for u in concept_tasks}
        ancestor_index = {u: {a: i for i, a in enumerate(self.concepts[u]["ancestors"])} for u in concept_tasks}
        width = base + len(self.literals) + sum(1 + len(self.concepts[u]["ancestors"]) for u in concept_tasks)
        X = np.full((len(records), width), np.nan, dtype=np.float64)
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
                    number = literal_number(values[0])
                    X[i, j] = np.nan if number is None else number
                else:
                    X[i, j] = categories[prop].get(values[0], len(categories[prop]))  # unseen: "other"
            col = base + len(self.literals)
            for u in concept_tasks:
                concepts = r.values.get(u)
                n_anc = len(ancestor_index[u])
                if concepts:  # no value: missing, like the group
                    X[i, col] = value_index[u].get(concepts[0], len(value_index[u]))  # rare or unseen: "other"
                    X[i, col + 1:col + 1 + n_anc] = 0.0
                    for a in r.ancestors.get(u, []):
                        if a in ancestor_index[u]:
                            X[i, col + 1 + ancestor_index[u][a]] = 1.0
                col += 1 + n_anc
        return X

    def to_json(self) -> dict:
        return {"museums": self.museums, "literals": self.literals, "concepts": self.concepts}


def sample_weights(y: np.ndarray, k: int, power: float = 1.0) -> np.ndarray:
    """Inverse-frequency weights to the power ``power`` (1: balanced, 0: none), mean 1 over balanced classes."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    present = (counts > 0).sum()
    return (len(y) / (present * counts[y])) ** float(power)


def weight_power(p: dict) -> float:
    if not p["balanced"]:
        return 0.0
    return float(p["class_weight_power"])


def lgb_params(p: dict, k: int, seed: int) -> dict:
    """LightGBM's multiclass parameters from a model's parameters."""
    return {
        "objective": "multiclass", "num_class": k, "learning_rate": float(p["learning_rate"]),
        "num_leaves": int(p["num_leaves"]), "min_data_in_leaf": int(p["min_data_in_leaf"]),
        "lambda_l2": float(p["lambda_l2"]), "feature_fraction": float(p["feature_fraction"]),
        "feature_fraction_seed": int(seed), "min_data_per_group": 5, "cat_smooth": 10.0, "max_cat_to_onehot": 8,
        "num_threads": int(p["n_jobs"]), "seed": int(seed), "deterministic": True, "force_row_wise": True,
        "verbose": -1,
    }


def _without(X: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    # a column of NaN offers no split: LightGBM ignores it, and the column indices stay put
    if not len(columns):
        return X
    X = X.copy()
    X[:, list(columns)] = np.nan
    return X


def train_booster(X: np.ndarray, y: np.ndarray, k: int, categorical: list[int], p: dict, seed: int,
                  init_score: np.ndarray | None = None, optional: Sequence[int] = ()):
    """A multiclass booster: (booster, rounds, whether the ``optional`` columns were dropped).

    With ``early_stopping_rounds`` (and 50 rows or more) the number of rounds is
    chosen on a stratified inner split (``valid_fraction`` of the rows), then the
    booster is refitted on every row with that many rounds, scaled for the extra
    data.  ``optional`` columns are tried both ways on the same split and kept only
    when they lower its log-loss by at least ``OPTIONAL_GAIN`` (0.2%).  ``init_score``: (n, k) raw scores to start from.
    """
    import lightgbm as lgb
    from sklearn.model_selection import train_test_split

    params = lgb_params(p, k, seed)
    weight = sample_weights(y, k, weight_power(p))

    def dataset(M, rows, reference=None):
        # LightGBM's multiclass init_score is class-major: all rows of class 0, then class 1 ...
        init = None if init_score is None else init_score[rows].ravel(order="F")
        return lgb.Dataset(M[rows], label=y[rows], weight=weight[rows], categorical_feature=categorical,
                           init_score=init, reference=reference, free_raw_data=False, params={"verbose": -1})

    rounds = int(p["num_boost_round"])
    stop = int(p["early_stopping_rounds"] or 0)
    idx = np.arange(len(y))
    dropped = False
    if stop and len(y) >= 50:
        try:
            tr, va = train_test_split(idx, test_size=float(p["valid_fraction"]), random_state=seed, stratify=y)
        except ValueError:  # a class too small to stratify
            tr, va = train_test_split(idx, test_size=float(p["valid_fraction"]), random_state=seed)
        trials = {}
        for drop in ((False, True) if len(optional) else (False,)):
            M = _without(X, optional) if drop else X
            dtr = dataset(M, tr)
            probe = lgb.train(params, dtr, num_boost_round=rounds, valid_sets=[dataset(M, va, dtr)],
                              callbacks=[lgb.early_stopping(stop, verbose=False)])
            trials[drop] = (probe.best_score["valid_0"]["multi_logloss"], probe.best_iteration or rounds)
        # optional columns must earn their place: a clear gain, not the luck of one split
        dropped = True in trials and not trials[False][0] < trials[True][0] * (1 - OPTIONAL_GAIN)
        rounds = max(1, int(round(trials[dropped][1] * len(y) / len(tr))))
    booster = lgb.train(params, dataset(_without(X, optional) if dropped else X, idx), num_boost_round=max(1, rounds))
    return booster, rounds, dropped


class LgbTask:
    """One multiclass LightGBM (or a class prior when the data cannot train one)."""

    def __init__(self, k: int, booster=None, prior: np.ndarray | None = None, rounds: int = 0,
                 dropped: Sequence[int] = ()):
        self.k, self.booster, self.prior = k, booster, prior
        self.rounds = int(rounds)
        self.dropped = [int(c) for c in dropped]  # columns left out (masked) at fit and predict

    @staticmethod
    def prior_of(y: np.ndarray, k: int) -> np.ndarray | None:
        """The (smoothed) class frequencies when there is nothing to separate, else None."""
        counts = np.bincount(y, minlength=k).astype(np.float64)
        if len(y) < 2 or (counts > 0).sum() < 2:
            return (counts + 1.0) / (counts.sum() + k)
        return None

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, k: int, categorical: list[int], params: dict, seed: int,
            optional: Sequence[int] = ()) -> LgbTask:
        prior = cls.prior_of(y, k)
        if prior is not None:
            return cls(k, prior=prior)
        booster, rounds, dropped = train_booster(X, y, k, categorical, params, seed,
                                                 optional=optional)
        return cls(k, booster=booster, rounds=rounds, dropped=list(optional) if dropped else [])

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            assert self.prior is not None  # a task without a booster has its prior
            return np.tile(self.prior, (len(X), 1))
        if not len(X):
            return np.zeros((0, self.k))
        return np.asarray(self.booster.predict(_without(X, self.dropped))).reshape(len(X), self.k)

    def save(self, path) -> dict:
        if self.booster is None:
            assert self.prior is not None
            return {"k": self.k, "prior": self.prior.tolist()}
        self.booster.save_model(str(path))  # LightGBM's text format
        return {"k": self.k, "file": path.name, "rounds": self.rounds, "dropped": self.dropped}

    @classmethod
    def load(cls, directory, entry: dict) -> LgbTask:
        import lightgbm as lgb

        if "prior" in entry:
            return cls(entry["k"], prior=np.asarray(entry["prior"]))
        return cls(entry["k"], booster=lgb.Booster(model_file=str(directory / entry["file"])),
                   rounds=entry.get("rounds", 0), dropped=entry.get("dropped", []))


class TabularModel(ModalityModel):
    name = "tabular"
    modality = "tabular"
    reads_labels = True  # the other tasks' groups are features
    # Chosen by 5-fold cross-validation on the SILKNOW training artifacts only (bench/bench_calibration.py
    # tune; docs/models.md lists the grid): smaller, more regularised trees, square-root class weights
    # (full inverse-frequency weights over-predict the rare groups; calibration and the decision rule
    # handle them), rounds by early stopping.
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        **LGB_DEFAULTS,
        "num_boost_round": 1000,  # at most: early stopping picks the number
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "lambda_l2": 5.0,
        "class_weight_power": 0.5,
        "early_stopping_rounds": 30,
        "valid_fraction": 0.2,
        "concepts": "auto",  # auto | true | false: concept and ancestor columns of the other tasks
    }

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        super().__init__(groups, params, settings)
        mode = self.params["concepts"]
        if mode not in ("auto", True, False):
            raise ModelError(f"models.tabular.concepts must be \"auto\", true or false, not {mode!r}")
        self.featurizer = Featurizer(self.groups, use_concepts=mode is not False)
        self.models: dict[str, LgbTask] = {}

    def _fit(self, records, targets, progress):
        self.featurizer.fit(records)
        auto = self.params["concepts"] == "auto"
        for task in self.tasks:
            y = targets[task]
            rows = y >= 0
            X = self.featurizer.transform([r for r, ok in zip(records, rows) if ok], task)
            self.models[task] = LgbTask.fit(X, y[rows], len(self.groups[task]), self.featurizer.categorical(task),
                                            self.params, self.seed,
                                            optional=self.featurizer.concept_columns(task) if auto else ())
        self.info["rounds"] = {t: m.rounds for t, m in self.models.items()}
        self.info["concept_features"] = {t: bool(self.featurizer.concept_columns(t)) and not m.dropped
                                         for t, m in self.models.items()}

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
        used = [t for t, on in self.info.get("concept_features", {}).items() if on]
        concepts = (f", the concrete concepts of the other tasks and their broader concepts (kept for "
                    f"{', '.join(used)})" if used else "")
        return ("tabular: LightGBM per task on the museum graph, the groups of the other tasks "
                f"({', '.join(self.tasks)}){concepts} and the numbers of images and texts{literals}; "
                "rounds by early stopping")
