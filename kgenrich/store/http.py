"""HTTP for the remote store: checked endpoint URLs, one connection pool, urllib3 retries.

Whether a request may be repeated is decided per request, by what it does:

- idempotent (queries, Graph Store GET/PUT, DROP SILENT, INSERT DATA of ground
  triples): repeated on connection errors, on an answer lost (the connection
  closed) and on 429/500/502/503/504, with exponential backoff, honouring
  ``Retry-After``;
- no request is repeated when its answer did not come within ``timeout``: the
  server is most likely still working on it (a repeat would start the same work
  again beside it), and the message says it timed out (:class:`RequestTimeout`);
- anything else (the graph swap, INSERT of blank-node data, Graph Store POST):
  repeated only when no connection could be made, i.e. when the request never
  left.  Once it may have reached the server, a lost answer is an error, never
  a second copy of the request.

Every urllib3 exception ends here as a :class:`StoreError` or
:class:`EndpointUnreachable` whose message names the endpoint without its
user-info and never holds the password.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO
from urllib.parse import SplitResult, unquote, urlencode, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

from ..errors import ConfigError, EndpointUnreachable, StoreError
from ..redact import redact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses that say the server is there but cannot serve now: after the retries, "unreachable".
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
RETRY_AFTER_MAX = 120  # seconds; a longer Retry-After is waited for only this long
BACKOFF_MAX = 30.0
# A host name as RFC 3986 allows it (reg-name); IPv6 literals are checked by urlsplit.
_REG_NAME = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=]+$")


@dataclass(frozen=True)
class Endpoint:
    """A checked endpoint URL: ``url`` has no user-info (it is what requests use and messages show)."""

    url: str
    credentials: tuple[str, str] | None


def parse_endpoint(url: str, option: str = "endpoint") -> Endpoint:
    """Check an endpoint URL (http/https, a host, a port in 1..65535, well-formed IPv6 brackets).

    User-info in the URL is returned as credentials and removed from the URL.
    Raises ConfigError naming the option and the URL with its user-info masked.
    """
    text = str(url).strip()

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{option} {redact(text)!r}: {why}")

    try:
        parts = urlsplit(text)
    except ValueError as exc:  # unbalanced or invalid IPv6 brackets
        raise bad(f"not a valid URL ({redact(str(exc))})") from None
    if parts.scheme.lower() not in ("http", "https") or not text.lower().startswith(parts.scheme.lower() + "://"):
        raise bad("must start with http:// or https://")
    try:
        port = parts.port
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if port is not None and not 1 <= port <= 65535:
        raise bad("the port must be a number from 1 to 65535")
    host = parts.hostname
    if not host:
        raise bad("no host name")
    ipv6 = parts.netloc.rpartition("@")[2].startswith("[")
    if not ipv6 and not _REG_NAME.match(host):
        raise bad("not a valid host name")
    credentials = None
    if parts.username is not None or parts.password is not None:
        credentials = (unquote(parts.username or ""), unquote(parts.password or ""))
    netloc = f"[{host}]" if ipv6 else host
    if port is not None:
        netloc += f":{port}"
    public = urlunsplit(SplitResult(parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    return Endpoint(public, credentials)


def with_params(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


class RequestTimeout(EndpointUnreachable):
    """The server took the request and gave no answer within ``timeout``; it was not repeated."""


class _CountingRetry(Retry):
    """urllib3's Retry, telling the attempts made when it gives up (MaxRetryError does not), and
    never repeating a request whose answer did not come within the timeout: the server is most
    likely still working on it, and a repeat would only start the same work again beside it."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise _GaveUp(_pool, url, error, attempts=len(self.history) + 1)
        try:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            raise _GaveUp(exc.pool, exc.url, exc.reason, attempts=len(self.history) + 1) from exc


