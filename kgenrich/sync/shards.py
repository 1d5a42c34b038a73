"""A sharded run's last step: every shard staged by ``run_sync(shard=(k, n), run_id=run)`` is applied
to the live graphs in one update request."""

from __future__ import annotations

import time
from collections.abc import Sequence

from .. import sparql
from ..config import Settings
from ..graphs import OwnGraphs
from ..predictions import now_literal
from ..store.base import Store
from .provenance import run_state_triples
from .report import SyncError, SyncReport
from .state import count_statements, count_triples, state_node
from .write import swap_request


def swap_shards(store: Store, settings: Settings, run: str, reports: Sequence[SyncReport]) -> SyncReport:
    """Apply every shard of a sharded run (``run_sync(shard=(k, n), run_id=run)``, all staged) in ONE update.

    The shards' reports give the counts; the request itself counts the live statements for
    the state node.  Returns the combined report.
    """
    graphs = OwnGraphs.from_settings(settings)
    if not reports or any(r.write != "staged" or r.run != run for r in reports):
        raise SyncError(f"every shard of run {run} must be staged before the swap")
    if len({r.replaced_all for r in reports}) != 1:
        raise SyncError("the shards disagree on whether the whole prediction graph is replaced; run them again")
    started = time.perf_counter()
    first = reports[0]
    merged = SyncReport(**{**first.to_dict(), "stages": {}, "peak_mb": {}})
    for name in ("written", "withdrawn", "repredicted_artifacts", "chunks"):
        setattr(merged, name, sum(getattr(r, name) for r in reports))
    merged.deleted_artifacts = first.deleted_artifacts
    if len({r.run_fingerprint for r in reports}) != 1:
        raise SyncError("the shards ran with different models, tasks or options; run them again")
    state = run_state_triples(graphs, run, now_literal(), merged, first.run_fingerprint, statements=False)
    extra = [sparql.prepare("insert_ntriples", graph=graphs.provenance,
                            triples=sparql.RawTriples("".join(sparql.ntriples_line(*t) + "\n" for t in state))),
             sparql.prepare("sync_state_count", provenance=graphs.provenance, graph=graphs.predictions,
                            state=state_node(graphs))]
    shards = sorted({str(k) for k in range(len(reports))})
    store.update(swap_request(graphs, run, shards, first.replaced_all, extra=extra), idempotent=False)
    merged.predictions = count_statements(store, graphs.predictions)
    merged.unchanged = merged.predictions - merged.written
    merged.triples = count_triples(store, graphs.predictions)
    merged.wrote, merged.write = True, "staged"
    merged.stages = {"swap": round(time.perf_counter() - started, 3)}
    return merged
