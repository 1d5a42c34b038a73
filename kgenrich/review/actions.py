"""What the pages and the API do off the event loop (in a worker thread): record a decision, accept
a selection in bulk or undo such an acceptance, export the history, find a thumbnail."""

from __future__ import annotations

from . import export
from .batches import BulkOutcome, accept_all, undo_batch
from .decision_types import ALL_DECISIONS, Reviewer, ReviewError, StatementGone
from .decisions import decide
from .web import ReviewApp


def record_decision(review: ReviewApp, reviewer: Reviewer, statement, decision, value, revises=None) -> dict:
    if not isinstance(statement, str) or not statement:
        raise ReviewError("which prediction? give its statement IRI")
    if decision not in ALL_DECISIONS:
        raise ReviewError(f"unknown decision {decision!r} (one of: {', '.join(ALL_DECISIONS)})")
    if revises is not None and not isinstance(revises, str):
        raise ReviewError("'revises' is the IRI of the review the decision changes")
    reader = review.reader
    c = reader.collection()
    outcome = decide(reader.store, reader.graphs, c.tasks, c.groups, c.classes, reviewer, statement,
                     decision, value if isinstance(value, str) and value else None, revises or None,
                     subject_of=c.subject_of, confidence=c.confidence)
    out = outcome.to_dict()
    names = reader.labels([outcome.proposed] + ([outcome.value] if outcome.value else []) + [outcome.artifact])
    group = c.group_of(outcome.task, outcome.proposed)
    proposed = group.label if group else names[outcome.proposed]
    chosen = names[outcome.value] if outcome.value else None
    out.update(proposed_label=proposed, value_label=chosen, artifact_label=names[outcome.artifact])
    if outcome.decision == "corrected":
        text = f"corrected to {chosen} (the prediction was {proposed})"
    elif outcome.decision == "accepted":
        text = f"accepted {proposed}" + (f" as {chosen}" if outcome.value and outcome.value != outcome.proposed else "")
    elif outcome.decision == "rejected":
        text = f"rejected {proposed}"
    else:
        text = f"undone: the decision on {proposed} is taken back; the prediction awaits review again"
    out["confirmation"] = f"{text} · {names[outcome.artifact]}, {outcome.task}" + (
        "" if outcome.recorded else " (recorded before)")
    return out


def accept_selection(review: ReviewApp, reviewer: Reviewer, filters: dict, expected) -> BulkOutcome:
    try:
        expected = int(expected)
    except (TypeError, ValueError):
        raise ReviewError("bulk acceptance needs the confirmed count ('expected'), from the preview") from None
    total, proposals, _ = review.reader.proposals(review.bulk_limit + 1, **filters)
    if total != expected:
        raise StatementGone(f"the selection changed: it holds {total} predictions now, not {expected}; "
                            "look at it again before accepting; nothing was written")
    if total > review.bulk_limit:
        raise ReviewError(f"{total} predictions are more than one bulk acceptance takes ({review.bulk_limit}, "
                          "[review] bulk_limit): narrow the filter; nothing was written")
    if total == 0:
        raise ReviewError("no prediction awaiting review matches the filter; nothing was written")
    c = review.reader.collection()
    selection = ", ".join(f"{k}={v}" for k, v in filters.items() if v not in ("", None)) or "everything pending"
    undone = review.reader.undone(p.statement for p in proposals)
    return accept_all(review.reader.store, review.reader.graphs, c.groups, reviewer, proposals, selection,
                      undone)


def undo_acceptance(review: ReviewApp, reviewer: Reviewer, batch) -> BulkOutcome:
    if not isinstance(batch, str) or not batch:
        raise ReviewError("which bulk acceptance? give its IRI ('batch', as the acceptance returned it)")
    c = review.reader.collection()
    return undo_batch(review.reader.store, review.reader.graphs, c.tasks, c.groups, reviewer, batch,
                      subject_of=c.subject_of)


def export_history(review: ReviewApp, fmt: str) -> str:
    if fmt == "csv":
        return export.to_csv(review.reader.export_rows())
    return export.to_jsonld(review.reader.store, review.reader.graphs)


def thumbnail_file(review: ReviewApp, artifact: str, n: int, large: bool = False):
    images = review.reader.image_locations(artifact)
    if not 0 <= n < len(images):
        return None
    return review.thumbnails.get(images[n], large=large)
