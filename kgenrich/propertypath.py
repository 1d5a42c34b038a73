"""SPARQL 1.1 property paths, read from RDF and written back as query text.

Profiles and tasks say where a value sits as a *path* from the artifact.  A
path is written in RDF the way SHACL writes ``sh:path`` (section 2.3.1 of the
SHACL recommendation), so it is data, never text that a query would paste:

- an IRI: one step (``crm:P45_consists_of``);
- an RDF list: a sequence (``( crm:P108i_was_produced_by crm:P14_carried_out_by )``);
- ``[ sh:inversePath P ]``, ``[ sh:alternativePath ( P Q ) ]``, ``[ sh:zeroOrMorePath P ]``,
  ``[ sh:oneOrMorePath P ]``, ``[ sh:zeroOrOnePath P ]``.

:func:`parse_path` turns such a node into a :class:`PropertyPath` tree, refusing
anything else (a literal, a blank node of another shape, a cycle, a relative
IRI); :meth:`PropertyPath.sparql` writes it as SPARQL path syntax with every
IRI serialised and checked by the same rules as any other bound term.  So a
path reaches a query only as a parsed tree of IRIs (``sparql.bind`` accepts a
PropertyPath as a binding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH
from rdflib.term import Node

from .errors import KgenrichError
from .sparql import CheckedFragment, serialize_term

_UNARY: dict[Node, str] = {
    SH.inversePath: "^",
    SH.zeroOrMorePath: "*",
    SH.oneOrMorePath: "+",
    SH.zeroOrOnePath: "?",
}
MAX_DEPTH = 32  # nesting deeper than this is refused (a path node that names itself would loop)


class PathError(KgenrichError):
    """A node that is not a property path of IRIs."""


@dataclass(frozen=True)
class PropertyPath(CheckedFragment):
    """One node of a property path: ``kind`` is "iri", "seq", "alt" or one of ^ * + ?."""

    kind: str
    iri: str | None = None
    parts: tuple[PropertyPath, ...] = ()

    # -------------------------------------------------------------- builders
    @classmethod
    def step(cls, iri: str) -> PropertyPath:
        serialize_term(URIRef(iri))  # refuses a relative or malformed IRI, by name
        return cls("iri", iri=str(iri))

    @classmethod
    def sequence(cls, *parts: PropertyPath) -> PropertyPath:
        return parts[0] if len(parts) == 1 else cls("seq", parts=tuple(parts))

    @classmethod
    def inverse_of(cls, part: PropertyPath) -> PropertyPath:
        return cls("^", parts=(part,))

    # -------------------------------------------------------------- reading
    @property
    def is_iri(self) -> bool:
        return self.kind == "iri"

    @property
    def is_inverse_step(self) -> bool:
        """``^P`` for one IRI P: a link read from the other end."""
        return self.kind == "^" and self.parts[0].is_iri

    def iris(self) -> list[str]:
        """Every IRI the path names, in order (for checks against the ontology)."""
        if self.is_iri:
            return [str(self.iri)]
        return [i for part in self.parts for i in part.iris()]

    def sparql(self) -> str:
        """The path in SPARQL 1.1 syntax; every IRI written as a checked, serialised term."""
        if self.kind == "iri":
            return serialize_term(URIRef(str(self.iri)))
        if self.kind == "seq":
            return "(" + " / ".join(p.sparql() for p in self.parts) + ")"
        if self.kind == "alt":
            return "(" + " | ".join(p.sparql() for p in self.parts) + ")"
        inner = self.parts[0].sparql()
        if self.kind == "^":
            return "^" + inner
        return f"({inner}){self.kind}"

    def turtle(self, show: Callable[[str], str] | None = None) -> str:
        """How an editor writes the path in Turtle (``show`` renders an IRI, e.g. as a prefixed name)."""
        show = show or (lambda iri: f"<{iri}>")
        if self.kind == "iri":
            return show(str(self.iri))
        if self.kind == "seq":
            return "( " + " ".join(p.turtle(show) for p in self.parts) + " )"
        if self.kind == "alt":
            return "[ sh:alternativePath ( " + " ".join(p.turtle(show) for p in self.parts) + " ) ]"
        name = {"^": "inversePath", "*": "zeroOrMorePath", "+": "oneOrMorePath", "?": "zeroOrOnePath"}[self.kind]
        return f"[ sh:{name} {self.parts[0].turtle(show)} ]"

    def __str__(self) -> str:
        return self.sparql()


def parse_path(graph: Graph, node: Node, what: str = "path", _depth: int = 0) -> PropertyPath:
    """The property path that ``node`` describes in ``graph`` (SHACL's path syntax)."""
    if _depth > MAX_DEPTH:
        raise PathError(f"{what}: nested more than {MAX_DEPTH} levels deep (a path that contains itself?)")
    if isinstance(node, URIRef):
        try:
            return PropertyPath.step(str(node))
        except KgenrichError as exc:
            raise PathError(f"{what}: {exc}") from None
    if isinstance(node, Literal) or node is None:
        raise PathError(f"{what}: {node!r} is not a property path (an IRI, a list of IRIs, or a "
                        "[ sh:inversePath ... ] node)")
    if not isinstance(node, BNode):
        raise PathError(f"{what}: {node!r} is not a property path")
    if (node, RDF.first, None) in graph:
        items = list(Collection(graph, node))
        if len(items) < 2:
            raise PathError(f"{what}: a sequence path needs at least two steps")
        return PropertyPath("seq", parts=tuple(parse_path(graph, i, what, _depth + 1) for i in items))
    found = [(p, o) for p, o in graph.predicate_objects(node) if p in _UNARY or p == SH.alternativePath]
    if len(found) != 1:
        raise PathError(f"{what}: a path node must have exactly one of sh:inversePath, sh:alternativePath, "
                        "sh:zeroOrMorePath, sh:oneOrMorePath, sh:zeroOrOnePath")
    predicate, value = found[0]
    if predicate == SH.alternativePath:
        if not isinstance(value, BNode) or (value, RDF.first, None) not in graph:
            raise PathError(f"{what}: sh:alternativePath takes a list of paths")
        items = list(Collection(graph, value))
        if len(items) < 2:
            raise PathError(f"{what}: sh:alternativePath needs at least two paths")
        return PropertyPath("alt", parts=tuple(parse_path(graph, i, what, _depth + 1) for i in items))
    return PropertyPath(_UNARY[predicate], parts=(parse_path(graph, value, what, _depth + 1),))


def path_triples(graph: Graph, node: Node) -> list[tuple[Node, Node, Node]]:
    """The triples that describe the path at ``node`` (its blank nodes, lists included), e.g. to check
    or copy a definition together with its paths."""
    out: list[tuple[Node, Node, Node]] = []
    todo, seen = [node], set()
    while todo:
        current = todo.pop()
        if not isinstance(current, BNode) or current in seen:
            continue
        seen.add(current)
        for p, o in graph.predicate_objects(current):
            out.append((current, p, o))
            todo.append(o)
    return out
