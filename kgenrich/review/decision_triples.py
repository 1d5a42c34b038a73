"""The triples of one decision: the review (review graph) and, for an acceptance or a correction,
the curated value (curated graph); the shape is drawn in decisions.py."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, XSD

from ..namespaces import FOAF, KGR, PROV, REVIEW_NS
from ..store import Triple
from .decision_types import (
    ACCEPTED,
    ALL_DECISIONS,
    CORRECTED,
    DECISION_NODES,
    REJECTED,
    UNDONE,
    InvalidDecision,
    Proposal,
    Recorded,
    Reviewer,
    check_iri,
    curated_iri,
    timestamp,
)


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
        check_iri(value, "concept")
    if decision == CORRECTED:
        if not value:
            raise InvalidDecision("a correction needs the chosen value")
        if value == proposal.object:
            raise InvalidDecision("the correction is the proposed value itself: accept it instead")
    if decision == UNDONE and earlier is None:
        raise InvalidDecision("there is no decision to undo")
    chosen = {ACCEPTED: value or proposal.object, CORRECTED: value}.get(decision)
    review = URIRef(REVIEW_NS + str(uuid.uuid4()))
    when = timestamp()
    st = URIRef(proposal.statement)
    person = reviewer.iri
    rt: list[Triple] = [
        (review, RDF.type, KGR.Review), (review, RDF.type, PROV.Activity),
        (review, KGR.reviewed, st), (review, KGR.decision, DECISION_NODES[decision]),
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
            (batch, PROV.startedAtTime, timestamp()), (batch, KGR.selection, Literal(selection))]
