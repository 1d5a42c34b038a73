"""A remote store: any SPARQL 1.1 query + update endpoint, optionally the Graph Store Protocol.

Requests go through ``requests`` with a timeout each; connection errors and 5xx
answers are retried with exponential backoff where repeating the request is
safe (queries, whole-graph PUT/DROP, the final swap).  Credentials come from the
settings (environment) and never appear in messages: endpoints are shown
without their user-info part.
"""

from __future__ import annotations

import io
import time
from typing import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import requests
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.term import Node

from .. import sparql
from ..errors import EndpointUnreachable, LoadError, StoreError, TruncatedResult
from .base import DEFAULT_PAGE_ROWS, FORMATS, QUAD_FORMATS, Row, Store, Triple

_RDFLIB_FORMATS = {"turtle": "turtle", "trig": "trig", "ntriples": "nt", "nquads": "nquads", "rdfxml": "xml"}
_DEFAULT_GRAPH_IDS = {"urn:x-rdflib:default"}


def public_url(url: str) -> str:
    """The URL without user-info, for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _term_from_json(binding: dict) -> Node:
    kind = binding["type"]
    value = binding["value"]
    if kind == "uri":
        return URIRef(value)
    if kind == "bnode":
        return BNode(value)
    if kind in ("literal", "typed-literal"):
        lang = binding.get("xml:lang")
        if lang:
            return Literal(value, lang=lang)
        dt = binding.get("datatype")
        if dt and dt != "http://www.w3.org/2001/XMLSchema#string":
            return Literal(value, datatype=URIRef(dt), normalize=False)
        return Literal(value)
    raise StoreError(f"unknown term type in SPARQL results: {kind}")


def _has_blank(triples: Iterable[Triple]) -> bool:
    return any(isinstance(x, BNode) for t in triples for x in t)


class RemoteStore(Store):
    """A SPARQL 1.1 endpoint (query, update, optionally Graph Store Protocol) behind the Store contract.

    ``retries``: attempts per request where repeating is safe (at least one);
    ``result_limit``: the server's row cap (0: unknown); ``atomic_updates``:
    whether the server applies one update request in one transaction (Oxigraph
    does; a generic endpoint promises nothing).
    """

    def __init__(self, endpoint: str, update_endpoint: str | None = None, gsp_endpoint: str | None = None,
                 credentials: tuple[str, str] | None = None, timeout: float = 60.0, retries: int = 4,
                 batch_triples: int = 5000, result_limit: int = 0, backoff: float = 0.5,
                 atomic_updates: bool = False):
        self.endpoint = endpoint
        self.update_endpoint = update_endpoint or endpoint
        self.gsp_endpoint = gsp_endpoint
        self.timeout = timeout
        self.retries = max(1, int(retries))
        self.batch_triples = max(1, int(batch_triples))
        self.result_limit = int(result_limit)
        self.backoff = backoff
        self._atomic = bool(atomic_updates)
        self._session = requests.Session()
        if credentials:
            self._session.auth = credentials
        self.description = f"SPARQL endpoint {public_url(endpoint)}"

    # --- capabilities ------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        if self.result_limit > 1:
            # A result of exactly result_limit rows counts as cut: stay below it.
            return min(DEFAULT_PAGE_ROWS, self.result_limit - 1)
        return DEFAULT_PAGE_ROWS

    @property
    def graph_store_protocol(self) -> bool:
        return self.gsp_endpoint is not None

    @property
    def atomic_updates(self) -> bool:
        return self._atomic

    # --- HTTP with retries --------------------------------------------------
    def _request(self, method: str, url: str, *, retry: bool = True, **kwargs) -> requests.Response:
        attempts = self.retries if retry else 1
        last_error = ""
        for attempt in range(attempts):
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                last_error = f"connection failed ({type(exc).__name__})"
            except requests.Timeout:
                last_error = f"no answer within {self.timeout:g} s"
            else:
                if response.status_code < 500:
                    return response
                last_error = f"HTTP {response.status_code}"
            if attempt + 1 < attempts:
                time.sleep(self.backoff * (2 ** attempt))
        raise EndpointUnreachable(f"cannot reach {public_url(url)}: {last_error} (after {attempts} attempt(s))")

    @staticmethod
    def _check(response: requests.Response, what: str) -> requests.Response:
        if response.status_code in (401, 403):
            raise StoreError(f"{what}: the endpoint refused access (HTTP {response.status_code}); "
                             "set KGENRICH_USER / KGENRICH_PASSWORD")
        if response.status_code >= 400:
            detail = response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
            raise StoreError(f"{what}: HTTP {response.status_code} {detail}")
        return response

    def _post_query(self, query: str, accept: str) -> requests.Response:
        response = self._request("POST", self.endpoint, data={"query": query},
                                 headers={"Accept": accept})
        return self._check(response, "query")

    # --- reading -----------------------------------------------------------
    def select(self, query: str) -> list[Row]:
        response = self._post_query(query, "application/sparql-results+json")
        try:
            data = response.json()
        except ValueError:
            raise StoreError("query: the endpoint did not answer with SPARQL JSON results") from None
        bindings = data.get("results", {}).get("bindings", [])
        # Virtuoso announces a cut result with this header instead of failing.
        if response.headers.get("X-SPARQL-MaxRows"):
            raise TruncatedResult(
                f"the endpoint cut a result at {response.headers['X-SPARQL-MaxRows']} rows; "
                "lower page_size or raise the server's ResultSetMaxRows")
        if self.result_limit and len(bindings) >= self.result_limit:
            raise TruncatedResult(f"a result reached the endpoint's row limit ({self.result_limit}); lower page_size")
        return [{name: _term_from_json(value) for name, value in row.items()} for row in bindings]

    def ask(self, query: str) -> bool:
        response = self._post_query(query, "application/sparql-results+json")
        try:
            data = response.json()
            if "boolean" in data:
                return bool(data["boolean"])
            # Virtuoso 7 answers an ASK as a one-row SELECT of ?__ASK_RETVAL (1 or 0).
            rows = data["results"]["bindings"]
            return bool(rows) and rows[0]["__ASK_RETVAL"]["value"] not in ("0", "false")
        except (ValueError, KeyError, IndexError, TypeError):
            raise StoreError("ask: the endpoint did not answer with a boolean") from None

    def construct(self, query: str) -> list[Triple]:
        response = self._post_query(query, "application/n-triples")
        graph = Graph()
        try:
            graph.parse(data=response.content, format="nt")
        except Exception as exc:  # rdflib raises several parser-specific types
            raise StoreError(f"construct: unreadable N-Triples from the endpoint ({exc})") from None
        return list(graph)

    # --- writing -----------------------------------------------------------
    def update(self, text: str, *, idempotent: bool = False) -> None:
        response = self._request("POST", self.update_endpoint, data={"update": text}, retry=idempotent)
        self._check(response, "update")

    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None) -> int:
        if fmt not in FORMATS:
            raise LoadError(f"unknown RDF format '{fmt}'")
        # Parse here first: a syntax error then sends nothing at all, and names the line.
        dataset = Dataset()
        try:
            if fmt in QUAD_FORMATS:
                dataset.parse(data=data, format=_RDFLIB_FORMATS[fmt], publicID=base)
            else:
                dataset.graph(URIRef(str(graph)) if graph else dataset.default_graph.identifier).parse(
                    data=data, format=_RDFLIB_FORMATS[fmt], publicID=base)
        except Exception as exc:  # rdflib's parsers raise assorted exception types
            raise LoadError(f"not valid {fmt}: {exc}") from None
        by_graph: dict[str, list[Triple]] = {}
        for s, p, o, g in dataset.quads((None, None, None, None)):
            key = str(g.identifier if hasattr(g, "identifier") else g) if g is not None else ""
            by_graph.setdefault(key, []).append((s, p, o))
        total = sum(len(t) for t in by_graph.values())
        if self.gsp_endpoint and fmt not in QUAD_FORMATS:
            # One Graph Store POST: the server adds the whole file in one request.
            params = {"graph": str(graph)} if graph is not None else {"default": ""}
            response = self._request("POST", self.gsp_endpoint, params=params, data=data,
                                     headers={"Content-Type": FORMATS[fmt]}, retry=False)
            self._check(response, "graph store POST")
            return total
        for key, triples in by_graph.items():
            target = None if key in _DEFAULT_GRAPH_IDS or key == "" else URIRef(key)
            try:
                self._insert_triples(target, triples, self.batch_triples)
            except StoreError as exc:
                if target is None and "default graph" in str(exc).lower():
                    # Virtuoso has no default graph of its own to write into.
                    raise LoadError("the endpoint has no default graph to load triples into; give --graph IRI") from None
                raise
        return total

    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        triples = list(triples)
        if self.gsp_endpoint and not _has_blank(triples):
            # A Graph Store PUT replaces the whole graph in one request; repeating it changes nothing.
            response = self._request("PUT", self.gsp_endpoint, params={"graph": str(graph)},
                                     data=sparql.ntriples(triples).encode("utf-8"),
                                     headers={"Content-Type": "application/n-triples"})
            self._check(response, "graph store PUT")
        else:
            # N-Triples here cannot carry blank nodes: those go by SPARQL Update.
            self.update(sparql.prepare("drop_graph", graph=graph), idempotent=True)
            self._insert_triples(graph, triples, self.batch_triples)
        return len(triples)

    def drop_graph(self, graph: URIRef) -> None:
        self.update(sparql.prepare("drop_graph", graph=graph), idempotent=True)

    def graph_names(self) -> list[URIRef]:
        return sorted(row["g"] for row in self.select(sparql.prepare("graph_names")) if isinstance(row.get("g"), URIRef))

    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        if self.gsp_endpoint:
            response = self._request("GET", self.gsp_endpoint, params={"graph": str(graph)},
                                     headers={"Accept": "application/n-triples"})
            if response.status_code == 404:
                return iter(())
            self._check(response, "graph store GET")
            g = Graph()
            g.parse(data=response.content, format="nt")
            return iter(list(g))
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

    def close(self) -> None:
        self._session.close()
