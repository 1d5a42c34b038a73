"""What the review page reads: the collection's tasks, the queue, one artifact and its history,
statistics, the label search.

Everything comes from the store through queries/review_*.rq.  The tasks and their label groups
come from the one front half (pipeline.load_inputs, values only) and are kept for a few minutes;
the records of the artifacts a page shows are read through the same door (pipeline.read_records),
so they hold the curated values exactly as every command sees them.
The queue is answered from an index of the live predictions (queries/review_live.rq) and of the
review graph (queries/review_all.rq) that every request checks against the store with one cheap
query (queries/review_versions.rq: live statements, newest prediction activity, number of
reviews) and reads again when a sync or any reviewer changed them: a queue page then costs
milliseconds instead of a sort of every live prediction in SPARQL.  Pages are keyset pages (the
key of the last row shown), so deciding rows never shifts the rows of the next page away.

Per-modality probabilities are not stored in the graph (the statement's confidence is the fused
one): they are computed on demand, for the artifact being viewed, from the trained ensemble in
the models directory -- and the page says so when there is none.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import threading
import time
import unicodedata
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdflib import URIRef

from .. import sparql
from ..config import Settings
from ..dataset import artifact_classes
from ..errors import KgenrichError
from ..graphs import OwnGraphs
from ..pipeline import Inputs, complete, load_inputs, read_records
from ..predictions import SILKNOW_VOCABULARY, WriteVocabulary, subject_for
from ..profiles import Profile
from ..records import ArtifactRecord, Group, Task, TaskLabels
from ..store import Store
from .decisions import UNDONE, GroupInfo, Proposal, Recorded, current_of, value_groups
from .words import day, parse_time, when_words

log = logging.getLogger(__name__)

ORDERS = ("uncertainty", "confidence", "artifact", "recent")
STATUSES = ("pending", "decided", "all")
DECIDED_KINDS = ("accepted", "rejected", "corrected")
MAX_OFFSET = 10_000_000
_REFRESH_SECONDS = 300
_LABEL_LANGS = ("en", "")
_SEARCH_LIMIT = 200_000  # labels read per task for the label search (a thesaurus has far fewer)
_EVIDENCE_CACHE = 20_000
# What the page calls each modality, in a curator's words.
MODALITY_WORDS = {"image": "photographs", "text": "descriptions", "tabular": "metadata"}


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
class _Index:
    versions: tuple = ()
    live: list[LiveRow] = field(default_factory=list)
    by_statement: dict[str, LiveRow] = field(default_factory=dict)
    live_key: tuple = ()
    reviews: list[Recorded] = field(default_factory=list)
    history: dict[str, list[Recorded]] = field(default_factory=dict)  # statement -> reviews, oldest first
    current: dict[str, Recorded] = field(default_factory=dict)  # statement -> current review
    reviews_key: int = -1


# ------------------------------------------------------------------ keyset cursors
def encode_cursor(key: Sequence) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, like: Sequence) -> tuple:
    """A cursor from the page, checked against the shape of the order's keys."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadFilter("not a page position this queue made (after/before); start from the first page") from None
    if not isinstance(key, list) or len(key) != len(like) or any(
            not isinstance(k, (int, float) if isinstance(t, float) else str) or isinstance(k, bool)
            for k, t in zip(key, like)):
        raise BadFilter("not a page position of this order (after/before); start from the first page")
    return tuple(float(k) if isinstance(t, float) else k for k, t in zip(key, like))


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a label ('Broché' -> 'broche')."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Reader:
    """The store, the settings, the cached collection and the queue index, shared by the requests."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.graphs = OwnGraphs.from_settings(settings)
        self._collection: Collection | None = None
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = _Index()
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
            names = {_fold(v) for v in (self._labels.get(g.concept) or {}).values()}
            names.add(_fold(_local_name(g.concept).replace("_", " ")))
            if not names & {_fold(g.label), _fold(g.id.replace("_", " "))}:
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
            out[r] = label or _local_name(r)
        return out

    # -- the index -----------------------------------------------------------
    def index(self) -> _Index:
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

    def _read_live(self, c: Collection, key: tuple, old: _Index) -> _Index:
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
                live[st] = LiveRow(st, str(r["s"]), str(r["p"]), str(r["o"]), _float(r["confidence"]),
                                   str(r["artifact"]), museum, names.get(str(r["p"]), ""))
        index = _Index(live=list(live.values()), by_statement=live, live_key=key)
        index.reviews, index.history, index.current, index.reviews_key = (old.reviews, old.history, old.current,
                                                                          old.reviews_key)
        return index

    def _read_reviews(self, index: _Index, key: int) -> None:
        reviews = [Recorded.from_row(r) for r in self.store.select(sparql.prepare("review_all",
                                                                                   reviews=self.graphs.reviews))]
        history: dict[str, list[Recorded]] = defaultdict(list)
        for r in sorted(reviews, key=lambda r: (r.time, r.review)):
            history[r.statement].append(r)
        index.reviews = reviews
        index.history = dict(history)
        index.current = {st: cur for st, rs in history.items() if (cur := current_of(rs)) is not None}
        index.reviews_key = key

    # -- the queue -----------------------------------------------------------
    def queue(self, task: str = "", museum: str = "", value: str = "", min_confidence=0.0, max_confidence=1.0,
              status: str = "pending", order: str = "", limit: int = 50, offset: int = 0, after: str = "",
              before: str = "", reviewer: str = "", since: str = "", until: str = "", decision: str = "") -> dict:
        c = self.collection()
        index = self.index()
        if status not in STATUSES:
            raise BadFilter(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
        order = order or ("recent" if status == "decided" else "uncertainty")
        if order not in ORDERS:
            raise BadFilter(f"unknown order {order!r} (one of: {', '.join(ORDERS)})")
        if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise BadFilter(f"offset must be a whole number from 0 to {MAX_OFFSET:,}")
        items, keys, reverse = self._sorted(c, index, order, task, museum, value, min_confidence, max_confidence,
                                            status, reviewer, since, until, decision)
        total = len(items)
        if after or before:
            cursor = decode_cursor(after or before, keys[0] if keys else _key_shape(order))
            if after:
                position = _count_until(keys, cursor, reverse, inclusive=True)
                page = items[position:position + limit]
            else:
                end = _count_until(keys, cursor, reverse, inclusive=False)
                position = max(0, end - limit)
                page = items[position:end]
        else:
            position = offset
            page = items[offset:offset + limit]
        key = _order_key(order)[0]
        out = [self._item(c, index, row) for row in page]
        self._add_labels(c, out)
        return {"total": total, "offset": position, "limit": limit, "order": order, "status": status,
                "items": out,
                "next": encode_cursor(key(page[-1])) if page and position + len(page) < total else None,
                "previous": encode_cursor(key(page[0])) if page and position > 0 else None}

    def _sorted(self, c: Collection, index: _Index, order: str, *filters) -> tuple[list, list, bool]:
        """The rows a filter selects in an order, with their keys; the last few are kept until the
        index changes (the pages of one list, and the page that follows a decision on another)."""
        signature = (order, index.live_key, index.reviews_key, *map(str, filters))
        with self._index_lock:
            found = self._sorted_cache.get(signature)
            if found is not None:
                self._sorted_cache.move_to_end(signature)
                return found
        items = self._select(c, index, *filters)
        key, reverse = _order_key(order)
        keyed = sorted(((key(i), i) for i in items), key=lambda pair: pair[0], reverse=reverse)
        found = ([i for _, i in keyed], [k for k, _ in keyed], reverse)
        with self._index_lock:
            self._sorted_cache[signature] = found
            while len(self._sorted_cache) > 8:
                self._sorted_cache.popitem(last=False)
        return found

    def _select(self, c: Collection, index: _Index, task: str = "", museum: str = "", value: str = "",
                min_confidence=0.0, max_confidence=1.0, status: str = "pending", reviewer: str = "", since: str = "",
                until: str = "", decision: str = "") -> list:
        """(row, review) pairs matching the filters; row is a LiveRow, or a Recorded for a decided
        statement a sync has removed since (an accepted gap is closed)."""
        tasks = {c.task(task).name} if task else {t.name for t in c.tasks if t.name in c.labels}
        for what, v in (("museum", museum), ("value", value)):
            if v and (not sparql.iri_is_valid(v) or ":" not in v):
                raise BadFilter(f"{what}: not an IRI: {v!r}")
        lo, hi = _confidence(min_confidence, "min_confidence"), _confidence(max_confidence, "max_confidence")
        if lo > hi:
            raise BadFilter(f"the confidence range is empty (from {_pct(lo)} to {_pct(hi)})")
        if decision and decision not in DECIDED_KINDS:
            raise BadFilter(f"unknown decision {decision!r} (one of: {', '.join(DECIDED_KINDS)})")
        start, end = _day_bound(since, "since"), _day_bound(until, "until")
        decided_filter = bool(reviewer or start or end or decision)

        def review_ok(r: Recorded | None) -> bool:
            if r is None or r.decision == UNDONE:
                return False
            if reviewer and r.reviewer != reviewer:
                return False
            if decision and r.decision != decision:
                return False
            d = day(r.time)
            return (not start or d >= start) and (not end or d <= end)

        out = []
        if status in ("pending", "all"):
            for row in index.live:
                current = index.current.get(row.statement)
                pending = current is None or current.decision == UNDONE
                if status == "pending" and not pending:
                    continue
                if not pending and decided_filter and not review_ok(current):
                    continue
                if pending and decided_filter and status == "all":
                    continue
                if row.task not in tasks or (museum and row.museum != museum) or (value and row.value != value):
                    continue
                conf = row.confidence
                if conf is not None and not lo <= conf <= hi:
                    continue
                out.append((row, None if pending else current))
        if status in ("decided", "all"):
            for st, current in index.current.items():
                if not review_ok(current):
                    continue
                live = index.by_statement.get(st)
                if live is not None:
                    if status == "all":
                        continue  # listed above
                    row = live
                else:
                    t = c.task_by_iri(current.task)
                    record = c.records.get(current.artifact)
                    row = LiveRow(st, current.subject, t.property if t else "", current.proposed, current.confidence,
                                  current.artifact, record.graph if record else "", t.name if t else "")
                if row.task not in tasks or (museum and row.museum != museum) or (value and row.value != value):
                    continue
                if row.confidence is not None and not lo <= row.confidence <= hi:
                    continue
                out.append((row, current))
        return out

    def _item(self, c: Collection, index: _Index, pair) -> dict:
        row, review = pair
        group = c.group_of(row.task, row.value)
        item = {
            "statement": row.statement, "subject": row.subject, "predicate": row.predicate, "task": row.task,
            "value": row.value, "confidence": row.confidence, "artifact": row.artifact, "museum": row.museum,
            "live": row.statement in index.by_statement,
            "group": group.id if group else None, "group_label": group.label if group else None,
            "stand_in": (row.task, row.value) in c.groups.stand_ins,
            "members": list(group.members) if group and (row.task, row.value) in c.groups.stand_ins else [],
            "decision": None, "chosen": None, "reviewer": None, "time": None, "review": None, "batch": None,
        }
        if review is not None:
            item.update(decision=review.decision, chosen=review.chosen, reviewer=review.reviewer, time=review.time,
                        review=review.review, batch=review.batch, when=when_words(review.time))
        else:
            undone = index.current.get(row.statement)
            if undone is not None:
                item["review"] = undone.review  # an undo: the next decision continues its history
        return item

    def _add_labels(self, c: Collection, items: list[dict]) -> None:
        names = self.labels([i["value"] for i in items] + [i["chosen"] for i in items if i["chosen"]]
                            + [i["artifact"] for i in items] + [m for i in items for m in i["members"]])
        evidence = self.evidence([(i["artifact"], i["museum"]) for i in items])
        for item in items:
            concept_label = names[item["value"]]
            # A group's representative is shown as the group: 'other technique', not 'satin'.
            item["value_label"] = item["group_label"] or concept_label
            item["concept_label"] = concept_label
            item["artifact_label"] = names[item["artifact"]]
            item["chosen_label"] = names[item["chosen"]] if item["chosen"] else None
            item["member_labels"] = [{"concept": m, "label": names[m]} for m in item["members"]]
            item["evidence"] = evidence.get(item["artifact"], {"images": 0, "text": "", "lang": ""})

    def state(self, statements: Sequence[str]) -> dict:
        """The current decision on some statements (what a page shows may be stale)."""
        index = self.index()
        out: dict[str, dict[str, Any]] = {}
        for st in statements:
            r = index.current.get(st)
            if r is None:
                out[st] = {"decision": None, "live": st in index.by_statement}
            else:
                label = self.labels([r.chosen])[r.chosen] if r.chosen else None
                out[st] = {"decision": r.decision, "reviewer": r.reviewer, "time": r.time, "review": r.review,
                           "chosen": r.chosen, "chosen_label": label, "batch": r.batch,
                           "words": r.words(label), "live": st in index.by_statement}
        return out

    def undone(self, statements: Iterable[str]) -> dict[str, Recorded]:
        """The statements among these whose current review is an undo (a new decision revises it)."""
        index = self.index()
        return {st: r for st in statements if (r := index.current.get(st)) is not None and r.decision == UNDONE}

    def proposals(self, limit: int, **filters) -> tuple[int, list[Proposal], list[dict]]:
        """The pending predictions a filter selects (for bulk acceptance), most confident first: the
        count and at most ``limit`` of them, and those left out because their value stands for a
        group of several values (each needs its member named)."""
        c = self.collection()
        index = self.index()
        pairs = self._select(c, index, status="pending", **filters)
        pairs.sort(key=_order_key("confidence")[0])
        out, left_out = [], []
        for row, _ in pairs:
            task = c.task(row.task) if row.task else None
            if task is None:
                continue
            if (row.task, row.value) in c.groups.stand_ins:
                left_out.append({"statement": row.statement, "task": row.task, "value": row.value})
                continue
            out.append(Proposal(row.statement, row.subject, row.predicate, row.value,
                                row.confidence if row.confidence is not None else float("nan"), row.artifact,
                                row.museum, task))
        return len(out), out[:limit], left_out

    # -- evidence for the queue -------------------------------------------------
    def evidence(self, artifacts: Sequence[tuple[str, str]]) -> dict[str, dict]:
        """Per artifact: its number of images, the first line of a description and its language."""
        todo: dict[str, list[str]] = defaultdict(list)
        for artifact, graph in artifacts:
            if artifact not in self._evidence and graph:
                todo[graph].append(artifact)
        if todo:
            inputs = self.collection().inputs
            wanted = [(iri, graph) for graph, iris in todo.items() for iri in sorted(set(iris))]
            # Texts and images only: no task's values, no literals.
            for record in read_records(self.store, self.settings, inputs, wanted, tasks=[], literals=False,
                                       curated=False):
                text, lang = _first_line(record.texts)
                self._evidence[record.iri] = {"images": len(record.images), "text": text, "lang": lang,
                                              "locations": list(record.images)}
        while len(self._evidence) > _EVIDENCE_CACHE:
            self._evidence.popitem(last=False)
        return {a: {k: v for k, v in self._evidence[a].items() if k != "locations"}
                for a, _ in artifacts if a in self._evidence}

    # -- one artifact ----------------------------------------------------------
    def _artifact_graph(self, c: Collection, artifact: str) -> tuple[URIRef, str]:
        if not sparql.iri_is_valid(artifact) or ":" not in artifact:
            raise NotFound(f"not an artifact IRI: {artifact!r}")
        wanted = {str(x) for x in c.classes}
        rows = [r for r in self.store.select(sparql.prepare("review_artifact", artifact=URIRef(artifact)))
                if str(r["type"]) in wanted and not self.graphs.is_ours(str(r["graph"]))]
        if not rows:
            raise NotFound(f"no artifact <{artifact}> in any museum graph of the store")
        label = next((str(r["label"]) for r in rows if r.get("label") is not None), _local_name(artifact))
        return URIRef(str(rows[0]["graph"])), label

    def record(self, artifact: str, c: Collection | None = None) -> tuple[ArtifactRecord, ArtifactRecord, str]:
        """(record as the museum graph has it, record with curated values merged, label)."""
        c = c or self.collection()
        graph, label = self._artifact_graph(c, artifact)
        inputs = c.inputs
        wanted = [(artifact, str(graph))]
        # What the museum graph asserts (values only), and the record as the models read it.
        museum_record = read_records(self.store, self.settings, inputs, wanted, with_inputs=False, curated=False)[0]
        merged = complete(self.store, inputs, read_records(self.store, self.settings, inputs, wanted, fresh=True))[0]
        return museum_record, merged, label

    def image_locations(self, artifact: str) -> list[str]:
        """The artifact's image locations, in the order the pages number them."""
        cached = self._evidence.get(artifact)
        if cached is not None:
            return cached["locations"]
        c = self.collection()
        graph, _ = self._artifact_graph(c, artifact)
        self.evidence([(artifact, str(graph))])
        return self._evidence[artifact]["locations"] if artifact in self._evidence else []

    def artifact(self, artifact: str, with_scores: bool = True) -> dict:
        c = self.collection()
        index = self.index()
        museum_record, record, label = self.record(artifact, c)
        statements = self.store.select(sparql.prepare("review_artifact_statements", artifact=URIRef(artifact),
                                                      predictions=self.graphs.predictions,
                                                      confidence=c.confidence))
        scores, note = self.modality_scores(record) if with_scores else ({}, "not computed")
        live_statements = {str(r["st"]) for r in statements}
        history = self.history(artifact, index)
        tasks: list[dict[str, Any]] = []
        for task in c.tasks:
            asserted = museum_record.values.get(task.name, [])
            curated = [v for v in record.values.get(task.name, []) if v not in asserted]
            preds = []
            for row in statements:
                if str(row["p"]) != task.property:
                    continue
                live = LiveRow(str(row["st"]), str(row["s"]), str(row["p"]), str(row["o"]),
                               _float(row["confidence"]), artifact, record.graph, task.name)
                current = index.current.get(live.statement)
                preds.append(self._item(c, index, (live, current if current and current.decision != UNDONE
                                                   else None)))
                preds[-1]["predicted_at"] = str(row["time"]) if row.get("time") is not None else None
            tasks.append({"task": task.name, "label": task.label, "property": task.property,
                          "asserted": asserted, "curated": curated, "predictions": preds,
                          "scores": scores.get(task.name, []),
                          "history": [h for h in history if h["task"] == task.name]})
        resources = [v for t in tasks for v in t["asserted"] + t["curated"]]
        resources += [s["concept"] for t in tasks for s in t["scores"]]
        names = self.labels(resources)
        self._add_labels(c, [p for t in tasks for p in t["predictions"]])
        for t in tasks:
            t["asserted"] = [{"value": v, "label": names[v]} for v in t["asserted"]]
            t["curated"] = [{"value": v, "label": names[v]} for v in t["curated"]]
            for p in t["predictions"]:
                p["artifact_label"] = label
            for s in t["scores"]:
                group = c.group_of(t["task"], s["concept"])
                s["label"] = group.label if group else names.get(s["concept"], s["group"])
            _agree(t)
        return {"artifact": artifact, "label": label, "museum": record.graph,
                "texts": [{"text": t, "lang": lang} for t, lang in record.texts],
                "images": len(record.images), "tasks": tasks, "scores_note": note,
                "live_statements": sorted(live_statements),
                "explanation": {
                    "fused": "combined: the models' joint estimate, weighing what the photographs, the descriptions "
                             "and the other recorded values (metadata) suggest; the confidence stored with a "
                             "prediction is this number",
                    "modalities": MODALITY_WORDS}}

    def history(self, artifact: str, index: _Index | None = None) -> list[dict]:
        """Every decision on the artifact's predictions, oldest first: who, when, what, revised by whom."""
        index = index or self.index()
        c = self.collection()
        reviews = sorted((r for r in index.reviews if r.artifact == artifact), key=lambda r: (r.time, r.review))
        revised_by = {r.revises: r for r in index.reviews if r.revises}
        names = self.labels([r.proposed for r in reviews] + [r.chosen for r in reviews if r.chosen])
        out = []
        for r in reviews:
            task = c.task_by_iri(r.task)
            group = c.group_of(task.name, r.proposed) if task else None
            later = revised_by.get(r.review)
            out.append({"review": r.review, "statement": r.statement, "task": task.name if task else r.task,
                        "decision": r.decision, "reviewer": r.reviewer, "time": r.time, "when": when_words(r.time),
                        "proposed": r.proposed, "proposed_label": group.label if group else names.get(r.proposed),
                        "chosen": r.chosen, "chosen_label": names.get(r.chosen) if r.chosen else None,
                        "confidence": r.confidence, "revises": r.revises, "batch": r.batch,
                        "current": index.current.get(r.statement) == r,
                        "revised_by": ({"review": later.review, "reviewer": later.reviewer, "decision": later.decision,
                                        "when": when_words(later.time)} if later else None),
                        "words": r.words(names.get(r.chosen) if r.chosen else None)})
        return out

    # -- statistics and export --------------------------------------------------
    def stats(self) -> dict:
        """Progress per task and museum graph, per reviewer and per day."""
        c = self.collection()
        index = self.index()
        kinds = ("pending", "accepted", "corrected", "rejected")
        by_task: dict[str, Counter] = defaultdict(Counter)
        by_museum: dict[str, Counter] = defaultdict(Counter)
        by_pair: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for row, review in self._select(c, index, "", "", "", 0.0, 1.0, "all"):
            kind = review.decision if review is not None else "pending"
            by_task[row.task][kind] += 1
            by_museum[row.museum][kind] += 1
            by_pair[(row.task, row.museum)][kind] += 1
        by_reviewer: dict[str, Counter] = defaultdict(Counter)
        by_day: dict[str, Counter] = defaultdict(Counter)
        last: dict[str, str] = {}
        for r in index.reviews:
            by_reviewer[r.reviewer][r.decision] += 1
            by_day[day(r.time)][r.decision] += 1
            last[r.reviewer] = max(last.get(r.reviewer, ""), r.time)
        totals: Counter = Counter()
        for counts in by_task.values():
            totals.update(counts)

        def counted(counts: Counter, **key) -> dict:
            return {**key, **{k: counts.get(k, 0) for k in kinds}}

        acts = ("accepted", "corrected", "rejected", "undone")
        return {
            "totals": {**{k: totals.get(k, 0) for k in kinds}, "reviews": len(index.reviews)},
            "by_task": [counted(by_task[t], task=t) for t in sorted(by_task)],
            "by_museum": [counted(by_museum[m], museum=m) for m in sorted(by_museum)],
            "by_task_museum": [counted(by_pair[k], task=k[0], museum=k[1]) for k in sorted(by_pair)],
            "by_reviewer": [{"reviewer": name, **{k: by_reviewer[name].get(k, 0) for k in acts},
                             "last": last[name], "last_words": when_words(last[name])} for name in sorted(by_reviewer)],
            "by_day": [{"day": d, **{k: by_day[d].get(k, 0) for k in acts}} for d in sorted(by_day)],
        }

    def export_rows(self) -> list[dict]:
        """Every review (the whole history, revised ones too), oldest first, with labels."""
        c = self.collection()
        index = self.index()
        reviews = sorted(index.reviews, key=lambda r: (r.time, r.review))
        revised_by = {r.revises: r.review for r in index.reviews if r.revises}
        names = self.labels([r.proposed for r in reviews] + [r.chosen for r in reviews if r.chosen]
                            + [r.artifact for r in reviews])
        out = []
        for r in reviews:
            task = c.task_by_iri(r.task)
            record = c.records.get(r.artifact)
            group = c.group_of(task.name, r.proposed) if task else None
            out.append({"review": r.review, "time": r.time, "reviewer": r.reviewer, "decision": r.decision,
                        "task": task.name if task else r.task, "artifact": r.artifact,
                        "artifact_label": names.get(r.artifact, ""), "museum": record.graph if record else "",
                        "statement": r.statement, "proposed": r.proposed,
                        "proposed_label": group.label if group else names.get(r.proposed, ""),
                        "confidence": "" if r.confidence is None else round(r.confidence, 6),
                        "chosen": r.chosen or "", "chosen_label": names.get(r.chosen, "") if r.chosen else "",
                        "revises": r.revises or "", "revised_by": revised_by.get(r.review, ""),
                        "batch": r.batch or "", "current": index.current.get(r.statement) == r})
        return out

    # -- modality scores (computed on demand) ----------------------------------
    def ensemble(self):
        """The trained ensemble of the models directory (loaded once, again when it changes), or None."""
        from ..training import ENSEMBLE_FILE, Ensemble

        path = Path(self.settings.models_dir) / ENSEMBLE_FILE
        try:
            key = path.stat().st_mtime_ns
        except OSError:
            self._ensemble, self._ensemble_note = None, f"no trained models in {self.settings.models_dir}"
            return None
        if key != self._ensemble_key:
            try:
                self._ensemble = Ensemble.load(Path(self.settings.models_dir), self.settings)
                self._ensemble_note = ""
            except Exception as exc:  # a broken or foreign models directory must not break the page
                log.warning("cannot load the models in %s: %s", self.settings.models_dir, exc)
                self._ensemble, self._ensemble_note = None, f"the models in {self.settings.models_dir} cannot be loaded"
            self._ensemble_key = key
        return self._ensemble

    def modality_scores(self, record: ArtifactRecord, top: int = 3) -> tuple[dict[str, list[dict]], str]:
        """Per task, the combined (fused) top groups with each modality's calibrated probability of them."""
        c = self.collection()
        with self._lock:
            ensemble = self.ensemble()
            if ensemble is None:
                return {}, self._ensemble_note
            try:
                raw = ensemble.modality_probs([record])
                fused = ensemble.fuse([record], raw)
                # Each modality's own calibrated probabilities (fusion reads the raw ones).
                calibrate = getattr(ensemble, "calibrate", None)
                shown = {m: calibrate(p, m) for m, p in raw.items()} if calibrate else raw
            except Exception as exc:  # the page still shows everything else
                log.warning("modality scores failed for %s: %s", record.iri, exc)
                return {}, f"the models could not score this artifact ({type(exc).__name__})"
        has = {"image": bool(record.images), "text": bool(record.texts)}
        out: dict[str, list[dict]] = {}
        for task, groups in ensemble.groups.items():
            if task not in fused or not record.is_gap(task):
                continue
            row = fused[task][0]
            order = sorted(range(len(groups)), key=lambda j: -float(row[j]))[:top]
            entries = []
            for j in order:
                gid = groups[j]
                group = next((g for g in c.labels[task].groups if g.id == gid), None) if task in c.labels else None
                modalities = {}
                for m, probs in shown.items():
                    value = float(probs[task][0][j]) if task in probs and has.get(m, True) else math.nan
                    # None: the modality had nothing to go on (no input, or none it could read: NaN).
                    modalities[m] = round(value, 4) if math.isfinite(value) else None
                fused_p = float(row[j])
                entries.append({"group": gid, "concept": group.concept if group else "",
                                "fused": round(fused_p, 4) if math.isfinite(fused_p) else None,
                                "modalities": modalities, "stored": False, "now": None})
            out[task] = entries
        return out, ""

    # -- label search for corrections -------------------------------------------
    def search(self, task_name: str, text: str, limit: int = 20) -> list[dict]:
        """The task's values whose label (any language) contains the text, ignoring case and
        accents; the best label of each, with every language that gives it that label."""
        c = self.collection()
        task = c.task(task_name)
        needle = _fold((text or "").strip())
        if len(needle) < 2 or task.name not in c.labels:
            return []
        candidates = self._candidates(c, task)
        best: dict[str, tuple] = {}
        for concept, label, lang, folded, gid in candidates:
            if needle not in folded:
                continue
            key = (not folded.startswith(needle), folded != needle, len(label), label)
            found = best.get(concept)
            if found is None or key < found[0]:
                best[concept] = (key, label, {lang}, gid)
            elif key[3] == found[1]:
                found[2].add(lang)
        groups = {g.id: g for g in c.labels[task.name].groups}
        out = [{"concept": concept, "label": label, "lang": ", ".join(sorted(x for x in langs if x)),
                "langs": sorted(x for x in langs if x), "group": gid, "group_label": groups[gid].label}
               for concept, (key, label, langs, gid) in best.items()]
        out.sort(key=lambda e: (best[e["concept"]][0], e["concept"]))
        return out[:limit]

    def _candidates(self, c: Collection, task: Task) -> list[tuple[str, str, str, str, str]]:
        """(concept, label, language, folded label, group) of every value of the task (cached)."""
        cached = self._search.get(task.name)
        if cached is not None:
            return cached
        if task.grouping == "collection":
            assert task.facet is not None  # the task definitions' check: a collection grouping names its facet
            query = sparql.prepare("review_search_collection", facet=URIRef(task.facet), limit=_SEARCH_LIMIT)
        elif task.grouping == "country":
            query = sparql.prepare("review_search_country", limit=_SEARCH_LIMIT)
        else:
            assert task.group_class is not None  # the task definitions' check: a century grouping names its class
            query = sparql.prepare("review_search_century", groupClass=URIRef(task.group_class), limit=_SEARCH_LIMIT)
        rows = [(str(r["concept"]), r["label"]) for r in self.store.select(query)]
        mapped = value_groups(self.store, c.labels[task.name], sorted({concept for concept, _ in rows}))
        out = []
        for concept, label in rows:
            gid = mapped.get(concept)
            if gid is None:
                continue  # not one of the task's values
            lang = (getattr(label, "language", None) or "").lower()
            out.append((concept, str(label), lang, _fold(str(label)), gid))
        self._search[task.name] = out
        return out


