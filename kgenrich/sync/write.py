"""The write phase: a run's spooled changes into the live graphs, in one step readers see whole where
the store can (one transaction on the embedded store, one update request or a Graph Store PUT of a
whole new graph on a remote one).

Staging graphs ``{predictions}/staging/{run}/...`` are used only where a write is too large for one
request to a remote store (or a sharded run): they hold the reified statements, their PROV activities
and kgenrich's marks, never a plain triple -- the plain triples and minted productions are derived in
the one request that applies them (queries/sync_apply_staged.rq), so no consumer can take a staging
graph for data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdflib import URIRef
from rdflib.namespace import RDF

from .. import sparql
from ..errors import StoreError
from ..graphs import OwnGraphs
from ..namespaces import KGS
from ..store.base import Store
from .context import SyncRun
from .diff import Diff, Replaced
from .fastpath import FastPath
from .fingerprints import input_key
from .models import Models
from .predict import Spooled
from .provenance import provenance_lines, run_state_triples
from .scan import Scan
from .spool import Spool
from .state import count_statements, count_triples, input_node, staging_graphs, state_node


@dataclass
class WritePlan:
    """What one write changes: the spool to add, and what goes from the live graphs."""

    graphs: OwnGraphs
    run: str
    spool: Spool
    replace_all: bool  # the whole prediction graph is replaced (else: only what `withdraw` names goes)
    withdraw: list[str]  # live-graph subjects whose triples go (statements, activities, statement subjects)
    inputs_gone: list[URIRef]  # provenance input nodes that go (re-predicted and deleted artifacts)
    live_was_empty: bool = False
    had_state: bool = True
    atomic_first_write: bool = False  # [sync] atomic_first_write: a first write in one transaction too

    def prediction_operations(self) -> list[str]:
        """The deletions in the prediction graph, as update operations."""
        if self.replace_all:
            return [] if self.live_was_empty else [sparql.prepare("drop_graph", graph=self.graphs.predictions)]
        if self.withdraw:
            return [sparql.prepare("sync_delete_subjects", graph=self.graphs.predictions,
                                   subjects=[URIRef(s) for s in self.withdraw])]
        return []

    def provenance_operations(self) -> list[str]:
        """The deletions in the provenance graph: the input nodes that go, the old state node."""
        g = self.graphs
        if not self.had_state:
            return []
        if self.replace_all:
            ops = [sparql.prepare("sync_delete_inputs", graph=g.provenance)]
        elif self.inputs_gone:
            ops = [sparql.prepare("sync_delete_subjects", graph=g.provenance, subjects=self.inputs_gone)]
        else:
            ops = []
        return ops + [sparql.prepare("sync_delete_subjects", graph=g.provenance, subjects=[state_node(g)])]


def count_changes(run: SyncRun, diff: Diff, replaced: Replaced, spooled: Spooled) -> None:
    """The report's statement counts: carried over, written, withdrawn, unchanged."""
    report, new, old = run.report, spooled.statements, replaced.statements
    carried = 0 if not diff.same_run else diff.live_count - len(old)
    same = sum(1 for k, c in new.items() if k in old and old[k] == c)
    report.predictions = carried + len(new)
    report.unchanged = carried + same
    report.written = len(new) - same
    report.withdrawn = sum(1 for k in old if k not in new)
    if run.dry_run:
        report.triples = spooled.triples


