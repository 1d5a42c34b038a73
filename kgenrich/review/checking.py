"""Checking a decision before it is written: the live statement it is on, the statement's reviews,
the task's values (label groups) and the SHACL shapes of shapes/reviews.ttl."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rdflib import Graph, URIRef
from rdflib.namespace import RDF, SH

from .. import sparql
from ..errors import KgenrichError
from ..graphs import OwnGraphs
from ..labels import task_label_groups
from ..namespaces import KGS
from ..records import ArtifactRecord
from ..resources import SHAPES_DIR
from ..store import Store, Triple
from ..task_types import Task, TaskLabels
from .decision_triples import Prepared
from .decision_types import (
    CORRECTED,
    InvalidDecision,
    NeedsMember,
    Proposal,
    Recorded,
    StatementGone,
    ValueOutsideTask,
    check_iri,
)


def read_proposal(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], classes: Sequence[URIRef],
                  statement: str, *, confidence: URIRef) -> Proposal:
    """The live statement, or StatementGone when the predictions graph no longer holds it.
    ``confidence``: the profile's confidence property (silk:L18 for SILKNOW)."""
    check_iri(statement, "statement")
    rows = store.select(sparql.prepare("review_statement", statement=URIRef(statement),
                                       predictions=graphs.predictions, confidence=confidence))
    wanted = {str(c) for c in classes}
    rows = [r for r in rows if str(r["type"]) in wanted and not graphs.is_ours(str(r["museum"]))]
    if not rows:
        raise StatementGone(f"the prediction {statement} is no longer in the predictions graph "
                            "(a sync has replaced it); reload the page")
    row = rows[0]
    predicate = str(row["p"])
    task = next((t for t in tasks if t.property == predicate), None)
    if task is None:
        raise InvalidDecision(f"the prediction {statement} is for {predicate}, which no prediction task predicts")
    try:
        proposed_confidence = float(str(row["confidence"]))
    except ValueError:
        proposed_confidence = float("nan")
    return Proposal(statement, str(row["s"]), predicate, str(row["o"]), proposed_confidence, str(row["artifact"]),
                    str(row["museum"]), task)


def decisions_on(store: Store, graphs: OwnGraphs, statement: str) -> list[Recorded]:
    """Every review of one statement, oldest first."""
    rows = store.select(sparql.prepare("review_of_statement", reviews=graphs.reviews, statement=URIRef(statement)))
    return [Recorded.from_row(r, statement) for r in rows]


def value_groups(store: Store, labels: TaskLabels, values: Sequence[str]) -> dict[str, str | None]:
    """For each value, the kept label group it rolls up to under the task's grouping rule, or
    None: the task's values are exactly the concepts that have a group."""
    task = labels.task
    probe = ArtifactRecord(iri="urn:kgenrich:probe", graph="", museum="", values={task.name: sorted(set(values))})
    _, mapping = task_label_groups(store, task, [probe])
    kept = {g.id for g in labels.groups}
    return {v: next((gid for gid in mapping.get(v, []) if gid in kept), None) for v in values}


def value_group(store: Store, labels: TaskLabels, value: str) -> str | None:
    return value_groups(store, labels, [value])[value]


@dataclass(frozen=True)
class GroupInfo:
    """What the review page knows of a task's groups: their labels and which representatives
    stand for several values (a group not named by one concept, e.g. 'other technique')."""

    labels: Mapping[str, TaskLabels]
    stand_ins: frozenset = frozenset()  # (task name, representative concept)

    def group_of_concept(self, task: str, concept: str):
        labels = self.labels.get(task)
        return next((g for g in labels.groups if g.concept == concept), None) if labels else None


