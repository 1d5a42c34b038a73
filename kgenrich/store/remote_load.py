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

import pyoxigraph as ox
from rdflib import URIRef

from .. import sparql
from ..errors import LoadError, StoreError
from .loading import LoadErrors, LoadOptions, LoadRun, Progress, Reader, checked_sources, counted, graph_key, new_prefix
from .rdfio import serialized
from .remote_results import count_of
from .remote_staging import NOT_UNION, RemoteStore, drop_staging, drop_stale_staging, move_staged, staging_run
from .streams import Source

__all__ = ["NOT_UNION", "load_run"]


def load_run(store: RemoteStore, paths, fmt: str | None, graph: URIRef | None, staging_prefix: str,
             options: LoadOptions, on_commit=None) -> LoadRun:
    """Check, stage and move the files of one run into ``store``; see the module docstring."""
    sources, skipped = checked_sources(paths, fmt, graph)
    reader = Reader(new_prefix(), ox.NamedNode(str(graph)) if graph is not None else None, options)
    reader.prepare(sources)
    run = LoadRun(skipped=skipped)
    progress = Progress(options.progress)
    targets, unsafe = _check(reader, sources, run, progress)
    if targets:
        if "" in targets and not store._default_graph_is_union_for_load():
            raise LoadError(NOT_UNION)
        run.added = _stage_and_move(store, reader, sources, list(targets), unsafe, staging_prefix, progress,
                                    run.statements, on_commit)
    run.notes = reader.notes()
    return run


def _check(reader: Reader, sources: list[Source], run: LoadRun,
           progress: Progress) -> tuple[dict[str, None], list[tuple[int, int]]]:
    """Pass 1: parse every file, noting each graph written and the stretches of statements blank nodes span.

    Each file read goes into ``run.files``; a file that does not parse is a LoadErrors naming every such file.
    Labels differ between two parses (the parsers name anonymous blank nodes at random); positions do not.
    """
    errors: list[str] = []  # the files that fail to parse
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
    return targets, unsafe


def _stage_and_move(store: RemoteStore, reader: Reader, sources: list[Source], targets: list[str],
                    unsafe: list[tuple[int, int]], staging_prefix: str, progress: Progress, statements: int,
                    on_commit) -> int:
    """Passes 2 and 3: stage the statements, count each staging graph, move them all in one request.

    The number of quads added; on any failure (Ctrl-C included) the staging graphs are dropped.
    """
    drop_stale_staging(store, staging_prefix)
    stamp = staging_run()
    staged = {key: URIRef(f"{staging_prefix}{stamp}/{i}") for i, key in enumerate(targets)}
    progress.start("loading", statements, "quad")
    try:
        _stage(store, reader, sources, staged, unsafe, progress)
        added = _count_staged(store, staged)
        progress.close()
        if on_commit is not None:
            on_commit()
        move_staged(store, {URIRef(key) if key else None: scratch for key, scratch in staged.items()},
                    "the run was loaded whole or not at all on a store that applies an update request "
                    "atomically (Oxigraph)")
        return added
    except BaseException:
        progress.close()
        drop_staging(store, staged.values(), (StoreError, KeyboardInterrupt))
        raise
    finally:
        store._written()


def _stage(store: RemoteStore, reader: Reader, sources: list[Source], staged: dict[str, URIRef],
           unsafe: list[tuple[int, int]], progress: Progress) -> None:
    """Pass 2: batches in file order, cut only between statements that no blank node spans."""
    limit = max(1, store.batch_triples)
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


def _count_staged(store: RemoteStore, staged: dict[str, URIRef]) -> int:
    """The triples in the staging graphs; every one was sent triples, so an empty one means they were lost."""
    added = 0
    for scratch in staged.values():
        got = count_of(store._select(sparql.prepare("sync_count_triples", graph=scratch), dataset=False))
        if got == 0:
            raise StoreError(f"staging graph {scratch} is empty after the load sent triples to it; nothing of "
                             "the run was loaded")
        added += got
    return added


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


def _send(store: RemoteStore, staged: dict[str, URIRef], quads: list) -> None:
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
