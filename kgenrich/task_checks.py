"""The checks of merged task definitions; every problem is one line that names the task.

- closed world: every kge: term used must be one of ontology/kgenrich.ttl;
- shapes/tasks.ttl, with pySHACL, on the merged definition of each enabled task;
- owlready2: the classes and properties a task names must be declared by the
  ontology files or the store.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from rdflib import BNode, Graph, URIRef
from rdflib.namespace import RDF, SH
from rdflib.term import Node

from . import sparql, vocabulary
from .errors import KgenrichError, TaskDefinitionError
from .namespaces import KGE, KGE_IRI
from .store import Store
from .store.embedded import EmbeddedStore
from .task_definitions import Source, TaskDefinition, show, subject_name
from .task_types import Task


def check_terms(described: Mapping[tuple[str, Node], list[tuple[Node, Node]]], sources: Mapping[str, Source]) -> None:
    """Closed world: every kge: term used must be defined in ontology/kgenrich.ttl."""
    problems = []
    for (graph, subject), triples in described.items():
        for p, o in triples:
            for term in (p, o):
                if isinstance(term, URIRef) and str(term).startswith(KGE_IRI) and not vocabulary.is_known(str(term)):
                    close = vocabulary.closest(str(term))
                    hint = f"; did you mean {close}?" if close else "; the known terms are listed in docs/tasks.md"
                    problems.append(f"task '{subject_name(subject, triples)}' ({sources[graph].label}): "
                                    f"unknown term {show(term)}{hint}")
    if problems:
        raise TaskDefinitionError("\n".join(sorted(dict.fromkeys(problems))))


def check_shapes(definitions: Sequence[TaskDefinition], graph: Graph) -> None:
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


def ontology_declarations(defs: EmbeddedStore, store: Store | None) -> bytes:
    query = sparql.prepare("ontology_declarations")
    triples = set(defs.construct(query))
    if store is not None:
        triples.update(store.construct(query))
    return sparql.ntriples(triples).encode("utf-8")