def validate(prepared: Sequence[Prepared], store: Store, groups: GroupInfo) -> None:
    """Check every chosen value is one of its task's values, then the shapes; raise on any problem."""
    allowed: list[tuple[Task, str]] = []
    members: list[tuple[str, str]] = []
    for p in prepared:
        if p.chosen is None:
            continue
        task = p.proposal.task
        labels = groups.labels.get(task.name)
        if labels is None:
            raise ValueOutsideTask(f"task {task.name} has no label groups; nothing can be asserted for it")
        proposed = p.proposal.object
        if p.decision == CORRECTED:
            if value_group(store, labels, p.chosen) is None:
                raise ValueOutsideTask(f"<{p.chosen}> is not one of the values of task '{task.name}' (it rolls up to "
                                       "none of the task's label groups); nothing was written")
        elif p.chosen != proposed:
            # An acceptance that names a member of the proposed group.
            found = value_groups(store, labels, [p.chosen, proposed])
            if found[p.chosen] is None or found[p.chosen] != found[proposed]:
                raise InvalidDecision(f"<{p.chosen}> is not a value of the proposed group; to assert another "
                                      "group's value, correct the prediction; nothing was written")
            members.append((proposed, p.chosen))
        else:
            if (task.name, proposed) in groups.stand_ins and not p.named:
                group = groups.group_of_concept(task.name, proposed)
                raise NeedsMember(_needs_member_message(group))
            if proposed not in {g.concept for g in labels.groups} and value_group(store, labels, proposed) is None:
                # The statement's object was one of the groups when sync wrote it; the groups moved since.
                raise ValueOutsideTask(f"<{proposed}> is no longer one of the values of task '{task.name}'; "
                                       "nothing was written")
        allowed.append((task, p.chosen))
    triples = [t for p in prepared for t in p.review_triples + p.curated_triples]
    problems = shacl_violations(triples, decision_context(prepared, allowed, members))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InvalidDecision("the decision does not conform to shapes/reviews.ttl, nothing was written: "
                              + "; ".join(problems[:3]) + more)


def _needs_member_message(group) -> str:
    name = group.label if group else "this group"
    return (f"the prediction is the group '{name}', which stands for several values; accepting it as it is "
            "would assert one of them. Name the value (accept with 'value': one of the group's values) or "
            "correct it; nothing was written")


# ------------------------------------------------------------------ SHACL
@lru_cache(maxsize=1)
def _shapes() -> Graph:
    path = SHAPES_DIR / "reviews.ttl"
    if not path.is_file():
        raise KgenrichError(f"SHACL shapes not found: {path}")
    g = Graph()
    g.parse(path, format="turtle")
    return g


def decision_context(prepared: Iterable[Prepared], allowed: Iterable[tuple[Task, str]],
                     members: Iterable[tuple[str, str]] = ()) -> list[Triple]:
    """The context the shapes read beside the decisions: kgs:TaskContext triples (each task's
    property and the values checked to be the task's) and, for a group accepted by naming one of
    its values, ``<proposed> kgs:groupMember <value>``."""
    out: set[Triple] = set()
    for task, value in allowed:
        node = URIRef(task.iri)
        out |= {(node, RDF.type, KGS.TaskContext), (node, KGS.property, URIRef(task.property)),
                (node, KGS.allowedObject, URIRef(value))}
    out |= {(URIRef(proposed), KGS.groupMember, URIRef(value)) for proposed, value in members}
    return sorted(out)


def shacl_violations(triples: Iterable[Triple], context: Iterable[Triple]) -> list[str]:
    """One line per violation of shapes/reviews.ttl (empty: the decisions conform).

    pySHACL runs on a scratch pyoxigraph store: the shapes' SPARQL constraints are then parsed
    and answered by Oxigraph, about ten times faster than on an rdflib graph (a decision is
    checked in milliseconds)."""
    import pyoxigraph as ox
    import pyshacl

    data = ox.Store()
    lines = "".join(sparql.ntriples_line(*t) + "\n" for t in list(triples) + list(context))
    data.load(lines.encode("utf-8"), ox.RdfFormat.N_TRIPLES)
    # pyshacl reads a pyoxigraph store as its data graph; its annotations name rdflib's types only.
    conforms, results, _ = pyshacl.validate(data, shacl_graph=_shapes(),  # type: ignore[arg-type]
                                            inference="none", advanced=False,
                                            allow_warnings=True)
    if conforms:
        return []
    out = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        focus = results.value(result, SH.focusNode)
        value = results.value(result, SH.value)
        message = results.value(result, SH.resultMessage)
        if focus == KGS.decisions:
            focus = value
        out.append(f"{focus}: {message}")
    return sorted(out)
