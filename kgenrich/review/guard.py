"""Two small ASGI middlewares around the review app.

- ``BodyLimit``: a request body larger than its limit (forms: 64 KiB; JSON and anything else:
  1 MiB) is refused with 413 and one clear message before it is read into memory -- by its
  Content-Length, or while it streams in when it has none.
- ``Hardening``: every response forbids framing (``X-Frame-Options: DENY`` and CSP
  ``frame-ancestors 'none'``), loads scripts, styles and images from this site only, is not
  sniffed, sends no referrer elsewhere; pages are ``no-store`` (the Back button shows the page
  as it is now, not a stale copy that offers decided rows); cookies get ``Secure`` when the
  request came over https (directly, or from a proxy on loopback that says so in
  ``X-Forwarded-Proto``, which uvicorn honours).
"""

from __future__ import annotations

import json

from ..errors import KgenrichError

FORM_LIMIT = 64 * 1024
BODY_LIMIT = 1024 * 1024
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class BodyTooLarge(KgenrichError):
    """Raised inside the app while a body streams in past its limit (the app answers 413 with it)."""

    status = 413

    def __init__(self, limit: int):
        super().__init__(_words(limit))


def _words(limit: int) -> str:
    return (f"the request body is larger than {limit // 1024} KiB, more than this request can need; "
            "it was not read and nothing was written")


def _limit(scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            if kind in (b"application/x-www-form-urlencoded", b"multipart/form-data"):
                return FORM_LIMIT
    return BODY_LIMIT


async def _refuse(send, scope, limit: int) -> None:
    message = _words(limit)
    wants_json = scope.get("path", "").startswith("/api/")
    body = json.dumps({"error": message, "status": 413}).encode() if wants_json else message.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json" if wants_json else b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = _limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    return await _refuse(send, scope, limit)
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _refuse(send, scope, limit)


class Hardening:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"

        async def hardened(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                html = any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers)
                extra = [(b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode()),
                         (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
                if html:
                    extra.append((b"cache-control", b"no-store"))
                headers = [h for h in headers if not (html and h[0].lower() == b"cache-control")]
                headers += [(n, v) for n, v in extra if n not in names or n == b"cache-control"]
                if https:
                    headers = [(n, v + b"; secure") if n.lower() == b"set-cookie" and b"secure" not in v.lower()
                               else (n, v) for n, v in headers]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, hardened)
