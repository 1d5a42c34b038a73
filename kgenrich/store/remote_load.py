"""Loads into a remote store: checked first, staged in bounded batches, made visible by one request.

1. **Check.**  Every file is parsed as a stream (the same parsers and the same
   errors as the embedded store); a syntax error anywhere sends nothing.  The
   check also notes, for every blank node, the last statement that names it.
2. **Stage.**  The statements go, in file order, into staging graphs of
   kgenrich's own (``{predictions_graph}/load/<run>/<n>``, one per target
   graph) by requests of at most ``batch_triples`` triples: Graph Store
   ``POST``s when ``gsp_endpoint`` is set, ``INSERT DATA`` otherwise (an
   insert template for blank nodes, which Virtuoso refuses in ``INSERT DATA``;
   one template for all the graphs of a batch where a blank node is named in
   two of them, which Virtuoso 7 refuses).
   A blank node's labels are scoped to one request, so a batch is cut only
   between statements no blank node spans (a batch grows past the limit
   rather than split a blank node; museum dumps name a blank node within a
   few lines).  Memory: one batch, plus one entry per blank node of the run
   while it is checked.
3. **Move.**  Each staging graph is counted, then ONE update request adds every
   staging graph to its target and drops it (``queries/load_move.rq``).  On
   any failure or Ctrl-C before that request, the staging graphs are dropped.

What is atomic: the move request is one transaction on an Oxigraph server, so
the run becomes visible whole or not at all (the server holds that
transaction's changes in memory: a very large file is better loaded with the
server's own ``oxigraph load``).  SPARQL 1.1 promises no atomicity, and
Virtuoso applies an update request's operations one after the other (in its
default, transactional log mode each operation commits or fails whole; with
``log_enable`` autocommit modes not even that): a failure inside the move
request can leave some graphs moved, and the error says so.  While the run
stages, queries over the union also see its staging graphs; a killed run's are
dropped by the next remote load once older than six hours.
"""

from __future__ import annotations

import time
import uuid

import pyoxigraph as ox
from rdflib import URIRef

from .. import sparql
from ..errors import LoadError, StoreError
from .loading import LoadErrors, LoadOptions, LoadRun, Progress, Reader, checked_sources, counted, graph_key, new_prefix
from .rdfio import serialized

STAGING_STAMP = "%Y%m%dT%H%M%S"
NOT_UNION = ("this endpoint does not read its named graphs as its default graph, so triples loaded into "
             "its default graph would be invisible to kgenrich's queries; give --graph IRI")


