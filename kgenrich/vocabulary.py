"""The ``kge:`` vocabulary as data: the closed list of terms, and the editors' reference.

ontology/kgenrich.ttl is the one place where kge: terms are defined.  Task
definitions may use no other kge: term (tasks.py refuses an unknown one,
naming the closest known term), and the reference in docs/tasks.md is
generated from the terms' labels and comments here, with the counts of
shapes/tasks.ttl, so that the documentation cannot drift from what is checked::

    python -m kgenrich.vocabulary --write docs/tasks.md   # regenerate the reference section
    python -m kgenrich.vocabulary                         # print it
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH, XSD
from rdflib.term import Node

from .namespaces import KGE_IRI
from .resources import ONTOLOGY_DIR, SHAPES_DIR

VOCABULARY_FILE = "kgenrich.ttl"
TASK_SHAPES_FILE = "tasks.ttl"
BEGIN = "<!-- BEGIN reference: generated from ontology/kgenrich.ttl and shapes/tasks.ttl -->"
END = "<!-- END reference -->"

_KINDS: dict[Node, str] = {OWL.Class: "class", OWL.ObjectProperty: "property", OWL.DatatypeProperty: "property"}
_PREFIXES = {KGE_IRI: "kge:", str(XSD): "xsd:", str(OWL): "owl:", str(RDF): "rdf:", str(RDFS): "rdfs:"}


@dataclass(frozen=True)
class Term:
    iri: str
    kind: str  # "class" | "property" | "grouping" | "term" (a date unit)
    label: str
    comment: str
    range: str | None
    position: int  # where the term is defined in the file (the reference keeps the file's order)
    domain: str | None = None  # the class a property is used on (a task, a profile, an input ...)

    @property
    def curie(self) -> str:
        return curie(self.iri)


def curie(iri: str) -> str:
    for ns, prefix in _PREFIXES.items():
        if iri.startswith(ns):
            return prefix + iri[len(ns):]
    return f"<{iri}>"


def _english(graph: Graph, subject: Node, predicate: URIRef) -> str:
    values = [o for o in graph.objects(subject, predicate) if isinstance(o, Literal)]
    values.sort(key=lambda o: (o.language not in ("en", None), str(o)))
    return " ".join(str(values[0]).split()) if values else ""


@lru_cache(maxsize=1)
def terms() -> dict[str, Term]:
    """Every kge: term of ontology/kgenrich.ttl, by IRI."""
    path = ONTOLOGY_DIR / VOCABULARY_FILE
    text = path.read_text(encoding="utf-8")
    graph = Graph().parse(data=text, format="turtle")
    out = {}
    for subject in set(graph.subjects()):
        iri = str(subject)
        if not iri.startswith(KGE_IRI) or iri == KGE_IRI:
            continue
        types = set(graph.objects(subject, RDF.type))
        kind = next((_KINDS[t] for t in types if t in _KINDS), "grouping" if URIRef(KGE_IRI + "Grouping") in types
                    else "term")
        range_ = graph.value(subject, RDFS.range)
        domain = graph.value(subject, RDFS.domain)
        match = re.search(rf"^kge:{re.escape(iri[len(KGE_IRI):])}\s+a\s", text, re.M)
        out[iri] = Term(iri, kind, _english(graph, subject, RDFS.label), _english(graph, subject, RDFS.comment),
                        str(range_) if range_ is not None else None, match.start() if match else len(text),
                        str(domain) if domain is not None else None)
    return out


def is_known(iri: str) -> bool:
    return iri in terms()


def closest(iri: str) -> str | None:
    """The known kge: term whose name is closest to this (unknown) one, e.g. minSuport -> kge:minSupport."""
    local = iri[len(KGE_IRI):] if iri.startswith(KGE_IRI) else iri
    names = {t[len(KGE_IRI):]: t for t in terms()}
    found = difflib.get_close_matches(local, names, n=1, cutoff=0.6)
    if not found:  # then ignoring case (kge:grouping and kge:Grouping differ only in case: keep the first)
        lower: dict[str, str] = {}
        for name in sorted(names):
            lower.setdefault(name.lower(), name)
        found = [lower[m] for m in difflib.get_close_matches(local.lower(), lower, n=1, cutoff=0.6)]
    return curie(names[found[0]]) if found else None


# ------------------------------------------------------------------ the reference
@lru_cache(maxsize=1)
def task_shapes() -> Graph:
    return Graph().parse(SHAPES_DIR / TASK_SHAPES_FILE, format="turtle")


def _counts(shapes: Graph, path: URIRef) -> tuple[str, str]:
    """(required, how many values) of a task property according to shapes/tasks.ttl."""
    low = high = None
    for shape in shapes.objects(None, SH.property):
        if shapes.value(shape, SH.path) != path:
            continue
        low = _count(shapes, shape, SH.minCount, low)
        high = _count(shapes, shape, SH.maxCount, high)
    required = "yes" if low else _required_when(shapes, path) or "no"
    if high == 1:
        values = "exactly one" if low else "at most one"
    else:
        values = "any number"
    return required, values


def _count(shapes: Graph, shape: Node, predicate: URIRef, otherwise: int | None) -> int | None:
    """The shape's integer ``sh:minCount`` / ``sh:maxCount``, else ``otherwise``."""
    value = shapes.value(shape, predicate)
    return int(value) if isinstance(value, Literal) else otherwise


