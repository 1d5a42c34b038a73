"""What the artifact page reads: one artifact's values, predictions, decision history and modality scores.

Per-modality probabilities are not stored in the graph (the statement's confidence is the fused
one): they are computed on demand, for the artifact being viewed, from the trained ensemble in
the models directory -- and the page says so when there is none."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from rdflib import URIRef

from .. import sparql
from ..pipeline import complete, read_records
from ..records import ArtifactRecord
from .collection import Collection, LiveRow, NotFound, QueueIndex, float_or_none, local_name
from .decision_types import UNDONE
from .queue import QueueReading
from .words import when_words

log = logging.getLogger(__name__)
# What the page calls each modality, in a curator's words.
MODALITY_WORDS = {"image": "photographs", "text": "descriptions", "tabular": "metadata"}


class ArtifactReading(QueueReading):
    """One artifact: what the museum graph asserts, the curated values, its predictions with their
    decisions and history, and what each modality's model says of it (computed on demand)."""

    def _artifact_graph(self, c: Collection, artifact: str) -> tuple[URIRef, str]:
        if not sparql.iri_is_valid(artifact) or ":" not in artifact:
            raise NotFound(f"not an artifact IRI: {artifact!r}")
        wanted = {str(x) for x in c.classes}
        rows = [r for r in self.store.select(sparql.prepare("review_artifact", artifact=URIRef(artifact)))
                if str(r["type"]) in wanted and not self.graphs.is_ours(str(r["graph"]))]
        if not rows:
            raise NotFound(f"no artifact <{artifact}> in any museum graph of the store")
        label = next((str(r["label"]) for r in rows if r.get("label") is not None), local_name(artifact))
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
                               float_or_none(row["confidence"]), artifact, record.graph, task.name)
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

    def history(self, artifact: str, index: QueueIndex | None = None) -> list[dict]:
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
            # Must be broad: a modality model is loaded by its own class (a plugin, by entry point) from
            # files another version may have written, so torch, pickle, numpy or the plugin may raise
            # anything; a broken or foreign models directory must not break the page.
            except Exception as exc:
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
            # Must be broad: the scores run each modality model's (plugin) code on this record; whatever
            # it raises, the page still shows everything else.
            except Exception as exc:
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
