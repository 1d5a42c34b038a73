"""Stage 2: prediction tasks, read from RDF and checked like data.

Task definitions are Turtle in the kgenrich vocabulary (ontology/kgenrich.ttl),
from two places, in rising precedence:

1. the files under ``ontology/`` (or the paths of the ``ontology`` setting);
2. the store's configuration graph <https://w3id.org/kgenrich/config>.

They are gathered into a small in-memory store (each file in a graph of its
own) and read with queries/tasks.rq.  The configuration graph overrides the
files **one property at a time**: a triple whose subject is a task's IRI, or a
node with the task's ``kge:name``, replaces the values of that property alone
(``task:place kge:minSupport 1000`` changes the minimum support and nothing
else; ``task:depiction kge:enabled false`` switches the task off).  Files do
not override each other: two files that give one task different values of a
property are an error.

The files are those of the ``ontology`` setting plus the file of the collection
profile in use (profiles.py: ``ontology/profiles/silknow.ttl``, ``linked-art.ttl``
or a file of one's own), whose tasks belong to it.

The merged definitions are checked three ways, and every problem is one line
that names the task:

- closed world: every kge: term used must be one of ontology/kgenrich.ttl
  (``kge:minSuport`` is refused, naming ``kge:minSupport``);
- shapes/tasks.ttl, with pySHACL, on the merged definition of each enabled
  task (required properties, one value where one is meant, datatypes, known
  groupings);
- owlready2: the classes and properties a task names must be declared by the
  ontology files or the store.

:class:`Definitions` keeps where every value came from, for
``kgenrich tasks --explain NAME``.
"""

from __future__ import annotations

import difflib
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH, XSD, NamespaceManager
from rdflib.term import Node

from . import profiles, sparql, vocabulary
from .config import Settings
from .errors import KgenrichError, TaskDefinitionError
from .namespaces import CONFIG_GRAPH, ECRM, GN, KGE, KGE_IRI, SKOS, TASK, TIME
from .profiles import Profile
from .propertypath import PathError, PropertyPath, parse_path
from .records import Task
from .resources import ONTOLOGY_DIR
from .store import Store, scratch_store
from .store.base import Triple, guess_format, read_rdf_bytes
from .store.embedded import EmbeddedStore

GROUPINGS = {
    KGE_IRI + "CollectionGrouping": "collection",
    KGE_IRI + "CountryGrouping": "country",
    KGE_IRI + "CenturyGrouping": "century",
    KGE_IRI + "ValueGrouping": "value",
    KGE_IRI + "BroaderGrouping": "broader",
    KGE_IRI + "DateGrouping": "date",
}
DATE_UNITS = {KGE_IRI + "Century": "century", KGE_IRI + "Decade": "decade"}
# Nodes of a profile file that are not tasks (the profile and its inputs).
_NOT_TASKS = {KGE.Profile, KGE.TextInput, KGE.ImageInput, KGE.FeatureInput, KGE.Input}
RDF_SUFFIXES = (".ttl", ".trig", ".nt", ".nq", ".rdf", ".owl", ".ttl.gz", ".trig.gz", ".nt.gz", ".nq.gz")

PROFILE, FILES, CONFIGURATION = 0, 1, 2  # precedence levels: each overrides the ones before, property by property
CONFIGURATION_SOURCE = "configuration graph"

# What a task is when a property is not set (shown as "default" by --explain).
DEFAULTS: dict[str, Node] = {
    KGE_IRI + "minSupport": Literal(1),
    KGE_IRI + "minConfidence": Literal(0),
    KGE_IRI + "order": Literal(100),
    KGE_IRI + "enabled": Literal(True),
}

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ sources
def ontology_files(settings: Settings) -> list[Path]:
    """The RDF files that hold task definitions and declarations."""
    paths = [Path(p) for p in settings.ontology] if settings.ontology else [ONTOLOGY_DIR]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.name.lower().endswith(RDF_SUFFIXES)))
        elif path.is_file():
            files.append(path)
        else:
            raise TaskDefinitionError(f"ontology path not found: {path}")
    return files


