"""A curator's decision on a prediction, as RDF: checked, SHACL-validated, written in one request.

A decision on the statement ``st`` (``s p o`` with confidence ``c`` in the predictions graph)::

    # review graph
    <review> a kgr:Review, prov:Activity ; kgr:reviewed st ; kgr:decision kgr:accepted ;
        kgr:artifact <artifact> ; kgr:task <task> ; kgr:proposedValue o ; kgr:proposedConfidence c ;
        kgr:chosenValue o ;                                  # the other value when corrected; none when rejected
        prov:wasAssociatedWith <reviewer> ; prov:endedAtTime "..."^^xsd:dateTime .
    <reviewer> a prov:Person ; foaf:name "alice" .
    # curated graph (accepted and corrected only): the same triples the task reads, reified
    <curated> a kgr:CuratedValue, rdf:Statement ; rdf:subject s ; rdf:predicate p ; rdf:object v ;
        prov:wasDerivedFrom st ; prov:wasGeneratedBy <review> .
    s p v .
    s <subject link> <artifact> .                            # for tasks whose statements sit on the production

Everything of one decision goes in ONE conditional update (queries/review_decide.rq) that
inserts only while the statement is live and undecided; the review is then read back, so
a lost race or a statement that vanished under the page is reported, never half-written.
"""

from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Iterable, Optional, Sequence
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

ACCEPTED, REJECTED, CORRECTED = "accepted", "rejected", "corrected"
DECISIONS = (ACCEPTED, REJECTED, CORRECTED)
_DECISION_NODE = {d: KGR[d] for d in DECISIONS}
_DECISION_NAME = {str(v): k for k, v in _DECISION_NODE.items()}
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/kgenrich/review")


# ------------------------------------------------------------------ errors (one line each, with an HTTP status)
class ReviewError(KgenrichError):
    """A decision that cannot be recorded; nothing was written."""

    status = 400


class StatementGone(ReviewError):
    status = 409


class AlreadyDecided(ReviewError):
    status = 409


class ValueOutsideTask(ReviewError):
    status = 422


class InvalidDecision(ReviewError):
    status = 422


# ------------------------------------------------------------------ what is decided on
@dataclass(frozen=True)
class Proposal:
    """A live prediction statement, as read from the predictions graph."""

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

    @property
    def iri(self) -> URIRef:
        return reviewer_iri(self.name)


@dataclass
class Outcome:
    """What happened to one decision."""

    statement: str
    decision: str
    value: Optional[str]
    review: str
    reviewer: str
    time: str
    recorded: bool = True  # False: an identical decision by the same reviewer was already there
    artifact: str = ""
    task: str = ""

    def to_dict(self) -> dict:
        return {"statement": self.statement, "decision": self.decision, "value": self.value, "review": self.review,
                "reviewer": self.reviewer, "time": self.time, "recorded": self.recorded, "artifact": self.artifact,
                "task": self.task}


def reviewer_iri(name: str) -> URIRef:
    return URIRef(REVIEWER_NS + quote(name, safe=""))


def curated_iri(subject: str, predicate: str, obj: str) -> URIRef:
    """Same curated triple -> same IRI (a value accepted twice is one curated value)."""
    return URIRef(CURATED_NS + str(uuid.uuid5(_UUID_NS, "\x1f".join(("curated", subject, predicate, obj)))))


def _now() -> Literal:
    return Literal(datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), datatype=XSD.dateTime)


