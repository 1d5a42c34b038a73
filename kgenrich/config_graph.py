"""The store's configuration graph, managed: show it, apply a new one (checked, with a dry run), reset it.

The configuration graph <https://w3id.org/kgenrich/config> holds an editor's
task definitions and overrides (tasks.py reads it over the ontology files).
``kgenrich config apply FILE``:

1. reads FILE and checks the task definitions it would give exactly as every
   command will read them (closed-world kge: terms, shapes/tasks.ttl,
   owlready2) -- nothing is written when they fail;
2. computes the effect: triples added and removed, task properties changed
   (``task place: kge:minSupport 150 -> 1000``), and the label groups each
   task gains and loses, with their supports, over the store's artifacts;
3. unless it is a dry run, replaces the configuration graph in one step
   (``Store.replace_graph``) and records the change with PROV -- who, when,
   what changed -- in the provenance graph of sync, where sync keeps it (sync
   rewrites that graph each run, carrying over every triple that is not its
   own state).

``reset`` is an apply of the empty graph: the ontology files' tasks apply again.
"""

from __future__ import annotations

import getpass
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from . import sparql
from .config import Settings
from .errors import EmptyGraphError, KgenrichError, LoadError, TaskDefinitionError
from .graphs import OwnGraphs
from .namespaces import CONFIG_GRAPH, ECRM, GN, KGE, KGS, PROV, SKOS, TASK, TIME
from .pipeline import load_inputs
from .store import Store, scratch_store
from .store.base import QUAD_FORMATS, Triple, guess_format, read_rdf_bytes
from .task_types import Task, TaskLabels
from .tasks import Definitions, configuration_triples, read_definitions

AGENT_VARIABLE = "KGENRICH_AGENT"


# ------------------------------------------------------------------ reading
def read_file(path: Path) -> list[Triple]:
    """The triples of a configuration file (Turtle, N-Triples or RDF/XML; gzipped too)."""
    path = Path(path)
    fmt = guess_format(path)
    if fmt in QUAD_FORMATS:
        raise LoadError(f"{path}: the configuration graph is one graph; give a triple format "
                        f"(Turtle, N-Triples, RDF/XML), not {fmt}")
    scratch = scratch_store()
    try:
        scratch.load_bytes(read_rdf_bytes(path), fmt, graph=CONFIG_GRAPH, base=path.resolve().as_uri())
    except LoadError as exc:
        raise LoadError(f"{path}: {exc}") from None
    return list(scratch.graph_triples(CONFIG_GRAPH))


def turtle(triples: Sequence[Triple]) -> str:
    """The configuration graph as Turtle, with the prefixes an editor uses."""
    g = Graph(bind_namespaces="none")
    for prefix, ns in (("kge", KGE), ("task", TASK), ("ecrm", ECRM), ("time", TIME), ("skos", SKOS), ("gn", GN),
                       ("rdfs", RDFS), ("xsd", XSD)):
        g.bind(prefix, ns)
    for t in triples:
        g.add(t)
    return g.serialize(format="turtle")


# ------------------------------------------------------------------ the effect of a change
@dataclass
class GroupChange:
    """How one task's label groups (those kept for training) change."""

    task: str
    before: dict[str, int] | None  # group id -> support; None: the task is not there before
    after: dict[str, int] | None
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    support_changed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def lines(self) -> list[str]:
        """What changes, task first (none when nothing does)."""
        if not self.changed:
            return []
        if self.after is None:
            return [f"{self.task}: disabled or removed (had {_groups(self.before)}: {_supports(self.before)})"]
        if self.before is None:
            return [f"{self.task}: new task, {_groups(self.after)}: {_supports(self.after)}"]
        out = [f"{self.task}: {len(self.before)} -> {_groups(self.after)}, {sum(self.before.values()):,} -> "
               f"{sum(self.after.values()):,} labelled artifacts"]
        if self.lost:
            out.append(f"lost: {_supports(self.before, self.lost)}")
        if self.gained:
            out.append(f"gained: {_supports(self.after, self.gained)}")
        if self.support_changed:
            out.append("support changed: " + ", ".join(f"{gid} {self.before[gid]:,} -> {self.after[gid]:,}"
                                                       for gid in self.support_changed))
        kept = [gid for gid in self.after if gid in self.before]
        if kept:
            out.append(f"kept: {_supports(self.after, kept)}")
        return out


