"""The collection as the review page reads it (cached for a few minutes): its tasks and label groups
from the one front half (pipeline.load_inputs), the labels of resources, and the queue index of the
live predictions and the review graph, checked against the store on every request (see reading.py)."""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rdflib import URIRef

from .. import sparql
from ..config import Settings
from ..dataset import artifact_classes
from ..errors import KgenrichError
from ..graphs import OwnGraphs
from ..pipeline import Inputs, load_inputs
from ..predictions import SILKNOW_VOCABULARY, WriteVocabulary, subject_for
from ..profiles import Profile
from ..records import ArtifactRecord
from ..store import Store
from ..task_types import Group, Task, TaskLabels
from .checking import GroupInfo
from .decision_types import Recorded, current_of

_REFRESH_SECONDS = 300
_LABEL_LANGS = ("en", "")


class NotFound(KgenrichError):
    status = 404


class BadFilter(KgenrichError):
    status = 400


# ------------------------------------------------------------------ the collection (cached)
@dataclass
class Collection:
    tasks: list[Task]
    labels: dict[str, TaskLabels]
    classes: list[URIRef]
    museums: list[str]
    records: dict[str, ArtifactRecord]  # artifact -> record (graph, task values, statement subjects)
    inputs: Inputs  # what the collection was read as (pipeline.load_inputs): records read later join it
    groups: GroupInfo = field(default_factory=lambda: GroupInfo({}))
    loaded: float = field(default_factory=time.monotonic)
    profile: Profile | None = None  # where texts and images sit, and how predictions are written
    confidence: URIRef = URIRef(SILKNOW_VOCABULARY.confidence)  # the profile's confidence property

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise BadFilter(f"unknown task {name!r} (known: {', '.join(t.name for t in self.tasks)})")

    def task_of(self, predicate: str) -> Task | None:
        return next((t for t in self.tasks if t.property == predicate), None)

    def task_by_iri(self, iri: str) -> Task | None:
        return next((t for t in self.tasks if t.iri == iri), None)

    def group_of(self, task: str, concept: str) -> Group | None:
        return self.groups.group_of_concept(task, concept)

    def subject_of(self, artifact: str, task: Task) -> str | None:
        record = self.records.get(artifact)
        if record is None:
            return None
        return record.subjects.get(task.name) or subject_for(record, task)[0]


@dataclass
class LiveRow:
    """One live prediction of the queue index."""

    statement: str
    subject: str
    predicate: str
    value: str
    confidence: float | None
    artifact: str
    museum: str
    task: str


@dataclass
class QueueIndex:
    """The live predictions and the review graph as the queue reads them, with the versions they were read at."""

    versions: tuple = ()
    live: list[LiveRow] = field(default_factory=list)
    by_statement: dict[str, LiveRow] = field(default_factory=dict)
    live_key: tuple = ()
    reviews: list[Recorded] = field(default_factory=list)
    history: dict[str, list[Recorded]] = field(default_factory=dict)  # statement -> reviews, oldest first
    current: dict[str, Recorded] = field(default_factory=dict)  # statement -> current review
    reviews_key: int = -1


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a label ('Broché' -> 'broche')."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or iri


