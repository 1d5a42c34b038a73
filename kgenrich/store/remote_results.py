"""What a SPARQL endpoint answers, read: JSON results whole or as a stream, and N-Triples.

The remote store (:mod:`kgenrich.store.remote`) sends the requests; the
functions here turn its answers into rows and triples, and every answer that
cannot be read into one :class:`StoreError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, cast

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.exceptions import ParserError
from rdflib.term import Node
from urllib3.exceptions import HTTPError

from ..errors import StoreError, TruncatedResult
from .base import Row, Solutions, Triple
from .http import Answer
from .terms import solution_row

JSON_RESULTS = "application/sparql-results+json"
# Virtuoso announces a cut result with this header instead of failing.
MAX_ROWS_HEADER = "X-SPARQL-MaxRows"


def term_from_json(binding: dict) -> Node:
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


def count_of(rows: list[Row]) -> int:
    """The number ``?n`` of a COUNT query's one row (0 when there is no row)."""
    value = rows[0].get("n") if rows else None
    return int(value) if isinstance(value, Literal) else 0


def json_object(answer: Answer, what: str) -> dict:
    try:
        data = json.loads(answer.data)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise StoreError(f"{what}: the endpoint did not answer with SPARQL JSON results")
    return data


def json_rows(answer: Answer, result_limit: int) -> list[Row]:
    """The rows of a whole SELECT answer; a result the server cut raises TruncatedResult."""
    bindings = json_object(answer, "query").get("results", {}).get("bindings", [])
    if answer.headers.get(MAX_ROWS_HEADER):
        raise TruncatedResult(
            f"the endpoint cut a result at {answer.headers[MAX_ROWS_HEADER]} rows; "
            "lower page_size or raise the server's ResultSetMaxRows")
    if result_limit and len(bindings) >= result_limit:
        raise TruncatedResult(f"a result reached the endpoint's row limit ({result_limit}); lower page_size")
    return [{name: term_from_json(value) for name, value in row.items()} for row in bindings]


def json_boolean(answer: Answer) -> bool:
    data = json_object(answer, "ask")
    try:
        if "boolean" in data:
            return bool(data["boolean"])
        # Virtuoso 7 answers an ASK as a one-row SELECT of ?__ASK_RETVAL (1 or 0).
        rows = data["results"]["bindings"]
        return bool(rows) and rows[0]["__ASK_RETVAL"]["value"] not in ("0", "false")
    except (KeyError, IndexError, TypeError):
        raise StoreError("ask: the endpoint did not answer with a boolean") from None


def ntriples(answer: Answer, what: str) -> list[Triple]:
    graph = Graph()
    try:
        graph.parse(data=answer.data, format="nt")
    except (ParserError, ValueError) as exc:  # a line rdflib cannot read; bad UTF-8 or an escape out of range
        raise StoreError(f"{what}: unreadable N-Triples from the endpoint ({exc})") from None
    return list(graph)


# What can break a streamed answer: pyoxigraph's SyntaxError for results it cannot read, and what urllib3
# raises from a read (its HTTPError family: the connection closed, a read timed out, a bad encoding),
# passed through the parser unchanged; OSError for a socket error that reaches it unwrapped.
STREAM_ERRORS = (SyntaxError, HTTPError, OSError)


def streamed_solutions(answer: Answer, result_limit: int,
                       unreadable: Callable[[BaseException, int], StoreError]) -> Solutions:
    """The rows of a streamed SELECT answer, parsed as they arrive, never held whole.

    ``unreadable(error, rows)``: the error for an answer that broke off or cannot be read after ``rows`` rows.
    """
    response = answer.stream
    assert response is not None  # asked for with stream=True

    def done(read_all: bool) -> None:
        # A connection with part of an answer still unread must not serve another request.
        if not read_all:
            response.close()
        response.release_conn()

    if answer.headers.get(MAX_ROWS_HEADER):
        done(False)
        raise TruncatedResult(f"the endpoint cut a result at {answer.headers[MAX_ROWS_HEADER]} rows; "
                              "use LIMIT/OFFSET or raise the server's ResultSetMaxRows")
    try:
        # urllib3's response is a binary file (read/readinto), which is all the parser uses
        result = ox.parse_query_results(cast("IO[bytes]", response), ox.QueryResultsFormat.JSON)
    except STREAM_ERRORS as exc:
        done(False)
        raise unreadable(exc, 0) from None
    if not isinstance(result, ox.QuerySolutions):
        done(False)
        raise StoreError("query: expected SELECT results, the endpoint answered a boolean")
    names = [v.value for v in result.variables]

    def rows() -> Iterator[Row]:
        count, complete = 0, False
        try:
            for solution in result:
                row = solution_row(solution, names)
                count += 1
                yield row
            complete = True
        except STREAM_ERRORS as exc:  # the answer broke off or is not JSON results: one message
            raise unreadable(exc, count) from None
        finally:
            done(complete)
        if result_limit and count >= result_limit:
            raise TruncatedResult(f"a result reached the endpoint's row limit ({result_limit}): rows may be missing")

    return Solutions(names, rows())
