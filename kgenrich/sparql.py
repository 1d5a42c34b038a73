"""Loads SPARQL from queries/*.rq and binds RDF terms into it.

Queries are files, never Python strings.  A query names the values it needs
as ``$name`` placeholders; :func:`bind` replaces each one with the serialised
RDF term (or a space-separated list of terms for ``VALUES`` blocks, or a
non-negative integer for ``LIMIT``/``OFFSET``).  Terms are serialised here, by
our own escaping, so that a label holding quotes, ``>`` or newlines can never
break or inject a query.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

from .errors import KgenrichError
from .resources import QUERIES_DIR


class CheckedFragment:
    """A piece of query text that an object builds only from serialised, checked terms (e.g. a
    ``propertypath.PropertyPath`` parsed from RDF): bound as its ``sparql()`` text."""

    def sparql(self) -> str:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


class TripleBlock(list[tuple[Node, Node, Node]]):
    """Triples to be bound as a data block (``INSERT DATA``), one ``s p o .`` per line."""


class RawTriples(str):
    """N-Triples text that kgenrich's own writers serialised (``ntriples``, ``prediction_triples.prediction_lines``),
    bound into a data block as it is.  Never make one from text read from outside."""


Bindable = Node | int | Iterable[Node] | TripleBlock | RawTriples | CheckedFragment

_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# Characters RDF 1.1 / SPARQL forbid inside an IRIREF.
_BAD_IRI_CHARS = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_LITERAL_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_LANG = re.compile(r"^[A-Za-z]+(-[A-Za-z0-9]+)*$")


class UnsafeTerm(KgenrichError):
    """A value cannot be written as an RDF term (e.g. an IRI with a space)."""


def iri_is_valid(value: str) -> bool:
    return bool(value) and not _BAD_IRI_CHARS.search(value)


@lru_cache(maxsize=1 << 16)
def _absolute_iri(value: str) -> bool:
    """An IRI a SPARQL store accepts: absolute, RFC 3987 syntax (pyoxigraph's parser decides)."""
    if not iri_is_valid(value):
        return False
    try:
        ox.NamedNode(value)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1024)
def _language_tag(tag: str) -> bool:
    """A well-formed BCP 47 tag (pyoxigraph's check, which the stores apply when they parse)."""
    if not _LANG.match(tag):
        return False
    try:
        ox.Literal("", language=tag)
    except ValueError:
        return False
    return True


def _escape_literal(text: str) -> str:
    return "".join(_LITERAL_ESCAPES.get(ch, ch) for ch in text)


def serialize_term(term: Node) -> str:
    """SPARQL/N-Triples serialisation of one RDF term, with strict checks."""
    if isinstance(term, URIRef):
        # Relative or malformed IRIs would make the whole request fail to parse: refused here, by name.
        if not _absolute_iri(str(term)):
            raise UnsafeTerm(f"not a valid absolute IRI: {str(term)!r}")
        return f"<{term}>"
    if isinstance(term, Literal):
        body = '"' + _escape_literal(str(term)) + '"'
        if term.language:
            if not _language_tag(term.language):
                raise UnsafeTerm(f"not a valid language tag: {term.language!r}")
            return f"{body}@{term.language}"
        if term.datatype is not None:
            return f"{body}^^{serialize_term(URIRef(term.datatype))}"
        return body
    if isinstance(term, BNode):
        raise UnsafeTerm("blank nodes cannot be bound into a query")
    raise UnsafeTerm(f"not an RDF term: {term!r}")


def ntriples_line(s: Node, p: Node, o: Node) -> str:
    """One N-Triples line (without the newline); raises UnsafeTerm for a term N-Triples cannot hold."""
    return f"{serialize_term(s)} {serialize_term(p)} {serialize_term(o)} ."


def ntriples(triples: Iterable[tuple[Node, Node, Node]]) -> str:
    """The N-Triples document of ground triples: the one writer every module uses."""
    return "".join(ntriples_line(s, p, o) + "\n" for s, p, o in triples)


def _data_term(term: Node) -> str:
    """A term in a data block (INSERT DATA), where blank nodes are allowed.

    Their labels are scoped to one request, so callers send all triples that
    share a blank node in the same block.
    """
    if isinstance(term, BNode):
        return "_:b" + hashlib.sha1(str(term).encode("utf-8")).hexdigest()[:24]
    return serialize_term(term)


def _serialize_binding(name: str, value: Bindable) -> str:
    if isinstance(value, bool):
        raise UnsafeTerm(f"${name}: booleans must be bound as rdflib Literals")
    if isinstance(value, int):
        if value < 0:
            raise UnsafeTerm(f"${name}: a LIMIT/OFFSET must not be negative")
        return str(int(value))
    if isinstance(value, Node):
        return serialize_term(value)
    if isinstance(value, RawTriples):
        return str(value)
    if isinstance(value, CheckedFragment):
        return value.sparql()
    if isinstance(value, TripleBlock):
        return "\n".join(
            f"{_data_term(s)} {_data_term(p)} {_data_term(o)} ." for s, p, o in value
        )
    if isinstance(value, (str, bytes)):
        raise UnsafeTerm(f"${name}: plain strings are ambiguous; bind URIRef or Literal")
    terms = [serialize_term(t) for t in value]
    if not terms:
        # An empty VALUES block matches nothing, which is the honest meaning of an empty list.
        return ""
    return " ".join(terms)


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def query_path(name: str) -> Path:
    path = QUERIES_DIR / (name if name.endswith(".rq") else f"{name}.rq")
    if not path.is_file():
        raise KgenrichError(f"query file not found: {path}")
    return path


def load(name: str) -> str:
    """The text of queries/NAME.rq."""
    return _read(query_path(name))


def bind(text: str, bindings: Mapping[str, Bindable] | None = None) -> str:
    """Replace each ``$name`` placeholder with the serialised binding."""
    bindings = dict(bindings or {})
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in bindings:
            missing.append(name)
            return match.group(0)
        return _serialize_binding(name, bindings[name])

    # Placeholders are found in one pass over the template, so a bound value
    # that itself contains "$x" is never substituted again.
    result = _PLACEHOLDER.sub(substitute, text)
    if missing:
        raise KgenrichError(f"query needs values for: {', '.join(sorted(set(missing)))}")
    return result


def prepare(name: str, **bindings: Bindable) -> str:
    """Load queries/NAME.rq and bind its placeholders."""
    return bind(load(name), bindings)


_PREFIX_LINE = re.compile(r"^\s*PREFIX\s+([A-Za-z][\w.-]*)?:\s*<([^>]*)>\s*$", re.IGNORECASE)


def join_updates(operations: Iterable[str]) -> str:
    """Several update operations (each a prepared .rq text) as ONE request.

    SPARQL allows a prologue before each operation, but not every engine parses one after a
    ``;`` (Oxigraph does not): the PREFIX lines of all operations go first, once each.
    """
    prefixes: dict[str, str] = {}
    bodies = []
    for op in operations:
        # Only the head of an operation holds its prologue (and comments); the rest, possibly a
        # large data block, is kept as it is.
        rest = op
        while rest:
            line, _, tail = rest.partition("\n")
            match = _PREFIX_LINE.match(line)
            if match:
                name, iri = match.group(1) or "", match.group(2)
                if prefixes.setdefault(name, iri) != iri:
                    raise KgenrichError(f"update operations bind the prefix '{name}:' to different IRIs")
            elif line.strip() and not line.lstrip().startswith("#"):
                break
            rest = tail
        body = rest.strip()
        if body:
            bodies.append(body)
    head = "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in prefixes.items())
    return head + " ;\n".join(bodies)

