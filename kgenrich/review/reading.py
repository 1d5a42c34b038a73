"""What the review page reads: the collection's tasks, the queue, one artifact, the label search.

Everything comes from the store through queries/review_*.rq, except the tasks and their
label groups, which come from the one front half (pipeline.load_inputs, values only) and
are kept for a few minutes (they change only when the collection does).  Per-modality
probabilities are not stored in the graph (the statement's confidence is the fused one):
they are computed on demand, for the artifact being viewed, from the trained ensemble in
the models directory -- and the page says so when there is none.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from .. import sparql
from ..config import Settings
from ..dataset import artifact_classes, assign_labels, fetch_records, merge_curated
from ..errors import KgenrichError
from ..graphs import OwnGraphs
from ..labels import compute_label_groups
from ..pipeline import load_inputs
from ..records import ArtifactRecord, Task, TaskLabels
from ..store import Store
from .decisions import _DECISION_NAME, Proposal, value_groups

log = logging.getLogger(__name__)

ORDERS = {"uncertainty": 1, "confidence": -1, "artifact": 0}
STATUSES = ("pending", "decided", "all")
_ANY = URIRef("urn:kgenrich:any")
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
    loaded: float = field(default_factory=time.monotonic)

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise BadFilter(f"unknown task {name!r} (known: {', '.join(t.name for t in self.tasks)})")

    def task_of(self, predicate: str) -> Optional[Task]:
        return next((t for t in self.tasks if t.property == predicate), None)

    def group_of(self, task: str, concept: str):
        labels = self.labels.get(task)
        return next((g for g in labels.groups if g.concept == concept), None) if labels else None


class Reader:
    """The store, the settings and the cached collection, shared by the app's requests."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.graphs = OwnGraphs.from_settings(settings)
        self._collection: Optional[Collection] = None
        self._lock = threading.Lock()
        self._ensemble = None
        self._ensemble_key = None
        self._ensemble_note = ""
        self._labels: dict[str, dict[str, str]] = {}

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
                c = self._collection = Collection(inputs.tasks, inputs.labels, classes, museums)
            return c

    # -- labels --------------------------------------------------------------
    def labels(self, resources: Sequence[str]) -> dict[str, str]:
        """The best label of each resource (English, else untagged, else any), else its local name."""
        todo = sorted({r for r in resources if r and r not in self._labels and sparql.iri_is_valid(r) and ":" in r})
        for start in range(0, len(todo), 200):
            chunk = todo[start:start + 200]
            found: dict[str, dict[str, str]] = {r: {} for r in chunk}
            for row in self.store.select(sparql.prepare("review_labels", resources=[URIRef(r) for r in chunk])):
                label = row["label"]
                lang = getattr(label, "language", None) or ""
                found[str(row["resource"])].setdefault(lang.lower(), str(label))
            self._labels.update(found)
        out = {}
        for r in resources:
            by_lang = self._labels.get(r) or {}
            label = next((by_lang[lang] for lang in _LABEL_LANGS if lang in by_lang), None)
            if label is None and by_lang:
                label = by_lang[sorted(by_lang)[0]]
            out[r] = label or _local_name(r)
        return out

    # -- the queue -----------------------------------------------------------
    def queue(self, task: str = "", museum: str = "", value: str = "", min_confidence: float = 0.0,
              max_confidence: float = 1.0, status: str = "pending", order: str = "uncertainty",
              limit: int = 50, offset: int = 0) -> dict:
        c = self.collection()
        bindings = self._queue_bindings(c, task, museum, value, min_confidence, max_confidence, status)
        if order not in ORDERS:
            raise BadFilter(f"unknown order {order!r} (one of: {', '.join(ORDERS)})")
        rows = self.store.select(sparql.prepare("review_queue", sign=Literal(ORDERS[order], datatype=XSD.integer),
                                                limit=int(limit), offset=int(offset), **bindings))
        count = self.store.select(sparql.prepare("review_queue_count", **bindings))
        total = int(count[0]["n"]) if count and "n" in count[0] else 0
        items = [self._item(c, row) for row in rows]
        names = self.labels([i["value"] for i in items] + [i["chosen"] for i in items if i["chosen"]]
                            + [i["artifact"] for i in items])
        for item in items:
            item["value_label"] = names[item["value"]]
            item["artifact_label"] = names[item["artifact"]]
            item["chosen_label"] = names[item["chosen"]] if item["chosen"] else None
        return {"total": total, "offset": offset, "limit": limit, "order": order, "status": status, "items": items}

    def proposals(self, limit: int, **filters) -> tuple[int, list[Proposal]]:
        """The pending predictions a filter selects (for bulk acceptance): the count, and at most ``limit``."""
        c = self.collection()
        bindings = self._queue_bindings(c, status="pending", **filters)
        count = self.store.select(sparql.prepare("review_queue_count", **bindings))
        total = int(count[0]["n"]) if count and "n" in count[0] else 0
        rows = self.store.select(sparql.prepare("review_queue", sign=Literal(-1, datatype=XSD.integer),
                                                limit=int(limit), offset=0, **bindings))
        out = []
        for row in rows:
            task = c.task_of(str(row["p"]))
            if task is not None:
                out.append(Proposal(str(row["st"]), str(row["s"]), str(row["p"]), str(row["o"]),
                                    _float(row["confidence"]), str(row["artifact"]), str(row["museum"]), task))
        return total, out

    def _queue_bindings(self, c: Collection, task: str = "", museum: str = "", value: str = "",
                        min_confidence: float = 0.0, max_confidence: float = 1.0, status: str = "pending") -> dict:
        if status not in STATUSES:
            raise BadFilter(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
        tasks = [c.task(task)] if task else [t for t in c.tasks if t.name in c.labels]
        for what, v in (("museum", museum), ("value", value)):
            if v and (not sparql.iri_is_valid(v) or ":" not in v):
                raise BadFilter(f"{what}: not an IRI: {v!r}")
        lo, hi = _confidence(min_confidence, "min_confidence"), _confidence(max_confidence, "max_confidence")
        return {
            "predicates": [URIRef(t.property) for t in tasks], "classes": c.classes,
            "predictions": self.graphs.predictions, "reviews": self.graphs.reviews,
            "anyMuseum": Literal(not museum), "museum": URIRef(museum) if museum else _ANY,
            "anyValue": Literal(not value), "value": URIRef(value) if value else _ANY,
            "minConfidence": Literal(f"{lo:.6f}", datatype=XSD.decimal),
            "maxConfidence": Literal(f"{hi:.6f}", datatype=XSD.decimal),
            "status": Literal(status),
        }

    def _item(self, c: Collection, row: dict) -> dict:
        task = c.task_of(str(row["p"]))
        decision = row.get("decision")
        return {
            "statement": str(row["st"]), "subject": str(row["s"]), "predicate": str(row["p"]),
            "task": task.name if task else "", "value": str(row["o"]), "confidence": _float(row["confidence"]),
            "artifact": str(row.get("artifact", "")), "museum": str(row.get("museum", "")),
            "decision": _DECISION_NAME.get(str(decision)) if decision is not None else None,
            "chosen": str(row["chosen"]) if row.get("chosen") is not None else None,
            "reviewer": str(row["reviewer"]) if row.get("reviewer") is not None else None,
        }

    # -- one artifact ----------------------------------------------------------
    def record(self, artifact: str, c: Optional[Collection] = None) -> tuple[ArtifactRecord, ArtifactRecord, str]:
        """(record as the museum graph has it, record with curated values merged, label)."""
        c = c or self.collection()
        if not sparql.iri_is_valid(artifact) or ":" not in artifact:
            raise NotFound(f"not an artifact IRI: {artifact!r}")
        rows = [r for r in self.store.select(sparql.prepare("review_artifact", artifact=URIRef(artifact),
                                                            classes=c.classes))
                if not self.graphs.is_ours(str(r["graph"]))]
        if not rows:
            raise NotFound(f"no artifact <{artifact}> in any museum graph of the store")
        graph = URIRef(str(rows[0]["graph"]))
        label = next((str(r["label"]) for r in rows if r.get("label") is not None), _local_name(artifact))
        museum_record = fetch_records(self.store, graph, [URIRef(artifact)], c.tasks,
                                      literal_properties=self.settings.literal_features)[0]
        merged = ArtifactRecord.from_dict(museum_record.to_dict())
        merge_curated(self.store, self.graphs.curated, c.tasks, [merged])
        _, value_groups = compute_label_groups(self.store, c.tasks, [merged])
        assign_labels([merged], c.labels, value_groups)
        return museum_record, merged, label

    def image_locations(self, artifact: str) -> list[str]:
        """The artifact's image locations, in the order the artifact view numbers them."""
        c = self.collection()
        if not sparql.iri_is_valid(artifact) or ":" not in artifact:
            raise NotFound(f"not an artifact IRI: {artifact!r}")
        rows = [r for r in self.store.select(sparql.prepare("review_artifact", artifact=URIRef(artifact),
                                                            classes=c.classes))
                if not self.graphs.is_ours(str(r["graph"]))]
        if not rows:
            raise NotFound(f"no artifact <{artifact}> in any museum graph of the store")
        return fetch_records(self.store, URIRef(str(rows[0]["graph"])), [URIRef(artifact)], [])[0].images

    def artifact(self, artifact: str, with_scores: bool = True) -> dict:
        c = self.collection()
        museum_record, record, label = self.record(artifact, c)
        statements = self.store.select(sparql.prepare("review_artifact_statements", artifact=URIRef(artifact),
                                                      predictions=self.graphs.predictions,
                                                      reviews=self.graphs.reviews))
        scores, note = self.modality_scores(record) if with_scores else ({}, "not computed")
        tasks = []
        for task in c.tasks:
            asserted = museum_record.values.get(task.name, [])
            curated = [v for v in record.values.get(task.name, []) if v not in asserted]
            preds = [self._item(c, {**row, "artifact": URIRef(artifact), "museum": URIRef(record.graph)})
                     for row in statements if str(row["p"]) == task.property]
            tasks.append({"task": task.name, "label": task.label, "property": task.property,
                          "asserted": asserted, "curated": curated, "predictions": preds,
                          "scores": scores.get(task.name, [])})
        resources = [v for t in tasks for v in t["asserted"] + t["curated"]]
        resources += [p["value"] for t in tasks for p in t["predictions"]]
        resources += [p["chosen"] for t in tasks for p in t["predictions"] if p["chosen"]]
        resources += [s["concept"] for t in tasks for s in t["scores"]]
        names = self.labels(resources)
        for t in tasks:
            t["asserted"] = [{"value": v, "label": names[v]} for v in t["asserted"]]
            t["curated"] = [{"value": v, "label": names[v]} for v in t["curated"]]
            for p in t["predictions"]:
                p["value_label"] = names[p["value"]]
                p["chosen_label"] = names[p["chosen"]] if p["chosen"] else None
                p["artifact_label"] = label
            for s in t["scores"]:
                s["label"] = names.get(s["concept"], s["group"])
        return {"artifact": artifact, "label": label, "museum": record.graph,
                "texts": [{"text": t, "lang": lang} for t, lang in record.texts],
                "images": len(record.images), "tasks": tasks, "scores_note": note}

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
        """Per task, the fused top groups with each modality's probability of them."""
        c = self.collection()
        with self._lock:
            ensemble = self.ensemble()
            if ensemble is None:
                return {}, self._ensemble_note
            try:
                per_modality = ensemble.modality_probs([record])
                fused = ensemble.fuse([record], per_modality)
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
                group = next((g for g in c.labels.get(task).groups if g.id == gid), None) if task in c.labels else None
                modalities = {}
                for m, probs in per_modality.items():
                    value = float(probs[task][0][j]) if task in probs and has.get(m, True) else math.nan
                    # None: the modality had nothing to go on (no input, or none it could read: NaN).
                    modalities[m] = round(value, 4) if math.isfinite(value) else None
                fused_p = float(row[j])
                entries.append({"group": gid, "concept": group.concept if group else "",
                                "fused": round(fused_p, 4) if math.isfinite(fused_p) else None,
                                "modalities": modalities})
            out[task] = entries
        return out, ""

    # -- label search for corrections -------------------------------------------
    def search(self, task_name: str, text: str, limit: int = 20) -> list[dict]:
        c = self.collection()
        task = c.task(task_name)
        text = (text or "").strip().lower()
        if len(text) < 2:
            return []
        if task.name not in c.labels:
            return []
        if task.grouping == "collection":
            query = sparql.prepare("review_search_collection", facet=URIRef(task.facet), text=Literal(text), limit=200)
        elif task.grouping == "country":
            query = sparql.prepare("review_search_country", text=Literal(text), limit=200)
        else:
            query = sparql.prepare("review_search_century", groupClass=URIRef(task.group_class), text=Literal(text),
                                   limit=200)
        candidates: dict[str, tuple[str, str]] = {}
        for row in self.store.select(query):
            concept, label = str(row["concept"]), row["label"]
            lang = getattr(label, "language", None) or ""
            best = candidates.get(concept)
            # Prefer the label that starts with the text, then the shorter one.
            key = (not str(label).lower().startswith(text), len(str(label)))
            if best is None or key < (not best[0].lower().startswith(text), len(best[0])):
                candidates[concept] = (str(label), lang)
        labels = c.labels[task.name]
        groups = {g.id: g for g in labels.groups}
        mapped = value_groups(self.store, labels, list(candidates))
        out = []
        for concept, (label, lang) in candidates.items():
            gid = mapped[concept]
            if gid is None:
                continue  # not one of the task's values
            out.append({"concept": concept, "label": label, "lang": lang, "group": gid,
                        "group_label": groups[gid].label})
        out.sort(key=lambda e: (not e["label"].lower().startswith(text), len(e["label"]), e["label"]))
        return out[:limit]


def _float(term) -> Optional[float]:
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


def _local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or iri