def file_label(path: Path) -> str:
    """How a definition file is named in messages: ontology/NAME for shipped files, else relative to here."""
    path = path.resolve()
    for base, prefix in ((ONTOLOGY_DIR.resolve(), "ontology/"), (Path.cwd().resolve(), "")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


@dataclass(frozen=True)
class Source:
    label: str  # "ontology/profiles/silknow.ttl" or "configuration graph"
    level: int  # PROFILE, FILES or CONFIGURATION
    index: int  # order among the sources (files in the order of the ontology setting)


def configuration_triples(store: Store) -> list[Triple]:
    """The store's configuration graph."""
    return list(store.construct(sparql.prepare("config_graph", config=CONFIG_GRAPH)))


def _definition_store(store: Store | None, settings: Settings, config: Sequence[Triple] | None,
                      profile: Profile | None = None) -> tuple[EmbeddedStore, dict[str, Source]]:
    """An in-memory store holding every definition file (a graph each), the profile's file and the
    configuration graph."""
    defs = scratch_store()
    sources: dict[str, Source] = {}
    files = [(path, FILES) for path in ontology_files(settings)]
    if profile is not None and profile.file.resolve() not in {f.resolve() for f, _ in files}:
        # The profile's tasks come first: files of the ontology setting override them, property by
        # property, as the configuration graph overrides both.
        files.insert(0, (profile.file, PROFILE))
    for path, level in files:
        fmt = guess_format(path)
        label = file_label(path)
        if fmt in ("trig", "nquads"):
            # A quad file keeps its own graphs: each of them is named after the file.
            before = set(defs.graph_names())
            defs.load_bytes(read_rdf_bytes(path), fmt, base=path.resolve().as_uri())
            for graph in sorted(set(defs.graph_names()) - before):
                sources[str(graph)] = Source(f"{label} (graph <{graph}>)", level, len(sources))
        else:
            graph = URIRef(path.resolve().as_uri())
            defs.load_bytes(read_rdf_bytes(path), fmt, graph=graph, base=graph)
            sources[str(graph)] = Source(label, level, len(sources))
    if config is None and store is not None:
        config = configuration_triples(store)
    if config:
        defs.replace_graph(CONFIG_GRAPH, config)
    sources[str(CONFIG_GRAPH)] = Source(CONFIGURATION_SOURCE, CONFIGURATION, len(sources))
    return defs, sources


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


# ------------------------------------------------------------------ reading and merging
def _subject_name(subject: Node, triples: Iterable[tuple[Node, Node]]) -> str:
    for p, o in triples:
        if p == KGE.name:
            return str(o)
    return _local_name(subject)


def _check_terms(described: Mapping[tuple[str, Node], list[tuple[Node, Node]]], sources: Mapping[str, Source]) -> None:
    """Closed world: every kge: term used must be defined in ontology/kgenrich.ttl."""
    problems = []
    for (graph, subject), triples in described.items():
        for p, o in triples:
            for term in (p, o):
                if isinstance(term, URIRef) and str(term).startswith(KGE_IRI) and not vocabulary.is_known(str(term)):
                    close = vocabulary.closest(str(term))
                    hint = f"; did you mean {close}?" if close else "; the known terms are listed in docs/tasks.md"
                    problems.append(f"task '{_subject_name(subject, triples)}' ({sources[graph].label}): "
                                    f"unknown term {show(term)}{hint}")
    if problems:
        raise TaskDefinitionError("\n".join(sorted(dict.fromkeys(problems))))


def _merge(described: Mapping[tuple[str, Node], list[tuple[Node, Node]]],
           sources: Mapping[str, Source]) -> list[TaskDefinition]:
    """Files first, then the configuration graph over them, one property at a time."""
    typed = {s for (_, s), triples in described.items() if (RDF.type, KGE.PredictionTask) in triples}
    # A profile and its inputs describe the collection, not a task (profiles.py reads them).
    other = {s for (_, s), triples in described.items() if any(p == RDF.type and o in _NOT_TASKS for p, o in triples)}
    other |= {o for (_, s), triples in described.items() if s in other for p, o in triples
              if p in (KGE.textInput, KGE.imageInput, KGE.featureInput)}
    # A node is a task (part) when it is typed as one or sets a kge: property.
    parts = [(sources[g], s, triples) for (g, s), triples in described.items()
             if s not in other and (s in typed or any(str(p).startswith(KGE_IRI) for p, _ in triples))]
    parts.sort(key=lambda x: (x[0].level, x[1] not in typed, x[0].index, str(x[1])))
    by_node: dict[Node, TaskDefinition] = {}
    by_name: dict[str, TaskDefinition] = {}
    definitions: list[TaskDefinition] = []
    for source, subject, triples in parts:
        names = [str(o) for p, o in triples if p == KGE.name]
        definition = by_node.get(subject) or next((by_name[n] for n in names if n in by_name), None)
        if (definition is not None and subject not in definition.nodes and subject in typed
                and isinstance(subject, URIRef)):
            # A node that declares a task of its own, by an IRI of its own, is a new task: taking an
            # existing task's name must not quietly merge the two (a name-only node still overrides).
            declared = next((n for n in definition.nodes if n in typed and isinstance(n, URIRef)), None)
            if declared is not None:
                raise TaskDefinitionError(
                    f"task '{definition.name}': {show(subject)} ({source.label}) declares a new task with the name "
                    f"of {show(declared)}; give it a name of its own, or describe {show(declared)} to change that task")
        if definition is None:
            if subject not in typed:
                raise TaskDefinitionError(_not_a_task(subject, triples, source, definitions))
            definition = TaskDefinition([subject])
            definitions.append(definition)
        if subject not in definition.nodes:
            definition.nodes.append(subject)
        by_node[subject] = definition
        if (RDF.type, KGE.PredictionTask) in triples and source.label not in definition.declared_in:
            definition.declared_in.append(source.label)
        values: dict[str, list[Node]] = {}
        for p, o in triples:
            if p != RDF.type:
                values.setdefault(str(p), []).append(o)
        for predicate, objects in values.items():
            definition.assign(predicate, sorted(objects, key=str), source.level, source.label)
        by_name[definition.name] = definition
    named: dict[str, TaskDefinition] = {}
    for d in definitions:
        if d.name in named:
            raise TaskDefinitionError(f"task '{d.name}': two different tasks have this name "
                                      f"({show(named[d.name].nodes[0])} and {show(d.nodes[0])})")
        named[d.name] = d
    return definitions


def _not_a_task(subject: Node, triples, source: Source, definitions: list[TaskDefinition]) -> str:
    iris = {str(n): d.name for d in definitions for n in d.nodes if isinstance(n, URIRef)}
    close = difflib.get_close_matches(str(subject), list(iris), n=1, cutoff=0.8)
    hint = f"; did you mean {show(URIRef(close[0]))} (task '{iris[close[0]]}')?" if close else ""
    return (f"task '{_subject_name(subject, triples)}' ({source.label}): {show(subject)} sets "
            f"{', '.join(sorted({show(p) for p, _ in triples if str(p).startswith(KGE_IRI)}))} but is no task: "
            f"no kge:PredictionTask has this IRI or kge:name{hint}")


def _check_shapes(definitions: Sequence[TaskDefinition], graph: Graph) -> None:
    """shapes/tasks.ttl on the merged definition of every enabled task (``graph``: every definition
    triple, for the paths that blank nodes describe)."""
    import pyshacl

    from .propertypath import path_triples

    data = Graph()
    by_node = {}
    for d in definitions:
        if not d.enabled:
            continue
        node = d.nodes[0]
        by_node[node] = d
        data.add((node, RDF.type, KGE.PredictionTask))
        for predicate, a in d.properties.items():
            for value, _ in a.values:
                data.add((node, URIRef(predicate), value))
                if isinstance(value, BNode):
                    for triple in path_triples(graph, value):
                        data.add(triple)
    shapes = vocabulary.task_shapes()
    conforms, results, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none",
                                            advanced=False, allow_warnings=False)
    if conforms:
        return
    problems = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        failed = by_node.get(results.value(result, SH.focusNode))
        if failed is None:
            continue
        d = failed
        message = str(results.value(result, SH.resultMessage) or "does not conform to shapes/tasks.ttl")
        path = results.value(result, SH.resultPath)
        # The properties the result is about: its path, or those the failed shape combines (sh:or ...).
        paths = [path] if path is not None else _paths_of(shapes, results.value(result, SH.sourceShape))
        set_ = [d.properties[str(p)] for p in paths if str(p) in d.properties]
        if set_:
            named = path is None  # a result about several properties says which value is which
            detail = "; got " + "; ".join((f"{show(URIRef(a.predicate))} " if named else "")
                                          + ", ".join(f"{show(v)} ({s})" for v, s in a.values) for a in set_)
        else:
            detail = f" (task declared in {', '.join(d.declared_in) or 'no source'})"
        problems.append(f"task '{d.name}': {message}{detail}")
    raise TaskDefinitionError("\n".join(sorted(dict.fromkeys(problems))))


