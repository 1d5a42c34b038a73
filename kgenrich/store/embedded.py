"""The embedded store: pyoxigraph, in memory or persistent in a directory.

Queries run with the union of all graphs as the default graph, which is what
Virtuoso does and what an Oxigraph server does with ``--union-default-graph``:
vocabulary look-ups see every graph, and queries that must stay inside one
museum graph say so with ``GRAPH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pyoxigraph as ox
from rdflib import URIRef

from ..errors import LoadError, StoreError
from .base import FORMATS, Row, Store, Triple, swap_request
from .terms import to_oxigraph, to_rdflib

_OX_FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "trig": ox.RdfFormat.TRIG,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


class EmbeddedStore(Store):
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        try:
            if self.path is None:
                self._store = ox.Store()
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._store = ox.Store(str(self.path))
        except OSError as exc:
            # Typically another process holds the store's lock.
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None
        self.description = f"embedded store {self.path}" if self.path else "in-memory store"

    # Capabilities: pyoxigraph returns whole results, applies one update request
    # in one transaction, and queries run with the union as the default graph.
    page_rows = None
    graph_store_protocol = False
    atomic_updates = True
    default_graph_is_union = True

    @property
    def oxigraph(self) -> ox.Store:
        """The underlying pyoxigraph store (for benchmarks and tests)."""
        return self._store

    def _query(self, query: str):
        try:
            return self._store.query(query, use_default_graph_as_union=True)
        except SyntaxError as exc:
            raise StoreError(f"bad SPARQL: {exc}") from None
        except OSError as exc:
            raise StoreError(f"query failed: {exc}") from None

    def select(self, query: str) -> list[Row]:
        result = self._query(query)
        if not isinstance(result, ox.QuerySolutions):
            raise StoreError("expected a SELECT query")
        names = [v.value for v in result.variables]
        rows: list[Row] = []
        for solution in result:
            row = {}
            for name in names:
                value = solution[name]
                if value is not None:
                    row[name] = to_rdflib(value)
            rows.append(row)
        return rows

    def ask(self, query: str) -> bool:
        result = self._query(query)
        if not isinstance(result, ox.QueryBoolean):
            raise StoreError("expected an ASK query")
        return bool(result)

    def construct(self, query: str) -> list[Triple]:
        result = self._query(query)
        if not isinstance(result, ox.QueryTriples):
            raise StoreError("expected a CONSTRUCT or DESCRIBE query")
        return [(to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)) for t in result]

    def update(self, text: str, *, idempotent: bool = False) -> None:
        # Nothing travels over a network: a request is applied or refused, never lost, so never repeated.
        try:
            self._store.update(text)
        except SyntaxError as exc:
            raise StoreError(f"bad SPARQL update: {exc}") from None
        except OSError as exc:
            raise StoreError(f"update failed: {exc}") from None

    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None) -> int:
        if fmt not in FORMATS:
            raise LoadError(f"unknown RDF format '{fmt}'")
        before = len(self._store)
        kwargs = {"format": _OX_FORMATS[fmt]}
        if base:
            kwargs["base_iri"] = base
        if graph is not None:
            kwargs["to_graph"] = ox.NamedNode(str(graph))
        try:
            # pyoxigraph's load is transactional: a syntax error anywhere loads nothing.
            self._store.load(data, **kwargs)
        except SyntaxError as exc:
            raise LoadError(f"not valid {fmt}: {exc}") from None
        except ValueError as exc:
            raise LoadError(str(exc)) from None
        return len(self._store) - before

    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        g = ox.NamedNode(str(graph))
        if self._store.contains_named_graph(g):
            self._store.remove_graph(g)
        quads = [ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), g) for s, p, o in triples]
        # One transaction: a failure leaves the staging graph empty, never half written.
        self._store.extend(quads)
        return len(quads)

    def swap_graphs(self, pairs: Mapping[URIRef, URIRef]) -> None:
        # One update request is one pyoxigraph transaction: readers see every
        # live graph before the swap or every one after it.
        self.update(swap_request(pairs))

    def drop_graph(self, graph: URIRef) -> None:
        g = ox.NamedNode(str(graph))
        if self._store.contains_named_graph(g):
            self._store.remove_graph(g)

    def graph_names(self) -> list[URIRef]:
        return sorted(URIRef(g.value) for g in self._store.named_graphs() if isinstance(g, ox.NamedNode)
                      and next(iter(self._store.quads_for_pattern(None, None, None, g)), None) is not None)

    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        g = ox.NamedNode(str(graph))
        for q in self._store.quads_for_pattern(None, None, None, g):
            yield to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)

    def __len__(self) -> int:
        return len(self._store)

    def close(self) -> None:
        if self.path is not None:
            try:
                self._store.flush()
            except OSError:
                pass
        self._store = None
