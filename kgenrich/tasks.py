"""Stage 2: prediction tasks, read from RDF and checked against the ontology.

Task definitions are Turtle in the kgenrich vocabulary (ontology/kgenrich.ttl):
the files under ``ontology/`` (or the paths of the ``ontology`` setting) and
the store's configuration graph <https://w3id.org/kgenrich/config>.  All of
them are gathered into a small in-memory store and read with
queries/tasks.rq, so that an editor changes what is predicted in RDF alone.
A definition in the configuration graph replaces a file definition of the same
``kge:name``.  Each task is then checked with owlready2 against the
declarations of the ontology files and of the store.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox
from rdflib import Literal, URIRef

from . import sparql
from .config import Settings
from .errors import KgenrichError, TaskDefinitionError
from .namespaces import CONFIG_GRAPH, KGE_IRI
from .records import Task
from .resources import ONTOLOGY_DIR
from .store import Store
from .store.base import guess_format, read_rdf_bytes
from .store.embedded import EmbeddedStore

KGE = KGE_IRI
GROUPINGS = {
    KGE + "CollectionGrouping": "collection",
    KGE + "CountryGrouping": "country",
    KGE + "CenturyGrouping": "century",
}
RDF_SUFFIXES = (".ttl", ".trig", ".nt", ".nq", ".rdf", ".owl", ".ttl.gz", ".trig.gz", ".nt.gz", ".nq.gz")

log = logging.getLogger(__name__)


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


def _definition_store(store: Store | None, settings: Settings) -> EmbeddedStore:
    """An in-memory store holding every file definition plus the config graph."""
    defs = EmbeddedStore(None)
    for path in ontology_files(settings):
        fmt = guess_format(path)
        # Each file in a graph of its own, named after it, so that ?graph says where a task came from.
        graph = None if fmt in ("trig", "nquads") else URIRef(path.resolve().as_uri())
        defs.load_bytes(read_rdf_bytes(path), fmt, graph=graph, base=path.resolve().as_uri())
    if store is not None:
        triples = store.construct(sparql.prepare("config_graph", config=CONFIG_GRAPH))
        if triples:
            defs.replace_graph(CONFIG_GRAPH, triples)
    return defs


def _value(row: dict, key: str):
    term = row.get(key)
    return None if term is None else str(term)


def _int(row: dict, key: str, default: int, task: str) -> int:
    term = row.get(key)
    if term is None:
        return default
    try:
        return int(term.toPython()) if isinstance(term, Literal) else int(str(term))
    except (TypeError, ValueError):
        raise TaskDefinitionError(f"task '{task}': {key} must be a whole number, not {str(term)!r}") from None


def _tasks_from_rows(rows: Iterable[dict]) -> list[Task]:
    by_name: dict[str, tuple[bool, Task | None]] = {}
    for row in rows:
        iri = str(row["task"])
        name = _value(row, "name") or iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        from_config = str(row.get("graph")) == str(CONFIG_GRAPH)
        previous = by_name.get(name)
        if previous and previous[0] and not from_config:
            continue  # the configuration graph wins over files
        enabled = row.get("enabled")
        if enabled is not None and isinstance(enabled, Literal) and enabled.toPython() is False:
            by_name[name] = (from_config, None)
            continue
        missing = [key for key in ("artifactClass", "property", "grouping") if row.get(key) is None]
        if missing:
            raise TaskDefinitionError(f"task '{name}': missing {', '.join('kge:' + m for m in missing)}")
        grouping = GROUPINGS.get(str(row["grouping"]))
        if grouping is None:
            known = ", ".join(g.replace(KGE, "kge:") for g in GROUPINGS)
            raise TaskDefinitionError(f"task '{name}': unknown kge:grouping <{row['grouping']}> (known: {known})")
        if grouping == "collection" and row.get("facet") is None:
            raise TaskDefinitionError(f"task '{name}': kge:CollectionGrouping needs kge:facet")
        if grouping == "century" and row.get("groupClass") is None:
            raise TaskDefinitionError(f"task '{name}': kge:CenturyGrouping needs kge:groupClass")
        min_conf = row.get("minConfidence")
        task = Task(
            name=name,
            iri=iri,
            label=_value(row, "label") or name,
            artifact_class=str(row["artifactClass"]),
            property=str(row["property"]),
            grouping=grouping,
            min_support=_int(row, "minSupport", 1, name),
            subject_link=_value(row, "subjectLink"),
            subject_class=_value(row, "subjectClass"),
            value_step=_value(row, "valueStep"),
            facet=_value(row, "facet"),
            group_class=_value(row, "groupClass"),
            order=_int(row, "order", 100, name),
            min_confidence=float(min_conf.toPython()) if isinstance(min_conf, Literal) else 0.0,
        )
        if previous and previous[1] is not None and previous[0] == from_config and previous[1] != task:
            raise TaskDefinitionError(f"task '{name}' is defined twice with different values")
        by_name[name] = (from_config, task)
    tasks = [t for _, t in by_name.values() if t is not None]
    return sorted(tasks, key=lambda t: (t.order, t.name))


def check_against_ontology(tasks: list[Task], declarations_nt: bytes) -> None:
    """Raise TaskDefinitionError when a task names a class or property the ontology lacks."""
    import owlready2

    world = owlready2.World()
    onto = world.get_ontology("https://w3id.org/kgenrich/checked/")
    if declarations_nt.strip():
        try:
            onto.load(fileobj=io.BytesIO(declarations_nt), format="ntriples")
        except Exception as exc:  # owlready2 raises its own assorted errors
            raise KgenrichError(f"owlready2 could not read the ontology declarations: {exc}") from None

    def is_class(iri: str) -> bool:
        entity = world[iri]
        return isinstance(entity, owlready2.ThingClass)

    def is_property(iri: str) -> bool:
        entity = world[iri]
        return isinstance(entity, (owlready2.ObjectPropertyClass, owlready2.DataPropertyClass)) or (
            entity is not None and hasattr(entity, "domain") and not isinstance(entity, owlready2.ThingClass))

    for task in tasks:
        if not is_class(task.artifact_class):
            raise TaskDefinitionError(f"task '{task.name}': artifact class <{task.artifact_class}> is not a class of the loaded ontology")
        if task.subject_class and not is_class(task.subject_class):
            raise TaskDefinitionError(f"task '{task.name}': subject class <{task.subject_class}> is not a class of the loaded ontology")
        for role, iri in (("property", task.property), ("subject link", task.subject_link), ("value step", task.value_step)):
            if iri and not is_property(iri):
                raise TaskDefinitionError(f"task '{task.name}': {role} <{iri}> is not a property of the loaded ontology")


def _declarations(defs: EmbeddedStore, store: Store | None) -> bytes:
    query = sparql.prepare("ontology_declarations")
    triples = set(defs.construct(query))
    if store is not None:
        triples.update(store.construct(query))
    return "\n".join(
        f"{sparql.serialize_term(s)} {sparql.serialize_term(p)} {sparql.serialize_term(o)} ." for s, p, o in triples
    ).encode("utf-8")


def load_tasks(store: Store | None, settings: Settings, check: bool = True) -> list[Task]:
    """The enabled prediction tasks, checked against the ontology."""
    defs = _definition_store(store, settings)
    tasks = _tasks_from_rows(defs.select(sparql.prepare("tasks")))
    if not tasks:
        raise TaskDefinitionError("no prediction tasks defined (ontology files and the configuration graph hold none)")
    if check:
        check_against_ontology(tasks, _declarations(defs, store))
    return tasks
