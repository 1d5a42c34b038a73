"""What every request of the review application needs: who is asking (basic auth or a server-side
session, throttled log-ins), the CSRF token, the role checks, the rendering of pages, and one
clear message for every failure (``{"error": ...}`` with an HTTP status in the API)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..config import Settings
from ..errors import KgenrichError, StoreError
from ..store import Store
from .access import LoginThrottle, Sessions, TooManyAttempts
from .artifact_page import MODALITY_WORDS
from .decision_types import DECISIONS, AlreadyDecided, Reviewer, ReviewError
from .reading import Reader
from .thumbnails import Thumbnails
from .users import User, UsersFile, secret_key, users_file

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


class Unauthorized(ReviewError):
    status = 401


class Forbidden(ReviewError):
    status = 403


def http_status(exc: Exception) -> int:
    if isinstance(exc, StoreError):
        return 503
    return int(getattr(exc, "status", 400))


def error_message(exc: Exception) -> str:
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
                user = await self.check_password(name, password, client_address(request))
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
            if (session is not None and user is not None
                    and hmac.compare_digest(session.password_tag, password_tag(user))):
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
        status = http_status(exc)
        if status == 401 and request.method == "GET":
            return RedirectResponse("/login?next=" + quote(request.url.path + ("?" + request.url.query
                                                                                if request.url.query else "")), 303)
        return self.page(request, "error.html", {"message": error_message(exc), "status": status}, status=status,
                         headers=retry_after_header(exc))

    def may_revise(self, user: User | None, reviewer: str | None) -> bool:
        return bool(user and user.can_decide and (user.can_revise_any or user.name == reviewer))


def password_tag(user: User) -> str:
    return hashlib.sha256(user.password.encode()).hexdigest()[:32]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def retry_after_header(exc: Exception) -> dict | None:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None


def json_error(exc: Exception) -> JSONResponse:
    status = http_status(exc)
    headers = {"WWW-Authenticate": 'Basic realm="kgenrich review"'} if status == 401 else {}
    headers.update(retry_after_header(exc) or {})
    body: dict[str, Any] = {"error": error_message(exc), "status": status}
    if isinstance(exc, AlreadyDecided) and exc.current is not None:
        c = exc.current
        body["current"] = {"review": c.review, "decision": c.decision, "reviewer": c.reviewer, "time": c.time,
                           "chosen": c.chosen, "words": c.words()}
    return JSONResponse(body, status_code=status, headers=headers)


def safe_next(target: str | None) -> str:
    # Only paths of this site: never redirect elsewhere.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


class _Unexpected(KgenrichError):
    """A bug met while answering: the page says so in one line (the traceback is in the server log)."""

    status = 500


Endpoint = Callable[[ReviewApp, Request], Awaitable[Response]]


def guarded(review: ReviewApp, fn: Endpoint, api: bool) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a route: who is asking is resolved first, and every failure is one clear
    message (``{"error": ...}`` for the API, the error page otherwise)."""
    async def endpoint(request: Request) -> Response:
        try:
            await review.resolve(request)
            return await fn(review, request)
        except KgenrichError as exc:
            return json_error(exc) if api else review.error_page(request, exc)
        except Exception as exc:  # must be broad: any bug is one line for the user, the traceback in the log
            log.exception("unexpected failure on %s %s", request.method, request.url.path)
            wrapped = _Unexpected(f"unexpected failure ({type(exc).__name__}); see the server log")
            return json_error(wrapped) if api else review.error_page(request, wrapped)
    return endpoint


async def form_of(request: Request):
    try:
        return await request.form()
    except (HTTPException, MultiPartException, ClientDisconnect, ValueError) as exc:
        # A malformed or cut-off form body: the client's mistake, said in one line.
        raise ReviewError(f"the form cannot be read ({type(exc).__name__}); nothing was written") from None


async def json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise ReviewError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ReviewError("the request body must be a JSON object")
    return body
