"""The review web application (Starlette): server-rendered pages, a JSON API, one small script.

Pages: /login, /queue, /artifacts/{iri}, /bulk; the API beside them: GET /api/session,
/api/queue, /api/artifacts/{iri}, /api/concepts, POST /api/reviews, /api/bulk-accept (README,
"Review").  Access: users of the users file, by session cookie (the login page) or HTTP basic
auth; ``readonly`` users look, ``reviewer`` users decide; every POST needs the CSRF token
(the session's, or for basic auth the one GET /api/session returns); nothing changes
through GET.  Every failure is one clear message -- on the page and as ``{"error": ...}``
with an HTTP status in the API -- and a decision is written whole or not at all
(decisions.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..config import Settings
from ..errors import KgenrichError, StoreError
from ..store import Store
from . import decisions
from .decisions import DECISIONS, Reviewer, ReviewError
from .reading import ORDERS, STATUSES, Reader
from .thumbnails import Thumbnails
from .users import User, UsersFile, secret_key, users_file

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
DEFAULT_PAGE_SIZE = 50
DEFAULT_BULK_LIMIT = 2000


class Unauthorized(ReviewError):
    status = 401


class Forbidden(ReviewError):
    status = 403


def _status(exc: Exception) -> int:
    if isinstance(exc, StoreError):
        return 503
    return int(getattr(exc, "status", 400))


def _message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, StoreError):
        return f"the store cannot answer: {text}; nothing was written"
    return text


class ReviewApp:
    """Everything a request needs: the reader (store + settings), users, secret, templates."""

    def __init__(self, store: Store, settings: Settings, users: Optional[UsersFile] = None):
        self.settings = settings
        self.reader = Reader(store, settings)
        self.users = users or users_file(settings)
        self.secret = secret_key(settings)
        section = settings.section("review")
        self.page_size = int(section.get("page_size", DEFAULT_PAGE_SIZE))
        self.bulk_limit = int(section.get("bulk_limit", DEFAULT_BULK_LIMIT))
        self.anonymous_read = bool(section.get("anonymous_read", False))
        self.thumbnails = Thumbnails(settings)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["artifact_url"] = lambda iri: "/artifacts/" + quote(iri, safe="")
        self.templates.env.filters["pct"] = lambda x: "–" if x is None or (isinstance(x, float) and math.isnan(x)) \
            else f"{100 * x:.0f}%"
        self._basic_cache: dict[str, str] = {}

    # ------------------------------------------------------------------ who is asking
    def principal(self, request: Request) -> tuple[Optional[User], str]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed basic authorization header") from None
            user = self.users.get(name)
            key = hashlib.sha256(header.encode()).hexdigest()
            # scrypt is slow on purpose: remember a verified header (for the hash it was checked against).
            if user is not None and self._basic_cache.get(key) == user.password:
                return user, "basic"
            user = self.users.authenticate(name, password)
            if user is None:
                raise Unauthorized("wrong user name or password")
            self._basic_cache[key] = user.password
            return user, "basic"
        name = request.session.get("user")
        if name:
            user = self.users.get(name)
            # A changed password (or a removed user) ends the sessions opened with the old one.
            if user is not None and hmac.compare_digest(request.session.get("pw", ""), _pw_tag(user)):
                return user, "session"
            request.session.clear()
        return None, ""

    def csrf_token(self, request: Request, user: Optional[User], how: str) -> str:
        if how == "basic" and user is not None:
            return hmac.new(self.secret.encode(), f"csrf\x1f{user.name}\x1f{user.password}".encode(),
                            hashlib.sha256).hexdigest()
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def check_csrf(self, request: Request, user: Optional[User], how: str, submitted: Optional[str]) -> None:
        expected = self.csrf_token(request, user, how) if (how == "basic" or request.session.get("csrf")) else ""
        if not submitted or not expected or not hmac.compare_digest(str(submitted), expected):
            raise Forbidden("missing or wrong CSRF token: the request was refused and nothing was written "
                            "(reload the page; API clients send the token of GET /api/session as X-CSRF-Token)")

    def reader_user(self, request: Request, api: bool) -> tuple[Optional[User], str]:
        user, how = self.principal(request)
        if user is None and not self.anonymous_read:
            raise Unauthorized("log in to see the review queue")
        return user, how

    def writer(self, request: Request, how_user: tuple[Optional[User], str]) -> Reviewer:
        user, _ = how_user
        if user is None:
            raise Unauthorized("anonymous users cannot record decisions: log in as a reviewer; nothing was written")
        if not user.can_decide:
            raise Forbidden(f"user {user.name} has the read-only role and cannot record decisions; nothing was written")
        return Reviewer(user.name)

    # ------------------------------------------------------------------ rendering
    def page(self, request: Request, name: str, context: dict, status: int = 200) -> Response:
        user, how = self.principal(request)
        flash = request.session.pop("flash", None)
        ctx = {"user": user, "csrf": self.csrf_token(request, user, how if how == "basic" else "session"),
               "flash": flash, "decisions": DECISIONS, **context}
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def error_page(self, request: Request, exc: Exception) -> Response:
        status = _status(exc)
        if status == 401 and request.method == "GET":
            return RedirectResponse("/login?next=" + quote(request.url.path + ("?" + request.url.query
                                                                                if request.url.query else "")), 303)
        return self.page(request, "error.html", {"message": _message(exc), "status": status}, status=status)


def _pw_tag(user: User) -> str:
    return hashlib.sha256(user.password.encode()).hexdigest()[:32]


def _json_error(exc: Exception) -> JSONResponse:
    status = _status(exc)
    headers = {"WWW-Authenticate": 'Basic realm="kgenrich review"'} if status == 401 else None
    return JSONResponse({"error": _message(exc), "status": status}, status_code=status, headers=headers)


def _safe_next(target: Optional[str]) -> str:
    # Only paths of this site: never redirect elsewhere.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def _filters(params) -> dict[str, Any]:
    return {
        "task": params.get("task", "") or "",
        "museum": params.get("museum", "") or "",
        "value": params.get("value", "") or "",
        "min_confidence": params.get("min", "0") or "0",
        "max_confidence": params.get("max", "1") or "1",
    }


def _page_number(params) -> int:
    try:
        return max(1, int(params.get("page", "1")))
    except ValueError:
        return 1


def create_app(store: Store, settings: Settings, users: Optional[UsersFile] = None) -> Starlette:
    review = ReviewApp(store, settings, users)

    def guarded(fn: Callable, api: bool):
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except KgenrichError as exc:
                return _json_error(exc) if api else review.error_page(request, exc)
            except Exception as exc:  # a bug: one line for the user, the traceback in the server log
                log.exception("unexpected failure on %s %s", request.method, request.url.path)
                wrapped = KgenrichError(f"unexpected failure ({type(exc).__name__}); see the server log")
                wrapped.status = 500
                return _json_error(wrapped) if api else review.error_page(request, wrapped)
        return endpoint

    # ------------------------------------------------------------------ pages
    async def login_form(request: Request) -> Response:
        return review.page(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})

    async def login(request: Request) -> Response:
        form = await request.form()
        review.check_csrf(request, None, "session", form.get("csrf_token"))
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        user = await run_in_threadpool(review.users.authenticate, name, password)
        target = _safe_next(str(form.get("next", "")))
        if user is None:
            return review.page(request, "login.html", {"next": target, "error": "wrong user name or password"},
                               status=401)
        request.session.clear()  # a fresh session (and CSRF token) after logging in
        request.session.update({"user": user.name, "pw": _pw_tag(user), "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse(target, 303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        user, how = review.principal(request)
        review.check_csrf(request, user, "session", form.get("csrf_token"))
        request.session.clear()
        return RedirectResponse("/login", 303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/queue", 303)

    async def queue_page(request: Request) -> Response:
        review.reader_user(request, api=False)
        params = request.query_params
        filters = _filters(params)
        status = params.get("status", "pending") or "pending"
        order = params.get("order", "uncertainty") or "uncertainty"
        page_no = _page_number(params)
        data = await run_in_threadpool(review.reader.queue, status=status, order=order, limit=review.page_size,
                                       offset=(page_no - 1) * review.page_size, **filters)
        collection = review.reader.collection()
        groups = [(t.name, g.concept, g.label) for t in collection.tasks if t.name in collection.labels
                  for g in collection.labels[t.name].groups]
        pages = max(1, math.ceil(data["total"] / review.page_size))
        query = {k: v for k, v in {"task": filters["task"], "museum": filters["museum"], "value": filters["value"],
                                   "min": params.get("min", ""), "max": params.get("max", ""), "status": status,
                                   "order": order}.items() if v}
        return review.page(request, "queue.html", {
            "data": data, "filters": filters, "status": status, "order": order, "page_no": page_no, "pages": pages,
            "tasks": [t.name for t in collection.tasks if t.name in collection.labels], "museums": collection.museums,
            "groups": groups, "orders": list(ORDERS), "statuses": list(STATUSES),
            "query": urlencode(query), "bulk_query": urlencode({k: v for k, v in query.items()
                                                                if k in ("task", "museum", "value", "min", "max")}),
            "here": request.url.path + ("?" + request.url.query if request.url.query else "")})

    async def artifact_page(request: Request) -> Response:
        review.reader_user(request, api=False)
        iri = request.path_params["iri"]
        data = await run_in_threadpool(review.reader.artifact, iri)
        return review.page(request, "artifact.html", {"a": data, "here": request.url.path})

    async def review_form(request: Request) -> Response:
        form = await request.form()
        who = review.principal(request)
        reviewer = review.writer(request, who)
        review.check_csrf(request, who[0], who[1], form.get("csrf_token"))
        target = _safe_next(str(form.get("next", "")))
        try:
            outcome = await run_in_threadpool(_decide, review, reviewer, str(form.get("statement", "")),
                                              str(form.get("decision", "")), str(form.get("value", "")) or None)
            request.session["flash"] = {"kind": "ok", "text": f"{outcome.decision}: {outcome.statement}"}
        except ReviewError as exc:
            request.session["flash"] = {"kind": "error", "text": _message(exc)}
        return RedirectResponse(target, 303)

    async def bulk_preview(request: Request) -> Response:
        user, _ = review.reader_user(request, api=False)
        params = request.query_params
        filters = _filters(params)
        total, proposals = await run_in_threadpool(review.reader.proposals, 10, **filters)
        names = review.reader.labels([p.object for p in proposals] + [p.artifact for p in proposals])
        return review.page(request, "bulk.html", {"filters": filters, "total": total, "sample": proposals,
                                                  "names": names, "limit": review.bulk_limit,
                                                  "params": params})

    async def bulk_apply(request: Request) -> Response:
        form = await request.form()
        who = review.principal(request)
        reviewer = review.writer(request, who)
        review.check_csrf(request, who[0], who[1], form.get("csrf_token"))
        try:
            result = await run_in_threadpool(_bulk, review, reviewer, _filters(form), form.get("expected"))
            request.session["flash"] = {"kind": "ok", "text": f"accepted {result.accepted} predictions"
                                        + (f"; {len(result.skipped)} skipped (decided or replaced meanwhile)"
                                           if result.skipped else "")}
        except ReviewError as exc:
            request.session["flash"] = {"kind": "error", "text": _message(exc)}
        query = {k: v for k, v in {"task": form.get("task", ""), "museum": form.get("museum", ""),
                                   "value": form.get("value", "")}.items() if v}
        return RedirectResponse("/queue?" + urlencode(query), 303)

    async def thumbnail(request: Request) -> Response:
        review.reader_user(request, api=False)
        artifact = request.query_params.get("artifact", "")
        try:
            n = int(request.path_params["n"])
        except ValueError:
            n = -1
        path = await run_in_threadpool(_thumbnail, review, artifact, n)
        if path is None:
            return Response("image not available", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    # ------------------------------------------------------------------ API
    async def api_session(request: Request) -> Response:
        user, how = review.principal(request)
        if user is None:
            raise Unauthorized("not logged in (send HTTP basic auth, or log in on /login)")
        return JSONResponse({"user": user.name, "role": user.role, "can_decide": user.can_decide,
                             "csrf_token": review.csrf_token(request, user, how)})

    async def api_queue(request: Request) -> Response:
        review.reader_user(request, api=True)
        params = request.query_params
        try:
            limit = min(500, max(1, int(params.get("limit", review.page_size))))
            offset = max(0, int(params.get("offset", "0")))
        except ValueError:
            raise ReviewError("limit and offset must be whole numbers") from None
        data = await run_in_threadpool(review.reader.queue, status=params.get("status", "pending"),
                                       order=params.get("order", "uncertainty"), limit=limit, offset=offset,
                                       **_filters(params))
        return JSONResponse(data)

    async def api_artifact(request: Request) -> Response:
        review.reader_user(request, api=True)
        data = await run_in_threadpool(review.reader.artifact, request.path_params["iri"])
        return JSONResponse(data)

    async def api_concepts(request: Request) -> Response:
        review.reader_user(request, api=True)
        params = request.query_params
        found = await run_in_threadpool(review.reader.search, params.get("task", ""), params.get("q", ""))
        return JSONResponse({"task": params.get("task", ""), "q": params.get("q", ""), "concepts": found})

    async def api_reviews(request: Request) -> Response:
        who = review.principal(request)
        reviewer = review.writer(request, who)
        review.check_csrf(request, who[0], who[1], request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        outcome = await run_in_threadpool(_decide, review, reviewer, body.get("statement"), body.get("decision"),
                                          body.get("value"))
        return JSONResponse(outcome.to_dict(), status_code=201 if outcome.recorded else 200)

    async def api_bulk(request: Request) -> Response:
        who = review.principal(request)
        reviewer = review.writer(request, who)
        review.check_csrf(request, who[0], who[1], request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        filters = _filters({k: str(v) for k, v in body.items() if v is not None})
        result = await run_in_threadpool(_bulk, review, reviewer, filters, body.get("expected"))
        return JSONResponse(result.to_dict())

    routes = [
        Route("/", guarded(home, False)),
        Route("/login", guarded(login_form, False), methods=["GET"]),
        Route("/login", guarded(login, False), methods=["POST"]),
        Route("/logout", guarded(logout, False), methods=["POST"]),
        Route("/queue", guarded(queue_page, False), methods=["GET"]),
        Route("/artifacts/{iri:path}", guarded(artifact_page, False), methods=["GET"]),
        Route("/review", guarded(review_form, False), methods=["POST"]),
        Route("/bulk", guarded(bulk_preview, False), methods=["GET"]),
        Route("/bulk", guarded(bulk_apply, False), methods=["POST"]),
        Route("/thumbnails/{n}", guarded(thumbnail, False), methods=["GET"]),
        Route("/api/session", guarded(api_session, True), methods=["GET"]),
        Route("/api/queue", guarded(api_queue, True), methods=["GET"]),
        Route("/api/artifacts/{iri:path}", guarded(api_artifact, True), methods=["GET"]),
        Route("/api/concepts", guarded(api_concepts, True), methods=["GET"]),
        Route("/api/reviews", guarded(api_reviews, True), methods=["POST"]),
        Route("/api/bulk-accept", guarded(api_bulk, True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    # SameSite=Strict: the browser never sends the session cookie with a request another site starts.
    middleware = [Middleware(SessionMiddleware, secret_key=review.secret, session_cookie="kgenrich_review",
                             same_site="strict", max_age=12 * 3600)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.review = review
    return app


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise ReviewError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ReviewError("the request body must be a JSON object")
    return body


def _decide(review: ReviewApp, reviewer: Reviewer, statement, decision, value) -> decisions.Outcome:
    if not isinstance(statement, str) or not statement:
        raise ReviewError("which prediction? give its statement IRI")
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r} (one of: {', '.join(DECISIONS)})")
    c = review.reader.collection()
    return decisions.decide(review.reader.store, review.reader.graphs, c.tasks, c.labels, c.classes, reviewer,
                            statement, decision, value if isinstance(value, str) and value else None)


def _bulk(review: ReviewApp, reviewer: Reviewer, filters: dict, expected) -> decisions.BulkOutcome:
    try:
        expected = int(expected)
    except (TypeError, ValueError):
        raise ReviewError("bulk acceptance needs the confirmed count ('expected'), from the preview") from None
    total, proposals = review.reader.proposals(review.bulk_limit + 1, **filters)
    if total != expected:
        raise decisions.StatementGone(f"the selection changed: it holds {total} predictions now, not {expected}; "
                                      "look at it again before accepting; nothing was written")
    if total > review.bulk_limit:
        raise ReviewError(f"{total} predictions are more than one bulk acceptance takes ({review.bulk_limit}, "
                          "[review] bulk_limit): narrow the filter; nothing was written")
    if total == 0:
        raise ReviewError("no prediction awaiting review matches the filter; nothing was written")
    c = review.reader.collection()
    return decisions.accept_all(review.reader.store, review.reader.graphs, c.labels, reviewer, proposals)


def _thumbnail(review: ReviewApp, artifact: str, n: int):
    images = review.reader.image_locations(artifact)
    if not 0 <= n < len(images):
        return None
    return review.thumbnails.get(images[n])
