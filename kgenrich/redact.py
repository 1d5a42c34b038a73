"""Credentials out of every text kgenrich prints: messages, reports, logs.

A pure function at the bottom floor (no imports from the package), so that the
stores, the CLI and the report writers all strip the same things: the
user-info part of anything that looks like a URL (``scheme://user:pass@host``,
also without a scheme, ``user:pass@host``), and any secret value given
explicitly (the password from the environment), wherever it appears.
"""

from __future__ import annotations

import re
from typing import Iterable

MASK = "***"
# user-info before a host: "//user:pass@" or, without a scheme, "user:pass@host" at a word start
_WITH_SCHEME = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^/\s@'\"<>]*)@")
_WITHOUT_SCHEME = re.compile(r"(?P<pre>^|[\s'\"(<=,])(?P<info>[^\s/@'\"<>:]+:[^\s/@'\"<>]*)@(?=[^\s@])")


# Below this length a secret is masked only where it stands alone: a one-letter password must
# not turn every "p" of a message into "***" (the user-info rules above still catch it in URLs).
_SHORT_SECRET = 6


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` as a string with user-info and the given secrets replaced by ``***``."""
    out = str(text)
    out = _WITH_SCHEME.sub(lambda m: f"{m.group('pre')}{MASK}@", out)
    out = _WITHOUT_SCHEME.sub(lambda m: f"{m.group('pre')}{MASK}@", out)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _SHORT_SECRET:
            out = out.replace(secret, MASK)
        else:
            out = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, out)
    return out
