"""The JSON API (README, "Review"): GET /api/queue, /api/state, /api/artifacts/{iri}, /api/concepts,
/api/stats, /api/export; POST /api/reviews, /api/bulk-accept, /api/bulk-undo."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import export
from .actions import accept_selection, export_history, record_decision, undo_acceptance
from .collection import BadFilter
from .query_params import decided_filters, filters_of, queue_args, whole_number
from .queue import MAX_OFFSET
from .web import (
    ReviewApp,
    guarded,
    json_body,
)

MAX_STATES = 500


async def api_queue(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    params = request.query_params
    limit = whole_number(params, "limit", review.page_size, 1, 500)
    offset = whole_number(params, "offset", 0, 0, MAX_OFFSET)
    status = params.get("status", "pending") or "pending"
    data = await run_in_threadpool(review.reader.queue, limit=limit, offset=offset, **queue_args(params, status))
    return JSONResponse(data)

async def api_state(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    params = request.query_params
    statements = params.getlist("statement")[:MAX_STATES]
    filters = filters_of(params)

    def work():
        states = review.reader.state(statements)
        total = review.reader.queue(limit=0, status=params.get("status", "pending") or "pending",
                                    **filters, **decided_filters(params))["total"]
        return {"states": states, "total": total}

    return JSONResponse(await run_in_threadpool(work))

async def api_artifact(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    data = await run_in_threadpool(review.reader.artifact, request.path_params["iri"])
    return JSONResponse(data)

async def api_concepts(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    params = request.query_params
    found = await run_in_threadpool(review.reader.search, params.get("task", ""), params.get("q", ""))
    return JSONResponse({"task": params.get("task", ""), "q": params.get("q", ""), "concepts": found})

async def api_reviews(review: ReviewApp, request: Request) -> Response:
    reviewer = review.writer(request)
    review.check_csrf(request, request.headers.get("x-csrf-token"))
    body = await json_body(request)
    outcome = await run_in_threadpool(record_decision, review, reviewer, body.get("statement"),
                                      body.get("decision"), body.get("value"), body.get("revises"))
    return JSONResponse(outcome, status_code=201 if outcome["recorded"] else 200)

async def api_bulk(review: ReviewApp, request: Request) -> Response:
    reviewer = review.writer(request)
    review.check_csrf(request, request.headers.get("x-csrf-token"))
    body = await json_body(request)
    filters = filters_of({k: str(v) for k, v in body.items() if v is not None})
    result = await run_in_threadpool(accept_selection, review, reviewer, filters, body.get("expected"))
    return JSONResponse(result.to_dict())

async def api_bulk_undo(review: ReviewApp, request: Request) -> Response:
    reviewer = review.writer(request)
    review.check_csrf(request, request.headers.get("x-csrf-token"))
    body = await json_body(request)
    result = await run_in_threadpool(undo_acceptance, review, reviewer, body.get("batch"))
    return JSONResponse(result.to_dict())

async def api_stats(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    return JSONResponse(await run_in_threadpool(review.reader.stats))

async def api_export(review: ReviewApp, request: Request) -> Response:
    review.reader_user(request)
    fmt = request.query_params.get("format", "csv") or "csv"
    if fmt not in export.FORMATS:
        raise BadFilter(f"unknown export format {fmt!r} (one of: {', '.join(export.FORMATS)})")
    text = await run_in_threadpool(export_history, review, fmt)
    return Response(text, media_type=export.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="kgenrich-reviews.{fmt}"'})


def api_routes(review: ReviewApp) -> list[Route]:
    return [
        Route("/api/queue", guarded(review, api_queue, True), methods=["GET"]),
        Route("/api/state", guarded(review, api_state, True), methods=["GET"]),
        Route("/api/artifacts/{iri:path}", guarded(review, api_artifact, True), methods=["GET"]),
        Route("/api/concepts", guarded(review, api_concepts, True), methods=["GET"]),
        Route("/api/stats", guarded(review, api_stats, True), methods=["GET"]),
        Route("/api/export", guarded(review, api_export, True), methods=["GET"]),
        Route("/api/reviews", guarded(review, api_reviews, True), methods=["POST"]),
        Route("/api/bulk-accept", guarded(review, api_bulk, True), methods=["POST"]),
        Route("/api/bulk-undo", guarded(review, api_bulk_undo, True), methods=["POST"]),
    ]