@dataclass
class ConfigChange:
    """What replacing the configuration graph changes; the dry run prints it, apply records it."""

    action: str  # "apply" | "reset"
    source: str  # the file applied, or "" for reset
    triples: int  # in the new configuration graph
    added: int
    removed: int
    tasks_before: list[str]
    tasks_after: list[str]
    task_changes: list[str]  # "task place: kge:minSupport 150 -> 1000"
    groups: list[GroupChange] = field(default_factory=list)
    groups_note: str = ""  # why groups could not be compared, when they could not
    groups_note_extra: str = ""  # a caveat on the comparison
    other_triples: int = 0  # triples of the old and new configuration graph that are no task's
    before_error: str = ""  # the current configuration does not check (the change may repair it)
    dry_run: bool = False
    written: bool = False
    activity: str = ""  # the PROV record, once written
    agent: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def group_lines(self) -> list[str]:
        """The groups of every task that changes: a line per task, then its details indented."""
        out = []
        for g in self.groups:
            lines = g.lines()
            out += lines[:1] + ["  " + line for line in lines[1:]]
        return out

    def summary_lines(self) -> list[str]:
        what = f"{self.action} {self.source}".strip()
        lines = [f"{what}: the configuration graph gets {_plural(self.triples, 'triple')} ({self.added} added, "
                 f"{self.removed} removed)"]
        if self.before_error:
            lines.append(f"the current configuration does not check: {self.before_error.splitlines()[0]}")
        lines += self.task_changes or ["task definitions: no change"]
        if self.groups_note:
            lines.append(f"label groups: {self.groups_note}")
        else:
            group_lines = self.group_lines()
            lines += (["label groups (kept for training, with their labelled artifacts):"]
                      + ["  " + line for line in group_lines]) if group_lines else ["label groups: no change"]
            if self.groups_note_extra:
                lines.append(f"note: {self.groups_note_extra}")
        if self.dry_run:
            lines.append("dry run: nothing written")
        elif self.written:
            lines.append(f"configuration graph replaced; recorded as <{self.activity}> (agent: {self.agent})")
        return lines


def _supports(supports: dict[str, int] | None, ids: Sequence[str] | None = None) -> str:
    supports = supports or {}
    return ", ".join(f"{gid} {supports[gid]:,}" for gid in (supports if ids is None else ids)) or "none"


def _groups(supports: dict[str, int] | None) -> str:
    return _plural(len(supports or {}), "group")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _task_changes(before: Definitions | None, after: Definitions) -> list[str]:
    """Task by task, property by property: what the new configuration changes (defaults included)."""
    old = {d.name: d.explain() for d in before.definitions} if before else {}
    new = {d.name: d.explain() for d in after.definitions}
    lines = []
    for name in list(new) + [n for n in old if n not in new]:
        if name not in old:
            lines.append(f"task {name}: added{'' if new[name]['enabled'] else ' (disabled)'}")
            continue
        if name not in new:
            lines.append(f"task {name}: removed")
            continue
        o = {row["property"]: row["values"] for row in old[name]["properties"]}
        n = {row["property"]: row["values"] for row in new[name]["properties"]}
        if old[name]["enabled"] != new[name]["enabled"]:
            lines.append(f"task {name}: {'enabled' if new[name]['enabled'] else 'disabled'}")
        for prop in list(n) + [p for p in o if p not in n]:
            if prop == "kge:enabled" or o.get(prop) == n.get(prop):
                continue
            lines.append(f"task {name}: {prop} {', '.join(o.get(prop) or ['(not set)'])} -> "
                         f"{', '.join(n.get(prop) or ['(not set)'])}")
    return lines


def _kept(labels: TaskLabels) -> dict[str, int]:
    return {g.id: g.support for g in labels.groups}


def _other_triples(triples: Sequence[Triple], definitions: Definitions | None) -> int:
    """Triples of the configuration graph that are no task's (e.g. SKOS collections a new grouping uses)."""
    nodes = {n for d in definitions.definitions for n in d.nodes} if definitions else set()
    return sum(1 for s, p, _ in triples if s not in nodes and p != KGS.modelSettings)


# What a configuration graph holds besides task definitions (docs/tasks.md): the SKOS collections a
# grouping uses, declarations of the classes and properties a task names, the store's model settings.
_DECLARED_TYPES = frozenset({OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty,
                             RDF.Property, RDFS.Class})
