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

The parts: decision_types (what a decision is made of), decision_triples (its triples), checking
(the statement, the task's values, the shapes), writing (the conditional update), batches (bulk
acceptances); this module decides one statement, a first decision or a revision or an undo.
"""

from __future__ import annotations

from collections.abc import Sequence

from rdflib import URIRef

from ..graphs import OwnGraphs
from ..store import Store
from ..task_types import Task
from .checking import GroupInfo, decision_context, decisions_on, read_proposal, shacl_violations, validate
from .decision_triples import prepare
from .decision_types import (
    ALL_DECISIONS,
    UNDONE,
    AlreadyDecided,
    InvalidDecision,
    NotYours,
    Outcome,
    Proposal,
    Recorded,
    Reviewer,
    ReviewError,
    StatementGone,
    SubjectOf,
    check_iri,
    current_of,
)
from .writing import DECISION_LOCK, same_decision, write

# The steps, as the tests and benches reach them through this module (``decisions.prepare`` ...).
__all__ = ["AlreadyDecided", "ReviewError", "Reviewer", "StatementGone", "decide", "decision_context",
           "decisions_on", "prepare", "read_proposal", "shacl_violations", "validate", "write"]


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
    check_iri(statement, "statement")
    if revises is not None:
        check_iri(revises, "review")
    with DECISION_LOCK:
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
                if same_decision(current, reviewer, prepared):
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