def _agree(task: dict) -> None:
    """The stored confidence and the live numbers never disagree on one page: the combined number
    shown for a predicted value is the stored one; what the models say now, when it differs, is
    kept apart (``now``) with the reason."""
    stored = {p["value"]: p["confidence"] for p in task["predictions"] if p["confidence"] is not None}
    for s in task["scores"]:
        if s["concept"] in stored:
            live, s["fused"] = s["fused"], round(stored[s["concept"]], 4)
            s["stored"] = True
            s["now"] = live if live is not None and abs(live - s["fused"]) >= 0.005 else None


def _order_key(order: str):
    """(key of a (row, review) pair, descending) for an order."""
    def conf(row) -> float:
        return row.confidence if row.confidence is not None else 2.0

    if order == "uncertainty":
        return (lambda p: (conf(p[0]), p[0].artifact, p[0].predicate, p[0].statement)), False
    if order == "confidence":
        return (lambda p: (-conf(p[0]), p[0].artifact, p[0].predicate, p[0].statement)), False
    if order == "artifact":
        return (lambda p: (p[0].artifact, p[0].predicate, p[0].statement)), False
    # recent: the newest decision first (pending rows, which have none, last)
    return (lambda p: (p[1].time if p[1] is not None else "", p[0].statement)), True