def float_or_none(term) -> float | None:
    """A confidence as a number, or None when the graph holds something else (JSON has no NaN)."""
    try:
        value = float(str(term))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class CollectionReader:
    """The store, the settings, the cached collection, the labels and the queue index, shared by the
    requests; the caches of the parts (queue, artifact page, search) are kept here too, since a new
    collection empties them."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.graphs = OwnGraphs.from_settings(settings)
        self._collection: Collection | None = None
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = QueueIndex()
        self._ensemble: Any = None  # training.Ensemble, imported when first needed (torch)
        self._ensemble_key: int | None = None
        self._ensemble_note = ""
        self._labels: dict[str, dict[str, str]] = {}
        self._search: dict[str, list[tuple[str, str, str, str, str]]] = {}
        self._evidence: OrderedDict[str, dict] = OrderedDict()
        self._sorted_cache: OrderedDict[tuple, tuple] = OrderedDict()

    # -- the collection ----------------------------------------------------
    def collection(self, refresh: bool = False) -> Collection:
        with self._lock:
            c = self._collection
            if refresh or c is None or time.monotonic() - c.loaded > _REFRESH_SECONDS:
                inputs = load_inputs(self.store, self.settings, with_inputs=False, progress=False)
                classes = artifact_classes(self.store, inputs.tasks)
                museums = sorted({r.graph for r in inputs.records})
                if str(self.graphs.curated) in museums:
                    raise KgenrichError(f"[review] curated_graph {self.graphs.curated} is a museum graph; "
                                        "curated values must go to a graph of their own")
                c = Collection(inputs.tasks, inputs.labels, classes, museums, {r.iri: r for r in inputs.records},
                               inputs, profile=inputs.profile,
                               confidence=URIRef(WriteVocabulary.of(inputs.profile).confidence))
                c.groups = GroupInfo(inputs.labels, frozenset(self._stand_ins(inputs.labels)))
                self._collection = c
                self._search.clear()
                self._evidence.clear()
            return c

    def _stand_ins(self, labels: dict[str, TaskLabels]) -> set[tuple[str, str]]:
        """(task, concept) of the groups whose representative is not the group itself but one of
        its values (no concept is named like the group, e.g. 'other technique' written as satin)."""
        reps = [(name, g) for name, tl in labels.items() for g in tl.groups if g.concept]
        self.labels([g.concept for _, g in reps])
        out = set()
        for name, g in reps:
            names = {fold(v) for v in (self._labels.get(g.concept) or {}).values()}
            names.add(fold(local_name(g.concept).replace("_", " ")))
            if not names & {fold(g.label), fold(g.id.replace("_", " "))}:
                out.add((name, g.concept))
        return out

    # -- labels --------------------------------------------------------------
    def labels(self, resources: Iterable[str]) -> dict[str, str]:
        """The best label of each resource (English, else untagged, else any), else its local name."""
        resources = list(resources)
        todo = sorted({r for r in resources if r and r not in self._labels and sparql.iri_is_valid(r) and ":" in r})
        for start in range(0, len(todo), 200):
            chunk = todo[start:start + 200]
            found: dict[str, dict[str, str]] = {r: {} for r in chunk}
            for row in self.store.select(sparql.prepare("review_labels", resources=[URIRef(r) for r in chunk])):
                term = row["label"]
                lang = getattr(term, "language", None) or ""
                found[str(row["resource"])].setdefault(lang.lower(), str(term))
            self._labels.update(found)
        out = {}
        for r in resources:
            by_lang = self._labels.get(r) or {}
            label = next((by_lang[lang] for lang in _LABEL_LANGS if lang in by_lang), None)
            if label is None and by_lang:
                label = by_lang[sorted(by_lang)[0]]
            out[r] = label or local_name(r)
        return out

    # -- the index -----------------------------------------------------------
    def index(self) -> QueueIndex:
        """The queue index, brought up to date with the store (one cheap query when nothing changed)."""
        c = self.collection()
        rows = self.store.select(sparql.prepare("review_versions", predictions=self.graphs.predictions,
                                                reviews=self.graphs.reviews, confidence=c.confidence))
        row = rows[0] if rows else {}
        live_key = (str(row.get("statements", "")), str(row.get("latest", "")), id(c))
        reviews_key = int(str(row.get("reviews", "0")) or 0)
        with self._index_lock:
            index = self._index
            if index.live_key != live_key:
                index = self._index = self._read_live(c, live_key, index)
            if index.reviews_key != reviews_key:
                self._read_reviews(index, reviews_key)
            return index

    def _read_live(self, c: Collection, key: tuple, old: QueueIndex) -> QueueIndex:
        tasks = [t for t in c.tasks if t.name in c.labels]
        rows = self.store.select(sparql.prepare("review_live", predicates=[URIRef(t.property) for t in tasks],
                                                classes=c.classes, predictions=self.graphs.predictions,
                                                confidence=c.confidence))
        names = {t.property: t.name for t in tasks}
        live: dict[str, LiveRow] = {}
        for r in rows:
            museum = str(r["museum"])
            if self.graphs.is_ours(museum):
                continue
            st = str(r["st"])
            if st not in live:
                live[st] = LiveRow(st, str(r["s"]), str(r["p"]), str(r["o"]), float_or_none(r["confidence"]),
                                   str(r["artifact"]), museum, names.get(str(r["p"]), ""))
        index = QueueIndex(live=list(live.values()), by_statement=live, live_key=key)
        index.reviews, index.history, index.current, index.reviews_key = (old.reviews, old.history, old.current,
                                                                          old.reviews_key)
        return index

    def _read_reviews(self, index: QueueIndex, key: int) -> None:
        reviews = [Recorded.from_row(r) for r in self.store.select(sparql.prepare("review_all",
                                                                                   reviews=self.graphs.reviews))]
        history: dict[str, list[Recorded]] = defaultdict(list)
        for r in sorted(reviews, key=lambda r: (r.time, r.review)):
            history[r.statement].append(r)
        index.reviews = reviews
        index.history = dict(history)
        index.current = {st: cur for st, rs in history.items() if (cur := current_of(rs)) is not None}
        index.reviews_key = key
