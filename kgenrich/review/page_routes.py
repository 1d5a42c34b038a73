"""The server-rendered pages: the queue, an artifact, the decision form, bulk acceptance (preview,
apply, undo), the statistics and the thumbnails."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from .actions import accept_selection, record_decision, thumbnail_file, undo_acceptance
from .collection import BadFilter
from .decision_types import ReviewError
from .query_params import decided_filters, filters_of, queue_args, queue_query, whole_number
from .queue import DECIDED_KINDS, MAX_OFFSET, ORDERS, STATUSES
from .web import (
    ReviewApp,
    error_message,
    form_of,
    guarded,
    safe_next,
)

MAX_PAGE = 1_000_000


async def home(review: ReviewApp, request: Request) -> Response:
    return RedirectResponse("/queue", 303)


async def queue_page(review: ReviewApp, request: Request) -> Response:
    user = review.reader_user(request)
    params = request.query_params
    status = params.get("status", "pending") or "pending"
    c = await run_in_threadpool(review.reader.collection)
    error, data, filters = None, None, None
    page_no = 1
    try:
        filters = filters_of(params)
        page_no = whole_number(params, "page", 1, 1, MAX_PAGE)
        args = queue_args(params, status)
        data = await run_in_threadpool(review.reader.queue, limit=review.page_size,
                                       offset=min(MAX_OFFSET, (page_no - 1) * review.page_size), **args)
    except BadFilter as exc:
        error = error_message(exc)
    filters = filters or {"task": params.get("task", ""), "museum": params.get("museum", ""),
                          "value": params.get("value", ""), "min_confidence": 0, "max_confidence": 1}
    order = (data or {}).get("order") or params.get("order", "") or ""
    decided = decided_filters(params)
    query = queue_query(filters, params, status, params.get("order", ""), decided)
    tasks = [t.name for t in c.tasks if t.name in c.labels]
    groups = [(t, [(g.concept, g.label) for g in c.labels[t].groups]) for t in tasks
              if not filters["task"] or filters["task"] == t]
    items = (data or {}).get("items", [])
    for item in items:
        item["may_revise"] = review.may_revise(user, item["reviewer"])
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    return review.page(request, "queue.html", {
        "data": data or {"total": 0, "items": [], "offset": 0}, "error": error, "filters": filters,
        "status": status, "order": order, "tasks": tasks, "museums": c.museums, "groups": groups,
        "orders": list(ORDERS), "statuses": list(STATUSES), "kinds": DECIDED_KINDS, "decided": decided,
        "min_pct": params.get("min_pct") or (f"{100 * float(filters['min_confidence']):g}"
                                             if not error and float(filters["min_confidence"]) > 0 else ""),
        "max_pct": params.get("max_pct") or (f"{100 * float(filters['max_confidence']):g}"
                                             if not error and float(filters["max_confidence"]) < 1 else ""),
        "query": urlencode(query), "page_no": page_no,
        "bulk_query": urlencode({k: v for k, v in query.items()
                                 if k in ("task", "museum", "value", "min", "max", "min_pct", "max_pct")}),
        "here": here}, status=400 if error else 200)

async def artifact_page(review: ReviewApp, request: Request) -> Response:
    user = review.reader_user(request)
    data = await run_in_threadpool(review.reader.artifact, request.path_params["iri"])
    for t in data["tasks"]:
        for p in t["predictions"]:
            p["may_revise"] = review.may_revise(user, p["reviewer"])
        for h in t["history"]:
            h["may_revise"] = h["current"] and h["decision"] != "undone" and review.may_revise(user, h["reviewer"])
    return review.page(request, "artifact.html", {"a": data, "here": request.url.path})

async def review_form(review: ReviewApp, request: Request) -> Response:
    form = await form_of(request)
    reviewer = review.writer(request)
    review.check_csrf(request, form.get("csrf_token"))
    target = safe_next(str(form.get("next", "")))
    decision = str(form.get("decision", ""))
    # The form carries a group's member choice beside every button; only an acceptance uses it.
    value = str(form.get("value", "")) or None if decision in ("accepted", "corrected") else None
    try:
        outcome = await run_in_threadpool(record_decision, review, reviewer, str(form.get("statement", "")),
                                          decision, value, str(form.get("revises", "")) or None)
        request.session["flash"] = {"kind": "ok", "text": outcome["confirmation"]}
    except ReviewError as exc:
        request.session["flash"] = {"kind": "error", "text": error_message(exc)}
    return RedirectResponse(target, 303)

async def bulk_preview(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    params = request.query_params
    filters = filters_of(params)
    total, proposals, left_out = await run_in_threadpool(review.reader.proposals, 10, **filters)
    names = review.reader.labels([p.object for p in proposals] + [p.artifact for p in proposals]
                                 + ([filters["value"]] if filters["value"] else []))
    c = review.reader.collection()
    for p in proposals:
        group = c.group_of(p.task.name, p.object)
        names[p.object] = group.label if group else names[p.object]
    return review.page(request, "bulk.html", {
        "filters": filters, "total": total, "sample": proposals, "names": names, "limit": review.bulk_limit,
        "left_out": len(left_out), "min_pct": f"{100 * float(filters['min_confidence']):g}",
        "max_pct": f"{100 * float(filters['max_confidence']):g}"})

async def bulk_apply(review: ReviewApp, request: Request) -> Response:
    form = await form_of(request)
    reviewer = review.writer(request)
    review.check_csrf(request, form.get("csrf_token"))
    filters = filters_of(form)
    try:
        result = await run_in_threadpool(accept_selection, review, reviewer, filters, form.get("expected"))
        text = f"accepted {result.accepted} prediction{'' if result.accepted == 1 else 's'}"
        if result.skipped:
            text += f"; {len(result.skipped)} skipped (decided or replaced meanwhile)"
        request.session["flash"] = {"kind": "ok", "text": text + ". This can be undone as one step.",
                                    "undo_batch": result.batch, "undo_count": result.accepted}
    except ReviewError as exc:
        request.session["flash"] = {"kind": "error", "text": error_message(exc)}
    query = queue_query(filters, form, "pending", "", {})
    return RedirectResponse("/queue" + ("?" + urlencode(query) if query else ""), 303)

async def bulk_undo(review: ReviewApp, request: Request) -> Response:
    form = await form_of(request)
    reviewer = review.writer(request)
    review.check_csrf(request, form.get("csrf_token"))
    try:
        result = await run_in_threadpool(undo_acceptance, review, reviewer, str(form.get("batch", "")))
        text = f"undone: {result.undone} acceptance{'' if result.undone == 1 else 's'} taken back; they await " \
               "review again"
        if result.skipped:
            text += f" ({len(result.skipped)} left as they are: changed since)"
        request.session["flash"] = {"kind": "ok", "text": text}
    except ReviewError as exc:
        request.session["flash"] = {"kind": "error", "text": error_message(exc)}
    return RedirectResponse(safe_next(str(form.get("next", ""))), 303)

async def stats_page(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    data = await run_in_threadpool(review.reader.stats)
    return review.page(request, "stats.html", {"s": data})

async def thumbnail(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    artifact = request.query_params.get("artifact", "")
    large = request.query_params.get("size", "") == "large"
    try:
        n = int(request.path_params["n"])
    except ValueError:
        n = -1
    path = await run_in_threadpool(thumbnail_file, review, artifact, n, large)
    if path is None:
        return Response("image not available", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def page_routes(review: ReviewApp) -> list[Route]:
    return [
        Route("/", guarded(review, home, False)),
        Route("/queue", guarded(review, queue_page, False), methods=["GET"]),
        Route("/artifacts/{iri:path}", guarded(review, artifact_page, False), methods=["GET"]),
        Route("/review", guarded(review, review_form, False), methods=["POST"]),
        Route("/bulk", guarded(review, bulk_preview, False), methods=["GET"]),
        Route("/bulk", guarded(review, bulk_apply, False), methods=["POST"]),
        Route("/bulk/undo", guarded(review, bulk_undo, False), methods=["POST"]),
        Route("/stats", guarded(review, stats_page, False), methods=["GET"]),
        Route("/thumbnails/{n}", guarded(review, thumbnail, False), methods=["GET"]),
    ]