def _paths_of(shapes: Graph, shape: Node | None) -> list[Node]:
    """The sh:path of every shape that ``shape`` combines with sh:or / sh:and / sh:xone."""
    from rdflib.collection import Collection

    found = []
    for combinator in (SH["or"], SH["and"], SH.xone):
        for members in shapes.objects(shape, combinator) if shape is not None else ():
            for member in Collection(shapes, members):
                path = shapes.value(member, SH.path)
                if path is not None and path not in found:
                    found.append(path)
    return found


def _number(d: TaskDefinition, predicate: str, kind):
    value = d.value(KGE_IRI + predicate)
    literal = value if value is not None else DEFAULTS[KGE_IRI + predicate]
    assert isinstance(literal, Literal)  # shapes/tasks.ttl has checked its datatype
    return kind(literal.toPython())


def _task(d: TaskDefinition, graph: Graph) -> Task:
    def iri(predicate: str) -> str | None:
        value = d.value(KGE_IRI + predicate)
        return str(value) if value is not None else None

    def required(predicate: str) -> str:
        value = iri(predicate)
        if value is None:  # shapes/tasks.ttl requires it (minCount 1): checked before, said here too
            raise TaskDefinitionError(f"task '{d.name}': kge:{predicate} is missing")
        return value

    def path(predicate: str) -> PropertyPath | None:
        value = d.value(KGE_IRI + predicate)
        if value is None:
            return None
        try:
            return parse_path(graph, value, f"task '{d.name}': kge:{predicate} ({d.source(KGE_IRI + predicate)})")
        except PathError as exc:
            raise TaskDefinitionError(str(exc)) from None

    link = path("subjectLink")
    if link is not None and not (link.is_iri or link.is_inverse_step):
        raise TaskDefinitionError(f"task '{d.name}': kge:subjectLink must be a property or [ sh:inversePath P ] "
                                  f"of one property, not {link.turtle()}")
    depth = d.value(KGE_IRI + "depth")
    return Task(
        name=d.name,
        iri=str(d.nodes[0]),
        label=d.label,
        artifact_class=required("artifactClass"),
        property=required("property"),
        grouping=GROUPINGS[required("grouping")],
        min_support=_number(d, "minSupport", int),
        subject_link=(link.parts[0].iri if link.is_inverse_step else link.iri) if link is not None else None,
        subject_inverse=bool(link is not None and link.is_inverse_step),
        subject_class=iri("subjectClass"),
        value_step=iri("valueStep"),
        facet=iri("facet"),
        group_class=iri("groupClass"),
        order=_number(d, "order", int),
        min_confidence=_number(d, "minConfidence", float),
        value_type_path=path("valueTypePath"),
        value_types=tuple(sorted(str(v) for v in d.values(KGE_IRI + "valueType"))),
        date_unit=DATE_UNITS.get(iri("dateUnit") or ""),
        begin_property=iri("beginProperty"),
        end_property=iri("endProperty"),
        broader_path=path("broaderPath"),
        top_concepts=tuple(sorted(str(v) for v in d.values(KGE_IRI + "topConcept"))),
        depth=int(depth.toPython()) if isinstance(depth, Literal) else None,
    )


