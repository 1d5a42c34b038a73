"""JSON-LD context processing: a document's ``@context`` into an active context of term definitions.

The part of JSON-LD 1.1 that collection documents use: term definitions with
``@id``, ``@type`` coercion, ``@set``/``@list``/``@language`` containers,
type-scoped contexts, ``@vocab``, compact IRIs.  Anything else raises
:class:`Unsupported`, and the document goes to pyoxigraph's processor.  Each
(active context, local context) pair is processed once per run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .jsonld_contexts import MAX_CONTEXT_DEPTH, ContextStore

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_FIRST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"
XSD = "http://www.w3.org/2001/XMLSchema#"
KEYWORDS = {"@base", "@container", "@context", "@direction", "@graph", "@id", "@import", "@included", "@index",
            "@json", "@language", "@list", "@nest", "@none", "@prefix", "@propagate", "@protected", "@reverse",
            "@set", "@type", "@value", "@version", "@vocab"}
KEYWORD_LIKE = re.compile(r"^@[a-zA-Z]+$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
GEN_DELIMS = tuple(":/?#[]@")
UNSET = object()


class Unsupported(Exception):
    """A construct the fast converter does not implement: the document goes to pyoxigraph's processor."""


@dataclass(frozen=True)
class Term:
    iri: str | None  # None: mapped to null (the key is dropped); a keyword for an alias ("@id", "@type")
    kind: str | None = None  # "@id", "@vocab", a datatype IRI, or None
    container: str | None = None  # "@set", "@list", "@language" or None
    language: Any = UNSET  # a tag, None (no language), or UNSET (the context's default)
    scoped: Any = UNSET  # the raw scoped context, or UNSET
    prefix: bool = False


