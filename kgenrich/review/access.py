"""Who may come in: log-in throttling and server-side sessions.

- ``LoginThrottle``: failed log-ins are counted per user name and per client address; after a few
  free failures every further failure doubles the time before the next attempt is even checked
  (no password hash is computed while an attempt must wait), so guessing costs hours, not
  seconds, and cannot slow the server down.  A success clears the user's and the address's count.
- ``Sessions``: the session cookie only names a session id; the server keeps the sessions, so
  logging out (or a changed password) ends a session for good, even for a copied cookie.
  Sessions live in the server's memory: restarting ``kgenrich serve`` logs everyone out.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .decision_types import ReviewError

SESSION_SECONDS = 12 * 3600


class TooManyAttempts(ReviewError):
    """A log-in attempt that must wait; ``retry_after`` seconds."""

    status = 429

    def __init__(self, retry_after: float):
        self.retry_after = max(1, int(math.ceil(retry_after)))
        super().__init__(f"too many failed log-ins for this user name or from this address: wait {self.retry_after} s "
                         "before the next try (each further failure doubles the wait)")


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Failures per user name and per address: ``free_*`` failures within ``window`` seconds are
    free, then the wait before the next attempt is ``base`` seconds, doubled per failure, at
    most ``cap``."""

    def __init__(self, free_user: int = 5, free_address: int = 20, window: float = 900.0, base: float = 1.0,
                 cap: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.free = {"user": free_user, "address": free_address}
        self.window, self.base, self.cap, self.clock = window, base, cap, clock
        self._counts: dict[tuple[str, str], _Count] = {}
        self._lock = threading.Lock()

    def _keys(self, user: str, address: str) -> list[tuple[str, str]]:
        keys = [("address", address or "?")]
        if user:
            keys.append(("user", user.casefold()))
        return keys

    def check(self, user: str, address: str) -> None:
        """Raise TooManyAttempts while the user name or the address must wait."""
        now = self.clock()
        with self._lock:
            wait = max((self._counts[k].blocked_until - now for k in self._keys(user, address) if k in self._counts),
                       default=0.0)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._counts) > 50_000:  # forget old entries (a scan of names must not grow memory)
                self._counts = {k: c for k, c in self._counts.items() if now - c.last < self.window}
            for key in self._keys(user, address):
                count = self._counts.setdefault(key, _Count())
                if now - count.last > self.window and now >= count.blocked_until:
                    count.failures = 0
                count.failures += 1
                count.last = now
                over = count.failures - self.free[key[0]]
                if over > 0:
                    count.blocked_until = now + min(self.cap, self.base * 2 ** (over - 1))

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            for key in self._keys(user, address):
                self._counts.pop(key, None)


@dataclass
class Session:
    user: str
    password_tag: str  # a changed password ends the session
    expires: float
    csrf: str


class Sessions:
    """Open sessions by id (in memory)."""

    def __init__(self, seconds: float = SESSION_SECONDS, clock: Callable[[], float] = time.time):
        self.seconds, self.clock = seconds, clock
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, user: str, password_tag: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(user, password_tag, self.clock() + self.seconds, secrets.token_urlsafe(32))
        with self._lock:
            now = self.clock()
            self._open = {k: s for k, s in self._open.items() if s.expires > now}
            self._open[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._open.get(sid)
            if session is not None and session.expires <= self.clock():
                del self._open[sid]
                return None
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._open.pop(sid or "", None)
