"""`kgenrich query`: run any SPARQL query and write its results as they arrive.

The query's form (SELECT, ASK, CONSTRUCT, DESCRIBE) is told by a SPARQL parser
(rdflib's: it only parses, it never evaluates, so telling the form has no side
effect such as a SERVICE call), not by looking for keywords: a ``#`` inside an
IRI or a string is not a comment, and ``SELECT`` inside a literal is not a
form.  An update is refused by name.

SELECT results are written row by row from the store's iterator
(:meth:`kgenrich.store.Store.select_iter`): ``csv`` and ``json`` hold one row
at a time whatever the result's size; ``table`` holds the first
``TABLE_SAMPLE`` rows to size its columns, then streams the rest.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from rdflib import Literal, URIRef
from rdflib.term import Node

from .errors import KgenrichError
from .sparql import serialize_term
from .store import Store

FORMS = {"SelectQuery": "SELECT", "AskQuery": "ASK", "ConstructQuery": "CONSTRUCT", "DescribeQuery": "DESCRIBE"}
TABLE_SAMPLE = 1000  # rows read before a table's column widths are fixed
FLUSH_SECONDS = 0.5  # a slow result still reaches a pipe at least this often
TABLE_MAX_WIDTH = 80
_PYPARSING_WHERE = re.compile(r"\s*\(at char \d+\),\s*\(line:\d+, col:\d+\)\s*$")


class QueryError(KgenrichError):
    """The text given to `kgenrich query` is not a SPARQL query."""


@dataclass
class QueryResult:
    form: str
    variables: list[str] = field(default_factory=list)
    rows: Iterable[dict[str, Node]] = field(default_factory=list)
    boolean: bool | None = None


def _parse_failure(exc: Exception) -> str:
    message = _PYPARSING_WHERE.sub("", str(exc))
    line, column = getattr(exc, "lineno", None), getattr(exc, "col", None)
    where = f"line {line}, column {column}: " if line and column else ""
    return where + " ".join(message.split())


def query_form(text: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE, as the SPARQL 1.1 grammar reads ``text``; else a QueryError."""
    from pyparsing import ParseException
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

    try:
        parsed = parseQuery(text)
    except ParseException as exc:
        try:
            update = parseUpdate(text)
        except ParseException:
            raise QueryError(f"not a SPARQL query: {_parse_failure(exc)}") from None
        if "request" not in update:
            # the empty text (or only comments and PREFIX lines) is a valid update of no operation
            raise QueryError("no query: the text is empty (or only comments and prefixes); give SELECT, ASK, "
                             "CONSTRUCT or DESCRIBE") from None
        raise QueryError("this is a SPARQL update; `kgenrich query` runs only queries "
                         "(SELECT, ASK, CONSTRUCT, DESCRIBE) and never changes the store") from None
    name = getattr(parsed[1], "name", "")
    if name not in FORMS:
        raise QueryError(f"not a SPARQL query (parsed as {name or 'nothing'})")
    return FORMS[name]


def run_query(store: Store, text: str, form: str | None = None) -> QueryResult:
    """The query's result; for SELECT, rows that are read from the store as they are iterated.

    ``form``: what :func:`query_form` said about ``text``, when the caller asked it already."""
    form = form or query_form(text)
    if form == "ASK":
        return QueryResult(form, boolean=store.ask(text))
    if form in ("CONSTRUCT", "DESCRIBE"):
        triples = store.construct(text)
        return QueryResult(form, ["subject", "predicate", "object"],
                           [{"subject": s, "predicate": p, "object": o} for s, p, o in triples])
    solutions = store.select_iter(text)
    return QueryResult(form, list(solutions.variables), solutions)


def _plain(term: Node | None) -> str:
    if term is None:
        return ""
    return str(term)


def _json_term(term: Node) -> dict[str, str]:
    if isinstance(term, URIRef):
        return {"type": "uri", "value": str(term)}
    if isinstance(term, Literal):
        out = {"type": "literal", "value": str(term)}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype:
            out["datatype"] = str(term.datatype)
        return out
    return {"type": "bnode", "value": str(term)}


def _cell(term: Node | None) -> str:
    # N-Triples-like terms so that IRIs and literals are told apart; one line per row.
    text = serialize_term(term) if isinstance(term, (URIRef, Literal)) else _plain(term)
    return text.replace("\n", "\\n").replace("\r", "\\r")


def write_results(result: QueryResult, fmt: str, out: IO[str]) -> int:
    """Write the result in ``fmt`` (table, json, csv) to ``out`` as it is read; returns the rows written."""
    if result.form == "ASK":
        if fmt == "json":
            out.write(json.dumps({"head": {}, "boolean": result.boolean}) + "\n")
        else:
            out.write(("true" if result.boolean else "false") + "\n")
        return 0
    rows: Iterator[dict[str, Node]] = _flushing(iter(result.rows), out)
    variables = result.variables
    count = 0
    if fmt == "json":
        out.write('{"head": {"vars": ' + json.dumps(variables) + '}, "results": {"bindings": [')
        for count, row in enumerate(rows, start=1):
            out.write(("\n" if count == 1 else ",\n")
                      + json.dumps({k: _json_term(v) for k, v in row.items()}, ensure_ascii=False))
        out.write("\n]}}\n")
        return count
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(variables)
        for count, row in enumerate(rows, start=1):  # noqa: B007 - the last count is the answer
            writer.writerow([_plain(row.get(v)) for v in variables])
        return count
    sample = [[_cell(row.get(v)) for v in variables] for row in itertools.islice(rows, TABLE_SAMPLE)]
    widths = [min(TABLE_MAX_WIDTH, max([len(v)] + [len(c[i]) for c in sample])) for i, v in enumerate(variables)]

    def line(cells: list[str]) -> str:
        return " | ".join((x if len(x) <= w else x[: w - 1] + "…").ljust(w) for x, w in zip(cells, widths)) + "\n"

    out.write(line(variables))
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for cells in itertools.chain(sample, ([_cell(row.get(v)) for v in variables] for row in rows)):
        out.write(line(cells))
        count += 1
    out.write(f"({count} row{'s' if count != 1 else ''})\n")
    return count


def _flushing(rows: Iterator[dict[str, Node]], out: IO[str]) -> Iterator[dict[str, Node]]:
    """The rows, flushing ``out`` now and then: block-buffered output (a pipe) still sees a slow result
    arrive, while a fast one is written in large blocks, not line by line."""
    last = time.monotonic()
    for count, row in enumerate(rows):
        if count % 256 == 0:
            now = time.monotonic()
            if now - last > FLUSH_SECONDS:
                out.flush()
                last = now
        yield row