def read_definitions(store: Store | None, settings: Settings, *, config: Sequence[Triple] | None = None,
                     check: bool = True, profile: Profile | None = None) -> Definitions:
    """Every task definition, merged and checked, and the enabled tasks.

    ``config``: use these triples as the configuration graph instead of the store's
    (``kgenrich config apply`` checks a new configuration before writing it).
    ``check=False`` skips only the owlready2 check against the ontology declarations.
    ``profile``: the collection profile whose tasks to read (default: the one the settings
    choose for the store, profiles.resolve).
    """
    profile = profile if profile is not None else profiles.resolve(store, settings)
    defs, sources = _definition_store(store, settings, config, profile)
    described: dict[tuple[str, Node], list[tuple[Node, Node]]] = {}
    for row in defs.select(sparql.prepare("tasks")):
        described.setdefault((str(row["graph"]), row["s"]), []).append((row["p"], row["o"]))
    _check_terms(described, sources)
    definitions = _merge(described, sources)
    graph = Graph()
    for triple in defs.construct(sparql.prepare("definition_triples")):
        graph.add(triple)
    _check_shapes(definitions, graph)
    tasks = sorted((_task(d, graph) for d in definitions if d.enabled), key=lambda t: (t.order, t.name))
    if check and tasks:
        where = {(d.name, p): d.source(p) for d in definitions for p in d.properties}
        check_against_ontology(tasks, _declarations(defs, store), where)
    return Definitions(definitions, tasks, profile)


