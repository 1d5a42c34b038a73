"""The review web application (Starlette): server-rendered pages, a JSON API, one small script.

Pages: /login, /queue, /artifacts/{iri}, /bulk, /stats; the API beside them: GET /api/session,
/api/queue, /api/state, /api/artifacts/{iri}, /api/concepts, /api/stats, /api/export, POST
/api/reviews, /api/bulk-accept, /api/bulk-undo (README, "Review").  Access: users of the users
file, by a server-side session (the login page) or HTTP basic auth; ``readonly`` users look,
``reviewer`` users decide and change or undo their own decisions, ``admin`` users anyone's;
log-ins are throttled per user name and per address (access.py); every POST needs the CSRF
token (the session's, or for basic auth the one GET /api/session returns); nothing changes
through GET.  Every failure is one clear message -- on the page and as ``{"error": ...}`` with
an HTTP status in the API -- and a decision is written whole or not at all (decisions.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
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
from . import decisions, export
from .access import LoginThrottle, Sessions, TooManyAttempts
from .decisions import ALL_DECISIONS, DECISIONS, AlreadyDecided, Reviewer, ReviewError
from .guard import BodyLimit, Hardening
from .reading import DECIDED_KINDS, MAX_OFFSET, MODALITY_WORDS, ORDERS, STATUSES, BadFilter, Reader
from .thumbnails import Thumbnails
from .users import User, UsersFile, secret_key, users_file

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
MAX_PAGE = 1_000_000
MAX_STATES = 500


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


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f} %"


class ReviewApp:
    """Everything a request needs: the reader (store + settings), users, sessions, templates."""

    def __init__(self, store: Store, settings: Settings, users: UsersFile | None = None):
        self.settings = settings
        self.reader = Reader(store, settings)
        self.users = users or users_file(settings)
        self.secret = secret_key(settings)
        section = settings.review
        self.page_size = section.page_size
        self.bulk_limit = section.bulk_limit
        self.anonymous_read = section.anonymous_read
        self.thumbnails = Thumbnails(settings)
        self.throttle = LoginThrottle()
        self.sessions = Sessions()
        self._password_checks: anyio.CapacityLimiter | None = None
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["artifact_url"] = lambda iri: "/artifacts/" + quote(iri, safe="")
        self.templates.env.globals["modality_words"] = MODALITY_WORDS
        self.templates.env.filters["pct"] = _pct
        self._basic_cache: OrderedDict[str, str] = OrderedDict()

    # ------------------------------------------------------------------ who is asking
    async def check_password(self, name: str, password: str, address: str) -> User | None:
        """The user, or None; throttled, and scrypt in at most two worker threads: password checks
        never run on the event loop and never take every worker (pages stay fast under a guessing run)."""
        self.throttle.check(name, address)
        if self._password_checks is None:
            self._password_checks = anyio.CapacityLimiter(2)
        user = await anyio.to_thread.run_sync(self.users.authenticate, name, password,
                                              limiter=self._password_checks)
        if user is None:
            self.throttle.failed(name, address)
        else:
            self.throttle.succeeded(name, address)
        return user

    async def resolve(self, request: Request) -> tuple[User | None, str]:
        """Who sent the request (basic auth, else the session), once per request."""
        if "principal" in request.scope:
            return request.scope["principal"]
        principal: tuple[User | None, str] = (None, "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise Unauthorized("malformed basic authorization header") from None
            user = self.users.get(name)
            key = hashlib.sha256(header.encode()).hexdigest()
            # scrypt is slow on purpose: remember a verified header (for the hash it was checked against).
            if user is None or self._basic_cache.get(key) != user.password:
                user = await self.check_password(name, password, _address(request))
                if user is None:
                    raise Unauthorized("wrong user name or password")
                self._basic_cache[key] = user.password
                while len(self._basic_cache) > 1000:
                    self._basic_cache.popitem(last=False)
            principal = (user, "basic")
        else:
            sid = request.session.get("sid")
            session = self.sessions.get(sid)
            user = self.users.get(session.user) if session else None
            # A changed password (or a removed user) ends the sessions opened with the old one.
            if session is not None and user is not None and hmac.compare_digest(session.password_tag, _pw_tag(user)):
                principal = (user, "session")
            elif sid:
                self.sessions.close(sid)
                request.session.pop("sid", None)
        request.scope["principal"] = principal
        return principal

    def principal(self, request: Request) -> tuple[User | None, str]:
        return request.scope.get("principal", (None, ""))

    def csrf_token(self, request: Request) -> str:
        user, how = self.principal(request)
        if how == "basic" and user is not None:
            return hmac.new(self.secret.encode(), f"csrf\x1f{user.name}\x1f{user.password}".encode(),
                            hashlib.sha256).hexdigest()
        session = self.sessions.get(request.session.get("sid")) if how == "session" else None
        if session is not None:
            return session.csrf
        token = request.session.get("csrf")  # before logging in: the login form's own token
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        user, how = self.principal(request)
        expected = self.csrf_token(request) if (how or request.session.get("csrf")) else ""
        if not submitted or not expected or not hmac.compare_digest(str(submitted), expected):
            raise Forbidden("missing or wrong CSRF token: the request was refused and nothing was written "
                            "(reload the page; API clients send the token of GET /api/session as X-CSRF-Token)")

    def reader_user(self, request: Request) -> User | None:
        user, _ = self.principal(request)
        if user is None and not self.anonymous_read:
            raise Unauthorized("log in to see the review queue")
        return user

    def writer(self, request: Request) -> Reviewer:
        user, _ = self.principal(request)
        if user is None:
            raise Unauthorized("anonymous users cannot record decisions: log in as a reviewer; nothing was written")
        if not user.can_decide:
            raise Forbidden(f"user {user.name} has the read-only role and cannot record decisions; nothing was written")
        return Reviewer(user.name, user.role)

    # ------------------------------------------------------------------ rendering
    def page(self, request: Request, name: str, context: dict, status: int = 200,
             headers: dict | None = None) -> Response:
        user, _ = self.principal(request)
        flash = request.session.pop("flash", None)
        ctx = {"user": user, "csrf": self.csrf_token(request), "flash": flash, "decisions": DECISIONS, **context}
        return self.templates.TemplateResponse(request, name, ctx, status_code=status, headers=headers)

    def error_page(self, request: Request, exc: Exception) -> Response:
        status = _status(exc)
        if status == 401 and request.method == "GET":
            return RedirectResponse("/login?next=" + quote(request.url.path + ("?" + request.url.query
                                                                                if request.url.query else "")), 303)
        return self.page(request, "error.html", {"message": _message(exc), "status": status}, status=status,
                         headers=_retry_after(exc))

    def may_revise(self, user: User | None, reviewer: str | None) -> bool:
        return bool(user and user.can_decide and (user.can_revise_any or user.name == reviewer))


def _pw_tag(user: User) -> str:
    return hashlib.sha256(user.password.encode()).hexdigest()[:32]


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _retry_after(exc: Exception) -> dict | None:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None


def _json_error(exc: Exception) -> JSONResponse:
    status = _status(exc)
    headers = {"WWW-Authenticate": 'Basic realm="kgenrich review"'} if status == 401 else {}
    headers.update(_retry_after(exc) or {})
    body: dict[str, Any] = {"error": _message(exc), "status": status}
    if isinstance(exc, AlreadyDecided) and exc.current is not None:
        c = exc.current
        body["current"] = {"review": c.review, "decision": c.decision, "reviewer": c.reviewer, "time": c.time,
                           "chosen": c.chosen, "words": c.words()}
    return JSONResponse(body, status_code=status, headers=headers)


def _safe_next(target: str | None) -> str:
    # Only paths of this site: never redirect elsewhere.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def _share(params, name: str, pct_name: str, default: str):
    """A confidence bound: ``min``/``max`` as a fraction (the API), ``min_pct``/``max_pct`` in
    percent (the page, which shows percentages)."""
    pct = params.get(pct_name)
    if pct not in (None, ""):
        try:
            value = float(str(pct).strip().rstrip("%").strip())
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 100.0:
            raise BadFilter(f"confidence {'from' if pct_name.startswith('min') else 'to'} must be a percentage "
                            f"from 0 to 100, not {pct!r}")
        return value / 100.0
    return params.get(name, default) or default


def _filters(params) -> dict[str, Any]:
    return {
        "task": params.get("task", "") or "",
        "museum": params.get("museum", "") or "",
        "value": params.get("value", "") or "",
        "min_confidence": _share(params, "min", "min_pct", "0"),
        "max_confidence": _share(params, "max", "max_pct", "1"),
    }


class _Unexpected(KgenrichError):
    """A bug met while answering: the page says so in one line (the traceback is in the server log)."""

    status = 500


def _decided_filters(params) -> dict[str, Any]:
    return {k: params.get(k, "") or "" for k in ("reviewer", "since", "until", "decision")}


def _whole(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadFilter(f"{name} must be a whole number from {low:,} to {high:,}, not {raw!r}")
    return value


def _query_of(filters: dict, params, status: str, order: str, decided: dict) -> dict:
    """The filter part of a queue URL (what paging, bulk acceptance and redirects carry along)."""
    query = {"task": filters["task"], "museum": filters["museum"], "value": filters["value"],
             "min_pct": params.get("min_pct", ""), "max_pct": params.get("max_pct", ""),
             "min": params.get("min", "") if not params.get("min_pct") else "",
             "max": params.get("max", "") if not params.get("max_pct") else "",
             "status": status if status != "pending" else "", "order": order, **decided}
    return {k: v for k, v in query.items() if v}


def create_app(store: Store, settings: Settings, users: UsersFile | None = None) -> Starlette:
    review = ReviewApp(store, settings, users)

    def guarded(fn: Callable, api: bool):
        async def endpoint(request: Request) -> Response:
            try:
                await review.resolve(request)
                return await fn(request)
            except KgenrichError as exc:
                return _json_error(exc) if api else review.error_page(request, exc)
            except Exception as exc:  # a bug: one line for the user, the traceback in the server log
                log.exception("unexpected failure on %s %s", request.method, request.url.path)
                wrapped = _Unexpected(f"unexpected failure ({type(exc).__name__}); see the server log")
                return _json_error(wrapped) if api else review.error_page(request, wrapped)
        return endpoint

    async def form_of(request: Request):
        try:
            return await request.form()
        except KgenrichError:
            raise
        except Exception as exc:  # a malformed multipart body: the client's mistake, said in one line
            raise ReviewError(f"the form cannot be read ({type(exc).__name__}); nothing was written") from None

    # ------------------------------------------------------------------ pages
    async def login_form(request: Request) -> Response:
        return review.page(request, "login.html", {"next": _safe_next(request.query_params.get("next")),
                                                   "username": ""})

    async def login(request: Request) -> Response:
        form = await form_of(request)
        review.check_csrf(request, form.get("csrf_token"))
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")))
        context = {"next": target, "username": name}
        try:
            user = await review.check_password(name, password, _address(request))
        except TooManyAttempts as exc:
            return review.page(request, "login.html", {**context, "error": _message(exc)}, status=429,
                               headers=_retry_after(exc))
        if user is None:
            return review.page(request, "login.html", {**context, "error": "wrong user name or password"},
                               status=401)
        sid, _ = review.sessions.open(user.name, _pw_tag(user))
        request.session.clear()  # a fresh session (and CSRF token) after logging in
        request.session["sid"] = sid
        return RedirectResponse(target, 303)

    async def logout(request: Request) -> Response:
        form = await form_of(request)
        review.check_csrf(request, form.get("csrf_token"))
        review.sessions.close(request.session.get("sid"))  # the session ends here, not only in this browser
        request.session.clear()
        return RedirectResponse("/login", 303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/queue", 303)

    def _queue_args(params, status: str) -> dict:
        args = dict(_filters(params), status=status, order=params.get("order", "") or "",
                    after=params.get("after", "") or "", before=params.get("before", "") or "",
                    **_decided_filters(params))
        return args

    async def queue_page(request: Request) -> Response:
        user = review.reader_user(request)
        params = request.query_params
        status = params.get("status", "pending") or "pending"
        c = await run_in_threadpool(review.reader.collection)
        error, data, filters = None, None, None
        page_no = 1
        try:
            filters = _filters(params)
            page_no = _whole(params, "page", 1, 1, MAX_PAGE)
            args = _queue_args(params, status)
            data = await run_in_threadpool(review.reader.queue, limit=review.page_size,
                                           offset=min(MAX_OFFSET, (page_no - 1) * review.page_size), **args)
        except BadFilter as exc:
            error = _message(exc)
        filters = filters or {"task": params.get("task", ""), "museum": params.get("museum", ""),
                              "value": params.get("value", ""), "min_confidence": 0, "max_confidence": 1}
        order = (data or {}).get("order") or params.get("order", "") or ""
        decided = _decided_filters(params)
        query = _query_of(filters, params, status, params.get("order", ""), decided)
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

    async def artifact_page(request: Request) -> Response:
        user = review.reader_user(request)
        data = await run_in_threadpool(review.reader.artifact, request.path_params["iri"])
        for t in data["tasks"]:
            for p in t["predictions"]:
                p["may_revise"] = review.may_revise(user, p["reviewer"])
            for h in t["history"]:
                h["may_revise"] = h["current"] and h["decision"] != "undone" and review.may_revise(user, h["reviewer"])
        return review.page(request, "artifact.html", {"a": data, "here": request.url.path})

    async def review_form(request: Request) -> Response:
        form = await form_of(request)
        reviewer = review.writer(request)
        review.check_csrf(request, form.get("csrf_token"))
        target = _safe_next(str(form.get("next", "")))
        decision = str(form.get("decision", ""))
        # The form carries a group's member choice beside every button; only an acceptance uses it.
        value = str(form.get("value", "")) or None if decision in ("accepted", "corrected") else None
        try:
            outcome = await run_in_threadpool(_decide, review, reviewer, str(form.get("statement", "")), decision,
                                              value, str(form.get("revises", "")) or None)
            request.session["flash"] = {"kind": "ok", "text": outcome["confirmation"]}
        except ReviewError as exc:
            request.session["flash"] = {"kind": "error", "text": _message(exc)}
        return RedirectResponse(target, 303)

    async def bulk_preview(request: Request) -> Response:
        review.reader_user(request)
        params = request.query_params
        filters = _filters(params)
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

    async def bulk_apply(request: Request) -> Response:
        form = await form_of(request)
        reviewer = review.writer(request)
        review.check_csrf(request, form.get("csrf_token"))
        filters = _filters(form)
        try:
            result = await run_in_threadpool(_bulk, review, reviewer, filters, form.get("expected"))
            text = f"accepted {result.accepted} prediction{'' if result.accepted == 1 else 's'}"
            if result.skipped:
                text += f"; {len(result.skipped)} skipped (decided or replaced meanwhile)"
            request.session["flash"] = {"kind": "ok", "text": text + ". This can be undone as one step.",
                                        "undo_batch": result.batch, "undo_count": result.accepted}
        except ReviewError as exc:
            request.session["flash"] = {"kind": "error", "text": _message(exc)}
        query = _query_of(filters, form, "pending", "", {})
        return RedirectResponse("/queue" + ("?" + urlencode(query) if query else ""), 303)

    async def bulk_undo(request: Request) -> Response:
        form = await form_of(request)
        reviewer = review.writer(request)
        review.check_csrf(request, form.get("csrf_token"))
        try:
            result = await run_in_threadpool(_undo_batch, review, reviewer, str(form.get("batch", "")))
            text = f"undone: {result.undone} acceptance{'' if result.undone == 1 else 's'} taken back; they await " \
                   "review again"
            if result.skipped:
                text += f" ({len(result.skipped)} left as they are: changed since)"
            request.session["flash"] = {"kind": "ok", "text": text}
        except ReviewError as exc:
            request.session["flash"] = {"kind": "error", "text": _message(exc)}
        return RedirectResponse(_safe_next(str(form.get("next", ""))), 303)

    async def stats_page(request: Request) -> Response:
        review.reader_user(request)
        data = await run_in_threadpool(review.reader.stats)
        return review.page(request, "stats.html", {"s": data})

    async def thumbnail(request: Request) -> Response:
        review.reader_user(request)
        artifact = request.query_params.get("artifact", "")
        large = request.query_params.get("size", "") == "large"
        try:
            n = int(request.path_params["n"])
        except ValueError:
            n = -1
        path = await run_in_threadpool(_thumbnail, review, artifact, n, large)
        if path is None:
            return Response("image not available", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    # ------------------------------------------------------------------ API
    async def api_session(request: Request) -> Response:
        user, how = review.principal(request)
        if user is None:
            raise Unauthorized("not logged in (send HTTP basic auth, or log in on /login)")
        return JSONResponse({"user": user.name, "role": user.role, "can_decide": user.can_decide,
                             "can_revise_any": user.can_revise_any, "csrf_token": review.csrf_token(request)})

    async def api_queue(request: Request) -> Response:
        review.reader_user(request)
        params = request.query_params
        limit = _whole(params, "limit", review.page_size, 1, 500)
        offset = _whole(params, "offset", 0, 0, MAX_OFFSET)
        status = params.get("status", "pending") or "pending"
        data = await run_in_threadpool(review.reader.queue, limit=limit, offset=offset, **_queue_args(params, status))
        return JSONResponse(data)

    async def api_state(request: Request) -> Response:
        review.reader_user(request)
        params = request.query_params
        statements = params.getlist("statement")[:MAX_STATES]
        filters = _filters(params)

        def work():
            states = review.reader.state(statements)
            total = review.reader.queue(limit=0, status=params.get("status", "pending") or "pending",
                                        **filters, **_decided_filters(params))["total"]
            return {"states": states, "total": total}

        return JSONResponse(await run_in_threadpool(work))

    async def api_artifact(request: Request) -> Response:
        review.reader_user(request)
        data = await run_in_threadpool(review.reader.artifact, request.path_params["iri"])
        return JSONResponse(data)

    async def api_concepts(request: Request) -> Response:
        review.reader_user(request)
        params = request.query_params
        found = await run_in_threadpool(review.reader.search, params.get("task", ""), params.get("q", ""))
        return JSONResponse({"task": params.get("task", ""), "q": params.get("q", ""), "concepts": found})

    async def api_reviews(request: Request) -> Response:
        reviewer = review.writer(request)
        review.check_csrf(request, request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        outcome = await run_in_threadpool(_decide, review, reviewer, body.get("statement"), body.get("decision"),
                                          body.get("value"), body.get("revises"))
        return JSONResponse(outcome, status_code=201 if outcome["recorded"] else 200)

    async def api_bulk(request: Request) -> Response:
        reviewer = review.writer(request)
        review.check_csrf(request, request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        filters = _filters({k: str(v) for k, v in body.items() if v is not None})
        result = await run_in_threadpool(_bulk, review, reviewer, filters, body.get("expected"))
        return JSONResponse(result.to_dict())

    async def api_bulk_undo(request: Request) -> Response:
        reviewer = review.writer(request)
        review.check_csrf(request, request.headers.get("x-csrf-token"))
        body = await _json_body(request)
        result = await run_in_threadpool(_undo_batch, review, reviewer, body.get("batch"))
        return JSONResponse(result.to_dict())

    async def api_stats(request: Request) -> Response:
        review.reader_user(request)
        return JSONResponse(await run_in_threadpool(review.reader.stats))

    async def api_export(request: Request) -> Response:
        review.reader_user(request)
        fmt = request.query_params.get("format", "csv") or "csv"
        if fmt not in export.FORMATS:
            raise BadFilter(f"unknown export format {fmt!r} (one of: {', '.join(export.FORMATS)})")
        text = await run_in_threadpool(_export, review, fmt)
        suffix = {"csv": "csv", "jsonld": "jsonld"}[fmt]
        return Response(text, media_type=export.MEDIA_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="kgenrich-reviews.{suffix}"'})

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
        Route("/bulk/undo", guarded(bulk_undo, False), methods=["POST"]),
        Route("/stats", guarded(stats_page, False), methods=["GET"]),
        Route("/thumbnails/{n}", guarded(thumbnail, False), methods=["GET"]),
        Route("/api/session", guarded(api_session, True), methods=["GET"]),
        Route("/api/queue", guarded(api_queue, True), methods=["GET"]),
        Route("/api/state", guarded(api_state, True), methods=["GET"]),
        Route("/api/artifacts/{iri:path}", guarded(api_artifact, True), methods=["GET"]),
        Route("/api/concepts", guarded(api_concepts, True), methods=["GET"]),
        Route("/api/stats", guarded(api_stats, True), methods=["GET"]),
        Route("/api/export", guarded(api_export, True), methods=["GET"]),
        Route("/api/reviews", guarded(api_reviews, True), methods=["POST"]),
        Route("/api/bulk-accept", guarded(api_bulk, True), methods=["POST"]),
        Route("/api/bulk-undo", guarded(api_bulk_undo, True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    # The cookie only names a server-side session (access.Sessions).  HttpOnly (Starlette's
    # default) keeps it from scripts; SameSite=Strict: the browser never sends it with a request
    # another site starts; Secure is added over https (guard.Hardening).
    middleware = [Middleware(Hardening), Middleware(BodyLimit),
                  Middleware(SessionMiddleware, secret_key=review.secret, session_cookie="kgenrich_review",
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


def _decide(review: ReviewApp, reviewer: Reviewer, statement, decision, value, revises=None) -> dict:
    if not isinstance(statement, str) or not statement:
        raise ReviewError("which prediction? give its statement IRI")
    if decision not in ALL_DECISIONS:
        raise ReviewError(f"unknown decision {decision!r} (one of: {', '.join(ALL_DECISIONS)})")
    if revises is not None and not isinstance(revises, str):
        raise ReviewError("'revises' is the IRI of the review the decision changes")
    reader = review.reader
    c = reader.collection()
    outcome = decisions.decide(reader.store, reader.graphs, c.tasks, c.groups, c.classes, reviewer, statement,
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


def _bulk(review: ReviewApp, reviewer: Reviewer, filters: dict, expected) -> decisions.BulkOutcome:
    try:
        expected = int(expected)
    except (TypeError, ValueError):
        raise ReviewError("bulk acceptance needs the confirmed count ('expected'), from the preview") from None
    total, proposals, _ = review.reader.proposals(review.bulk_limit + 1, **filters)
    if total != expected:
        raise decisions.StatementGone(f"the selection changed: it holds {total} predictions now, not {expected}; "
                                      "look at it again before accepting; nothing was written")
    if total > review.bulk_limit:
        raise ReviewError(f"{total} predictions are more than one bulk acceptance takes ({review.bulk_limit}, "
                          "[review] bulk_limit): narrow the filter; nothing was written")
    if total == 0:
        raise ReviewError("no prediction awaiting review matches the filter; nothing was written")
    c = review.reader.collection()
    selection = ", ".join(f"{k}={v}" for k, v in filters.items() if v not in ("", None)) or "everything pending"
    undone = review.reader.undone(p.statement for p in proposals)
    return decisions.accept_all(review.reader.store, review.reader.graphs, c.groups, reviewer, proposals, selection,
                                undone)


def _undo_batch(review: ReviewApp, reviewer: Reviewer, batch) -> decisions.BulkOutcome:
    if not isinstance(batch, str) or not batch:
        raise ReviewError("which bulk acceptance? give its IRI ('batch', as the acceptance returned it)")
    c = review.reader.collection()
    return decisions.undo_batch(review.reader.store, review.reader.graphs, c.tasks, c.groups, reviewer, batch,
                                subject_of=c.subject_of)


def _export(review: ReviewApp, fmt: str) -> str:
    if fmt == "csv":
        return export.to_csv(review.reader.export_rows())
    return export.to_jsonld(review.reader.store, review.reader.graphs)


def _thumbnail(review: ReviewApp, artifact: str, n: int, large: bool = False):
    images = review.reader.image_locations(artifact)
    if not 0 <= n < len(images):
        return None
    return review.thumbnails.get(images[n], large=large)
