"""The sync state in the store: the provenance graph's nodes (run, state, input fingerprints), the
counts of the live graphs, and the staging graphs of a run.

Keeping the fingerprints in the store (not in a local file) means they always describe the graph
that is live, whichever machine runs the next sync.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rdflib import Literal, URIRef

from .. import sparql
from ..graphs import OwnGraphs
from ..store.base import Store


@dataclass
class State:
    """What the provenance graph says of the live prediction graph."""

    run_fingerprint: str = ""
    statements: int = -1
    fingerprints: dict[str, bytes] = field(default_factory=dict)  # artifact -> 16-byte digest


@dataclass
class LastRun:
    """The last run's input key and counts (what the fast path compares and reports)."""

    input_key: str = ""
    statements: int = -1
    artifacts: int = 0
    gaps: dict[str, int] = field(default_factory=dict)


def state_node(graphs: OwnGraphs) -> URIRef:
    return URIRef(f"{graphs.provenance}/state")


def input_node(graphs: OwnGraphs, artifact: str) -> URIRef:
    return URIRef(f"{graphs.provenance}/input/{uuid.uuid5(uuid.NAMESPACE_URL, artifact)}")


def run_node(graphs: OwnGraphs, run: str) -> URIRef:
    return URIRef(f"{graphs.provenance}/run/{run}")


def staging_graphs(graphs: OwnGraphs, run: str, shard: str = "0") -> tuple[URIRef, URIRef, URIRef]:
    """A run's staging graphs (per shard): predictions, provenance additions, withdrawal marks."""
    base = f"{graphs.staging_prefix}{run}/{shard}"
    return URIRef(f"{base}/predictions"), URIRef(f"{base}/provenance"), URIRef(f"{base}/withdrawn")


def count_triples(store: Store, graph: URIRef) -> int:
    rows = store.select(sparql.prepare("sync_count_triples", graph=graph))
    return int(str(rows[0]["n"])) if rows and "n" in rows[0] else 0


def count_statements(store: Store, graph: URIRef) -> int:
    rows = store.select(sparql.prepare("sync_count_statements", graph=graph))
    return int(str(rows[0]["n"])) if rows and "n" in rows[0] else 0


def pages(store: Store, query: str, paged: str, key: str, **bindings: Any) -> Iterator[dict]:
    """Rows of ``query`` (unordered, for a store that never cuts a result), or of its keyset-paged twin
    ``paged`` (``$after``/``$limit``, ordered by ``key``), one page at a time."""
    if store.page_rows is None:
        # One pass, unordered: sorting in the store costs more than reading the rows.
        yield from store.select(sparql.prepare(query, **bindings))
        return
    page = store.page_rows
    after = Literal("")
    while True:
        rows = store.select(sparql.prepare(paged, after=after, limit=page, **bindings))
        yield from rows
        if len(rows) < page or not rows:
            return
        after = Literal(str(rows[-1][key]))


def read_state(store: Store, graphs: OwnGraphs) -> State:
    """The provenance graph's state: run fingerprint, statement count, fingerprints (page by page, compact)."""
    state = State()
    rows = store.select(sparql.prepare("sync_state", graph=graphs.provenance, state=state_node(graphs)))
    if rows:
        state.run_fingerprint = str(rows[0].get("fingerprint", ""))
        try:
            state.statements = int(str(rows[0]["statements"])) if "statements" in rows[0] else -1
        except ValueError:
            state.statements = -1
    for row in pages(store, "sync_fingerprints", "sync_fingerprints_page", "node", graph=graphs.provenance):
        try:
            state.fingerprints[str(row["artifact"])] = bytes.fromhex(str(row["fingerprint"]))
        except ValueError:
            continue  # not a fingerprint we wrote: the artifact counts as changed
    return state


def read_last_run(store: Store, graphs: OwnGraphs) -> LastRun:
    """The last run's input key, statement count, artifacts and gaps (empty when unreadable)."""
    last = LastRun()
    for row in store.select(sparql.prepare("sync_last_run", graph=graphs.provenance, state=state_node(graphs))):
        last.input_key = str(row.get("inputKey", last.input_key))
        try:
            last.statements = int(str(row["statements"])) if "statements" in row else last.statements
            last.artifacts = int(str(row["artifacts"])) if "artifacts" in row else last.artifacts
        except ValueError:
            return LastRun()
        if "gaps" in row and "=" in str(row["gaps"]):
            task, _, n = str(row["gaps"]).partition("=")
            last.gaps[task] = int(n) if n.isdigit() else 0
    return last


def drop_staging(store: Store, graphs: OwnGraphs, keep_run: str = "") -> int:
    """Drop every staging graph a previous (killed) run left behind (except those of run ``keep_run``)."""
    keep = f"{graphs.staging_prefix}{keep_run}/" if keep_run else None
    stale = [g for g in store.graph_names() if str(g).startswith(graphs.staging_prefix)
             and not (keep and str(g).startswith(keep))]
    for g in stale:
        store.drop_graph(g)
    return len(stale)
