"""JSON-LD contexts, offline: from a local directory or the copies kgenrich ships, never from the network.

A document names its context by URL (Linked Art:
``https://linked.art/ns/v1/linked-art.json``).  Nothing is fetched: a context
comes from the directory of the ``jsonld_contexts`` setting, laid out as the
URL's host and path (``DIR/linked.art/ns/v1/linked-art.json``), or from the
copy kgenrich ships for Linked Art (the ``cromulent`` package, the Getty's
Linked Art library, pinned in pyproject.toml: ``cromulent/data/linked-art.json``).
Any other context is one error naming its URL and where to put a copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import LoadError
from .rdfio import one_line

# Contexts shipped with kgenrich (through a pinned dependency): URL -> (package, resource).
SHIPPED_CONTEXTS = {
    "https://linked.art/ns/v1/linked-art.json": ("cromulent", "data/linked-art.json"),
    "http://linked.art/ns/v1/linked-art.json": ("cromulent", "data/linked-art.json"),
}
MAX_CONTEXT_DEPTH = 16


def shipped_context_path(package: str, resource: str) -> Path | None:
    """The file of a shipped context, found without importing its package (cromulent imports a lot)."""
    from importlib.util import find_spec

    spec = find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / resource
        if path.is_file():
            return path
    return None


class ContextStore:
    """Remote contexts from a local directory or the shipped copies; never from the network."""

    def __init__(self, directory: str | None = None):
        self.directory = Path(directory) if directory else None
        self._cache: dict[str, Any] = {}

    def local_path(self, url: str) -> Path | None:
        parts = urlsplit(url)
        if self.directory is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            return None
        path = parts.path.lstrip("/")
        if ".." in Path(path).parts:
            return None
        return self.directory / parts.netloc / path

    def get(self, url: str) -> Any:
        """The ``@context`` value of the context document at ``url``."""
        if url in self._cache:
            return self._cache[url]
        text, where = None, None
        local = self.local_path(url)
        if local is not None and local.is_file():
            text, where = local.read_bytes().decode("utf-8", errors="strict"), str(local)
        elif url in SHIPPED_CONTEXTS:
            package, resource = SHIPPED_CONTEXTS[url]
            shipped = shipped_context_path(package, resource)
            if shipped is not None:
                text, where = shipped.read_text(encoding="utf-8"), f"{package}/{resource}"
        if text is None:
            hint = (f"put a copy at {local}" if local is not None else
                    "put a copy in a directory laid out as host/path and name it in the setting jsonld_contexts")
            raise LoadError(f"the JSON-LD context {url} cannot be had offline (nothing is fetched): {hint}")
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise LoadError(f"the JSON-LD context {url} ({where}) is not valid JSON ({one_line(exc)})") from None
        if not isinstance(document, dict) or "@context" not in document:
            raise LoadError(f"the JSON-LD context {url} ({where}) has no @context")
        self._cache[url] = document["@context"]
        return self._cache[url]

    def inline(self, value: Any, depth: int = 0) -> Any:
        """A ``@context`` value with every URL replaced by the context it names (for pyoxigraph's processor)."""
        if depth > MAX_CONTEXT_DEPTH:
            raise LoadError("JSON-LD contexts nest too deep (a cycle of remote contexts?)")
        if isinstance(value, str):
            return self.inline(self.get(value), depth + 1)
        if isinstance(value, list):
            out = []
            for item in value:
                inlined = self.inline(item, depth + 1)
                out.extend(inlined if isinstance(inlined, list) else [inlined])
            return out
        if isinstance(value, dict):
            table = {}
            for key, definition in value.items():
                if isinstance(definition, dict) and "@context" in definition:
                    definition = dict(definition, **{"@context": self.inline(definition["@context"], depth + 1)})
                table[key] = definition
            return table
        return value

    def inline_document(self, document: Any) -> Any:
        if isinstance(document, list):
            return [self.inline_document(item) for item in document]
        if isinstance(document, dict):
            return {key: (self.inline(value) if key == "@context" else self.inline_document(value))
                    for key, value in document.items()}
        return document
