"""A curator's decision on a prediction, as RDF: checked, SHACL-validated, written in one request.

A decision on the statement ``st`` (``s p o`` with confidence ``c`` in the predictions graph)::

    # review graph
    <review> a kgr:Review, prov:Activity ; kgr:reviewed st ; kgr:decision kgr:accepted ;
        kgr:artifact <artifact> ; kgr:task <task> ; kgr:subject s ;
        kgr:proposedValue o ; kgr:proposedConfidence c ;
        kgr:chosenValue o ;              # another value when corrected (or the member named for a group);
                                         # none when rejected or undone
        kgr:revises <earlier review> ;   # a changed decision or an undo (the earlier one stays)
        kgr:batch <bulk acceptance> ;    # when made by one
        prov:wasAssociatedWith <reviewer> ; prov:endedAtTime "..."^^xsd:dateTime .
    <reviewer> a prov:Person ; foaf:name "alice" .
    # curated graph (accepted and corrected only): the same triples the task reads, reified
    <curated> a kgr:CuratedValue, rdf:Statement ; rdf:subject s ; rdf:predicate p ; rdf:object v ;
        prov:wasDerivedFrom st ; prov:wasGeneratedBy <review> .
    s p v .
    s <subject link> <artifact> .        # for tasks whose statements sit on the production

Nothing is ever deleted from the review graph.  The review that no other review revises is the
statement's *current* decision; revising it (the reviewer who made it, or an ``admin``) records
a new review and takes the earlier one's curated value out of the curated graph (the review
graph records it as ``prov:wasInvalidatedBy`` the new review).  Everything of one decision goes
in ONE conditional update (queries/review_withdraw_curated.rq + queries/review_decide*.rq) that
writes only while the current decision is the one the reviewer saw; the review is then read
back, so a lost race or a statement that vanished under the page is reported, never half-written.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, SH, XSD

from .. import sparql
from ..errors import KgenrichError
from ..graphs import OwnGraphs
from ..labels import task_label_groups
from ..namespaces import CURATED_NS, FOAF, KGR, KGS, PROV, REVIEW_NS, REVIEWER_NS
from ..records import ArtifactRecord, Task, TaskLabels
from ..resources import SHAPES_DIR
from ..store import Store, Triple
from .words import decision_words

ACCEPTED, REJECTED, CORRECTED, UNDONE = "accepted", "rejected", "corrected", "undone"
DECISIONS = (ACCEPTED, REJECTED, CORRECTED)  # what a curator decides about a prediction
ALL_DECISIONS = DECISIONS + (UNDONE,)  # ... and taking an earlier decision back
ASSERTING = (ACCEPTED, CORRECTED)  # decisions that put a value into the curated graph
_DECISION_NODE = {d: KGR[d] for d in ALL_DECISIONS}
_DECISION_NAME = {str(v): k for k, v in _DECISION_NODE.items()}
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/kgenrich/review")
_NONE = URIRef("urn:kgenrich:none")
ADMIN, REVIEWER, READONLY = "admin", "reviewer", "readonly"


# ------------------------------------------------------------------ errors (one line each, with an HTTP status)
class ReviewError(KgenrichError):
    """A decision that cannot be recorded; nothing was written."""

    status = 400


class StatementGone(ReviewError):
    status = 409


class AlreadyDecided(ReviewError):
    """Someone decided (or changed the decision) first; ``current`` says who, what and when."""

    status = 409

    def __init__(self, message: str, current: Recorded | None = None):
        super().__init__(message)
        self.current = current


class ValueOutsideTask(ReviewError):
    status = 422


class InvalidDecision(ReviewError):
    status = 422


class NeedsMember(ReviewError):
    """Accepting a group that stands for several values would assert one of them: name it."""

    status = 422


class NotYours(ReviewError):
    status = 403


# ------------------------------------------------------------------ what is decided on
@dataclass(frozen=True)
class Proposal:
    """A prediction statement as it is decided on: read from the predictions graph, or (for a
    decision that revises an earlier one) from that earlier review."""

    statement: str
    subject: str
    predicate: str
    object: str
    confidence: float
    artifact: str
    museum: str
    task: Task


@dataclass(frozen=True)
class Reviewer:
    name: str
    role: str = REVIEWER

    @property
    def iri(self) -> URIRef:
        return reviewer_iri(self.name)

    @property
    def can_revise_any(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class Recorded:
    """One review as the review graph holds it."""

    review: str
    statement: str
    decision: str
    reviewer: str
    time: str
    chosen: str | None = None
    revises: str | None = None
    batch: str | None = None
    artifact: str = ""
    task: str = ""  # the task IRI
    proposed: str = ""
    confidence: float | None = None
    subject: str = ""

    def words(self, value_label: str | None = None) -> str:
        return decision_words(self.decision, self.reviewer, self.time, value_label)

    @classmethod
    def from_row(cls, row: Mapping, statement: str | None = None) -> Recorded:
        def text(key: str) -> str:
            value = row.get(key)
            return str(value) if value is not None else ""

        confidence = None
        if row.get("confidence") is not None:
            try:
                confidence = float(str(row["confidence"]))
            except ValueError:
                confidence = None
        return cls(review=text("review"), statement=statement or text("statement"),
                   decision=_DECISION_NAME.get(text("decision"), text("decision")),
                   reviewer=text("name") or text("reviewer"), time=text("time"), chosen=text("chosen") or None,
                   revises=text("revises") or None, batch=text("batch") or None, artifact=text("artifact"),
                   task=text("task"), proposed=text("proposed"), confidence=confidence, subject=text("subject"))


def current_of(reviews: Sequence[Recorded]) -> Recorded | None:
    """The statement's current decision: the review that no other review revises (None: undecided)."""
    revised = {r.revises for r in reviews if r.revises}
    heads = [r for r in reviews if r.review not in revised]
    return max(heads, key=lambda r: (r.time, r.review)) if heads else None


