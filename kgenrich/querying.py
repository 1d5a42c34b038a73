"""`kgenrich query`: run any SPARQL query and format its results."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from rdflib import Literal, URIRef
from rdflib.term import Node

from .errors import KgenrichError
from .sparql import serialize_term
from .store import Store

_COMMENT = re.compile(r"#[^\n]*")
_IRI = re.compile(r"<[^>]*>")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_FORM = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", re.IGNORECASE)


@dataclass
class QueryResult:
    form: str
    variables: list[str] = field(default_factory=list)
    rows: list[dict[str, Node]] = field(default_factory=list)
    boolean: bool | None = None


def query_form(text: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the first form keyword outside IRIs, strings and comments."""
    stripped = _STRING.sub('""', _IRI.sub("<>", _COMMENT.sub("", text)))
    match = _FORM.search(stripped)
    if not match:
        raise KgenrichError("not a SPARQL query (no SELECT, ASK, CONSTRUCT or DESCRIBE); updates are not run by `query`")
    return match.group(1).upper()


def run_query(store: Store, text: str) -> QueryResult:
    form = query_form(text)
    if form == "ASK":
        return QueryResult(form, boolean=store.ask(text))
    if form in ("CONSTRUCT", "DESCRIBE"):
        triples = store.construct(text)
        return QueryResult(form, ["subject", "predicate", "object"],
                           [{"subject": s, "predicate": p, "object": o} for s, p, o in triples])
    rows = store.select(text)
    variables: list[str] = []
    # Variable order: as they first appear in the projection, else as they come.
    projection = re.search(r"SELECT\s+(?:DISTINCT\s+|REDUCED\s+)?(.*?)\s*(?:WHERE|\{|FROM)", _COMMENT.sub("", text),
                           re.IGNORECASE | re.DOTALL)
    if projection and "*" not in projection.group(1):
        variables = [v for v in re.findall(r"[?$](\w+)(?![^(]*\bAS\b)", projection.group(1))]
        variables += re.findall(r"\bAS\s+[?$](\w+)", projection.group(1), re.IGNORECASE)
        seen = []
        for v in variables:
            if v not in seen:
                seen.append(v)
        variables = seen
    for row in rows:
        for name in row:
            if name not in variables:
                variables.append(name)
    return QueryResult(form, variables, rows)


def _plain(term: Node | None) -> str:
    if term is None:
        return ""
    return str(term)


def _json_term(term: Node) -> dict:
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


def format_results(result: QueryResult, fmt: str) -> str:
    if result.form == "ASK":
        if fmt == "json":
            return json.dumps({"head": {}, "boolean": result.boolean}) + "\n"
        return ("true" if result.boolean else "false") + "\n"
    if fmt == "json":
        doc = {
            "head": {"vars": result.variables},
            "results": {"bindings": [{k: _json_term(v) for k, v in row.items()} for row in result.rows]},
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.variables)
        for row in result.rows:
            writer.writerow([_plain(row.get(v)) for v in result.variables])
        return buffer.getvalue()
    # table: N-Triples-like terms so that IRIs and literals are told apart.
    cells = [[serialize_term(row[v]) if isinstance(row.get(v), (URIRef, Literal)) else _plain(row.get(v))
              for v in result.variables] for row in result.rows]
    widths = [min(80, max([len(v)] + [len(c[i]) for c in cells])) for i, v in enumerate(result.variables)]
    lines = [" | ".join(v.ljust(w) for v, w in zip(result.variables, widths)),
             "-+-".join("-" * w for w in widths)]
    for c in cells:
        lines.append(" | ".join((x if len(x) <= w else x[: w - 1] + "…").ljust(w) for x, w in zip(c, widths)))
    lines.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(lines) + "\n"
