"""What a decision is made of: the decisions, the errors (one line each, with an HTTP status), the
statement decided on, the reviewer, a review as recorded, the outcome, and the IRIs they mint."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from .. import sparql
from ..errors import KgenrichError
from ..namespaces import CURATED_NS, KGR, REVIEW_NS, REVIEWER_NS
from ..task_types import Task
from .words import decision_words

ACCEPTED, REJECTED, CORRECTED, UNDONE = "accepted", "rejected", "corrected", "undone"
DECISIONS = (ACCEPTED, REJECTED, CORRECTED)  # what a curator decides about a prediction
ALL_DECISIONS = DECISIONS + (UNDONE,)  # ... and taking an earlier decision back
ASSERTING = (ACCEPTED, CORRECTED)  # decisions that put a value into the curated graph
DECISION_NODES = {d: KGR[d] for d in ALL_DECISIONS}
_DECISION_NAME = {str(v): k for k, v in DECISION_NODES.items()}
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/kgenrich/review")
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


def timestamp() -> Literal:
    return Literal(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), datatype=XSD.dateTime)

def check_iri(value, what: str) -> None:
    if not isinstance(value, str) or not sparql.iri_is_valid(value) or ":" not in value:
        raise InvalidDecision(f"not a {what} IRI: {value!r}")


SubjectOf = Callable[[str, Task], str | None]  # (artifact, task) -> the node the task's statements sit on