# ------------------------------------------------------------------ reading the live statement
def read_proposal(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], classes: Sequence[URIRef],
                  statement: str) -> Proposal:
    """The live statement, or StatementGone when the predictions graph no longer holds it."""
    if not isinstance(statement, str) or not sparql.iri_is_valid(statement) or ":" not in statement:
        raise InvalidDecision(f"not a statement IRI: {statement!r}")
    rows = store.select(sparql.prepare("review_statement", statement=URIRef(statement),
                                       predictions=graphs.predictions, classes=list(classes)))
    rows = [r for r in rows if not graphs.is_ours(str(r["museum"]))]
    if not rows:
        raise StatementGone(f"the prediction {statement} is no longer in the predictions graph "
                            "(a sync has replaced it); reload the page")
    row = rows[0]
    predicate = str(row["p"])
    task = next((t for t in tasks if t.property == predicate), None)
    if task is None:
        raise InvalidDecision(f"the prediction {statement} is for {predicate}, which no prediction task predicts")
    try:
        confidence = float(str(row["confidence"]))
    except ValueError:
        confidence = float("nan")
    return Proposal(statement, str(row["s"]), predicate, str(row["o"]), confidence, str(row["artifact"]),
                    str(row["museum"]), task)


def value_groups(store: Store, labels: TaskLabels, values: Sequence[str]) -> dict[str, Optional[str]]:
    """For each value, the kept label group it rolls up to under the task's grouping rule, or
    None: the task's values are exactly the concepts that have a group."""
    task = labels.task
    probe = ArtifactRecord(iri="urn:kgenrich:probe", graph="", museum="", values={task.name: sorted(set(values))})
    _, mapping = task_label_groups(store, task, [probe])
    kept = {g.id for g in labels.groups}
    return {v: next((gid for gid in mapping.get(v, []) if gid in kept), None) for v in values}


def value_group(store: Store, labels: TaskLabels, value: str) -> Optional[str]:
    return value_groups(store, labels, [value])[value]


# ------------------------------------------------------------------ building the triples
@dataclass
class Prepared:
    proposal: Proposal
    decision: str
    value: Optional[str]
    review: URIRef
    time: Literal
    review_triples: list[Triple] = field(default_factory=list)
    curated_triples: list[Triple] = field(default_factory=list)


def prepare(proposal: Proposal, decision: str, reviewer: Reviewer, value: Optional[str] = None) -> Prepared:
    """The triples of one decision (not yet checked against the task's values or written)."""
    if decision not in DECISIONS:
        raise InvalidDecision(f"unknown decision {decision!r} (one of: {', '.join(DECISIONS)})")
    if decision == CORRECTED:
        if not value:
            raise InvalidDecision("a correction needs the chosen value")
        if not sparql.iri_is_valid(value) or ":" not in value:
            raise InvalidDecision(f"not a concept IRI: {value!r}")
        if value == proposal.object:
            raise InvalidDecision("the correction is the proposed value itself: accept it instead")
    elif value not in (None, "") and not (decision == ACCEPTED and value == proposal.object):
        raise InvalidDecision(f"a decision '{decision}' takes no other value")
    chosen = {ACCEPTED: proposal.object, CORRECTED: value, REJECTED: None}[decision]
    review = URIRef(REVIEW_NS + str(uuid.uuid4()))
    when = _now()
    st = URIRef(proposal.statement)
    person = reviewer.iri
    rt = [
        (review, RDF.type, KGR.Review), (review, RDF.type, PROV.Activity),
        (review, KGR.reviewed, st), (review, KGR.decision, _DECISION_NODE[decision]),
        (review, KGR.artifact, URIRef(proposal.artifact)), (review, KGR.task, URIRef(proposal.task.iri)),
        (review, KGR.proposedValue, URIRef(proposal.object)),
        (review, PROV.wasAssociatedWith, person), (review, PROV.endedAtTime, when),
        (person, RDF.type, PROV.Person), (person, FOAF.name, Literal(reviewer.name)),
    ]
    if isinstance(proposal.confidence, float) and math.isfinite(proposal.confidence):
        rt.append((review, KGR.proposedConfidence, Literal(f"{min(1.0, max(0.0, proposal.confidence)):.6f}",
                                                           datatype=XSD.float)))
    ct: list[Triple] = []
    if chosen is not None:
        rt.append((review, KGR.chosenValue, URIRef(chosen)))
        s, p, o = URIRef(proposal.subject), URIRef(proposal.predicate), URIRef(chosen)
        cv = curated_iri(proposal.subject, proposal.predicate, chosen)
        ct = [
            (cv, RDF.type, KGR.CuratedValue), (cv, RDF.type, RDF.Statement),
            (cv, RDF.subject, s), (cv, RDF.predicate, p), (cv, RDF.object, o),
            (cv, PROV.wasDerivedFrom, st), (cv, PROV.wasGeneratedBy, review),
            (s, p, o),
        ]
        if proposal.task.subject_link:
            # The link to the artifact, so that the curated graph reads alone with the task's own query.
            ct.append((s, URIRef(proposal.task.subject_link), URIRef(proposal.artifact)))
    return Prepared(proposal, decision, chosen if decision == CORRECTED else None, review, when, rt, ct)


