"""Bulk acceptances: many predictions accepted as one kgr:Batch, and undone as one step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rdflib import URIRef

from .. import sparql
from ..graphs import OwnGraphs
from ..store import Store
from ..task_types import Task
from .checking import GroupInfo, validate
from .decision_triples import batch_description, prepare
from .decision_types import (
    ACCEPTED,
    UNDONE,
    AlreadyDecided,
    InvalidDecision,
    NotYours,
    Proposal,
    Recorded,
    Reviewer,
    StatementGone,
    SubjectOf,
    batch_iri,
    check_iri,
)
from .writing import DECISION_LOCK, write


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
    with DECISION_LOCK:
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
    check_iri(batch, "bulk acceptance")
    out = BulkOutcome(batch=batch)
    with DECISION_LOCK:
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
