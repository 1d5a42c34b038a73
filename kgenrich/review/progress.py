"""Progress of the review (per task, museum graph, reviewer and day) and the history as export rows."""

from __future__ import annotations

from collections import Counter, defaultdict

from .queue import QueueReading
from .words import day, when_words


class ProgressReading(QueueReading):
    """Progress statistics and the review history for export."""

    def stats(self) -> dict:
        """Progress per task and museum graph, per reviewer and per day."""
        c = self.collection()
        index = self.index()
        kinds = ("pending", "accepted", "corrected", "rejected")
        by_task: dict[str, Counter] = defaultdict(Counter)
        by_museum: dict[str, Counter] = defaultdict(Counter)
        by_pair: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for row, review in self._select(c, index, "", "", "", 0.0, 1.0, "all"):
            kind = review.decision if review is not None else "pending"
            by_task[row.task][kind] += 1
            by_museum[row.museum][kind] += 1
            by_pair[(row.task, row.museum)][kind] += 1
        by_reviewer: dict[str, Counter] = defaultdict(Counter)
        by_day: dict[str, Counter] = defaultdict(Counter)
        last: dict[str, str] = {}
        for r in index.reviews:
            by_reviewer[r.reviewer][r.decision] += 1
            by_day[day(r.time)][r.decision] += 1
            last[r.reviewer] = max(last.get(r.reviewer, ""), r.time)
        totals: Counter = Counter()
        for counts in by_task.values():
            totals.update(counts)

        def counted(counts: Counter, **key) -> dict:
            return {**key, **{k: counts.get(k, 0) for k in kinds}}

        acts = ("accepted", "corrected", "rejected", "undone")
        return {
            "totals": {**{k: totals.get(k, 0) for k in kinds}, "reviews": len(index.reviews)},
            "by_task": [counted(by_task[t], task=t) for t in sorted(by_task)],
            "by_museum": [counted(by_museum[m], museum=m) for m in sorted(by_museum)],
            "by_task_museum": [counted(by_pair[k], task=k[0], museum=k[1]) for k in sorted(by_pair)],
            "by_reviewer": [{"reviewer": name, **{k: by_reviewer[name].get(k, 0) for k in acts},
                             "last": last[name], "last_words": when_words(last[name])} for name in sorted(by_reviewer)],
            "by_day": [{"day": d, **{k: by_day[d].get(k, 0) for k in acts}} for d in sorted(by_day)],
        }

    def export_rows(self) -> list[dict]:
        """Every review (the whole history, revised ones too), oldest first, with labels."""
        c = self.collection()
        index = self.index()
        reviews = sorted(index.reviews, key=lambda r: (r.time, r.review))
        revised_by = {r.revises: r.review for r in index.reviews if r.revises}
        names = self.labels([r.proposed for r in reviews] + [r.chosen for r in reviews if r.chosen]
                            + [r.artifact for r in reviews])
        out = []
        for r in reviews:
            task = c.task_by_iri(r.task)
            record = c.records.get(r.artifact)
            group = c.group_of(task.name, r.proposed) if task else None
            out.append({"review": r.review, "time": r.time, "reviewer": r.reviewer, "decision": r.decision,
                        "task": task.name if task else r.task, "artifact": r.artifact,
                        "artifact_label": names.get(r.artifact, ""), "museum": record.graph if record else "",
                        "statement": r.statement, "proposed": r.proposed,
                        "proposed_label": group.label if group else names.get(r.proposed, ""),
                        "confidence": "" if r.confidence is None else round(r.confidence, 6),
                        "chosen": r.chosen or "", "chosen_label": names.get(r.chosen, "") if r.chosen else "",
                        "revises": r.revises or "", "revised_by": revised_by.get(r.review, ""),
                        "batch": r.batch or "", "current": index.current.get(r.statement) == r})
        return out
