"""Credentials out of text: every message that may name an endpoint goes through :func:`redact`.

Pure and dependency-free (the CLI calls it on every error message, whatever
raised it), and tolerant of text that is not a valid URL at all: a URL the
user mistyped is exactly the one that ends up in an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
# Shorter secrets are masked in free text only where they stand alone: masking every
# "p" of a message would make it unreadable.  (User-info in URLs is masked whatever
# its length.)
MIN_SECRET_LENGTH = 4

# scheme://userinfo@ -- the user-info runs to the last "@" before the URL ends
# (whitespace, quotes, angle brackets), so that a password holding "/", "?" or
# "#" (unescaped, hence unparsable) is still covered as a whole.
_SCHEME_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s'\"<>`]*)@")
# user:password@host without a scheme (a URL typed without "http://"); not a mailto: address.
_BARE_USERINFO = re.compile(
    r"(?P<before>^|[\s'\"<>(\[{=,;`])(?!mailto:)(?P<user>[^\s'\"<>`@/:]+):(?!//)[^\s'\"<>`@]*@", re.IGNORECASE)


# HTTP credentials as a server may echo them back ("Authorization: Basic dXNlcjpwYXNz"): the base64
# of user:password is the password in another form.
_AUTH_TOKEN = re.compile(r"\b(?P<scheme>Basic|Bearer|Digest)(?P<gap>\s+)[A-Za-z0-9+/=._~\-]{4,}", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every ``user:password@`` of a URL-looking substring, every HTTP authorization
    token, and every secret, masked."""
    text = _SCHEME_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", str(text))
    text = _AUTH_TOKEN.sub(lambda m: m.group("scheme") + m.group("gap") + MASK, text)
    text = _BARE_USERINFO.sub(lambda m: m.group("before") + MASK + "@", text)
    # Longest first, so that a secret containing another one is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            if len(secret) >= MIN_SECRET_LENGTH:
                text = text.replace(form, MASK)
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", MASK, text)
    return text