@dataclass
class Outcome:
    """What happened to one decision."""

    statement: str
    decision: str
    value: str | None
    review: str
    reviewer: str
    time: str
    recorded: bool = True  # False: an identical decision by the same reviewer was already there
    artifact: str = ""
    task: str = ""
    proposed: str = ""
    revises: str | None = None
    batch: str | None = None

    def to_dict(self) -> dict:
        return {"statement": self.statement, "decision": self.decision, "value": self.value, "review": self.review,
                "reviewer": self.reviewer, "time": self.time, "recorded": self.recorded, "artifact": self.artifact,
                "task": self.task, "proposed": self.proposed, "revises": self.revises, "batch": self.batch}


def reviewer_iri(name: str) -> URIRef:
    return URIRef(REVIEWER_NS + quote(name, safe=""))


def curated_iri(subject: str, predicate: str, obj: str, review: str) -> URIRef:
    """The curated value one review asserts (its own node: a revision withdraws exactly it)."""
    return URIRef(CURATED_NS + str(uuid.uuid5(_UUID_NS, "\x1f".join(("curated", subject, predicate, obj, review)))))


def batch_iri() -> URIRef:
    return URIRef(REVIEW_NS + "batch/" + str(uuid.uuid4()))


def _now() -> Literal:
    return Literal(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), datatype=XSD.dateTime)


# ------------------------------------------------------------------ reading
def read_proposal(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], classes: Sequence[URIRef],
                  statement: str, *, confidence: URIRef) -> Proposal:
    """The live statement, or StatementGone when the predictions graph no longer holds it.
    ``confidence``: the profile's confidence property (silk:L18 for SILKNOW)."""
    _check_iri(statement, "statement")
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


def _check_iri(value, what: str) -> None:
    if not isinstance(value, str) or not sparql.iri_is_valid(value) or ":" not in value:
        raise InvalidDecision(f"not a {what} IRI: {value!r}")


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


# ------------------------------------------------------------------ building the triples
@dataclass
class Prepared:
    proposal: Proposal
    decision: str
    chosen: str | None  # the value asserted (accepted / corrected), else None
    review: URIRef
    time: Literal
    earlier: Recorded | None = None
    batch: URIRef | None = None
    named: bool = False  # the curator named the value (not only "accept what is proposed")
    review_triples: list[Triple] = field(default_factory=list)
    curated_triples: list[Triple] = field(default_factory=list)

    @property
    def value(self) -> str | None:
        """The value the curator named (a correction, or the member of an accepted group)."""
        return self.chosen if self.chosen != self.proposal.object else None