def load_run(store, paths, fmt: str | None, graph: URIRef | None, staging_prefix: str,
             options: LoadOptions, on_commit=None) -> LoadRun:
    """Check, stage and move the files of one run into ``store`` (a RemoteStore); see the module docstring."""
    sources, skipped = checked_sources(paths, fmt, graph)
    errors: list[str] = []  # the files that fail to parse
    reader = Reader(new_prefix(), ox.NamedNode(str(graph)) if graph is not None else None, options)
    reader.prepare(sources)
    run = LoadRun(skipped=skipped)
    progress = Progress(options.progress)

    # Pass 1: check; note each graph written, and each blank node's first and last statement.
    # Labels differ between two parses (the parsers name anonymous blank nodes at random); positions do not.
    blank = ox.BlankNode
    spans: dict[str, list] = {}  # label -> [first, last], in order of first appearance
    targets: dict[str, None] = {}
    index = 0
    progress.start("checking", sum(s.size for s in sources), "B")
    try:
        for number, source in enumerate(sources):
            n = 0
            try:
                for q in reader.quads(number, source, on_read=progress.update):
                    g = q.graph_name
                    if type(g) is blank:
                        raise LoadError("a graph named by a blank node cannot be written to a SPARQL endpoint")
                    key = graph_key(g)
                    targets.setdefault(key)
                    for term in (q.subject, q.object):
                        if type(term) is blank:
                            span = spans.get(term.value)
                            if span is None:
                                spans[term.value] = [index, index]
                            else:
                                span[1] = index
                    index += 1
                    n += 1
            except LoadError as exc:
                errors.append(f"{source.path}: {exc}")
                continue
            run.files.append((str(source.path), source.fmt, n))
    finally:
        progress.close()
    unsafe = _merged(spans.values())
    spans.clear()
    if errors:
        raise LoadErrors(errors)
    if not targets:
        run.notes = reader.notes()
        return run
    if "" in targets and not store._default_graph_is_union_for_load():
        raise LoadError(NOT_UNION)

    store._drop_stale_staging(staging_prefix)
    stamp = time.strftime(STAGING_STAMP, time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    staged = {key: URIRef(f"{staging_prefix}{stamp}/{i}") for i, key in enumerate(targets)}
    limit = max(1, store.batch_triples)
    progress.start("loading", run.statements, "quad")
    try:
        # Pass 2: batches in file order, cut only between statements that no blank node spans.
        batch: list = []
        spans_left = iter(unsafe)
        stretch = next(spans_left, None)
        index = 0
        for number, source in enumerate(sources):
            for q in counted(reader.quads(number, source), progress.update):
                batch.append(q)
                while stretch is not None and stretch[1] <= index:
                    stretch = next(spans_left, None)
                if len(batch) >= limit and (stretch is None or index < stretch[0]):
                    _send(store, staged, batch)
                    batch = []
                index += 1
        if batch:
            _send(store, staged, batch)
        added = 0
        for scratch in staged.values():
            rows = store._select(sparql.prepare("sync_count_triples", graph=scratch), dataset=False)
            got = int(rows[0]["n"]) if rows and "n" in rows[0] else 0
            if got == 0:
                raise StoreError(f"staging graph {scratch} is empty after the load sent triples to it; nothing of "
                                 "the run was loaded")
            added += got
        progress.close()
        if on_commit is not None:
            on_commit()
        _move(store, staged)
        run.added = added
    except BaseException:
        progress.close()
        for scratch in staged.values():
            try:
                store.update(sparql.prepare("drop_graph", graph=scratch), idempotent=True)
            except (StoreError, KeyboardInterrupt):
                pass  # the original error says more; a leftover is dropped by a later load
        raise
    finally:
        store._written()
    run.notes = reader.notes()
    return run


def _merged(spans) -> list[tuple[int, int]]:
    """The stretches of statements [first, last] that blank nodes span, merged (spans come in order of first)."""
    out: list[list[int]] = []
    for first, last in spans:
        if last == first:
            continue
        if out and first < out[-1][1]:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


def _send(store, staged: dict[str, URIRef], quads: list) -> None:
    """Add a batch to the staging graphs: one request per graph, or one for all of them when a blank node is
    named in two graphs (its label is scoped to one request).  A request is repeated after a lost answer
    only when it holds no blank node (a second copy would add the blank nodes again)."""
    blank = ox.BlankNode
    by_graph: dict[str, list] = {}
    labels: dict[str, set] = {}
    for q in quads:
        key = graph_key(q.graph_name)
        by_graph.setdefault(key, []).append(ox.Triple(q.subject, q.predicate, q.object))
        for term in (q.subject, q.object):
            if type(term) is blank:
                labels.setdefault(key, set()).add(term.value)
    # The texts are pyoxigraph's serialisation of parsed terms: escaped as N-Triples requires.
    bodies = {key: serialized(triples, ox.RdfFormat.N_TRIPLES) for key, triples in by_graph.items()}
    named = [label for key in labels for label in labels[key]]
    if len(set(named)) < len(named):
        # A blank node in two graphs: one insert template with a block per graph (Oxigraph takes it;
        # Virtuoso 7 refuses blank nodes in two graph blocks of one template).
        blocks = "\n".join(sparql.prepare("load_graph_block", graph=staged[key],
                                          triples=sparql.RawTriples(body.decode("utf-8")))
                           for key, body in bodies.items())
        store.update(sparql.prepare("load_insert_quads", blocks=sparql.RawTriples(blocks)))
        return
    for key, body in bodies.items():
        ground = key not in labels
        if store.gsp_endpoint:
            store._http.request("POST", store.gsp_endpoint, what="graph store POST", idempotent=ground,
                                params={"graph": str(staged[key])}, body=body,
                                headers={"Content-Type": "application/n-triples"})
        else:
            # Virtuoso refuses blank nodes in INSERT DATA: those go as an insert template.
            store.update(sparql.prepare("insert_ntriples" if ground else "insert_blank", graph=staged[key],
                                        triples=sparql.RawTriples(body.decode("utf-8"))), idempotent=ground)


def _move(store, staged: dict[str, URIRef]) -> None:
    move = " ;\n".join(
        (sparql.prepare("load_move", staged=scratch, target=URIRef(key)) if key
         else sparql.prepare("load_move_default", staged=scratch)).strip()
        for key, scratch in staged.items())
    try:
        store.update(move, idempotent=True)
    except StoreError as exc:
        if "" in staged and "default graph" in str(exc).lower():
            # Virtuoso has no default graph of its own to write into.
            raise LoadError("the endpoint has no default graph to load triples into; give --graph IRI") from None
        raise StoreError(f"{exc}; the run was loaded whole or not at all on a store that applies an update "
                         "request atomically (Oxigraph): load it again to be sure") from None