_DECLARING = frozenset({RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range, OWL.equivalentClass,
                        OWL.equivalentProperty, OWL.inverseOf})
_DESCRIBING = frozenset({RDFS.label, RDFS.comment, SKOS.prefLabel, SKOS.altLabel, SKOS.definition,
                         SKOS.scopeNote, SKOS.notation, SKOS.editorialNote})


def not_configuration(triples: Sequence[Triple], definitions: Definitions) -> list[Triple]:
    """The triples that are no configuration: neither a task's, nor of a SKOS collection that a task
    groups by (or a collection that is a member of one), nor a class or property declaration, nor
    the store's model settings -- a museum fact such as ``<prod> ecrm:P126_employed voc:silk``."""
    task_nodes = {n for d in definitions.definitions for n in d.nodes}
    declared = {s for s, p, o in triples if p == RDF.type and o in _DECLARED_TYPES}
    collections = {s for s, p, o in triples if p == RDF.type and o == SKOS.Collection}
    collections |= {o for d in definitions.definitions for o in d.values(str(KGE.facet))}
    grown = True
    while grown:  # the member collections of a collection (groups of a facet)
        members = {o for s, p, o in triples if p == SKOS.member and s in collections and any(
            t[0] == o and (t[1] == SKOS.member or t[1] in _DESCRIBING) for t in triples)}
        grown = not members <= collections
        collections |= members
    out = []
    for t in triples:
        s, p, o = t
        if s in task_nodes or (s == CONFIG_GRAPH and p == KGS.modelSettings) or p in _DECLARING:
            continue
        if s in declared and (p == RDF.type or p in _DESCRIBING):
            continue
        if s in collections and (p == RDF.type or p in _DESCRIBING or p in (SKOS.member, SKOS.memberList)):
            continue
        out.append(t)
    return out


def _refuse_other_triples(triples: Sequence[Triple], definitions: Definitions, source: str) -> None:
    other = not_configuration(triples, definitions)
    if other:
        s, p, o = other[0]
        example = " ".join(sparql.serialize_term(term) if not isinstance(term, BNode) else "[]" for term in (s, p, o))
        more = f" (and {_plural(len(other) - 1, 'more')})" if len(other) > 1 else ""
        raise TaskDefinitionError(
            f"{source or 'the new configuration'}: {_plural(len(other), 'triple')} not configuration, e.g. {example}"
            f"{more}: the configuration graph holds task definitions, the SKOS collections they group by, class "
            "and property declarations; nothing was written (load data with 'kgenrich load FILE --graph IRI')")


def _keep_model_settings(store: Store, new_triples: Sequence[Triple]) -> list[Triple]:
    """The new configuration, plus the model settings the store was made with (kgs:modelSettings,
    written by ``kgenrich demo``) unless it sets its own: those are no task's, and an editor who
    applies a task file (or resets) does not mean to lose them."""
    new = list(new_triples)
    if any(p == KGS.modelSettings for _, p, _ in new):
        return new
    rows = store.select(sparql.prepare("config_model_settings", config=CONFIG_GRAPH))
    return new + [(CONFIG_GRAPH, KGS.modelSettings, row["settings"]) for row in rows]


def _label_groups(store: Store, settings: Settings, tasks: Sequence[Task], progress: bool,
                  known: Mapping[str, TaskLabels] | None = None, known_tasks: Sequence[Task] = ()) -> dict:
    """Label groups of ``tasks`` as every command counts them (the front half, curated values
    included); those defined exactly as one of ``known_tasks`` are taken from ``known``."""
    reuse = {t.name for t in tasks if t in known_tasks} if known is not None else set()
    out = {name: known[name] for name in reuse} if known is not None else {}
    todo = [t for t in tasks if t.name not in reuse]
    if todo:
        try:
            out.update(load_inputs(store, settings, with_inputs=False, tasks=todo, progress=progress).labels)
        except EmptyGraphError:
            if not out:
                raise
            # The store has artifacts, only none of these tasks' classes: they have no groups.
            out.update({t.name: TaskLabels(t, [], [], 0) for t in todo})
    return out


def _compare(old: Mapping[str, TaskLabels], new: Mapping[str, TaskLabels]) -> list[GroupChange]:
    out = []
    for name in list(new) + [n for n in old if n not in new]:
        b = _kept(old[name]) if name in old else None
        a = _kept(new[name]) if name in new else None
        change = GroupChange(name, b, a)
        if a is not None and b is not None:
            change.gained = [g for g in a if g not in b]
            change.lost = [g for g in b if g not in a]
            change.support_changed = [g for g in a if g in b and a[g] != b[g]]
        out.append(change)
    return out