# ------------------------------------------------------------------ SHACL
@lru_cache(maxsize=1)
def _shapes() -> Graph:
    path = SHAPES_DIR / "reviews.ttl"
    if not path.is_file():
        raise KgenrichError(f"SHACL shapes not found: {path}")
    g = Graph()
    g.parse(path, format="turtle")
    return g


def decision_context(prepared: Iterable[Prepared], allowed: Iterable[tuple[Task, str]]) -> list[Triple]:
    """kgs:TaskContext triples: each task's property and the values checked to be the task's."""
    out: set[Triple] = set()
    for task, value in allowed:
        node = URIRef(task.iri)
        out |= {(node, RDF.type, KGS.TaskContext), (node, KGS.property, URIRef(task.property)),
                (node, KGS.allowedObject, URIRef(value))}
    return sorted(out)


def shacl_violations(triples: Iterable[Triple], context: Iterable[Triple]) -> list[str]:
    """One line per violation of shapes/reviews.ttl (empty: the decisions conform)."""
    import pyshacl

    data = Graph()
    for t in list(triples) + list(context):
        data.add(t)
    shapes = _shapes()
    conforms, results, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none", advanced=False,
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


def validate(prepared: Sequence[Prepared], store: Store, labels: dict[str, TaskLabels]) -> None:
    """Check every chosen value is one of its task's values, then the shapes; raise on any problem."""
    allowed: list[tuple[Task, str]] = []
    for p in prepared:
        chosen = p.proposal.object if p.decision == ACCEPTED else p.value
        if chosen is None:
            continue
        task = p.proposal.task
        if task.name not in labels:
            raise ValueOutsideTask(f"task {task.name} has no label groups; nothing can be asserted for it")
        if p.decision == CORRECTED and value_group(store, labels[task.name], chosen) is None:
            raise ValueOutsideTask(f"<{chosen}> is not one of the values of task '{task.name}' (it rolls up to none "
                                   "of the task's label groups); nothing was written")
        if p.decision == ACCEPTED and chosen not in {g.concept for g in labels[task.name].groups}:
            # The statement's object was one of the groups when sync wrote it; the groups moved since.
            if value_group(store, labels[task.name], chosen) is None:
                raise ValueOutsideTask(f"<{chosen}> is no longer one of the values of task '{task.name}'; "
                                       "nothing was written")
        allowed.append((task, chosen))
    triples = [t for p in prepared for t in p.review_triples + p.curated_triples]
    problems = shacl_violations(triples, decision_context(prepared, allowed))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InvalidDecision("the decision does not conform to shapes/reviews.ttl, nothing was written: "
                              + "; ".join(problems[:3]) + more)


# ------------------------------------------------------------------ writing
def decisions_on(store: Store, graphs: OwnGraphs, statement: str) -> list[dict]:
    rows = store.select(sparql.prepare("review_of_statement", reviews=graphs.reviews, statement=URIRef(statement)))
    return [{"review": str(r["review"]), "decision": _DECISION_NAME.get(str(r["decision"]), str(r["decision"])),
             "reviewer": str(r.get("name") or r["reviewer"]), "time": str(r["time"]),
             "value": str(r["chosen"]) if r.get("chosen") is not None else None} for r in rows]