def plan_write(run: SyncRun, fast: FastPath, scan: Scan, models: Models, diff: Diff, replaced: Replaced,
               spool: Spool) -> WritePlan:
    """Spool the provenance (agents, input fingerprints, the run and state nodes) and plan the write."""
    graphs, shared = run.graphs, scan.shared
    with run.stage("staging"):
        prov = provenance_lines(graphs, run.run, models.agents, models.ensemble,
                                {a: scan.fingerprints[a] for a in diff.changed if run.in_shard(a, shared)},
                                run.vocabulary)
        spool.provenance.write_text("".join(prov), encoding="utf-8")
        # The run and state nodes (a sharded run's are written by swap_shards).
        key = (input_key(fast.digest, run.tasks, run.settings, models.options, graphs, models.ensemble.card,
                         run.profile) if fast.digest else "")
        state_lines = [] if run.shard is not None else [
            sparql.ntriples_line(*t) + "\n"
            for t in run_state_triples(graphs, run.run, run.started, run.report, models.run_fingerprint,
                                       input_key=key)]
        spool.state.write_text("".join(state_lines), encoding="utf-8")
    return WritePlan(graphs=graphs, run=run.run, spool=spool, replace_all=not diff.same_run,
                     withdraw=sorted(replaced.subjects) if diff.same_run else [],
                     inputs_gone=[input_node(graphs, a) for a in sorted(diff.changed | set(diff.deleted))
                                  if a in diff.state.fingerprints and run.in_shard(a, shared)],
                     live_was_empty=diff.live_count == 0 and count_triples(run.store, graphs.predictions) == 0,
                     had_state=bool(diff.state.run_fingerprint or diff.state.fingerprints),
                     atomic_first_write=run.sync.atomic_first_write)


def apply_write(run: SyncRun, plan: WritePlan, on_staged: Callable[[], None] | None) -> None:
    """Stage a shard (the coordinator swaps every shard at once), or write the run into the live graphs
    and check the statement count."""
    report, store, graphs = run.report, run.store, run.graphs
    if run.shard is not None:
        with run.stage("staging"):
            stage_plan(store, plan, shard=str(run.shard[0]))
            report.write = "staged"
        if on_staged:
            on_staged()
        return
    if on_staged:
        on_staged()
    with run.stage("swap"):
        report.write = write_graphs(store, plan)
        report.wrote = True
        after = count_statements(store, graphs.predictions)
        report.triples = count_triples(store, graphs.predictions)
    if after != report.predictions:
        raise StoreError(f"after the write {graphs.predictions} holds {after} statements instead of "
                         f"{report.predictions}; the next sync rewrites it")


def fits(store: Store, operations: Sequence[str], files: Sequence[Path]) -> bool:
    """Whether operations plus the files' triples fit in one update request of the store."""
    if store.max_update_bytes is None:
        return True
    size = sum(len(op.encode("utf-8")) for op in operations) + sum(Path(f).stat().st_size for f in files)
    if size > store.max_update_bytes:
        return False
    limit = store.max_update_triples
    if limit is None:
        return True
    lines = 0
    for path in files:
        with open(path, "rb") as fh:
            lines += sum(1 for _ in fh)
    return lines <= limit


def write_graphs(store: Store, plan: WritePlan) -> str:
    """Apply a run's spooled changes to the live graphs, in one step readers see whole where the store can.

    - a first write into an empty prediction graph: in pieces, the state node last;
    - one update request (on the embedded store: one transaction) when the change fits
      :attr:`Store.max_update_bytes`;
    - a whole new prediction graph on a store with the Graph Store Protocol: one PUT, then
      the provenance (the prediction graph goes first: if the run stops in between, the old
      provenance does not describe the live graph, and the next sync redoes the work);
    - otherwise staged (staging graphs hold no plain triple) and swapped in one request.

    Returns the way it went: bulk | load | update | put | staged.
    """
    g, spool = plan.graphs, plan.spool
    pred_ops, prov_ops = plan.prediction_operations(), plan.provenance_operations()
    prov_files = [spool.provenance, spool.state]
    first = plan.replace_all and plan.live_was_empty and not pred_ops + prov_ops
    if first and not plan.atomic_first_write:
        # A first write into an empty prediction graph has no old predictions to keep: it goes in
        # pieces (pyoxigraph's bulk loader on the embedded store, Graph Store POSTs or INSERT DATA
        # requests of batch_bytes on a remote one) -- several times faster than one transaction,
        # whose cost grows faster than the graph -- and the state node, written last in a request
        # of its own, says it is complete.  A run killed before that leaves no state: the next
        # sync replaces what it wrote.
        for graph, path in ((g.predictions, spool.reified), (g.predictions, spool.derived),
                            (g.provenance, spool.provenance)):
            store.add_ntriples(graph, path)
        store.update_with_data([], [(g.provenance, spool.state)])
        return "bulk"
    graph_file = spool.whole_graph()
    if fits(store, pred_ops + prov_ops, [graph_file, *prov_files]):
        store.update_with_data(pred_ops + prov_ops, [(g.predictions, graph_file)]
                               + [(g.provenance, f) for f in prov_files])
        return "load" if not pred_ops + prov_ops and store.max_update_bytes is None else "update"
    if plan.replace_all and store.put_ntriples(g.predictions, graph_file):
        if fits(store, prov_ops, prov_files):
            store.update_with_data(prov_ops, [(g.provenance, f) for f in prov_files])
        else:
            stage_plan(store, plan, shard="0", predictions=False)
            store.update(swap_request(g, plan.run, ["0"], plan.replace_all, predictions=False), idempotent=False)
        return "put"
    stage_plan(store, plan, shard="0")
    store.update(swap_request(g, plan.run, ["0"], plan.replace_all), idempotent=False)
    return "staged"