def _key_shape(order: str) -> tuple:
    return {"uncertainty": (0.0, "", "", ""), "confidence": (0.0, "", "", ""), "artifact": ("", "", ""),
            "recent": ("", "")}[order]


def _count_until(keys: Sequence[tuple], cursor: tuple, reverse: bool, inclusive: bool) -> int:
    """How many of the (sorted) keys come before the cursor in the order, the cursor's own key
    included when ``inclusive`` (binary search)."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        k = keys[mid]
        before = (k > cursor if reverse else k < cursor) or (inclusive and k == cursor)
        if before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _first_line(texts: Sequence[tuple[str, str]], width: int = 160) -> tuple[str, str]:
    for text, lang in texts:
        line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
        if line:
            return (line if len(line) <= width else line[:width - 1].rstrip() + "…"), lang
    return "", ""


def _float(term) -> float | None:
    """A confidence as a number, or None when the graph holds something else (JSON has no NaN)."""
    try:
        value = float(str(term))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _confidence(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadFilter(f"{what} must be a number in [0, 1], not {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise BadFilter(f"{what} must be a number in [0, 1], not {value!r}")
    return v


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def _day_bound(text: str, what: str) -> str:
    if not text:
        return ""
    when = parse_time(text if "T" in text else text + "T00:00:00Z")
    if when is None:
        raise BadFilter(f"{what} must be a date (YYYY-MM-DD), not {text!r}")
    return when.strftime("%Y-%m-%d")


def _local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or iri
