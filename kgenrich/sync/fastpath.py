"""The fast path: nothing changed, so no work.

Where the store can digest its content (Store.content_digest), an unchanged store is recognised
before anything is extracted: one pass over the quads, no records, no models.  And when the scan
finds every fingerprint as the last run left it, the run ends there too, noting the new input key
so that the next run is the quick one again.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Literal

from .. import sparql
from ..namespaces import KGS
from .context import SyncRun
from .diff import Diff
from .fingerprints import input_key
from .models import Models
from .state import count_statements, read_last_run, state_node


@dataclass
class FastPath:
    digest: str | None  # the store's content digest (None: the store cannot digest, or a sharded run)
    unchanged: bool  # the inputs are the last run's: the live predictions are up to date


def fast_path(run: SyncRun) -> FastPath:
    """Whether the store is exactly as the last run read it (then the report says what the graph holds)."""
    if run.shard is not None:
        return FastPath(None, False)
    graphs = run.graphs
    unchanged = False
    with run.stage("fingerprints"):
        # Every graph but those sync writes: a graph of ours that it reads (the configuration
        # graph, a review graph) must change the key too.
        digest = run.store.content_digest(lambda g: g in (str(graphs.predictions), str(graphs.provenance))
                                          or graphs.is_staging(g))
        if digest is not None and not run.retrain and run.trainer.exists(run.models_dir):
            key = input_key(digest, run.tasks, run.settings, run.options, graphs, run.trainer.card(run.models_dir),
                            run.profile)
            last = read_last_run(run.store, graphs)
            unchanged = last.input_key == key and last.statements == count_statements(run.store, graphs.predictions)
            if unchanged:
                run.report.artifacts, run.report.gaps = last.artifacts, last.gaps
                run.report.predictions = run.report.unchanged = last.statements
    return FastPath(digest, unchanged)


def keep_unchanged(run: SyncRun, fast: FastPath, models: Models, diff: Diff) -> None:
    """Every fingerprint is the last run's: the live graph stays as it is; only the input key is noted."""
    run.report.predictions = run.report.unchanged = diff.live_count
    if fast.digest is not None and not run.dry_run:
        # Something the predictions do not read changed (a label, a triple of no artifact):
        # the state now says so, and the next run is the quick one again.
        key = input_key(fast.digest, run.tasks, run.settings, models.options, run.graphs, models.ensemble.card,
                        run.profile)
        node = state_node(run.graphs)
        run.store.update(sparql.join_updates([
            sparql.prepare("sync_delete_input_key", graph=run.graphs.provenance, state=node),
            sparql.prepare("insert_ntriples", graph=run.graphs.provenance, triples=sparql.RawTriples(
                sparql.ntriples_line(node, KGS.inputKey, Literal(key)) + "\n"))]))