def check_against_ontology(tasks: list[Task], declarations_nt: bytes,
                           where: Mapping[tuple[str, str], str] | None = None) -> None:
    """Raise TaskDefinitionError when a task names a class or property the ontology lacks.

    ``where``: (task name, kge: property IRI) -> the source of that value, added to the message.
    """
    import owlready2

    world = owlready2.World()
    onto = world.get_ontology("https://w3id.org/kgenrich/checked/")
    if declarations_nt.strip():
        # A malformed line comes as OwlReadyOntologyParsingError; an IRI declared both a class and
        # a property makes owlready2 refuse to build its Python class with a TypeError.
        try:
            onto.load(fileobj=io.BytesIO(declarations_nt), format="ntriples")
        except (owlready2.OwlReadyError, TypeError) as exc:
            raise KgenrichError(f"owlready2 could not read the ontology declarations: {exc}") from None

    def is_class(iri: str) -> bool:
        entity = world[iri]
        return isinstance(entity, owlready2.ThingClass)

    def is_property(iri: str) -> bool:
        entity = world[iri]
        return isinstance(entity, (owlready2.ObjectPropertyClass, owlready2.DataPropertyClass)) or (
            entity is not None and hasattr(entity, "domain") and not isinstance(entity, owlready2.ThingClass))

    def fail(task: Task, term: str, role: str, kind: str, iri: str):
        source = (where or {}).get((task.name, KGE_IRI + term))
        raise TaskDefinitionError(f"task '{task.name}': {role} <{iri}> is not a {kind} of the loaded ontology"
                                  + (f" (kge:{term} from {source})" if source else ""))

    for task in tasks:
        if not is_class(task.artifact_class):
            fail(task, "artifactClass", "artifact class", "class", task.artifact_class)
        if task.subject_class and not is_class(task.subject_class):
            fail(task, "subjectClass", "subject class", "class", task.subject_class)
        for term, role, iri in (("property", "property", task.property),
                                ("subjectLink", "subject link", task.subject_link),
                                ("valueStep", "value step", task.value_step),
                                ("beginProperty", "begin property", task.begin_property),
                                ("endProperty", "end property", task.end_property)):
            if iri and not is_property(iri):
                fail(task, term, role, "property", iri)


def _declarations(defs: EmbeddedStore, store: Store | None) -> bytes:
    query = sparql.prepare("ontology_declarations")
    triples = set(defs.construct(query))
    if store is not None:
        triples.update(store.construct(query))
    return sparql.ntriples(triples).encode("utf-8")


def load_tasks(store: Store | None, settings: Settings, check: bool = True,
               profile: Profile | None = None) -> list[Task]:
    """The enabled prediction tasks, checked (see the module docstring)."""
    return load_definitions(store, settings, check=check, profile=profile).tasks


def load_definitions(store: Store | None, settings: Settings, check: bool = True,
                     profile: Profile | None = None) -> Definitions:
    """The enabled prediction tasks, checked, and the profile they belong to; an error when there is no task."""
    definitions = read_definitions(store, settings, check=check, profile=profile)
    tasks = definitions.tasks
    if not tasks:
        raise TaskDefinitionError("no prediction tasks defined (ontology files and the configuration graph hold none "
                                  "that is enabled)")
    return definitions