def prepare(proposal: Proposal, decision: str, reviewer: Reviewer, value: str | None = None,
            earlier: Recorded | None = None, batch: URIRef | None = None,
            batch_triples: Sequence[Triple] = ()) -> Prepared:
    """The triples of one decision (not yet checked against the task's values or written)."""
    if decision not in ALL_DECISIONS:
        raise InvalidDecision(f"unknown decision {decision!r} (one of: {', '.join(ALL_DECISIONS)})")
    if value in ("", None):
        value = None
    elif decision in (REJECTED, UNDONE):
        raise InvalidDecision(f"a decision '{decision}' takes no value")
    else:
        _check_iri(value, "concept")
    if decision == CORRECTED:
        if not value:
            raise InvalidDecision("a correction needs the chosen value")
        if value == proposal.object:
            raise InvalidDecision("the correction is the proposed value itself: accept it instead")
    if decision == UNDONE and earlier is None:
        raise InvalidDecision("there is no decision to undo")
    chosen = {ACCEPTED: value or proposal.object, CORRECTED: value}.get(decision)
    review = URIRef(REVIEW_NS + str(uuid.uuid4()))
    when = _now()
    st = URIRef(proposal.statement)
    person = reviewer.iri
    rt: list[Triple] = [
        (review, RDF.type, KGR.Review), (review, RDF.type, PROV.Activity),
        (review, KGR.reviewed, st), (review, KGR.decision, _DECISION_NODE[decision]),
        (review, KGR.artifact, URIRef(proposal.artifact)), (review, KGR.task, URIRef(proposal.task.iri)),
        (review, KGR.proposedValue, URIRef(proposal.object)), (review, KGR.subject, URIRef(proposal.subject)),
        (review, PROV.wasAssociatedWith, person), (review, PROV.endedAtTime, when),
        (person, RDF.type, PROV.Person), (person, FOAF.name, Literal(reviewer.name)),
    ]
    if isinstance(proposal.confidence, float) and math.isfinite(proposal.confidence):
        rt.append((review, KGR.proposedConfidence, Literal(f"{min(1.0, max(0.0, proposal.confidence)):.6f}",
                                                           datatype=XSD.float)))
    if earlier is not None:
        rt.append((review, KGR.revises, URIRef(earlier.review)))
    if batch is not None:
        rt.append((review, KGR.batch, batch))
        rt.extend(batch_triples)
    ct: list[Triple] = []
    if chosen is not None:
        rt.append((review, KGR.chosenValue, URIRef(chosen)))
        s, p, o = URIRef(proposal.subject), URIRef(proposal.predicate), URIRef(chosen)
        cv = curated_iri(proposal.subject, proposal.predicate, chosen, str(review))
        ct = [
            (cv, RDF.type, KGR.CuratedValue), (cv, RDF.type, RDF.Statement),
            (cv, RDF.subject, s), (cv, RDF.predicate, p), (cv, RDF.object, o),
            (cv, PROV.wasDerivedFrom, st), (cv, PROV.wasGeneratedBy, review),
            (s, p, o),
        ]
        if proposal.task.subject_link:
            # The link to the artifact, in the task's direction (Linked Art links a production from
            # its object), so that the curated graph reads alone with the task's own query.
            link_s, link_p, link_o = proposal.task.link_triple(proposal.subject, proposal.artifact)
            ct.append((URIRef(link_s), URIRef(link_p), URIRef(link_o)))
    return Prepared(proposal, decision, chosen, review, when, earlier, batch, value is not None, rt, ct)


def batch_description(batch: URIRef, reviewer: Reviewer, selection: str) -> list[Triple]:
    person = reviewer.iri
    return [(batch, RDF.type, KGR.Batch), (batch, RDF.type, PROV.Activity), (batch, PROV.wasAssociatedWith, person),
            (batch, PROV.startedAtTime, _now()), (batch, KGR.selection, Literal(selection))]


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


# ------------------------------------------------------------------ writing
def _operations(graphs: OwnGraphs, p: Prepared) -> list[str]:
    earlier = URIRef(p.earlier.review) if p.earlier is not None else _NONE
    revising = Literal(p.earlier is not None)
    guard = dict(reviews=graphs.reviews, statement=URIRef(p.proposal.statement), earlier=earlier)
    ops = []
    if p.earlier is not None and p.earlier.decision in ASSERTING:
        task = p.proposal.task
        link = URIRef(task.subject_link) if task.subject_link and not task.subject_inverse else _NONE
        inverse = URIRef(task.subject_link) if task.subject_link and task.subject_inverse else _NONE
        ops.append(sparql.prepare("review_withdraw_curated", curated=graphs.curated, link=link, inverseLink=inverse,
                                  review=p.review,
                                  time=p.time, **guard))
    bindings = dict(predictions=graphs.predictions, proposed=URIRef(p.proposal.object), revising=revising,
                    reviewTriples=sparql.TripleBlock(p.review_triples), **guard)
    if p.curated_triples:
        ops.append(sparql.prepare("review_decide", curated=graphs.curated,
                                  curatedTriples=sparql.TripleBlock(p.curated_triples), **bindings))
    else:
        ops.append(sparql.prepare("review_decide_rejection", **bindings))
    return ops


