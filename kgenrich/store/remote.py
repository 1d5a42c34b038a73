"""A remote store: any SPARQL 1.1 query + update endpoint, optionally the Graph Store Protocol.

HTTP goes through one urllib3 pool (:mod:`kgenrich.store.http`): each request
is repeated after errors only as far as repeating it is safe.  Endpoint URLs
are checked when the store is made; user-info in a URL becomes the basic-auth
credentials (``KGENRICH_USER`` / ``KGENRICH_PASSWORD`` win) and never appears
in a request line or a message.

Default graph.  Stores differ on what a query without ``GRAPH`` reads:
Virtuoso reads every graph, an Oxigraph server only its own default graph
unless started with ``--union-default-graph``.  kgenrich's queries read the
union of every graph, the server's own default graph included (the embedded
store's semantics), so the first query probes the server once: one triple of a
named graph, asked for without ``GRAPH``.  Where it is not visible:

- a server that takes Oxigraph's ``union-default-graph`` request parameter
  (asked once, with the same triple) gets it with every query: the union of
  its default graph and every named graph, as with ``--union-default-graph``;
- any other server gets the dataset named through the SPARQL 1.1 Protocol:
  ``default-graph-uri`` and ``named-graph-uri`` for every named graph (from a
  cached graph list, refreshed after each write through this object).  The
  protocol has no name for the server's own default graph, so its triples are
  not read: the store counts them once and says so in one warning (how many,
  and what to change).

Loads.  Files and directories go through :mod:`kgenrich.store.remote_load`:
checked as a stream first (a syntax error sends nothing), staged into graphs
of kgenrich's own by bounded batches (Graph Store POSTs, or INSERT DATA), each
staged graph counted, and moved to their targets by ONE update request
(queries/load_move.rq).  On a server that applies an update request atomically
(Oxigraph) the run becomes visible whole or not at all; on any failure before
that request the staging graphs are dropped.  ``load_bytes`` (documents
already in memory) stages the same way in one piece; staging graphs and the move
request are :mod:`kgenrich.store.remote_staging`.

Reading.  :meth:`RemoteStore.select_iter` parses the JSON results as they
arrive (pyoxigraph's streaming parser on the open HTTP answer), so a result of
a million rows is never held in memory; answers are read in
:mod:`kgenrich.store.remote_results`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urlencode

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef

from .. import sparql
from ..errors import ConfigError, LoadError, StoreError
from ..redact import redact  # re-exported: messages that may name an endpoint go through it
from .base import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_PAGE_ROWS,
    FORMATS,
    QUAD_FORMATS,
    Row,
    Solutions,
    Store,
    Triple,
    iter_ntriples_blocks,
)
from .http import Answer, HttpClient, parse_endpoint
from .rdfio import one_line, parse_quads
from .remote_results import JSON_RESULTS, count_of, json_boolean, json_rows, ntriples, streamed_solutions
from .remote_staging import DEFAULT_LOAD_STAGING, NOT_UNION, load_staged, triples_by_graph

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

# Oxigraph's request parameter for "the default graph is the union of all graphs" (its own included)
UNION_PARAMETER = ("union-default-graph", "")

_FORM = "application/x-www-form-urlencoded"


def _has_blank(triples: Iterable[Triple]) -> bool:
    return any(isinstance(x, BNode) for t in triples for x in t)


class RemoteStore(Store):
    """A SPARQL 1.1 endpoint (query, update, optionally Graph Store Protocol) behind the Store contract.

    ``retries``: attempts per request where repeating is safe (at least one);
    ``result_limit``: the server's row cap (0: unknown).
    """

    def __init__(self, endpoint: str, update_endpoint: str | None = None, gsp_endpoint: str | None = None,
                 credentials: tuple[str, str] | None = None, timeout: float = 60.0, retries: int = 4,
                 batch_triples: int = 5000, result_limit: int = 0, backoff: float = 0.5,
                 batch_bytes: int = DEFAULT_BATCH_BYTES, read_only: bool = False):
        query = parse_endpoint(endpoint, "endpoint")
        update = parse_endpoint(update_endpoint, "update endpoint") if update_endpoint else query
        gsp = parse_endpoint(gsp_endpoint, "graph store endpoint") if gsp_endpoint else None
        url_credentials = next((e.credentials for e in (query, update, gsp) if e and e.credentials), None)
        self.endpoint = query.url
        self.update_endpoint = update.url
        self.gsp_endpoint = gsp.url if gsp else None
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.batch_triples = max(1, int(batch_triples))
        self.batch_bytes = max(4096, int(batch_bytes))
        self.result_limit = int(result_limit)
        self.read_only = bool(read_only)
        self._http = HttpClient(credentials=credentials or url_credentials, timeout=self.timeout,
                                attempts=self.retries, backoff=backoff)
        self.description = f"SPARQL endpoint {self.endpoint}"
        # Default-graph semantics: None until known (the store may hold no named-graph triple to probe with).
        self._union: bool | None = None
        self._probe_due = True
        self._graphs: list[str] | None = None
        # Where the default graph is not the union: whether the server takes UNION_PARAMETER (None:
        # not asked), and how many triples of its own default graph a named dataset leaves out.
        self._union_parameter: bool | None = None
        self.unread_default_triples: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False, in_memory: bool = False) -> Self:
        # ``in_memory`` means nothing to a server: the data stay where they are.
        if not settings.endpoint:
            raise ConfigError("store_kind 'remote' needs an endpoint (--endpoint URL, KGENRICH_ENDPOINT or "
                              "endpoint = ... in the settings)")
        return cls(settings.endpoint, update_endpoint=settings.update_endpoint, gsp_endpoint=settings.gsp_endpoint,
                   credentials=settings.credentials, timeout=settings.timeout, retries=settings.retries,
                   batch_triples=settings.batch_triples, batch_bytes=settings.batch_bytes,
                   result_limit=settings.result_limit, read_only=read_only)

    # --- capabilities ------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        if self.result_limit > 1:
            # A result of exactly result_limit rows counts as cut: stay below it.
            return min(DEFAULT_PAGE_ROWS, self.result_limit - 1)
        return DEFAULT_PAGE_ROWS

    @property
    def default_graph_is_union(self) -> bool | None:
        """Whether the server's own default graph shows its named graphs' triples.

        None while the store holds no named-graph triple (nothing to tell by);
        False also where the probe cannot tell (only blank-node triples).
        Where False, every query names its dataset explicitly.
        """
        if self._probe_due:
            # Set only after the probe answered: a failed probe is tried again by the next query.
            self._union = self._probe_union()
            self._probe_due = False
        return self._union

    # --- the dataset a query reads -----------------------------------------------
    def _probe_union(self) -> bool | None:
        rows = self._select(sparql.prepare("store_probe_named_triple"), dataset=False)
        terms = [rows[0].get(name) for name in ("s", "p", "o")] if rows else []
        triple = [term for term in terms if isinstance(term, (URIRef, Literal))]
        if len(triple) == 3:
            s, p, o = triple
            probe = sparql.prepare("store_probe_default_graph", s=s, p=p, o=o)
            union = self._ask(probe, dataset=False)
            if not union and self._union_parameter is None:
                self._union_parameter = self._takes_union_parameter(probe)
            return union
        if self._ask(sparql.prepare("store_has_named_triples"), dataset=False):
            # Named graphs whose triples all hold blank nodes: nothing to ask for by label.  An
            # explicit dataset reads the union on any store, so take that road.
            return False
        return None

    def _takes_union_parameter(self, probe: str) -> bool:
        """Whether the server reads UNION_PARAMETER: the probe triple is then visible without GRAPH.
        A server that refuses the parameter, or ignores it, does not."""
        try:
            return self._ask(probe, dataset=[UNION_PARAMETER])
        except StoreError:
            return False

    def _dataset(self) -> list[tuple[str, str]]:
        if self.default_graph_is_union is not False:
            return []
        if self._union_parameter:
            return [UNION_PARAMETER]
        if self._graphs is None:
            self.graph_names()
        graphs = self._graphs or []
        if self.unread_default_triples is None:
            self._count_unread_default()
        return [("default-graph-uri", g) for g in graphs] + [("named-graph-uri", g) for g in graphs]

    def _count_unread_default(self) -> None:
        """Count, once, the triples of the server's own default graph that a named dataset leaves out,
        and say so in one warning when there are any."""
        rows = self._select(sparql.prepare("store_count_default_graph"), dataset=False)
        self.unread_default_triples = count_of(rows)
        if self.unread_default_triples:
            log.warning("%s: the %d triple(s) of the server's own default graph are not read: the server shows "
                        "only that graph to a query without a dataset, and SPARQL names no default graph beside "
                        "the named ones; start the server with its union-default-graph option (Virtuoso and "
                        "Oxigraph's --union-default-graph read everything), or load those triples into a named "
                        "graph (kgenrich load FILE --graph IRI)", self.endpoint, self.unread_default_triples)

    def _written(self) -> None:
        """After a write: the graph list may have changed, and an undecided probe may now decide."""
        self._graphs = None
        if self._union is None:
            self._probe_due = True

    # --- HTTP ---------------------------------------------------------------------
    def _post_query(self, query: str, accept: str, dataset: bool | list[tuple[str, str]],
                    stream: bool = False) -> Answer:
        """``dataset``: True for the store's union (see the module doc), False for none, or the fields."""
        named = dataset if isinstance(dataset, list) else self._dataset() if dataset else []
        fields = [("query", query), *named]
        return self._http.request("POST", self.endpoint, what="query", idempotent=True,
                                  body=urlencode(fields).encode("utf-8"),
                                  headers={"Accept": accept, "Content-Type": _FORM}, stream=stream)

    # --- reading -----------------------------------------------------------------
    def select(self, query: str) -> list[Row]:
        return self._select(query, dataset=True)

    def _select(self, query: str, dataset: bool) -> list[Row]:
        return json_rows(self._post_query(query, JSON_RESULTS, dataset), self.result_limit)

    def select_iter(self, query: str) -> Solutions:
        """The rows as the endpoint sends them: parsed from the open HTTP answer, never held whole."""
        answer = self._post_query(query, JSON_RESULTS, True, stream=True)
        return streamed_solutions(answer, self.result_limit, self._unreadable)

    def _unreadable(self, exc: BaseException, rows: int) -> StoreError:
        if isinstance(exc, SyntaxError):
            return StoreError(self._http.redact(
                f"query: unreadable SPARQL results from the endpoint after {rows} row(s) ({one_line(exc)})"))
        return self._http.broken_off("query", self.endpoint, exc, rows)

    def ask(self, query: str) -> bool:
        return self._ask(query, dataset=True)

    def _ask(self, query: str, dataset: bool | list[tuple[str, str]]) -> bool:
        return json_boolean(self._post_query(query, JSON_RESULTS, dataset))

    def construct(self, query: str) -> list[Triple]:
        return ntriples(self._post_query(query, "application/n-triples", True), "construct")

    def graph_names(self) -> list[URIRef]:
        # GRAPH ?g reads the named graphs whatever the default graph is: no dataset needed.
        found = (row.get("g") for row in self._select(sparql.prepare("graph_names"), dataset=False))
        names = sorted(g for g in found if isinstance(g, URIRef))
        self._graphs = [str(g) for g in names]
        return names

    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        if self.gsp_endpoint:
            answer = self._http.request("GET", self.gsp_endpoint, what="graph store GET", idempotent=True,
                                        params={"graph": str(graph)}, headers={"Accept": "application/n-triples"},
                                        ok=(404,))
            if answer.status == 404:
                return iter(())
            return iter(ntriples(answer, "graph store GET"))
        return self._paged_triples(graph)

    def _paged_triples(self, graph: URIRef) -> Iterator[Triple]:
        page = self.page_rows
        offset = 0
        while True:
            rows = self.select(sparql.prepare("graph_triples_page", graph=graph, limit=page, offset=offset))
            for row in rows:
                yield row["s"], row["p"], row["o"]
            if len(rows) < page:
                return
            offset += page

    # --- writing -----------------------------------------------------------------
    def update(self, text: str, *, idempotent: bool = False) -> None:
        self._check_writable("an update")
        try:
            self._http.request("POST", self.update_endpoint, what="update", idempotent=idempotent,
                               body=urlencode({"update": text}).encode("utf-8"), headers={"Content-Type": _FORM})
        finally:
            # Even a failed request may have changed the store.
            self._written()

    def _default_graph_is_union_for_load(self) -> bool:
        """Decide the default-graph semantics before loading into it, writing a probe triple if need be.
        (True also where the queries read the default graph through UNION_PARAMETER.)"""
        known = self.default_graph_is_union
        if known is not None:
            return known or bool(self._union_parameter)
        probe = URIRef(f"urn:kgenrich:probe:{uuid.uuid4().hex}")
        self.update(sparql.prepare("insert_data", graph=probe, triples=sparql.TripleBlock([(probe, probe, probe)])),
                    idempotent=True)
        try:
            asked = sparql.prepare("store_probe_default_graph", s=probe, p=probe, o=probe)
            union = self._ask(asked, dataset=False)
            if not union:
                self._union_parameter = self._takes_union_parameter(asked)
        finally:
            self.update(sparql.prepare("drop_graph", graph=probe), idempotent=True)
        self._union, self._probe_due = union, False
        return union or bool(self._union_parameter)

    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None, *,
                   staging: str | None = None) -> int:
        """Parse, stage, then make the file visible in one update request (see the module docstring)."""
        self._check_writable("a load")
        # Parsed here first, by the embedded store's parser: a syntax error sends nothing and names the line.
        quads = parse_quads(data, fmt, graph=ox.NamedNode(str(graph)) if graph is not None else None, base=base)
        by_graph = triples_by_graph(quads)
        if not by_graph:
            return 0
        if None in by_graph and not self._default_graph_is_union_for_load():
            raise LoadError(NOT_UNION)
        total = sum(len(t) for t in by_graph.values())
        try:
            if self.gsp_endpoint and fmt not in QUAD_FORMATS:
                # One Graph Store POST: the server adds the whole file in one request.  The triples go as
                # parsed here (relative IRIs resolved against the file, not against the endpoint).  A POST
                # adds, so a second copy could duplicate blank nodes: not repeated.
                params = {"graph": str(graph)} if graph is not None else {"default": ""}
                body = ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in quads],
                                    format=ox.RdfFormat.N_TRIPLES)
                self._http.request("POST", self.gsp_endpoint, what="graph store POST", idempotent=False,
                                   params=params, body=body, headers={"Content-Type": FORMATS["ntriples"]})
                return total
            load_staged(self, {target: list(triples) for target, triples in by_graph.items()},
                        staging or DEFAULT_LOAD_STAGING)
            return total
        finally:
            self._written()

    def load_files(self, paths, fmt: str | None = None, graph: URIRef | None = None, *,
                   staging: str | None = None, options=None, on_commit=None):
        """Check, stage in bounded batches, move in one request (kgenrich/store/remote_load.py)."""
        from .loading import LoadOptions
        from .remote_load import load_run

        self._check_writable("a load")
        return load_run(self, paths, fmt, graph, staging or DEFAULT_LOAD_STAGING, options or LoadOptions(), on_commit)

    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        self._check_writable("staging a graph")
        triples = list(triples)
        try:
            if self.gsp_endpoint and not _has_blank(triples):
                # A Graph Store PUT replaces the whole graph in one request; repeating it changes nothing.
                self._http.request("PUT", self.gsp_endpoint, what="graph store PUT", idempotent=True,
                                   params={"graph": str(graph)}, body=sparql.ntriples(triples).encode("utf-8"),
                                   headers={"Content-Type": "application/n-triples"})
            else:
                # N-Triples here cannot carry blank nodes: those go by SPARQL Update.
                self.update(sparql.prepare("drop_graph", graph=graph), idempotent=True)
                self._insert_triples(graph, triples, self.batch_triples)
        finally:
            self._written()
        return len(triples)

    @property
    def max_update_bytes(self) -> int:
        return self.batch_bytes

    @property
    def max_update_triples(self) -> int:
        return self.batch_triples

    def add_ntriples(self, graph: URIRef, path: Path) -> int:
        if not self.gsp_endpoint:
            return super().add_ntriples(graph, path)
        lines = 0
        try:
            for block in iter_ntriples_blocks(path, self.batch_bytes, self.batch_triples):
                # A POST adds; these are ground triples, so a repeated POST adds nothing new.
                self._http.request("POST", self.gsp_endpoint, what="graph store POST", idempotent=True,
                                   params={"graph": str(graph)}, body=block.encode("utf-8"),
                                   headers={"Content-Type": "application/n-triples"})
                lines += block.count("\n")
        finally:
            self._written()
        return lines

    def content_digest(self, skip) -> str | None:
        """With the Graph Store Protocol: a hash of every graph as the server serialises it.

        Oxigraph serialises a graph in the order of its content-derived index keys, so equal
        content gives an equal digest; a server whose order varies only ever makes a digest
        differ, which costs a full check, never a missed change.  A failure also returns None.
        """
        if not self.gsp_endpoint:
            return None
        import hashlib

        digest = hashlib.sha256()
        try:
            for graph in [None, *[g for g in self.graph_names() if not skip(str(g))]]:
                digest.update(f"\n#graph {graph or ''}\n".encode())
                status = self._http.stream("GET", self.gsp_endpoint, what="graph store GET", sink=digest.update,
                                           params={"graph": str(graph)} if graph else {"default": ""},
                                           headers={"Accept": "application/n-triples"}, ok=(404,))
                if status == 404:
                    digest.update(b"#absent\n")
        except StoreError:
            return None
        return digest.hexdigest()

    def put_ntriples(self, graph: URIRef, path: Path) -> bool:
        if not self.gsp_endpoint:
            return False
        try:
            with open(path, "rb") as body:
                # The file is streamed; urllib3 rewinds it for a repeat.  A PUT replaces the graph in one
                # request, so repeating it changes nothing.
                self._http.request("PUT", self.gsp_endpoint, what="graph store PUT", idempotent=True,
                                   params={"graph": str(graph)}, body=body,
                                   headers={"Content-Type": "application/n-triples"})
        finally:
            self._written()
        return True

    def drop_graph(self, graph: URIRef) -> None:
        self.update(sparql.prepare("drop_graph", graph=graph), idempotent=True)

    def close(self) -> None:
        self._http.close()


__all__ = ["RemoteStore", "redact"]
