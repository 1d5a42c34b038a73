"""The review queue: keyset pages of the live predictions and decisions (the index of collection.py),
filtered by task, museum, value, confidence, status and reviewer, and the evidence each row shows."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .. import sparql
from ..pipeline import read_records
from .collection import BadFilter, Collection, CollectionReader, LiveRow, QueueIndex
from .decision_types import UNDONE, Proposal, Recorded
from .words import day, parse_time, when_words

ORDERS = ("uncertainty", "confidence", "artifact", "recent")
STATUSES = ("pending", "decided", "all")
DECIDED_KINDS = ("accepted", "rejected", "corrected")
MAX_OFFSET = 10_000_000
_EVIDENCE_CACHE = 20_000


# ------------------------------------------------------------------ keyset cursors
def encode_cursor(key: Sequence) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, like: Sequence) -> tuple:
    """A cursor from the page, checked against the shape of the order's keys."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadFilter("not a page position this queue made (after/before); start from the first page") from None
    if not isinstance(key, list) or len(key) != len(like) or any(
            not isinstance(k, (int, float) if isinstance(t, float) else str) or isinstance(k, bool)
            for k, t in zip(key, like)):
        raise BadFilter("not a page position of this order (after/before); start from the first page")
    return tuple(float(k) if isinstance(t, float) else k for k, t in zip(key, like))