def write(store: Store, graphs: OwnGraphs, p: Prepared, reviewer: Reviewer) -> Outcome:
    """Send one decision as one conditional update, then read back who decided the statement."""
    bindings = dict(reviews=graphs.reviews, predictions=graphs.predictions, statement=URIRef(p.proposal.statement),
                    proposed=URIRef(p.proposal.object), reviewTriples=sparql.TripleBlock(p.review_triples))
    if p.curated_triples:
        update = sparql.prepare("review_decide", curated=graphs.curated,
                                curatedTriples=sparql.TripleBlock(p.curated_triples), **bindings)
    else:
        update = sparql.prepare("review_decide_rejection", **bindings)
    # Retrying this request is harmless (the review IRI is fixed: a repeat finds it and adds nothing).
    store.update(update, idempotent=True)
    recorded = decisions_on(store, graphs, p.proposal.statement)
    chosen = p.proposal.object if p.decision == ACCEPTED else p.value
    base = Outcome(p.proposal.statement, p.decision, chosen, str(p.review), reviewer.name, str(p.time),
                   artifact=p.proposal.artifact, task=p.proposal.task.name)
    if any(r["review"] == str(p.review) for r in recorded):
        return base
    if not recorded:
        raise StatementGone(f"the prediction {p.proposal.statement} was replaced while deciding (a sync ran); "
                            "nothing was written; reload the page")
    first = recorded[0]
    if first["reviewer"] == reviewer.name and first["decision"] == p.decision and first["value"] == chosen:
        # The same reviewer sent the same decision twice (a double click, a resent form): done already.
        base.review, base.time, base.recorded = first["review"], first["time"], False
        return base
    raise AlreadyDecided(f"this prediction was already {first['decision']} by {first['reviewer']} at "
                         f"{first['time']}; nothing was written")


_LOCK = threading.Lock()  # one decision at a time per process: check, write, read back


def decide(store: Store, graphs: OwnGraphs, tasks: Sequence[Task], labels: dict[str, TaskLabels],
           classes: Sequence[URIRef], reviewer: Reviewer, statement: str, decision: str,
           value: Optional[str] = None) -> Outcome:
    """Record one decision: read the live statement, build, validate, write, read back."""
    with _LOCK:
        proposal = read_proposal(store, graphs, tasks, classes, statement)
        earlier = decisions_on(store, graphs, statement)
        prepared = prepare(proposal, decision, reviewer, value)
        if earlier:
            first = earlier[0]
            chosen = proposal.object if decision == ACCEPTED else prepared.value
            if not (first["reviewer"] == reviewer.name and first["decision"] == decision and first["value"] == chosen):
                raise AlreadyDecided(f"this prediction was already {first['decision']} by {first['reviewer']} at "
                                     f"{first['time']}; nothing was written")
            return Outcome(statement, decision, chosen, first["review"], reviewer.name, first["time"], recorded=False,
                           artifact=proposal.artifact, task=proposal.task.name)
        validate([prepared], store, labels)
        return write(store, graphs, prepared, reviewer)


@dataclass
class BulkOutcome:
    accepted: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per statement not accepted, and why

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "skipped": len(self.skipped), "reasons": self.skipped[:50]}


def accept_all(store: Store, graphs: OwnGraphs, labels: dict[str, TaskLabels], reviewer: Reviewer,
               proposals: Sequence[Proposal]) -> BulkOutcome:
    """Accept many predictions (as the queue read them): all validated together first, then one
    request per decision (each one whole, each conditional on the statement being live and
    undecided); statements decided or replaced meanwhile are skipped and listed."""
    out = BulkOutcome()
    with _LOCK:
        prepared = [prepare(p, ACCEPTED, reviewer) for p in proposals]
        validate(prepared, store, labels)
        for p in prepared:
            try:
                outcome = write(store, graphs, p, reviewer)
            except (StatementGone, AlreadyDecided) as exc:
                out.skipped.append(str(exc))
                continue
            out.accepted += int(outcome.recorded)
    return out
