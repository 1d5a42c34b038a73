"""Words: a linear classifier on the words of an artifact's texts (TF-IDF, logistic regression).

Museum texts are short and formulaic -- "Etching on paper", "Oil paint on
canvas", "Bequeathed by the artist 1856" -- and the exact words (and their
order, in bigrams) carry much of what they say about an artifact.  A frozen
sentence encoder blurs them; a bag of words keeps them, trains in seconds on a
CPU and gives the fusion a second, very different view of the same texts.

Features: per text field of the collection profile (``record.text_fields``: a
title, a material statement ...; one field "text" for texts that come without
one), TF-IDF of word unigrams and bigrams (sublinear term frequency, words seen
in at least ``min_df`` training artifacts, the ``max_features`` most frequent
per field), so that "paper" in a material statement and "paper" in a title are
different features; optionally character n-grams of all texts together
(``char_ngrams``), for collections in several languages whose words inflect.
With ``features`` (the default), the record's feature inputs join as words of a
field of their own: each categorical value (a creator's IRI, a department) is a
word, each number the word of its decile among the training artifacts (a
height, a birth year), so that one linear model weighs "by this artist",
"etching" and "tall" together -- what a data scientist's first model does, and
what the tree model, which sees texts only through the fusion, cannot.
One multinomial logistic regression per task, classes weighted by inverse
frequency to the power ``class_weight_power`` (as the tabular model does).

The fitted vocabulary, IDF weights and coefficients are saved as JSON and
NumPy arrays (no pickles).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..records import ArtifactRecord
from .base import ModalityModel, literal_number

if TYPE_CHECKING:
    from ..config import Settings

WHOLE = "text"  # the field of texts that come without one
FEATURES = "__features__"  # the field of the feature inputs as words
_DECILES = 10


def _slug(name: str) -> str:
    return "_".join(name.split()) or "_"


def record_fields(record: ArtifactRecord) -> dict[str, str]:
    """field -> the record's texts of that field, joined (texts outside every field go to "text")."""
    fields = {name: " \n ".join(texts) for name, texts in record.text_fields.items() if texts}
    named = {t for texts in record.text_fields.values() for t in texts}
    rest = [t for t, _ in record.texts if t not in named]
    if rest:
        fields[WHOLE] = " \n ".join(rest)
    return fields


def _tokenizer_params() -> dict:
    # Unicode words of two or more characters and numbers of any length (years, sizes).
    return {"lowercase": True, "strip_accents": "unicode", "token_pattern": r"(?u)\b\w\w+\b|\b\d\b"}


