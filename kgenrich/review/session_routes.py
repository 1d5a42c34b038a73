"""Logging in and out (a server-side session, throttled), and GET /api/session (who is logged in, and
the CSRF token an API client sends)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .access import TooManyAttempts
from .web import (
    ReviewApp,
    Unauthorized,
    client_address,
    error_message,
    form_of,
    guarded,
    password_tag,
    retry_after_header,
    safe_next,
)


async def login_form(review: ReviewApp, request: Request) -> Response:
    return review.page(request, "login.html", {"next": safe_next(request.query_params.get("next")),
                                               "username": ""})

async def login(review: ReviewApp, request: Request) -> Response:
    form = await form_of(request)
    review.check_csrf(request, form.get("csrf_token"))
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    context = {"next": target, "username": name}
    try:
        user = await review.check_password(name, password, client_address(request))
    except TooManyAttempts as exc:
        return review.page(request, "login.html", {**context, "error": error_message(exc)}, status=429,
                           headers=retry_after_header(exc))
    if user is None:
        return review.page(request, "login.html", {**context, "error": "wrong user name or password"},
                           status=401)
    sid, _ = review.sessions.open(user.name, password_tag(user))
    request.session.clear()  # a fresh session (and CSRF token) after logging in
    request.session["sid"] = sid
    return RedirectResponse(target, 303)

async def logout(review: ReviewApp, request: Request) -> Response:
    form = await form_of(request)
    review.check_csrf(request, form.get("csrf_token"))
    review.sessions.close(request.session.get("sid"))  # the session ends here, not only in this browser
    request.session.clear()
    return RedirectResponse("/login", 303)


async def api_session(review: ReviewApp, request: Request) -> Response:
    user, how = review.principal(request)
    if user is None:
        raise Unauthorized("not logged in (send HTTP basic auth, or log in on /login)")
    return JSONResponse({"user": user.name, "role": user.role, "can_decide": user.can_decide,
                         "can_revise_any": user.can_revise_any, "csrf_token": review.csrf_token(request)})


def session_routes(review: ReviewApp) -> list[Route]:
    return [
        Route("/login", guarded(review, login_form, False), methods=["GET"]),
        Route("/login", guarded(review, login, False), methods=["POST"]),
        Route("/logout", guarded(review, logout, False), methods=["POST"]),
        Route("/api/session", guarded(review, api_session, True), methods=["GET"]),
    ]