class _GaveUp(MaxRetryError):
    """urllib3 gave up on a request, after ``attempts`` attempts."""

    def __init__(self, pool, url: str | None, reason: Exception | None = None, *, attempts: int = 1):
        super().__init__(pool, url, reason)
        self.attempts = attempts


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    data: bytes
    attempts: int
    #: With ``stream=True``: the response to read from (``data`` is then empty); release it when done.
    stream: urllib3.BaseHTTPResponse | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class HttpClient:
    """One urllib3 pool for a store; a fresh Retry per request, chosen by whether it may be repeated."""

    def __init__(self, *, credentials: tuple[str, str] | None, timeout: float, attempts: int, backoff: float):
        self.timeout = float(timeout)
        self.attempts = max(1, int(attempts))
        self.backoff = float(backoff)
        # The password, and the basic-auth token it travels in (a server may quote the header back).
        self._secrets = (credentials[1], base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()) \
            if credentials else ()
        headers = {"User-Agent": "kgenrich"}
        if credentials:
            headers.update(urllib3.make_headers(basic_auth=f"{credentials[0]}:{credentials[1]}"))
        self._headers = headers
        self._pool = urllib3.PoolManager(num_pools=4)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _retry(self, idempotent: bool) -> Retry:
        repeats = self.attempts - 1
        if idempotent:
            return _CountingRetry(total=repeats, connect=None, read=None, status=None, other=0, redirect=False,
                                  allowed_methods=None, status_forcelist=RETRY_STATUSES,
                                  backoff_factor=self.backoff, backoff_max=BACKOFF_MAX,
                                  respect_retry_after_header=True, retry_after_max=RETRY_AFTER_MAX,
                                  raise_on_status=False)
        return _CountingRetry(total=None, connect=repeats, read=0, status=0, other=0, redirect=False,
                              allowed_methods=None, backoff_factor=self.backoff, backoff_max=BACKOFF_MAX,
                              raise_on_status=False)

    def request(self, method: str, url: str, *, what: str, idempotent: bool, body: bytes | IO[bytes] | None = None,
                headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                ok: tuple[int, ...] = (), stream: bool = False) -> Answer:
        """Send one request (repeated as its kind allows); an error status raises unless listed in ``ok``.

        ``stream``: a successful answer's body is left unread, in ``Answer.stream``
        (a timeout then applies to each read of it, not to the whole body).
        """
        target = with_params(url, params)
        try:
            response = self._pool.request(method, target, body=body, headers={**self._headers, **(headers or {})},
                                          timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                                          retries=self._retry(idempotent), redirect=False,
                                          preload_content=not stream)
        except MaxRetryError as exc:
            raise self._unreachable(what, url, exc.reason, getattr(exc, "attempts", 1), idempotent) from None
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, url, exc, 1, idempotent) from None
        attempts = len(response.retries.history) + 1 if response.retries is not None else 1
        if stream and response.status < 300:
            return Answer(response.status, response.headers, b"", attempts, stream=response)
        try:
            data = response.data if not stream else response.read()
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, url, exc, attempts, idempotent) from None
        finally:
            if stream:
                response.release_conn()
        answer = Answer(response.status, response.headers, data or b"", attempts)
        if answer.status < 300 or answer.status in ok:
            return answer
        raise self._status_error(what, url, answer)

    def stream(self, method: str, url: str, *, what: str, sink, headers: Mapping[str, str] | None = None,
               params: Mapping[str, str] | None = None, ok: tuple[int, ...] = ()) -> int:
        """A repeatable request whose answer body goes to ``sink(bytes)`` in pieces instead of into memory.

        Returns the status.  A read that fails halfway raises (the sink has seen part of the body).
        """
        target = with_params(url, params)
        try:
            response = self._pool.request(method, target, headers={**self._headers, **(headers or {})},
                                          timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                                          retries=self._retry(True), redirect=False, preload_content=False)
        except MaxRetryError as exc:
            raise self._unreachable(what, url, exc.reason, getattr(exc, "attempts", 1), True) from None
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, url, exc, 1, True) from None
        try:
            if not (response.status < 300 or response.status in ok):
                raise self._status_error(what, url, Answer(response.status, response.headers, response.read(), 1))
            if response.status < 300:
                for piece in response.stream(1 << 20):
                    sink(piece)
            return response.status
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, url, exc, 1, True) from None
        finally:
            response.release_conn()

    def broken_off(self, what: str, url: str, error: BaseException, rows: int) -> StoreError:
        """A streamed answer that stopped before its end."""
        reason = self._reason(error) if isinstance(error, HTTPError) else f"{type(error).__name__}: {error}"
        return EndpointUnreachable(self.redact(f"{what}: the answer of {url} broke off after {rows} row(s): "
                                               f"{reason}"))

    def _reason(self, error: BaseException | None) -> str:
        if isinstance(error, NameResolutionError):
            return "host name not found"
        if isinstance(error, NewConnectionError):
            detail = str(error).rpartition("new connection: ")[2]
            return f"connection failed ({detail})" if detail else "connection failed"
        if isinstance(error, ConnectTimeoutError):
            return f"no connection within {self.timeout:g} s"
        if isinstance(error, ReadTimeoutError):
            return f"no answer within {self.timeout:g} s"
        if isinstance(error, ProtocolError):
            cause = error.args[1] if len(error.args) > 1 else None
            return f"the connection closed without an answer ({cause})" if cause else "the connection closed without an answer"
        if isinstance(error, SSLError):
            return f"TLS failed ({error})"
        return f"{type(error).__name__}: {error}" if error is not None else "unknown error"

    def _unreachable(self, what: str, url: str, error, attempts: int, idempotent: bool) -> EndpointUnreachable:
        if isinstance(error, ReadTimeoutError):
            return RequestTimeout(self.redact(
                f"{what}: {url} gave no answer within {self.timeout:g} s (the timeout setting; after {attempts} "
                "attempt(s)); not repeated, as the server may still be working on it"
                + ("" if idempotent else ", and the request may or may not have been applied")
                + ": raise timeout in kgenrich.toml, or ask for less"))
        message = f"{what}: cannot reach {url}: {self._reason(error)} (after {attempts} attempt(s))"
        connected = not isinstance(error, ConnectTimeoutError)  # NewConnectionError is a ConnectTimeoutError
        if not idempotent and connected:
            message += "; the request was sent once and is not repeated: it may or may not have been applied"
        return EndpointUnreachable(self.redact(message))

    def _status_error(self, what: str, url: str, answer: Answer) -> StoreError:
        status = answer.status
        lines = answer.text.strip().splitlines()
        detail = f" {lines[0][:300]}" if lines else ""
        tried = f" (after {answer.attempts} attempt(s))" if answer.attempts > 1 else ""
        if status in (401, 403):
            return StoreError(self.redact(
                f"{what}: {url} refused access (HTTP {status}); give credentials in KGENRICH_USER / "
                "KGENRICH_PASSWORD or as user:password@ in the endpoint URL"))
        if 300 <= status < 400:
            location = answer.headers.get("Location", "")
            return StoreError(self.redact(f"{what}: {url} redirects (HTTP {status}) to {location or 'elsewhere'}; "
                                          "configure the URL it redirects to"))
        if status in UNAVAILABLE_STATUSES:
            return EndpointUnreachable(self.redact(f"{what}: cannot reach {url}: HTTP {status}{detail}{tried}"))
        return StoreError(self.redact(f"{what}: {url} answered HTTP {status}{detail}{tried}"))

    def close(self) -> None:
        self._pool.clear()