class QueueReading(CollectionReader):
    """The queue: filtered, ordered keyset pages of the index, the current state of statements, the
    pending predictions of a bulk acceptance, and each row's evidence."""

    def queue(self, task: str = "", museum: str = "", value: str = "", min_confidence=0.0, max_confidence=1.0,
              status: str = "pending", order: str = "", limit: int = 50, offset: int = 0, after: str = "",
              before: str = "", reviewer: str = "", since: str = "", until: str = "", decision: str = "") -> dict:
        c = self.collection()
        index = self.index()
        if status not in STATUSES:
            raise BadFilter(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
        order = order or ("recent" if status == "decided" else "uncertainty")
        if order not in ORDERS:
            raise BadFilter(f"unknown order {order!r} (one of: {', '.join(ORDERS)})")
        if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise BadFilter(f"offset must be a whole number from 0 to {MAX_OFFSET:,}")
        items, keys, reverse = self._sorted(c, index, order, task, museum, value, min_confidence, max_confidence,
                                            status, reviewer, since, until, decision)
        total = len(items)
        if after or before:
            cursor = decode_cursor(after or before, keys[0] if keys else _key_shape(order))
            if after:
                position = _count_until(keys, cursor, reverse, inclusive=True)
                page = items[position:position + limit]
            else:
                end = _count_until(keys, cursor, reverse, inclusive=False)
                position = max(0, end - limit)
                page = items[position:end]
        else:
            position = offset
            page = items[offset:offset + limit]
        key = _order_key(order)[0]
        out = [self._item(c, index, row) for row in page]
        self._add_labels(c, out)
        return {"total": total, "offset": position, "limit": limit, "order": order, "status": status,
                "items": out,
                "next": encode_cursor(key(page[-1])) if page and position + len(page) < total else None,
                "previous": encode_cursor(key(page[0])) if page and position > 0 else None}

    def _sorted(self, c: Collection, index: QueueIndex, order: str, *filters) -> tuple[list, list, bool]:
        """The rows a filter selects in an order, with their keys; the last few are kept until the
        index changes (the pages of one list, and the page that follows a decision on another)."""
        signature = (order, index.live_key, index.reviews_key, *map(str, filters))
        with self._index_lock:
            found = self._sorted_cache.get(signature)
            if found is not None:
                self._sorted_cache.move_to_end(signature)
                return found
        items = self._select(c, index, *filters)
        key, reverse = _order_key(order)
        keyed = sorted(((key(i), i) for i in items), key=lambda pair: pair[0], reverse=reverse)
        found = ([i for _, i in keyed], [k for k, _ in keyed], reverse)
        with self._index_lock:
            self._sorted_cache[signature] = found
            while len(self._sorted_cache) > 8:
                self._sorted_cache.popitem(last=False)
        return found

    def _select(self, c: Collection, index: QueueIndex, task: str = "", museum: str = "", value: str = "",
                min_confidence=0.0, max_confidence=1.0, status: str = "pending", reviewer: str = "", since: str = "",
                until: str = "", decision: str = "") -> list:
        """(row, review) pairs matching the filters; row is a LiveRow, or a Recorded for a decided
        statement a sync has removed since (an accepted gap is closed)."""
        tasks = {c.task(task).name} if task else {t.name for t in c.tasks if t.name in c.labels}
        for what, v in (("museum", museum), ("value", value)):
            if v and (not sparql.iri_is_valid(v) or ":" not in v):
                raise BadFilter(f"{what}: not an IRI: {v!r}")
        lo, hi = _confidence(min_confidence, "min_confidence"), _confidence(max_confidence, "max_confidence")
        if lo > hi:
            raise BadFilter(f"the confidence range is empty (from {_pct(lo)} to {_pct(hi)})")
        if decision and decision not in DECIDED_KINDS:
            raise BadFilter(f"unknown decision {decision!r} (one of: {', '.join(DECIDED_KINDS)})")
        start, end = _day_bound(since, "since"), _day_bound(until, "until")
        decided_filter = bool(reviewer or start or end or decision)

        def review_ok(r: Recorded | None) -> bool:
            if r is None or r.decision == UNDONE:
                return False
            if reviewer and r.reviewer != reviewer:
                return False
            if decision and r.decision != decision:
                return False
            d = day(r.time)
            return (not start or d >= start) and (not end or d <= end)

        out = []
        if status in ("pending", "all"):
            for row in index.live:
                current = index.current.get(row.statement)
                pending = current is None or current.decision == UNDONE
                if status == "pending" and not pending:
                    continue
                if not pending and decided_filter and not review_ok(current):
                    continue
                if pending and decided_filter and status == "all":
                    continue
                if row.task not in tasks or (museum and row.museum != museum) or (value and row.value != value):
                    continue
                conf = row.confidence
                if conf is not None and not lo <= conf <= hi:
                    continue
                out.append((row, None if pending else current))
        if status in ("decided", "all"):
            for st, current in index.current.items():
                if not review_ok(current):
                    continue
                live = index.by_statement.get(st)
                if live is not None:
                    if status == "all":
                        continue  # listed above
                    row = live
                else:
                    t = c.task_by_iri(current.task)
                    record = c.records.get(current.artifact)
                    row = LiveRow(st, current.subject, t.property if t else "", current.proposed, current.confidence,
                                  current.artifact, record.graph if record else "", t.name if t else "")
                if row.task not in tasks or (museum and row.museum != museum) or (value and row.value != value):
                    continue
                if row.confidence is not None and not lo <= row.confidence <= hi:
                    continue
                out.append((row, current))
        return out

    def _item(self, c: Collection, index: QueueIndex, pair) -> dict:
        row, review = pair
        group = c.group_of(row.task, row.value)
        item = {
            "statement": row.statement, "subject": row.subject, "predicate": row.predicate, "task": row.task,
            "value": row.value, "confidence": row.confidence, "artifact": row.artifact, "museum": row.museum,
            "live": row.statement in index.by_statement,
            "group": group.id if group else None, "group_label": group.label if group else None,
            "stand_in": (row.task, row.value) in c.groups.stand_ins,
            "members": list(group.members) if group and (row.task, row.value) in c.groups.stand_ins else [],
            "decision": None, "chosen": None, "reviewer": None, "time": None, "review": None, "batch": None,
        }
        if review is not None:
            item.update(decision=review.decision, chosen=review.chosen, reviewer=review.reviewer, time=review.time,
                        review=review.review, batch=review.batch, when=when_words(review.time))
        else:
            undone = index.current.get(row.statement)
            if undone is not None:
                item["review"] = undone.review  # an undo: the next decision continues its history
        return item

    def _add_labels(self, c: Collection, items: list[dict]) -> None:
        names = self.labels([i["value"] for i in items] + [i["chosen"] for i in items if i["chosen"]]
                            + [i["artifact"] for i in items] + [m for i in items for m in i["members"]])
        evidence = self.evidence([(i["artifact"], i["museum"]) for i in items])
        for item in items:
            concept_label = names[item["value"]]
            # A group's representative is shown as the group: 'other technique', not 'satin'.
            item["value_label"] = item["group_label"] or concept_label
            item["concept_label"] = concept_label
            item["artifact_label"] = names[item["artifact"]]
            item["chosen_label"] = names[item["chosen"]] if item["chosen"] else None
            item["member_labels"] = [{"concept": m, "label": names[m]} for m in item["members"]]
            item["evidence"] = evidence.get(item["artifact"], {"images": 0, "text": "", "lang": ""})

    def state(self, statements: Sequence[str]) -> dict:
        """The current decision on some statements (what a page shows may be stale)."""
        index = self.index()
        out: dict[str, dict[str, Any]] = {}
        for st in statements:
            r = index.current.get(st)
            if r is None:
                out[st] = {"decision": None, "live": st in index.by_statement}
            else:
                label = self.labels([r.chosen])[r.chosen] if r.chosen else None
                out[st] = {"decision": r.decision, "reviewer": r.reviewer, "time": r.time, "review": r.review,
                           "chosen": r.chosen, "chosen_label": label, "batch": r.batch,
                           "words": r.words(label), "live": st in index.by_statement}
        return out

    def undone(self, statements: Iterable[str]) -> dict[str, Recorded]:
        """The statements among these whose current review is an undo (a new decision revises it)."""
        index = self.index()
        return {st: r for st in statements if (r := index.current.get(st)) is not None and r.decision == UNDONE}

    def proposals(self, limit: int, **filters) -> tuple[int, list[Proposal], list[dict]]:
        """The pending predictions a filter selects (for bulk acceptance), most confident first: the
        count and at most ``limit`` of them, and those left out because their value stands for a
        group of several values (each needs its member named)."""
        c = self.collection()
        index = self.index()
        pairs = self._select(c, index, status="pending", **filters)
        pairs.sort(key=_order_key("confidence")[0])
        out, left_out = [], []
        for row, _ in pairs:
            task = c.task(row.task) if row.task else None
            if task is None:
                continue
            if (row.task, row.value) in c.groups.stand_ins:
                left_out.append({"statement": row.statement, "task": row.task, "value": row.value})
                continue
            out.append(Proposal(row.statement, row.subject, row.predicate, row.value,
                                row.confidence if row.confidence is not None else float("nan"), row.artifact,
                                row.museum, task))
        return len(out), out[:limit], left_out

    # -- evidence for the queue -------------------------------------------------
    def evidence(self, artifacts: Sequence[tuple[str, str]]) -> dict[str, dict]:
        """Per artifact: its number of images, the first line of a description and its language."""
        todo: dict[str, list[str]] = defaultdict(list)
        for artifact, graph in artifacts:
            if artifact not in self._evidence and graph:
                todo[graph].append(artifact)
        if todo:
            inputs = self.collection().inputs
            wanted = [(iri, graph) for graph, iris in todo.items() for iri in sorted(set(iris))]
            # Texts and images only: no task's values, no literals.
            for record in read_records(self.store, self.settings, inputs, wanted, tasks=[], literals=False,
                                       curated=False):
                text, lang = _first_line(record.texts)
                self._evidence[record.iri] = {"images": len(record.images), "text": text, "lang": lang,
                                              "locations": list(record.images)}
        while len(self._evidence) > _EVIDENCE_CACHE:
            self._evidence.popitem(last=False)
        return {a: {k: v for k, v in self._evidence[a].items() if k != "locations"}
                for a, _ in artifacts if a in self._evidence}


def _order_key(order: str):
    """(key of a (row, review) pair, descending) for an order."""
    def conf(row) -> float:
        return row.confidence if row.confidence is not None else 2.0

    if order == "uncertainty":
        return (lambda p: (conf(p[0]), p[0].artifact, p[0].predicate, p[0].statement)), False
    if order == "confidence":
        return (lambda p: (-conf(p[0]), p[0].artifact, p[0].predicate, p[0].statement)), False
    if order == "artifact":
        return (lambda p: (p[0].artifact, p[0].predicate, p[0].statement)), False
    # recent: the newest decision first (pending rows, which have none, last)
    return (lambda p: (p[1].time if p[1] is not None else "", p[0].statement)), True


def _key_shape(order: str) -> tuple:
    return {"uncertainty": (0.0, "", "", ""), "confidence": (0.0, "", "", ""), "artifact": ("", "", ""),
            "recent": ("", "")}[order]


def _count_until(keys: Sequence[tuple], cursor: tuple, reverse: bool, inclusive: bool) -> int:
    """How many of the (sorted) keys come before the cursor in the order, the cursor's own key
    included when ``inclusive`` (binary search)."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        k = keys[mid]
        before = (k > cursor if reverse else k < cursor) or (inclusive and k == cursor)
        if before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _first_line(texts: Sequence[tuple[str, str]], width: int = 160) -> tuple[str, str]:
    for text, lang in texts:
        line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
        if line:
            return (line if len(line) <= width else line[:width - 1].rstrip() + "…"), lang
    return "", ""


def _confidence(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadFilter(f"{what} must be a number in [0, 1], not {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise BadFilter(f"{what} must be a number in [0, 1], not {value!r}")
    return v


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def _day_bound(text: str, what: str) -> str:
    if not text:
        return ""
    when = parse_time(text if "T" in text else text + "T00:00:00Z")
    if when is None:
        raise BadFilter(f"{what} must be a date (YYYY-MM-DD), not {text!r}")
    return when.strftime("%Y-%m-%d")