class Context:
    """An active context: term definitions, @vocab, @base, @language, and the context a type-scoped one reverts to."""

    __slots__ = ("terms", "vocab", "base", "language", "previous", "keys")

    def __init__(self, terms=None, vocab=None, base=None, language=None, previous=None):
        self.terms: dict[str, Term] = terms if terms is not None else {}
        self.vocab: str | None = vocab
        self.base: str | None = base
        self.language: str | None = language
        self.previous: Context | None = previous
        self.keys: dict[str, str | None] = {}  # a JSON key -> what it expands to here (filled as read)

    def copy(self) -> Context:
        return Context(dict(self.terms), self.vocab, self.base, self.language, self.previous)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ContextProcessor:
    """Local contexts into active contexts, with every (context, local context) pair processed once."""

    def __init__(self, contexts: ContextStore):
        self.contexts = contexts
        self._processed: dict[tuple[int, int | str, bool], Context] = {}
        self._keep: list[Context] = []  # processed contexts stay alive, so their ids stay unique

    def process(self, active: Context, local: Any, propagate: bool = True, stable: bool = False) -> Context:
        """``stable``: ``local`` is an object a processed context keeps alive (a scoped context), so its
        identity is its key; a document's own context is keyed by its text."""
        cache_key = (id(active), id(local) if stable else _key(local), propagate)
        found = self._processed.get(cache_key)
        if found is None:
            found = self._process(active, local, propagate, 0)
            self._processed[cache_key] = found
            self._keep.extend((active, found))
        return found

    def _process(self, active: Context, local: Any, propagate: bool, depth: int) -> Context:
        if depth > MAX_CONTEXT_DEPTH:
            raise Unsupported("contexts nest too deep")
        result = active.copy()
        if not propagate and result.previous is None:
            result.previous = active
        for item in (local if isinstance(local, list) else [local]):
            if item is None:
                raise Unsupported("a null context")
            if isinstance(item, str):
                if not SCHEME.match(item):
                    raise Unsupported("a relative context reference")
                remote = self.contexts.get(item)
                inner = self._process(result, remote, True, depth + 1)
                inner.previous = result.previous
                result = inner
                continue
            if not isinstance(item, dict):
                raise Unsupported("a context that is not an object")
            result = self._definitions(result, item)
        return result

    def _definitions(self, result: Context, local: dict) -> Context:
        result = result.copy()
        for key in ("@import", "@direction"):
            if local.get(key) is not None:
                raise Unsupported(key)
        if "@propagate" in local:
            raise Unsupported("@propagate")
        if "@base" in local:
            base = local["@base"]
            if base is not None and not (isinstance(base, str) and SCHEME.match(base)):
                raise Unsupported("a relative @base")
            result.base = base
        if "@vocab" in local:
            vocab = local["@vocab"]
            if vocab is None:
                result.vocab = None
            else:
                expanded = self._expand(result, vocab, vocab=True, local=local, defined={})
                if not isinstance(expanded, str) or not SCHEME.match(expanded):
                    raise Unsupported("a relative @vocab")
                result.vocab = expanded
        if "@language" in local:
            language = local["@language"]
            if language is not None and not isinstance(language, str):
                raise Unsupported("@language")
            result.language = language
        defined: dict[str, bool] = {}
        for term in local:
            if term in ("@version", "@base", "@vocab", "@language", "@protected", "@propagate", "@import",
                        "@direction"):
                continue
            self._define(result, local, term, defined)
        return result

    def _define(self, result: Context, local: dict, term: str, defined: dict) -> None:
        if defined.get(term):
            return
        if term in defined:
            raise Unsupported("a cyclic term definition")
        defined[term] = False
        value = local[term]
        if term.startswith("@"):
            raise Unsupported(f"a definition of {term}")
        if value is None:
            result.terms[term] = Term(None)
            defined[term] = True
            return
        simple = isinstance(value, str)
        if simple:
            value = {"@id": value}
        if not isinstance(value, dict) or set(value) - {"@id", "@type", "@container", "@language", "@context",
                                                          "@protected", "@prefix"}:
            raise Unsupported(f"the definition of {term}")
        iri: str | None
        if "@id" in value:
            ident = value["@id"]
            if ident is None:
                iri = None
            elif not isinstance(ident, str):
                raise Unsupported("an @id that is not a string")
            elif ident in KEYWORDS:
                if ident not in ("@id", "@type"):
                    raise Unsupported(f"an alias of {ident}")
                iri = ident
            elif KEYWORD_LIKE.match(ident):
                iri = None
            else:
                iri = self._expand(result, ident, vocab=True, local=local, defined=defined)
                if not isinstance(iri, str) or not (SCHEME.match(iri) or iri.startswith("_:")):
                    raise Unsupported("a term that expands to a relative IRI")
        elif ":" in term[1:]:
            iri = self._expand(result, term, vocab=True, local=local, defined=defined)
        elif "/" in term:
            raise Unsupported("a relative IRI as a term")
        elif result.vocab is not None:
            iri = result.vocab + term
        else:
            raise Unsupported(f"the term {term} has no IRI")
        kind = None
        if "@type" in value:
            kind = value["@type"]
            if kind not in ("@id", "@vocab"):
                if not isinstance(kind, str) or kind.startswith("@"):
                    raise Unsupported(f"@type {kind}")
                kind = self._expand(result, kind, vocab=True, local=local, defined=defined)
                if not isinstance(kind, str) or not SCHEME.match(kind):
                    raise Unsupported("a relative datatype")
        container = value.get("@container")
        if isinstance(container, list):
            rest = [c for c in container if c != "@set"]
            container = rest[0] if len(rest) == 1 else ("@set" if not rest else None)
            if container is None:
                raise Unsupported("a container")
        if container not in (None, "@set", "@list", "@language"):
            raise Unsupported(f"@container {container}")
        language = value.get("@language", UNSET)
        if language is not UNSET and language is not None and not isinstance(language, str):
            raise Unsupported("@language")
        prefix = bool(value.get("@prefix", simple and isinstance(iri, str) and iri.endswith(GEN_DELIMS)))
        result.terms[term] = Term(iri, kind, container, language, value.get("@context", UNSET), prefix)
        defined[term] = True

    def _expand(self, ctx: Context, value: str, *, vocab: bool = False, local: dict | None = None,
                defined: dict | None = None) -> str | None:
        """IRI expansion (keywords returned as they are; None for a key that maps to nothing)."""
        defined = {} if defined is None else defined  # the terms of ``local`` defined so far
        if value in KEYWORDS:
            return value
        if KEYWORD_LIKE.match(value):
            return None
        if local is not None and value in local and not defined.get(value):
            self._define(ctx, local, value, defined)
        if vocab and value in ctx.terms:
            return ctx.terms[value].iri
        colon = value.find(":")
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1:]
            if prefix == "_" or suffix.startswith("//"):
                return value
            if local is not None and prefix in local and not defined.get(prefix):
                self._define(ctx, local, prefix, defined)
            term = ctx.terms.get(prefix)
            if term is not None and term.iri is not None and term.prefix:
                return term.iri + suffix
            if SCHEME.match(value):
                return value
        if vocab and ctx.vocab is not None:
            return ctx.vocab + value
        raise Unsupported("a relative IRI")
