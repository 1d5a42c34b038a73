"""A small, strict TriG writer for the demo collection.

rdflib's serialisers are slow on the ~100k triples of a 3,000-artifact demo,
and their output order is not guaranteed stable across versions; the demo must
be byte-for-byte deterministic.  So the generator writes TriG itself: subject
blocks in insertion order, prefixed names only where the local name is safe,
everything else as a checked IRI, literals escaped as Turtle requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# Characters RDF 1.1 forbids inside an IRIREF.
_BAD_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_LANG = re.compile(r"^[a-zA-Z]+(-[a-zA-Z0-9]+)*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t\b\f]')


def iri(value: str) -> str:
    """``<value>``, refusing IRIs that would break the syntax."""
    if _BAD_IRI.search(value):
        raise ValueError(f"not a valid IRI: {value!r}")
    return f"<{value}>"


def literal(text: str, lang: str | None = None, datatype: str | None = None) -> str:
    """A Turtle string literal with every character that needs it escaped."""
    body = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)
    if lang:
        if not _LANG.match(lang):
            raise ValueError(f"not a valid language tag: {lang!r}")
        return f'"{body}"@{lang}'
    if datatype:
        return f'"{body}"^^{iri(datatype)}'
    return f'"{body}"'


Term = str  # an already serialised term: <iri>, prefix:local or a literal


class TrigDocument:
    """Named graphs of subject blocks, written in the order they were added."""

    def __init__(self, prefixes: dict[str, str]):
        self.prefixes = dict(prefixes)
        self._graphs: dict[str, list[str]] = {}
        self.triples = 0

    def add(self, graph: str, subject: Term, predicate_objects: Iterable[tuple[Term, Term | list[Term]]]) -> None:
        """One subject block: ``s p1 o1, o1b ; p2 o2 .`` in the named graph ``graph`` (an IRI)."""
        parts = []
        for p, o in predicate_objects:
            objs = o if isinstance(o, list) else [o]
            if not objs:
                continue
            self.triples += len(objs)
            parts.append(f"{p} {', '.join(objs)}")
        if not parts:
            return
        block = f"  {subject} " + " ;\n    ".join(parts) + " ."
        self._graphs.setdefault(graph, []).append(block)

    def write(self, path: Path, graphs: list[str] | None = None) -> None:
        """Write all named graphs, or only ``graphs`` (in that order; empty ones too)."""
        lines = [f"@prefix {p}: {iri(ns)} ." for p, ns in self.prefixes.items()]
        for g in self._graphs if graphs is None else graphs:
            blocks = self._graphs.get(g, [])
            lines.append("")
            lines.append(f"GRAPH {iri(g)} {{")
            lines.extend(blocks)
            lines.append("}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
