"""The reviewers: a users file with salted scrypt password hashes and a role each.

The file (``[review] users_file``, default ``.kgenrich/users.json``) is written only by
``kgenrich users add/remove``, atomically and readable by its owner only::

    {"format": 1, "users": {"alice": {"role": "reviewer", "password": "scrypt$16384$8$1$<salt>$<hash>"}}}

Roles: ``reviewer`` (may decide, and change or undo their own decisions), ``admin`` (a reviewer
who may also change or undo anyone's) and ``readonly`` (may look).  Passwords are never stored
or logged; a hash is scrypt (standard library) over a random 16-byte salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, KgenrichError

ROLES = ("reviewer", "admin", "readonly")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# scrypt cost: about 50 ms and 16 MiB per check on one core (OWASP's minimum is N=2**17 with r=8
# for interactive logins on servers; a curator's page checks once per login, the API caches).
_N, _R, _P = 2 ** 14, 8, 1


class UsersError(KgenrichError):
    """The users file cannot be read or written, or a user name is not acceptable."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str  # the stored hash, never a password

    @property
    def can_decide(self) -> bool:
        return self.role in ("reviewer", "admin")

    @property
    def can_revise_any(self) -> bool:
        return self.role == "admin"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    if not password:
        raise UsersError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=64 * 1024 * 1024, dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsersError(f"not a usable user name: {name!r} (letters, digits, '.', '_', '-'; at most 64; "
                         "starting with a letter or digit)")
    return name


class UsersFile:
    """The users file, re-read when it changes on disk (users added while the server runs count)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: dict[str, User] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def _read(self) -> dict[str, User]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UsersError(f"{self.path}: not a readable users file ({exc})") from None
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise UsersError(f"{self.path}: not a users file (no \"users\" table)")
        out = {}
        for name, entry in users.items():
            if not isinstance(entry, dict) or entry.get("role") not in ROLES or not isinstance(entry.get("password"), str):
                raise UsersError(f"{self.path}: the entry of user {name!r} is broken (role and password hash needed)")
            out[name] = User(name, entry["role"], entry["password"])
        return out

    def users(self) -> dict[str, User]:
        with self._lock:
            try:
                st = self.path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._cache = self._read() if stamp else {}
                self._stamp = stamp
            return dict(self._cache)

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.get(name)
        if user is None:
            # Spend the same time as a real check, so that names cannot be told apart by timing.
            check_password(_dummy_hash(), password or "")
            return None
        return user if check_password(user.password, password or "") else None

    def _write(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": 1, "users": {u.name: {"role": u.role, "password": u.password}
                                       for u in sorted(users.values(), key=lambda u: u.name)}}
        tmp = self.path.with_name(self.path.name + ".partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.path)

    def add(self, name: str, password: str, role: str = "reviewer", replace: bool = False) -> bool:
        """Add a user; ``replace``: or set a known user's password and role.  True when the user is new."""
        check_name(name)
        if role not in ROLES:
            raise UsersError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
        users = self._read()
        new = name not in users
        if not new and not replace:
            raise UsersError(f"user {name} exists already in {self.path}; nothing was changed (to set a new password "
                             f"and role: kgenrich users add {name} --force)")
        users[name] = User(name, role, hash_password(password))
        self._write(users)
        return new

    def remove(self, name: str) -> None:
        users = self._read()
        if name not in users:
            raise UsersError(f"no user {name!r} in {self.path}")
        del users[name]
        self._write(users)


def users_file(settings) -> UsersFile:
    return UsersFile(settings.review.users_file)


def secret_key(settings) -> str:
    """The key that signs session cookies and API CSRF tokens: made once, kept in a 0600 file."""
    path = Path(settings.review.secret_file)
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 32:
            return text
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the review secret ({exc})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key
