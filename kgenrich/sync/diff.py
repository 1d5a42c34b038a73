"""The diff phase: what changed since the last run.

An artifact whose fingerprint and the run fingerprint are unchanged keeps its predictions exactly as
they are in the live graph -- not read, not rewritten.  For the changed and deleted artifacts, what
the live graph holds from their inputs is looked up (proportional to them), to be replaced in one write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rdflib import URIRef

from .. import sparql
from ..store.base import Store
from .context import SyncRun
from .models import Models
from .scan import Scan
from .state import State, count_statements, pages, read_state


@dataclass
class Diff:
    """The scan against the provenance graph's state."""

    state: State
    live_count: int  # statements in the live prediction graph
    same_run: bool  # the live graph holds what a run with these models, tasks and options wrote
    changed: set[str]  # artifacts to predict again (every one when not same_run)
    deleted: list[str]  # artifacts the last run predicted that are gone

    @property
    def nothing_changed(self) -> bool:
        return self.same_run and not self.changed and not self.deleted


def diff_state(run: SyncRun, scan: Scan, models: Models) -> Diff:
    """Which artifacts changed, and whether the whole graph must be replaced (into the report too)."""
    with run.stage("fingerprints"):
        state = read_state(run.store, run.graphs)
        live_count = count_statements(run.store, run.graphs.predictions)
        # The stored fingerprints describe the live graph only if it still holds what that run wrote.
        same_run = state.run_fingerprint == models.run_fingerprint and state.statements == live_count
        fingerprints = scan.fingerprints
        changed = {r.iri for r in scan.records
                   if not same_run or state.fingerprints.get(r.iri) != fingerprints[r.iri]}
        for iri in list(changed):
            changed.update(scan.shared.get(iri, ()))
        deleted = [a for a in state.fingerprints if a not in fingerprints]
    run.report.repredicted_artifacts = len(changed)
    run.report.deleted_artifacts = len(deleted)
    run.report.replaced_all = not same_run
    return Diff(state, live_count, same_run, changed, deleted)


@dataclass
class Replaced:
    """What the live prediction graph holds from the artifacts a run replaces."""

    statements: dict[str, float] = field(default_factory=dict)  # statement -> confidence (NaN: unreadable)
    subjects: set[str] = field(default_factory=set)  # statements, activities and statement subjects to remove


def replaced_predictions(run: SyncRun, scan: Scan, diff: Diff) -> Replaced:
    """What this run replaces in the live graph: the changed and deleted artifacts' statements, or all."""
    with run.stage("fingerprints"):
        if diff.same_run:
            gone = sorted(a for a in diff.changed | set(diff.deleted) if run.in_shard(a, scan.shared))
            return units_of_artifacts(run.store, run.graphs.predictions, gone, run.confidence)
        if run.shard is None:
            return all_statements(run.store, run.graphs.predictions, run.confidence)
        return Replaced()


def units_of_artifacts(store: Store, graph: URIRef, artifacts: Sequence[str], confidence: URIRef) -> Replaced:
    """The live graph's statements made from these artifacts' inputs (proportional to the artifacts)."""
    old = Replaced()
    batch = 200
    for start in range(0, len(artifacts), batch):
        rows = store.select(sparql.prepare("sync_units_of_artifacts", graph=graph, confidence=confidence,
                                           artifacts=[URIRef(a) for a in artifacts[start:start + batch]]))
        for row in rows:
            # The artifact too: a link kgenrich minted from it to a subject (Linked Art's
            # P108i_was_produced_by a minted production) has it as subject.
            old.subjects.add(str(row["artifact"]))
            st = str(row["st"])
            old.statements[st] = _confidence(row.get("confidence"))
            old.subjects.update((st, str(row["activity"])))
            if isinstance(row.get("subject"), URIRef):
                old.subjects.add(str(row["subject"]))
    return old


def all_statements(store: Store, graph: URIRef, confidence: URIRef) -> Replaced:
    """Every statement of the live graph with its confidence (a run that replaces the whole graph)."""
    old = Replaced()
    for row in pages(store, "sync_statements", "sync_statements_page", "st", graph=graph, confidence=confidence):
        old.statements[str(row["st"])] = _confidence(row.get("confidence"))
    return old


def _confidence(term: Any) -> float:
    try:
        return round(float(str(term)), 6)
    except (TypeError, ValueError):
        return float("nan")
