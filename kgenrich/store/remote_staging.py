"""Staging graphs on a remote store, and the ONE update request that moves them to their targets.

A load writes into graphs of kgenrich's own (``<prefix><stamp>-<random>/<n>``),
checks them, then adds every one to its target and drops it in one request
(``queries/load_move.rq``): before that request nothing of the load is visible
where it belongs, and on any failure the staging graphs are dropped.  A staging
graph older than :data:`STALE_STAGING_SECONDS` belongs to a load that was killed:
the next load drops it.
"""

from __future__ import annotations

import calendar
import time
import uuid
from collections.abc import Iterable
from typing import Protocol

import pyoxigraph as ox
from rdflib import URIRef

from .. import sparql
from ..errors import LoadError, StoreError
from .base import Row, Triple
from .http import HttpClient
from .remote_results import count_of
from .terms import to_rdflib


class RemoteStore(Protocol):
    """What staging and loading use of :class:`kgenrich.store.remote.RemoteStore` (declared here, so that
    remote.py can import these functions without the two modules importing each other)."""

    gsp_endpoint: str | None
    batch_triples: int
    _http: HttpClient

    def update(self, text: str, *, idempotent: bool = False) -> None: ...
    def _select(self, query: str, dataset: bool) -> list[Row]: ...
    def graph_names(self) -> list[URIRef]: ...
    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int: ...
    def _written(self) -> None: ...
    def _default_graph_is_union_for_load(self) -> bool: ...

# Where a load stages its graphs when the caller names no place of its own (the CLI
# names one below the prediction graph, which kgenrich never reads as data).
DEFAULT_LOAD_STAGING = "urn:kgenrich:load:"
STAGING_STAMP = "%Y%m%dT%H%M%S"
# A staging graph this old belongs to a load that was killed: the next load drops it.
STALE_STAGING_SECONDS = 6 * 3600
NOT_UNION = ("this endpoint does not read its named graphs as its default graph, so triples loaded into "
             "its default graph would be invisible to kgenrich's queries; give --graph IRI")


def staging_run() -> str:
    """The name of one load's staging place: when it started (for stale-graph cleanup) and a random tag."""
    return time.strftime(STAGING_STAMP, time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def drop_stale_staging(store: RemoteStore, prefix: str) -> None:
    """Drop staging graphs of loads that were killed (older than STALE_STAGING_SECONDS)."""
    now = time.time()
    for name in store.graph_names():
        text = str(name)
        if not text.startswith(prefix):
            continue
        try:
            started = calendar.timegm(time.strptime(text[len(prefix):].split("-", 1)[0], STAGING_STAMP))
        except ValueError:
            continue  # not one of ours
        if now - started > STALE_STAGING_SECONDS:
            store.update(sparql.prepare("drop_graph", graph=name), idempotent=True)


def move_staged(store: RemoteStore, staged: dict[URIRef | None, URIRef], loaded_whole: str) -> None:
    """Add every staging graph to its target (None: the default graph) and drop it, in ONE update request.

    ``loaded_whole``: what a failed request leaves, said after the error.
    """
    move = " ;\n".join(
        (sparql.prepare("load_move", staged=scratch, target=target) if target is not None
         else sparql.prepare("load_move_default", staged=scratch)).strip()
        for target, scratch in staged.items())
    try:
        store.update(move, idempotent=True)
    except StoreError as exc:
        if None in staged and "default graph" in str(exc).lower():
            # Virtuoso has no default graph of its own to write into.
            raise LoadError("the endpoint has no default graph to load triples into; give --graph IRI") from None
        raise StoreError(f"{exc}; {loaded_whole}: load it again to be sure") from None


def triples_by_graph(quads: Iterable[ox.Quad]) -> dict[URIRef | None, dict[Triple, None]]:
    """Parsed quads as distinct triples per target graph (None: the default graph), in file order."""
    by_graph: dict[URIRef | None, dict[Triple, None]] = {}
    for q in quads:
        if isinstance(q.graph_name, ox.BlankNode):
            raise LoadError("a graph named by a blank node cannot be written to a SPARQL endpoint")
        target = None if isinstance(q.graph_name, ox.DefaultGraph) else URIRef(q.graph_name.value)
        triple = (to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object))
        by_graph.setdefault(target, {})[triple] = None
    return by_graph


def load_staged(store: RemoteStore, by_graph: dict[URIRef | None, list[Triple]], prefix: str) -> None:
    """Stage each graph's triples, check them complete, then add them all in ONE update request.

    Before that request nothing of the file is visible where it belongs; on any
    failure the staging graphs are dropped, so a failed load leaves nothing
    behind but what the final request may have added (on an atomic store: the
    whole file or nothing of it).
    """
    drop_stale_staging(store, prefix)
    run = staging_run()
    staged = {target: URIRef(f"{prefix}{run}/{i}") for i, target in enumerate(by_graph)}
    try:
        for target, triples in by_graph.items():
            store.stage_graph(staged[target], triples)
            got = count_of(store._select(sparql.prepare("sync_count_triples", graph=staged[target]), dataset=False))
            if got != len(triples):
                raise StoreError(f"staging graph {staged[target]} holds {got} triples, {len(triples)} were "
                                 "sent; nothing of the file was loaded")
        move_staged(store, staged, "the file was loaded whole or not at all (on a store that applies an "
                                   "update request atomically)")
    except BaseException:
        drop_staging(store, staged.values(), StoreError)
        raise


def drop_staging(store: RemoteStore, graphs: Iterable[URIRef],
                 ignored: type[BaseException] | tuple[type[BaseException], ...]) -> None:
    """Drop staging graphs after a failure; ``ignored``: errors of the drop itself, left for a later load."""
    for scratch in graphs:
        try:
            store.update(sparql.prepare("drop_graph", graph=scratch), idempotent=True)
        except ignored:
            pass  # the original error says more; a leftover is dropped by a later load