def write(store: Store, graphs: OwnGraphs, p: Prepared, reviewer: Reviewer) -> Outcome:
    """Send one decision as one conditional update, then read back the statement's reviews."""
    # Retrying this request is harmless: once applied, its own review is current and the
    # condition of every operation in it fails.
    store.update(sparql.join_updates(_operations(graphs, p)), idempotent=True)
    recorded = decisions_on(store, graphs, p.proposal.statement)
    base = Outcome(p.proposal.statement, p.decision, p.chosen, str(p.review), reviewer.name, str(p.time),
                   artifact=p.proposal.artifact, task=p.proposal.task.name, proposed=p.proposal.object,
                   revises=p.earlier.review if p.earlier else None, batch=str(p.batch) if p.batch else None)
    if any(r.review == str(p.review) for r in recorded):
        return base
    current = current_of(recorded)
    if current is None:
        raise StatementGone(f"the prediction {p.proposal.statement} was replaced while deciding (a sync ran); "
                            "nothing was written; reload the page")
    if p.earlier is None and _same(current, reviewer, p):
        # The same reviewer sent the same decision twice (a double click, a resent form): done already.
        base.review, base.time, base.recorded = current.review, current.time, False
        return base
    raise AlreadyDecided(f"this prediction was {current.words()} meanwhile; nothing was written", current)


def _same(current: Recorded, reviewer: Reviewer, p: Prepared) -> bool:
    return current.reviewer == reviewer.name and current.decision == p.decision and current.chosen == p.chosen


_LOCK = threading.Lock()  # one decision at a time per process: check, write, read back

SubjectOf = Callable[[str, Task], str | None]


def decide(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], groups: GroupInfo, classes: Sequence[URIRef],
           reviewer: Reviewer, statement: str, decision: str, value: str | None = None,
           revises: str | None = None, subject_of: SubjectOf | None = None, *,
           confidence: URIRef) -> Outcome:
    """Record one decision: a first one on a live prediction, or (``revises``: the review the
    reviewer saw as current) a change or an undo of an earlier one.

    A statement already decided takes a new decision only as a revision of its current one, by
    the reviewer who made it or an admin; after an undo anyone may decide it again."""
    if decision not in ALL_DECISIONS:
        raise InvalidDecision(f"unknown decision {decision!r} (one of: {', '.join(ALL_DECISIONS)})")
    _check_iri(statement, "statement")
    if revises is not None:
        _check_iri(revises, "review")
    with _LOCK:
        history = decisions_on(store, graphs, statement)
        current = current_of(history)
        earlier = None
        if revises is None and decision == UNDONE:
            revises = current.review if current is not None else None
            if revises is None:
                raise InvalidDecision("this prediction has no decision to undo")
        if revises is not None:
            if current is None or current.review != revises:
                if current is None:
                    raise StatementGone(f"no decision {revises} on {statement} to revise; reload the page")
                raise AlreadyDecided(f"this decision was changed meanwhile: now {current.words()}; nothing was "
                                     "written", current)
            if current.decision != UNDONE and current.reviewer != reviewer.name and not reviewer.can_revise_any:
                raise NotYours(f"only {current.reviewer} (or an admin) can change {current.reviewer}'s decision; "
                               "nothing was written")
            if decision == UNDONE and current.decision == UNDONE:
                raise InvalidDecision("this decision is undone already; nothing was written")
            earlier = current
        elif current is not None:
            if current.decision == UNDONE:
                earlier = current  # pending again after an undo: the new decision continues the history
            else:
                proposal = _proposal(store, graphs, tasks, classes, statement, current, subject_of, confidence)
                prepared = prepare(proposal, decision, reviewer, value)
                if _same(current, reviewer, prepared):
                    return Outcome(statement, decision, current.chosen, current.review, reviewer.name, current.time,
                                   recorded=False, artifact=proposal.artifact, task=proposal.task.name,
                                   proposed=proposal.object, revises=current.revises, batch=current.batch)
                raise AlreadyDecided(f"this prediction was already {current.words()}; nothing was written", current)
        proposal = _proposal(store, graphs, tasks, classes, statement, earlier, subject_of, confidence)
        prepared = prepare(proposal, decision, reviewer, value, earlier=earlier)
        validate([prepared], store, groups)
        return write(store, graphs, prepared, reviewer)