@dataclass
class _Plan:
    change: ConfigChange
    triples: list[Triple]
    before: Definitions | None
    after: Definitions


def _plan(store: Store, settings: Settings, new_triples: Sequence[Triple], action: str, source: str) -> _Plan:
    new_triples = list(dict.fromkeys(new_triples))
    after = read_definitions(store, settings, config=new_triples)
    _refuse_other_triples(new_triples, after, source)
    if not after.tasks:
        raise TaskDefinitionError("the new configuration leaves no enabled prediction task")
    current = configuration_triples(store)
    before_error = ""
    try:
        before: Definitions | None = read_definitions(store, settings, config=current)
    except KgenrichError as exc:
        before, before_error = None, str(exc)
    old_set, new_set = set(current), set(new_triples)
    change = ConfigChange(action=action, source=source, triples=len(new_set), added=len(new_set - old_set),
                          removed=len(old_set - new_set), tasks_before=[t.name for t in before.tasks] if before else [],
                          tasks_after=[t.name for t in after.tasks], task_changes=_task_changes(before, after),
                          before_error=before_error,
                          other_triples=_other_triples(current, before) + _other_triples(new_triples, after))
    return _Plan(change, new_triples, before, after)


def plan(store: Store, settings: Settings, new_triples: Sequence[Triple], *, action: str = "apply",
         source: str = "", groups: bool = True, progress: bool = False) -> ConfigChange:
    """Check the new configuration graph and work out what it changes; writes nothing."""
    p = _plan(store, settings, new_triples, action, source)
    if not groups:
        p.change.groups_note = "not compared"
        return p.change
    old_tasks = p.before.tasks if p.before else []
    try:
        old = _label_groups(store, settings, old_tasks, progress) if old_tasks else {}
        new = _label_groups(store, settings, p.after.tasks, progress, old, old_tasks)
    except EmptyGraphError as exc:
        p.change.groups_note = f"not compared ({exc})"
        return p.change
    p.change.groups = _compare(old, new)
    if p.change.other_triples:
        p.change.groups_note_extra = (
            f"the current and the new configuration hold {_plural(p.change.other_triples, 'triple')} that belong "
            "to no task (SKOS collections, declarations ...): the dry run counts groups with the store as it is "
            "now; apply counts them again after writing")
    return p.change


# ------------------------------------------------------------------ writing
def _now() -> Literal:
    return Literal(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), datatype=XSD.dateTime)


def agent_name(option: str | None = None) -> str:
    """Who makes the change: --agent, else $KGENRICH_AGENT, else the operating system's user."""
    for name in (option, os.environ.get(AGENT_VARIABLE)):
        if name and name.strip():
            return name.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def record_triples(own: OwnGraphs, change: ConfigChange, agent: str, started: Literal, ended: Literal,
                   run: str) -> tuple[URIRef, list[Triple]]:
    """The PROV record of one change of the configuration graph."""
    base = str(own.provenance)
    activity = URIRef(f"{base}/configuration/{run}")
    agent_node = URIRef(f"{base}/agent/{quote(agent, safe='')}")
    triples: list[Triple] = [
        (activity, RDF.type, PROV.Activity),
        (activity, RDF.type, KGS.ConfigurationChange),
        (activity, PROV.startedAtTime, started),
        (activity, PROV.endedAtTime, ended),
        (activity, PROV.wasAssociatedWith, agent_node),
        (activity, PROV.generated, own.config),
        (activity, KGS.action, Literal(change.action)),
        (activity, KGS.triples, Literal(change.triples, datatype=XSD.integer)),
        (activity, KGS.triplesAdded, Literal(change.added, datatype=XSD.integer)),
        (activity, KGS.triplesRemoved, Literal(change.removed, datatype=XSD.integer)),
        (activity, RDFS.comment, Literal(f"kgenrich config {change.action} {change.source}".strip()
                                         + f": {change.added} triples added, {change.removed} removed")),
        (agent_node, RDF.type, PROV.Agent),
        (agent_node, RDFS.label, Literal(agent)),
    ]
    if change.source:
        triples.append((activity, KGS.file, Literal(change.source)))
    for line in change.task_changes:
        triples.append((activity, KGS.taskChange, Literal(line)))
    for group in change.groups:
        lines = group.lines()
        for line in lines[:1] + [f"{group.task}: {line}" for line in lines[1:]]:
            triples.append((activity, KGS.groupChange, Literal(line)))
    return activity, triples


