"""Writing a decision: one conditional update (queries/review_withdraw_curated.rq +
queries/review_decide*.rq), then the statement's reviews read back to tell a lost race or a
vanished statement from a decision recorded."""

from __future__ import annotations

import threading

from rdflib import Literal, URIRef

from .. import sparql
from ..graphs import OwnGraphs
from ..store import Store
from .checking import decisions_on
from .decision_triples import Prepared
from .decision_types import ASSERTING, AlreadyDecided, Outcome, Recorded, Reviewer, StatementGone, current_of

_NONE = URIRef("urn:kgenrich:none")
DECISION_LOCK = threading.Lock()  # one decision at a time per process: check, write, read back


def _operations(graphs: OwnGraphs, p: Prepared) -> list[str]:
    earlier = URIRef(p.earlier.review) if p.earlier is not None else _NONE
    revising = Literal(p.earlier is not None)
    guard: dict[str, sparql.Bindable] = dict(reviews=graphs.reviews, statement=URIRef(p.proposal.statement),
                                             earlier=earlier)
    ops = []
    if p.earlier is not None and p.earlier.decision in ASSERTING:
        task = p.proposal.task
        link = URIRef(task.subject_link) if task.subject_link and not task.subject_inverse else _NONE
        inverse = URIRef(task.subject_link) if task.subject_link and task.subject_inverse else _NONE
        ops.append(sparql.prepare("review_withdraw_curated", curated=graphs.curated, link=link, inverseLink=inverse,
                                  review=p.review,
                                  time=p.time, **guard))
    bindings: dict[str, sparql.Bindable] = dict(predictions=graphs.predictions, proposed=URIRef(p.proposal.object),
                                                revising=revising,
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
    if p.earlier is None and same_decision(current, reviewer, p):
        # The same reviewer sent the same decision twice (a double click, a resent form): done already.
        base.review, base.time, base.recorded = current.review, current.time, False
        return base
    raise AlreadyDecided(f"this prediction was {current.words()} meanwhile; nothing was written", current)


def same_decision(current: Recorded, reviewer: Reviewer, p: Prepared) -> bool:
    return current.reviewer == reviewer.name and current.decision == p.decision and current.chosen == p.chosen