def _proposal(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], classes: Sequence[URIRef], statement: str,
              earlier: Recorded | None, subject_of: SubjectOf | None, confidence: URIRef) -> Proposal:
    """The live statement; for a revision whose statement a sync has removed meanwhile (an
    accepted gap is closed), the statement as the earlier review recorded it."""
    try:
        return read_proposal(store, graphs, tasks, classes, statement, confidence=confidence)
    except StatementGone:
        if earlier is None:
            raise
    task = next((t for t in tasks if t.iri == earlier.task), None)
    if task is None:
        raise InvalidDecision(f"the decision {earlier.review} is for a task that no longer exists ({earlier.task})")
    subject = earlier.subject or (subject_of(earlier.artifact, task) if subject_of else None)
    if not subject:
        raise StatementGone(f"the prediction {statement} is gone and the earlier decision does not say where its "
                            "value sits; decide the new prediction instead")
    proposed_confidence = earlier.confidence if earlier.confidence is not None else float("nan")
    return Proposal(statement, subject, task.property, earlier.proposed, proposed_confidence, earlier.artifact, "",
                    task)


@dataclass
class BulkOutcome:
    accepted: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per statement not accepted, and why
    batch: str | None = None
    undone: int = 0

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "undone": self.undone, "skipped": len(self.skipped),
                "reasons": self.skipped[:50], "batch": self.batch}


def accept_all(store: Store, graphs: OwnGraphs, groups: GroupInfo, reviewer: Reviewer,
               proposals: Sequence[Proposal], selection: str = "",
               undone: Mapping[str, Recorded] | None = None) -> BulkOutcome:
    """Accept many predictions (as the queue read them) as one bulk acceptance (a kgr:Batch, undone
    as one step by :func:`undo_batch`): all validated together first, then one request per
    decision (each one whole, each conditional on the statement being live and undecided, or on
    its current review being the undo in ``undone``, as the queue read it); statements decided or
    replaced meanwhile are skipped and listed."""
    batch = batch_iri()
    out = BulkOutcome(batch=str(batch))
    described = batch_description(batch, reviewer, selection)
    undone = undone or {}
    with _LOCK:
        prepared = [prepare(p, ACCEPTED, reviewer, earlier=undone.get(p.statement), batch=batch,
                            batch_triples=described) for p in proposals]
        validate(prepared, store, groups)
        for p in prepared:
            try:
                outcome = write(store, graphs, p, reviewer)
            except (StatementGone, AlreadyDecided) as exc:
                out.skipped.append(str(exc))
                continue
            out.accepted += int(outcome.recorded)
    return out


def undo_batch(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], groups: GroupInfo, reviewer: Reviewer,
               batch: str, subject_of: SubjectOf | None = None) -> BulkOutcome:
    """Take back every decision of one bulk acceptance that is still current (those changed
    since are left as they are, and listed)."""
    _check_iri(batch, "bulk acceptance")
    out = BulkOutcome(batch=batch)
    with _LOCK:
        rows = store.select(sparql.prepare("review_batch", reviews=graphs.reviews, batch=URIRef(batch)))
        if not rows:
            raise StatementGone("nothing of that bulk acceptance is left to undo (unknown, or every decision in it was "
                                "changed since); nothing was written")
        owner = str(rows[0].get("batchReviewer") or "")
        if owner != reviewer.name and not reviewer.can_revise_any:
            raise NotYours(f"only {owner} (or an admin) can undo {owner}'s bulk acceptance; nothing was written")
        prepared = []
        for row in rows:
            earlier = Recorded.from_row(row)
            proposal = _recorded_proposal(tasks, earlier, subject_of)
            prepared.append(prepare(proposal, UNDONE, reviewer, earlier=earlier))
        validate(prepared, store, groups)
        for p in prepared:
            try:
                write(store, graphs, p, reviewer)
                out.undone += 1
            except (StatementGone, AlreadyDecided) as exc:
                out.skipped.append(str(exc))
    return out


def _recorded_proposal(tasks: Sequence[Task], earlier: Recorded, subject_of: SubjectOf | None) -> Proposal:
    task = next((t for t in tasks if t.iri == earlier.task), None)
    if task is None:
        raise InvalidDecision(f"the decision {earlier.review} is for a task that no longer exists ({earlier.task})")
    subject = earlier.subject or (subject_of(earlier.artifact, task) if subject_of else None) or earlier.artifact
    confidence = earlier.confidence if earlier.confidence is not None else float("nan")
    return Proposal(earlier.statement, subject, task.property, earlier.proposed, confidence, earlier.artifact, "",
                    task)