def stage_plan(store: Store, plan: WritePlan, shard: str, predictions: bool = True) -> None:
    """Write a run's (or a shard's) spool into its staging graphs and check they are complete."""
    g, spool = plan.graphs, plan.spool
    staged, staged_prov, staged_marks = staging_graphs(g, plan.run, shard)
    marks = [f"<{s}> <{RDF.type}> <{KGS.Withdrawn}> .\n" for s in (plan.withdraw if predictions else [])]
    marks += [f"<{n}> <{RDF.type}> <{KGS.Withdrawn}> .\n" for n in plan.inputs_gone]
    spool.withdrawn.write_text("".join(marks), encoding="utf-8")
    writes = [(staged_prov, [spool.provenance, spool.state]), (staged_marks, [spool.withdrawn])]
    if predictions:
        writes.insert(0, (staged, [spool.reified, spool.minted]))
    for graph, paths in writes:
        store.drop_graph(graph)
        expected: set[bytes] = set()
        for path in paths:
            if path.stat().st_size:
                store.add_ntriples(graph, path)
                with open(path, encoding="utf-8") as fh:
                    expected.update(hashlib.blake2b(line.encode(), digest_size=8).digest() for line in fh)
        # A short write (a batch lost on a remote store) must never become visible.
        got = count_triples(store, graph)
        if got != len(expected):
            raise StoreError(f"staging graph {graph} holds {got} triples, {len(expected)} were written; "
                             "nothing replaced")


def swap_request(graphs: OwnGraphs, run: str, shards: Sequence[str], replace_all: bool, predictions: bool = True,
                 extra: Sequence[str] = ()) -> str:
    """One update request that applies the staging graphs of every shard of a run to the live graphs
    (deriving the plain triples), then drops them.  ``extra``: operations run after the apply."""
    ops = []
    if predictions and replace_all:
        ops.append(sparql.prepare("drop_graph", graph=graphs.predictions))
    if replace_all:
        ops.append(sparql.prepare("sync_delete_inputs", graph=graphs.provenance))
    ops.append(sparql.prepare("sync_delete_subjects", graph=graphs.provenance, subjects=[state_node(graphs)]))
    for k in shards:
        _, _, marks = staging_graphs(graphs, run, k)
        if predictions and not replace_all:
            ops.append(sparql.prepare("sync_delete_marked", graph=graphs.predictions, marks=marks))
        if not replace_all:
            ops.append(sparql.prepare("sync_delete_marked", graph=graphs.provenance, marks=marks))
    for k in shards:
        staged, staged_prov, _ = staging_graphs(graphs, run, k)
        if predictions:
            ops.append(sparql.prepare("sync_apply_staged", staged=staged, target=graphs.predictions))
        ops.append(sparql.prepare("sync_apply_staged", staged=staged_prov, target=graphs.provenance))
    ops.extend(extra)
    for k in shards:
        for graph in staging_graphs(graphs, run, k):
            ops.append(sparql.prepare("drop_graph", graph=graph))
    return sparql.join_updates(ops)