def _required_when(shapes: Graph, path: URIRef) -> str | None:
    """The condition of a shape ``sh:or ( CONDITION-FAILS [ sh:path path ; sh:minCount 1 ] )``, in words."""
    from rdflib.collection import Collection

    for _node_shape, members in shapes.subject_objects(SH["or"]):
        first, second = (list(Collection(shapes, members)) + [None, None])[:2]
        if second is None or shapes.value(second, SH.path) != path or not shapes.value(second, SH.minCount):
            continue
        other = shapes.value(first, SH.path)
        negated = shapes.value(first, SH["not"])
        if negated is not None and shapes.value(negated, SH.hasValue) is not None:
            return f"with `{curie(str(shapes.value(negated, SH.hasValue)))}`"
        if other is not None:
            return f"with `{curie(str(other))}`"
    return None


def reference_markdown() -> str:
    """The reference section of docs/tasks.md, generated from the vocabulary and the task shapes."""
    ordered = sorted(terms().values(), key=lambda t: t.position)
    shapes = task_shapes()
    lines = [BEGIN, "",
             "Generated by `python -m kgenrich.vocabulary --write docs/tasks.md` from the labels and comments of",
             "`ontology/kgenrich.ttl` and the counts of `shapes/tasks.ttl`; edit those files, not this section.",
             "", "### Classes", ""]
    for t in ordered:
        if t.kind == "class":
            lines.append(f"- **`{t.curie}`** ({t.label}): {t.comment}")
    lines += ["", "### Groupings (the values of `kge:grouping`)", ""]
    for t in ordered:
        if t.kind == "grouping":
            lines.append(f"- **`{t.curie}`** ({t.label}): {t.comment}")
    lines += ["", "### Date units (the values of `kge:dateUnit`)", ""]
    for t in ordered:
        if t.kind == "term":
            lines.append(f"- **`{t.curie}`** ({t.label}): {t.comment}")
    lines += ["", "### Properties of a task", "",
              "| property | value | required | values | meaning |", "|---|---|---|---|---|"]
    for t in ordered:
        if t.kind == "property" and t.domain == KGE_IRI + "PredictionTask":
            required, values = _counts(shapes, URIRef(t.iri))
            value = f"`{curie(t.range)}`" if t.range else "IRI"
            lines.append(f"| `{t.curie}` | {value} | {required} | {values} | {t.comment} |")
    required, values = _counts(shapes, RDFS.label)
    lines.append(f"| `rdfs:label` | literal | {required} | {values}, one per language | Human-readable name of the "
                 "task (English preferred). Default: the name. |")
    for title, domains in (("Properties of a profile (checked by `shapes/profiles.ttl`; docs/profiles.md)",
                            (KGE_IRI + "Profile",)),
                           ("Properties of an input", (KGE_IRI + "Input", KGE_IRI + "TextInput")),
                           ("Properties of a prediction", ("http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement",))):
        lines += ["", f"### {title}", "", "| property | value | meaning |", "|---|---|---|"]
        for t in ordered:
            if t.kind == "property" and t.domain in domains:
                value = f"`{curie(t.range)}`" if t.range else "IRI or path"
                lines.append(f"| `{t.curie}` | {value} | {t.comment} |")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def replace_reference(document: str) -> str:
    """``document`` with its reference section (between the markers) regenerated."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no reference section ({BEGIN} ... {END})")
    return document[:start] + reference_markdown() + document[end + len(END) + 1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print, or write into a Markdown file, the kge: vocabulary reference.")
    parser.add_argument("--write", type=Path, help="replace the reference section of this file (docs/tasks.md)")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(reference_markdown())
        return 0
    document = args.write.read_text(encoding="utf-8")
    args.write.write_text(replace_reference(document), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
