"""The review web application (Starlette): server-rendered pages, a JSON API, one small script.

Pages: /login, /queue, /artifacts/{iri}, /bulk, /stats; the API beside them: GET /api/session,
/api/queue, /api/state, /api/artifacts/{iri}, /api/concepts, /api/stats, /api/export, POST
/api/reviews, /api/bulk-accept, /api/bulk-undo (README, "Review").  Access: users of the users
file, by a server-side session (the login page) or HTTP basic auth; ``readonly`` users look,
``reviewer`` users decide and change or undo their own decisions, ``admin`` users anyone's;
log-ins are throttled per user name and per address (access.py, web.py); every POST needs the CSRF
token (the session's, or for basic auth the one GET /api/session returns); nothing changes
through GET.  Every failure is one clear message -- on the page and as ``{"error": ...}`` with
an HTTP status in the API -- and a decision is written whole or not at all (decisions.py).

The parts: web (ReviewApp: who is asking, CSRF, rendering, errors), session_routes, page_routes,
api_routes, query_params (the queue's filters), actions (the work done off the event loop).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..config import Settings
from ..store import Store
from .api_routes import api_routes
from .guard import BodyLimit, Hardening
from .page_routes import page_routes
from .session_routes import session_routes
from .users import UsersFile
from .web import (
    HERE,
    ReviewApp,
)


def create_app(store: Store, settings: Settings, users: UsersFile | None = None) -> Starlette:
    review = ReviewApp(store, settings, users)
    routes = [*session_routes(review), *page_routes(review), *api_routes(review),
              Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    # The cookie only names a server-side session (access.Sessions).  HttpOnly (Starlette's
    # default) keeps it from scripts; SameSite=Strict: the browser never sends it with a request
    # another site starts; Secure is added over https (guard.Hardening).
    middleware = [Middleware(Hardening), Middleware(BodyLimit),
                  Middleware(SessionMiddleware, secret_key=review.secret, session_cookie="kgenrich_review",
                             same_site="strict", max_age=12 * 3600)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.review = review
    return app
