"""What a task definition is once merged from every source: each property's values, where each came
from and what it replaced (``kgenrich tasks --explain``); and how a term is written in messages.

tasks.py reads and merges the definitions into these; task_checks.py checks them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDFS, XSD, NamespaceManager
from rdflib.term import Node

from . import vocabulary
from .errors import KgenrichError
from .namespaces import ECRM, GN, KGE, KGE_IRI, SKOS, TASK, TIME
from .profiles import Profile
from .task_types import Task

PROFILE, FILES, CONFIGURATION = 0, 1, 2  # precedence levels: each overrides the ones before, property by property
CONFIGURATION_SOURCE = "configuration graph"

# What a task is when a property is not set (shown as "default" by --explain).
DEFAULTS: dict[str, Node] = {
    KGE_IRI + "minSupport": Literal(1),
    KGE_IRI + "minConfidence": Literal(0),
    KGE_IRI + "order": Literal(100),
    KGE_IRI + "enabled": Literal(True),
}


@dataclass(frozen=True)
class Source:
    label: str  # "ontology/profiles/silknow.ttl" or "configuration graph"
    level: int  # PROFILE, FILES or CONFIGURATION
    index: int  # order among the sources (files in the order of the ontology setting)


# ------------------------------------------------------------------ display
def _namespaces() -> NamespaceManager:
    manager = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, ns in (("kge", KGE), ("task", TASK), ("ecrm", ECRM), ("time", TIME), ("skos", SKOS), ("gn", GN),
                       ("rdfs", RDFS), ("xsd", XSD)):
        manager.bind(prefix, ns)
    return manager


_NS = _namespaces()


def show(term: Node) -> str:
    """A term as an editor writes it in Turtle: kge:minSupport, task:place, 150, "place"@en."""
    if isinstance(term, Literal):
        if term.datatype in (XSD.integer, XSD.decimal, XSD.boolean) and term.value is not None:
            return str(term)
        return term.n3(_NS)
    if isinstance(term, URIRef):
        try:
            prefix, _, local = _NS.compute_qname(str(term), generate=False)
            if local and all(c.isalnum() or c in "_-." for c in local):
                return f"{prefix}:{local}"
        except (KeyError, ValueError):
            pass
        return f"<{term}>"
    return f"_:{term}"


def _local_name(node: Node) -> str:
    if isinstance(node, BNode):
        return f"_:{node}"
    return str(node).rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def subject_name(subject: Node, triples: Iterable[tuple[Node, Node]]) -> str:
    """How a described node is named in messages: its kge:name, else the end of its IRI."""
    for p, o in triples:
        if p == KGE.name:
            return str(o)
    return _local_name(subject)


# ------------------------------------------------------------------ merged definitions
@dataclass
class Assignment:
    """The values of one property of one task, where they came from, and what they replaced."""

    predicate: str
    level: int
    values: list[tuple[Node, str]]  # (value, source label)
    overridden: list[tuple[Node, str]] = field(default_factory=list)

    def add(self, values: Iterable[Node], source: str) -> None:
        present = {v for v, _ in self.values}
        self.values.extend((v, source) for v in values if v not in present)


@dataclass
class TaskDefinition:
    """One task as merged from every source."""

    nodes: list[Node]  # the IRIs (or blank nodes) that describe it; the first is its IRI
    declared_in: list[str] = field(default_factory=list)  # sources that type it kge:PredictionTask
    properties: dict[str, Assignment] = field(default_factory=dict)

    def values(self, predicate: str) -> list[Node]:
        a = self.properties.get(predicate)
        return [v for v, _ in a.values] if a else []

    def value(self, predicate: str) -> Node | None:
        values = self.values(predicate)
        return values[0] if values else None

    @property
    def name(self) -> str:
        name = self.value(KGE_IRI + "name")
        return str(name) if name is not None else _local_name(self.nodes[0])

    @property
    def enabled(self) -> bool:
        enabled = self.value(KGE_IRI + "enabled")
        return not (isinstance(enabled, Literal) and enabled.datatype == XSD.boolean and enabled.value is False)

    @property
    def label(self) -> str:
        labels = [v for v in self.values(str(RDFS.label)) if isinstance(v, Literal)]
        labels.sort(key=lambda v: (v.language != "en", v.language is not None, str(v)))
        return str(labels[0]) if labels else self.name

    def assign(self, predicate: str, values: list[Node], level: int, source: str) -> None:
        current = self.properties.get(predicate)
        if current is None or level > current.level:
            replaced = (current.overridden + current.values) if current else []
            self.properties[predicate] = Assignment(predicate, level, [], replaced)
            current = self.properties[predicate]
        current.add(values, source)

    def source(self, predicate: str) -> str:
        a = self.properties.get(predicate)
        return ", ".join(dict.fromkeys(s for _, s in a.values)) if a else ""

    def explain(self) -> dict:
        """Every property of the task, its value(s) and where each came from (the ``tasks --explain`` document)."""
        order = [t.iri for t in sorted(vocabulary.terms().values(), key=lambda t: t.position) if t.kind == "property"]
        order.append(str(RDFS.label))
        order += sorted(p for p in self.properties if p not in order)
        rows = []
        for predicate in order:
            a = self.properties.get(predicate)
            if a is not None:
                rows.append({"property": show(URIRef(predicate)), "iri": predicate,
                             "values": [show(v) for v, _ in a.values],
                             "source": ", ".join(dict.fromkeys(s for _, s in a.values)),
                             "overrides": [{"value": show(v), "source": s} for v, s in a.overridden]})
            elif predicate in DEFAULTS or predicate in (KGE_IRI + "name", str(RDFS.label)):
                own = {KGE_IRI + "name": Literal(self.name), str(RDFS.label): Literal(self.label)}
                default = own[predicate] if predicate in own else DEFAULTS[predicate]
                rows.append({"property": show(URIRef(predicate)), "iri": predicate, "values": [show(default)],
                             "source": "default", "overrides": []})
        return {"task": self.name, "iri": show(self.nodes[0]), "also": [show(n) for n in self.nodes[1:]],
                "enabled": self.enabled, "declared_in": self.declared_in, "properties": rows}


@dataclass
class Definitions:
    """Every task definition (enabled or not) and the enabled tasks, checked; and the profile in use."""

    definitions: list[TaskDefinition]
    tasks: list[Task]
    profile: Profile | None = None

    def find(self, name: str) -> TaskDefinition:
        for d in self.definitions:
            if d.name == name:
                return d
        names = sorted(d.name for d in self.definitions)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(names)})"
        raise KgenrichError(f"no task named '{name}'{hint}")