def apply(store: Store, settings: Settings, new_triples: Sequence[Triple], *, action: str = "apply",
          source: str = "", agent: str | None = None, dry_run: bool = False, progress: bool = False) -> ConfigChange:
    """Check, then (unless ``dry_run``) replace the configuration graph and record the change.

    The label groups after the change are counted once it is written, so that SKOS
    collections the new configuration brings along count too.
    """
    new_triples = _keep_model_settings(store, new_triples)
    if dry_run:
        change = plan(store, settings, new_triples, action=action, source=source, progress=progress)
        change.dry_run, change.agent = True, agent_name(agent)
        return change
    started = _now()
    p = _plan(store, settings, new_triples, action, source)
    change = p.change
    change.agent = agent_name(agent)
    old_tasks = p.before.tasks if p.before else []
    try:
        old = _label_groups(store, settings, old_tasks, progress) if old_tasks else {}
    except EmptyGraphError as exc:
        old, change.groups_note = None, f"not compared ({exc})"
    own = OwnGraphs.from_settings(settings)
    if p.triples:
        store.replace_graph(own.config, p.triples)
    else:
        store.drop_graph(own.config)
    if old is not None:
        # Unchanged tasks keep their groups, unless collections in the configuration graph changed too.
        same = old if not change.other_triples else None
        change.groups = _compare(old, _label_groups(store, settings, p.after.tasks, progress, same, old_tasks))
    run = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    activity, triples = record_triples(own, change, change.agent, started, _now(), run)
    # Ground triples only: INSERT DATA twice adds them once, so the store may retry it.
    store.update(sparql.prepare("insert_data", graph=own.provenance, triples=sparql.TripleBlock(triples)),
                 idempotent=True)
    change.written, change.activity = True, str(activity)
    return change


def reset(store: Store, settings: Settings, *, agent: str | None = None, dry_run: bool = False,
          progress: bool = False) -> ConfigChange:
    """Empty the configuration graph: the tasks of the ontology files apply again."""
    return apply(store, settings, [], action="reset", agent=agent, dry_run=dry_run, progress=progress)


def show(store: Store) -> str:
    triples = configuration_triples(store)
    if not triples:
        return (f"# The configuration graph <{CONFIG_GRAPH}> is empty: the task definitions of the ontology "
                "files apply as they are.\n")
    return turtle(sorted(triples))


# ------------------------------------------------------------------ what models were trained for
# The fields of a task that training depends on (order, label and min_confidence do not:
# the last one only filters what is written, and sync's run fingerprint covers it).
TRAINING_FIELDS = ("artifact_class", "subject_link", "subject_class", "property", "value_step", "grouping", "facet",
                   "group_class", "min_support")


def trained_configuration(labels: Mapping[str, TaskLabels]) -> dict:
    """Tasks and kept label groups as JSON, to store beside trained models (sync compares it next time)."""
    return {name: {"task": {f: getattr(tl.task, f) for f in TRAINING_FIELDS}, "groups": list(tl.group_ids)}
            for name, tl in sorted(labels.items())}


def configuration_changes(old: Mapping, new: Mapping) -> list[str]:
    """Readable differences between two :func:`trained_configuration` documents that make models stale:
    ``task place min support 150 -> 1000``, ``groups lost: place CN, GB``; none when the models still fit."""
    out = []
    for name in new:
        if name not in old:
            out.append(f"task {name} added")
            continue
        for f in TRAINING_FIELDS:
            before, after = old[name]["task"].get(f), new[name]["task"].get(f)
            if before != after:
                out.append(f"task {name} {f.replace('_', ' ')} {before} -> {after}")
    out += [f"task {name} no longer defined (disabled or removed)" for name in old if name not in new]
    lost = {n: [g for g in old[n]["groups"] if g not in new[n]["groups"]] for n in new if n in old}
    gained = {n: [g for g in new[n]["groups"] if g not in old[n]["groups"]] for n in new if n in old}
    for what, changes in (("lost", lost), ("gained", gained)):
        listed = "; ".join(f"{n} {', '.join(g)}" for n, g in changes.items() if g)
        if listed:
            out.append(f"groups {what}: {listed}")
    return out
