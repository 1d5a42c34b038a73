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

(task_checks.py holds these checks.)  :class:`Definitions` (task_definitions.py) keeps
where every value came from, for ``kgenrich tasks --explain NAME``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF
from rdflib.term import Node

from . import profiles, sparql
from .config import Settings
from .errors import TaskDefinitionError
from .namespaces import CONFIG_GRAPH, KGE, KGE_IRI
from .profiles import Profile
from .propertypath import PathError, PropertyPath, parse_path
from .resources import ONTOLOGY_DIR
from .store import Store, scratch_store
from .store.base import Triple, guess_format, read_rdf_bytes
from .store.embedded import EmbeddedStore
from .task_checks import check_against_ontology, check_shapes, check_terms, ontology_declarations
from .task_definitions import (
    CONFIGURATION,
    CONFIGURATION_SOURCE,
    DEFAULTS,
    FILES,
    PROFILE,
    Definitions,
    Source,
    TaskDefinition,
    show,
    subject_name,
)
from .task_types import Task

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


# ------------------------------------------------------------------ reading and merging
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
    return (f"task '{subject_name(subject, triples)}' ({source.label}): {show(subject)} sets "
            f"{', '.join(sorted({show(p) for p, _ in triples if str(p).startswith(KGE_IRI)}))} but is no task: "
            f"no kge:PredictionTask has this IRI or kge:name{hint}")


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
    check_terms(described, sources)
    definitions = _merge(described, sources)
    graph = Graph()
    for triple in defs.construct(sparql.prepare("definition_triples")):
        graph.add(triple)
    check_shapes(definitions, graph)
    tasks = sorted((_task(d, graph) for d in definitions if d.enabled), key=lambda t: (t.order, t.name))
    if check and tasks:
        where = {(d.name, p): d.source(p) for d in definitions for p in d.properties}
        check_against_ontology(tasks, ontology_declarations(defs, store), where)
    return Definitions(definitions, tasks, profile)


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