class WordsModel(ModalityModel):
    name = "words"
    modality = "words"
    reads_labels = False
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        "max_features": 50_000,  # per field
        "min_df": 2,
        "ngram_max": 2,
        "char_ngrams": False,  # character 3-5-grams of all texts too (inflected, multilingual texts)
        "features": True,  # the feature inputs (categories, numbers by decile) as words of their own field
        "C": 4.0,  # inverse regularisation of the logistic regression
        "class_weight_power": 0.5,
        "max_iter": 100,  # lbfgs iterations: enough for TF-IDF features, and many classes stay fast
        "n_jobs": 1,
    }

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        super().__init__(groups, params, settings)
        self.vectorizers: dict = {}  # field -> fitted TfidfVectorizer
        self.coef: dict[str, np.ndarray] = {}
        self.intercept: dict[str, np.ndarray] = {}
        self.classes: dict[str, np.ndarray] = {}  # task -> the group indices the regression saw
        self.numbers: dict[str, list[float]] = {}  # numeric feature -> its decile edges (training artifacts)

    def available(self, records):
        with_features = bool(self.params["features"])
        return np.array([bool(record_fields(r)) or (with_features and any(r.literals.values())) for r in records],
                        dtype=bool)

    # -------------------------------------------------------------- feature inputs as words
    def _fit_numbers(self, records) -> None:
        self.numbers = {}
        for name in sorted({k for r in records for k in r.literals}):
            values = [v for r in records for v in r.literals.get(name, [])]
            numbers = [literal_number(v) for v in values]
            if values and all(x is not None for x in numbers):
                edges = np.unique(np.quantile(np.array(numbers, dtype=float), np.linspace(0, 1, _DECILES + 1)[1:-1]))
                self.numbers[name] = [float(e) for e in edges]

    def _feature_words(self, record: ArtifactRecord) -> str:
        words = []
        for name, values in sorted(record.literals.items()):
            slug = _slug(name)
            edges = self.numbers.get(name)
            for value in values:
                if edges is not None:
                    x = literal_number(value)
                    if x is not None:
                        words.append(f"{slug}#{int(np.searchsorted(edges, x, side='right'))}")
                else:
                    words.append(f"{slug}={'_'.join(str(value).split())}")
        return " ".join(words)

    # -------------------------------------------------------------- features
    def _vectorizer(self, field: str):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if field == FEATURES:  # one word per value, as it is (IRIs keep their case)
            return TfidfVectorizer(lowercase=False, token_pattern=r"\S+", min_df=int(self.params["min_df"]),
                                   sublinear_tf=True, dtype=np.float32)

        if field == "__chars__":
            return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=int(self.params["min_df"]),
                                   max_features=int(self.params["max_features"]), sublinear_tf=True,
                                   lowercase=True, strip_accents="unicode", dtype=np.float32)
        return TfidfVectorizer(ngram_range=(1, int(self.params["ngram_max"])), min_df=int(self.params["min_df"]),
                               max_features=int(self.params["max_features"]), sublinear_tf=True, dtype=np.float32,
                               **_tokenizer_params())

    def _documents(self, records, field: str) -> list[str]:
        if field == "__chars__":
            return [" \n ".join(t for t, _ in r.texts) for r in records]
        if field == FEATURES:
            return [self._feature_words(r) for r in records]
        return [record_fields(r).get(field, "") for r in records]

    def _matrix(self, records):
        from scipy import sparse

        blocks = [self.vectorizers[f].transform(self._documents(records, f)) for f in sorted(self.vectorizers)]
        return sparse.hstack(blocks, format="csr") if blocks else sparse.csr_matrix((len(records), 0))

    # -------------------------------------------------------------- training
    def _fit(self, records, targets, progress):
        from sklearn.linear_model import LogisticRegression

        has_text = self.available(records)
        fields = sorted({f for r, ok in zip(records, has_text) if ok for f in record_fields(r)})
        if self.params["char_ngrams"]:
            fields.append("__chars__")
        if self.params["features"]:
            self._fit_numbers(records)
            fields.append(FEATURES)
        self.vectorizers = {}
        training = [r for r, ok in zip(records, has_text) if ok]
        for field in fields:
            vectorizer = self._vectorizer(field)
            try:
                vectorizer.fit(self._documents(training, field))
            except ValueError:  # no word seen often enough in this field
                continue
            self.vectorizers[field] = vectorizer
        X = self._matrix(records)
        self.info["features"] = {f: len(v.vocabulary_) for f, v in self.vectorizers.items()}
        for task in self.tasks:
            y = targets[task]
            rows = (y >= 0) & has_text
            classes = np.unique(y[rows])
            self.classes[task] = classes
            k = len(self.groups[task])
            if len(classes) < 2 or X.shape[1] == 0:
                prior = np.bincount(y[rows], minlength=k).astype(float) + 1.0
                self.coef[task] = np.zeros((1, X.shape[1]), dtype=np.float32)
                self.intercept[task] = np.log(prior / prior.sum())[None, :]
                self.classes[task] = np.array([-1])
                continue
            counts = np.bincount(y[rows], minlength=k).astype(float)
            power = float(self.params["class_weight_power"])
            # inverse frequency to a power (1: balanced, 0: none), as the tabular model weighs its classes
            weights = {int(c): float((counts.sum() / (len(classes) * counts[c])) ** power) for c in classes}
            model = LogisticRegression(C=float(self.params["C"]), max_iter=int(self.params["max_iter"]),
                                       class_weight=weights, solver="lbfgs")
            model.fit(X[rows], y[rows])
            self.coef[task] = model.coef_.astype(np.float32)
            self.intercept[task] = model.intercept_.astype(np.float64)
            self.classes[task] = model.classes_.astype(np.int64)

    def _predict(self, records, progress):
        has_text = self.available(records)
        X = self._matrix(records)
        out = {}
        for task in self.tasks:
            k = len(self.groups[task])
            p = np.full((len(records), k), np.nan)
            classes = self.classes[task]
            if classes.size == 1 and classes[0] == -1:  # a prior: too few classes to train on
                prior = np.exp(self.intercept[task][0])
                p[has_text] = prior / prior.sum()
            else:
                scores = np.asarray(X @ self.coef[task].T, dtype=np.float64) + self.intercept[task]
                if len(classes) == 2 and scores.shape[1] == 1:  # sklearn's binary form: one column
                    scores = np.hstack([-scores / 2, scores / 2])
                scores -= scores.max(axis=1, keepdims=True)
                e = np.exp(scores)
                e /= e.sum(axis=1, keepdims=True)
                full = np.zeros((len(records), k))
                full[:, classes] = e
                p[has_text] = full[has_text]
            out[task] = p
        return out

    # -------------------------------------------------------------- saving
    def _save(self, directory: Path):
        fields: dict[str, dict[str, Any]] = {}
        for field, v in self.vectorizers.items():
            fields[field] = {"vocabulary": {w: int(i) for w, i in v.vocabulary_.items()}}
            np.save(directory / f"idf_{len(fields) - 1}.npy", v.idf_.astype(np.float64), allow_pickle=False)
            fields[field]["idf"] = f"idf_{len(fields) - 1}.npy"
        tasks = {}
        for i, task in enumerate(self.tasks):
            np.save(directory / f"coef_{i}.npy", self.coef[task], allow_pickle=False)
            np.save(directory / f"intercept_{i}.npy", self.intercept[task], allow_pickle=False)
            np.save(directory / f"classes_{i}.npy", self.classes[task], allow_pickle=False)
            tasks[task] = i
        (directory / "words.json").write_text(json.dumps({"fields": fields, "tasks": tasks, "numbers": self.numbers},
                                                         ensure_ascii=False))

    def _load(self, directory: Path):
        data = json.loads((Path(directory) / "words.json").read_text(encoding="utf-8"))
        self.vectorizers = {}
        self.numbers = {k: [float(x) for x in v] for k, v in data.get("numbers", {}).items()}
        for field, entry in data["fields"].items():
            v = self._vectorizer(field)
            v.vocabulary_ = dict(entry["vocabulary"])
            v.fixed_vocabulary_ = True
            idf = np.load(Path(directory) / entry["idf"], allow_pickle=False)
            v.idf_ = idf
            self.vectorizers[field] = v
        for task, i in data["tasks"].items():
            self.coef[task] = np.load(Path(directory) / f"coef_{i}.npy", allow_pickle=False)
            self.intercept[task] = np.load(Path(directory) / f"intercept_{i}.npy", allow_pickle=False)
            self.classes[task] = np.load(Path(directory) / f"classes_{i}.npy", allow_pickle=False)

    def describe(self) -> str:
        fields = ", ".join(f for f in sorted(self.vectorizers) if f not in ("__chars__", FEATURES)) or "none"
        chars = " and character 3-5-grams" if "__chars__" in self.vectorizers else ""
        if FEATURES in self.vectorizers:
            chars += ", and the feature inputs as words (categories; numbers by decile)"
        return (f"words: logistic regression per task on TF-IDF word uni- and bigrams of each text field "
                f"({fields}){chars}")
