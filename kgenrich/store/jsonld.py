"""JSON-LD documents into quads, offline, each context processed once per run.

Contexts.  A document names its context by URL (Linked Art:
``https://linked.art/ns/v1/linked-art.json``).  Nothing is fetched: a context
comes from the directory of the ``jsonld_contexts`` setting, laid out as the
URL's host and path (``DIR/linked.art/ns/v1/linked-art.json``), or from the
copy kgenrich ships for Linked Art (the ``cromulent`` package, the Getty's
Linked Art library, pinned in pyproject.toml: ``cromulent/data/linked-art.json``).
Any other context is one error naming its URL and where to put a copy.

Speed.  pyoxigraph parses JSON-LD 1.1, but processes the Linked Art context
(433 terms, 55 type-scoped contexts) again for every document and every typed
node: ~20-70 ms a document.  :class:`Converter` processes each context once
and each type-scoped context once per run, and turns documents into quads in
well under a millisecond.  It implements the part of JSON-LD 1.1 that
collection documents use (term definitions with ``@id``, ``@type`` coercion,
``@set``/``@list``/``@language`` containers, type-scoped contexts, ``@vocab``,
compact IRIs, value objects, lists); a document that uses anything else goes
to pyoxigraph's processor, with its contexts inlined, so every document still
loads exactly.  Before a run, a sample of its documents (the first three and
every 200th) is converted both ways and compared (RDFC-1.0 canonical forms):
if any differs, the whole run uses pyoxigraph's processor and says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyoxigraph as ox

from ..errors import LoadError
from .rdfio import one_line
from .streams import open_stream, read_all

# Contexts shipped with kgenrich (through a pinned dependency): URL -> (package, resource).
SHIPPED_CONTEXTS = {
    "https://linked.art/ns/v1/linked-art.json": ("cromulent", "data/linked-art.json"),
    "http://linked.art/ns/v1/linked-art.json": ("cromulent", "data/linked-art.json"),
}
SAMPLE_FIRST = 3
SAMPLE_EVERY = 200
MAX_CONTEXT_DEPTH = 16

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_FIRST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"
XSD = "http://www.w3.org/2001/XMLSchema#"
KEYWORDS = {"@base", "@container", "@context", "@direction", "@graph", "@id", "@import", "@included", "@index",
            "@json", "@language", "@list", "@nest", "@none", "@prefix", "@propagate", "@protected", "@reverse",
            "@set", "@type", "@value", "@version", "@vocab"}
_KEYWORD_LIKE = re.compile(r"^@[a-zA-Z]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_GEN_DELIMS = tuple(":/?#[]@")
_UNSET = object()
_DEFAULT_GRAPH = ox.DefaultGraph()


class Unsupported(Exception):
    """A construct the fast converter does not implement: the document goes to pyoxigraph's processor."""


# ------------------------------------------------------------------ contexts, offline
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


# ------------------------------------------------------------------ processed contexts
@dataclass(frozen=True)
class Term:
    iri: str | None  # None: mapped to null (the key is dropped); a keyword for an alias ("@id", "@type")
    kind: str | None = None  # "@id", "@vocab", a datatype IRI, or None
    container: str | None = None  # "@set", "@list", "@language" or None
    language: Any = _UNSET  # a tag, None (no language), or _UNSET (the context's default)
    scoped: Any = _UNSET  # the raw scoped context, or _UNSET
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


class Converter:
    """JSON-LD documents into quads, with every (context, local context) pair processed once."""

    def __init__(self, contexts: ContextStore):
        self.contexts = contexts
        self._processed: dict[tuple[int, int | str, bool], Context] = {}
        self._keep: list[Context] = []  # processed contexts stay alive, so their ids stay unique
        self._nodes: dict[str, ox.NamedNode] = {}
        self._root = Context()

    # --- context processing ----------------------------------------------------
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
                if not _SCHEME.match(item):
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
            if base is not None and not (isinstance(base, str) and _SCHEME.match(base)):
                raise Unsupported("a relative @base")
            result.base = base
        if "@vocab" in local:
            vocab = local["@vocab"]
            if vocab is None:
                result.vocab = None
            else:
                expanded = self._expand(result, vocab, vocab=True, local=local, defined={})
                if not isinstance(expanded, str) or not _SCHEME.match(expanded):
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
            elif _KEYWORD_LIKE.match(ident):
                iri = None
            else:
                iri = self._expand(result, ident, vocab=True, local=local, defined=defined)
                if not isinstance(iri, str) or not (_SCHEME.match(iri) or iri.startswith("_:")):
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
                if not isinstance(kind, str) or not _SCHEME.match(kind):
                    raise Unsupported("a relative datatype")
        container = value.get("@container")
        if isinstance(container, list):
            rest = [c for c in container if c != "@set"]
            container = rest[0] if len(rest) == 1 else ("@set" if not rest else None)
            if container is None:
                raise Unsupported("a container")
        if container not in (None, "@set", "@list", "@language"):
            raise Unsupported(f"@container {container}")
        language = value.get("@language", _UNSET)
        if language is not _UNSET and language is not None and not isinstance(language, str):
            raise Unsupported("@language")
        prefix = bool(value.get("@prefix", simple and isinstance(iri, str) and iri.endswith(_GEN_DELIMS)))
        result.terms[term] = Term(iri, kind, container, language, value.get("@context", _UNSET), prefix)
        defined[term] = True

    def _expand(self, ctx: Context, value: str, *, vocab: bool = False, local: dict | None = None,
                defined: dict | None = None) -> str | None:
        """IRI expansion (keywords returned as they are; None for a key that maps to nothing)."""
        defined = {} if defined is None else defined  # the terms of ``local`` defined so far
        if value in KEYWORDS:
            return value
        if _KEYWORD_LIKE.match(value):
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
            if _SCHEME.match(value):
                return value
        if vocab and ctx.vocab is not None:
            return ctx.vocab + value
        raise Unsupported("a relative IRI")

    # --- documents -----------------------------------------------------------------
    def document(self, document: Any, base: str, scope: str) -> list[ox.Quad]:
        """Every quad of one document (its default graph as ox.DefaultGraph); blank nodes labelled in ``scope``."""
        self._out: list[ox.Quad] = []
        self._scope = scope
        self._fresh = 0
        # The fast path never resolves a relative IRI (those documents take the slow path), so one initial
        # context serves every document, whatever its base: each context is processed once per run.
        initial = self._root
        items = document if isinstance(document, list) else [document]
        for item in items:
            if not isinstance(item, dict):
                raise Unsupported("a top-level value that is not an object")
            ctx = self.process(initial, item["@context"]) if "@context" in item else initial
            keys = {self._expand_key(ctx, k): k for k in item if k != "@context"}
            if "@graph" in keys:
                if set(keys) - {"@graph"}:
                    raise Unsupported("a named graph")
                graph = item[keys["@graph"]]
                for node in (graph if isinstance(graph, list) else [graph]):
                    if isinstance(node, dict):
                        if "@value" in {self._expand_key(ctx, k) for k in node}:
                            continue  # a free-floating value: no triple
                        self._node(node, ctx)
            else:
                self._node(item, ctx, top=True)
        out, self._out = self._out, []
        return out

    def _expand_key(self, ctx: Context, key: str) -> str | None:
        known = ctx.keys
        if key in known:
            return known[key]
        term = ctx.terms.get(key)
        if term is not None:
            expanded = term.iri
        else:
            try:
                expanded = self._expand(ctx, key, vocab=True)
            except Unsupported:
                expanded = None
        if len(known) < 10_000:
            known[key] = expanded
        return expanded

    def _named(self, iri: str) -> ox.NamedNode:
        node = self._nodes.get(iri)
        if node is None:
            try:
                node = ox.NamedNode(iri)
            except ValueError:
                raise Unsupported("an invalid IRI") from None
            if len(self._nodes) < 100_000:
                self._nodes[iri] = node
        return node

    def _resource(self, ctx: Context, value: str, vocab: bool):
        """A node reference: an IRI (document-relative IRIs go to the slow path) or a blank node."""
        if vocab and value in ctx.terms:
            iri = ctx.terms[value].iri
            if iri is None:
                return None
        else:
            iri = self._expand(ctx, value, vocab=vocab)
        if iri is None or iri.startswith("@"):
            return None
        if iri.startswith("_:"):
            return self._blank(iri[2:])
        if not _SCHEME.match(iri):
            raise Unsupported("a relative IRI")
        return self._named(iri)

    def _blank(self, label: str | None = None) -> ox.BlankNode:
        if label is None:
            self._fresh += 1
            return ox.BlankNode(f"{self._scope}n{self._fresh}")
        try:
            return ox.BlankNode(f"{self._scope}l{label}")
        except ValueError:
            raise Unsupported("a blank node label") from None

    def _node(self, node: dict, ctx: Context, top: bool = False):
        """Emit the triples of a node object; its subject.  ``top``: the document's own node, whose @context
        is already in ``ctx``."""
        if ctx.previous is not None:
            ctx = ctx.previous  # a type-scoped context does not reach into nested node objects
        if "@context" in node and not top:
            ctx = self.process(ctx, node["@context"])
        # Type-scoped contexts: the type keys and terms are read in the context before any of them; the
        # contexts of the types apply in the order of the terms, and then every other key is read in the result.
        type_values: list[str] = []
        for key in node:
            if key != "@context" and self._expand_key(ctx, key) == "@type":
                value = node[key]
                for t in (value if isinstance(value, list) else [value]):
                    if not isinstance(t, str):
                        raise Unsupported("a @type that is not a string")
                    type_values.append(t)
        type_ctx = ctx
        node_ctx = ctx
        for term in sorted(set(type_values)):
            definition = type_ctx.terms.get(term)
            if definition is not None and definition.scoped is not _UNSET:
                node_ctx = self.process(node_ctx, definition.scoped, propagate=False, stable=True)
        keys = [(key, self._expand_key(node_ctx, key)) for key in node if key != "@context"]
        subject = None
        for key, expanded in keys:
            if expanded == "@id":
                value = node[key]
                if not isinstance(value, str):
                    raise Unsupported("an @id that is not a string")
                subject = self._resource(node_ctx, value, vocab=False)
                if subject is None:
                    raise Unsupported("an @id that expands to nothing")
        if subject is None:
            subject = self._blank()
        out = self._out
        graph = _DEFAULT_GRAPH
        rdf_type = self._named(RDF_TYPE)
        for t in type_values:
            obj = self._resource(type_ctx, t, vocab=True)
            if obj is not None:
                out.append(ox.Quad(subject, rdf_type, obj, graph))
        for key, expanded in keys:
            if expanded in ("@id", "@type") or expanded is None:
                continue
            if expanded.startswith("@"):
                raise Unsupported(f"{expanded} in a node object")
            if expanded.startswith("_:") or not _SCHEME.match(expanded):
                raise Unsupported("a property that is not an absolute IRI")
            definition = node_ctx.terms.get(key)
            if definition is not None and definition.scoped is not _UNSET:
                raise Unsupported("a property-scoped context")
            predicate = self._named(expanded)
            value = node[key]
            container = definition.container if definition is not None else None
            if container == "@language":
                if not isinstance(value, dict):
                    raise Unsupported("a language map that is not an object")
                for language, texts in value.items():
                    for text in (texts if isinstance(texts, list) else [texts]):
                        if text is None:
                            continue
                        if not isinstance(text, str):
                            raise Unsupported("a language map value that is not a string")
                        out.append(ox.Quad(subject, predicate, self._literal(text, language=language), graph))
                continue
            if container == "@list":
                items: list[Any] | None = value if isinstance(value, list) else [value]
                if isinstance(value, dict) and any(self._expand_key(node_ctx, k) == "@list" for k in value):
                    items = None
                if items is not None:
                    out.append(ox.Quad(subject, predicate, self._list(items, definition, node_ctx), graph))
                    continue
            for item in (value if isinstance(value, list) else [value]):
                self._emit(subject, predicate, item, definition, node_ctx, graph)
        return subject

    def _emit(self, subject, predicate, value, definition: Term | None, ctx: Context, graph) -> None:
        if value is None:
            return
        if isinstance(value, list):
            for item in value:  # nested arrays are flattened outside of lists
                self._emit(subject, predicate, item, definition, ctx, graph)
            return
        if isinstance(value, dict):
            keys = {self._expand_key(ctx, k): k for k in value}
            if "@list" in keys:
                if set(keys) - {"@list", "@index"}:
                    raise Unsupported("a list object with other entries")
                items = value[keys["@list"]]
                self._out.append(ox.Quad(subject, predicate,
                                         self._list(items if isinstance(items, list) else [items], definition, ctx),
                                         graph))
                return
            if "@set" in keys:
                if set(keys) - {"@set", "@index"}:
                    raise Unsupported("a set object with other entries")
                self._emit(subject, predicate, value[keys["@set"]], definition, ctx, graph)
                return
            obj = self._value_object(value, keys, ctx) if "@value" in keys else self._node(value, ctx)
            if obj is not None:
                self._out.append(ox.Quad(subject, predicate, obj, graph))
            return
        obj = self._scalar(value, definition, ctx)
        if obj is not None:
            self._out.append(ox.Quad(subject, predicate, obj, graph))

    def _list(self, items: list, definition: Term | None, ctx: Context):
        terms = []
        for item in items:
            if item is None:
                continue
            if isinstance(item, list):
                raise Unsupported("a list of lists")
            if isinstance(item, dict):
                keys = {self._expand_key(ctx, k): k for k in item}
                if "@list" in keys or "@set" in keys:
                    raise Unsupported("a nested list")
                term = self._value_object(item, keys, ctx) if "@value" in keys else self._node(item, ctx)
            else:
                term = self._scalar(item, definition, ctx)
            if term is not None:
                terms.append(term)
        head: ox.NamedNode | ox.BlankNode = self._named(RDF_NIL)
        first, rest = self._named(RDF_FIRST), self._named(RDF_REST)
        for term in reversed(terms):
            cell = self._blank()
            self._out.append(ox.Quad(cell, first, term, _DEFAULT_GRAPH))
            self._out.append(ox.Quad(cell, rest, head, _DEFAULT_GRAPH))
            head = cell
        return head

    def _value_object(self, value: dict, keys: dict, ctx: Context):
        if set(keys) - {"@value", "@type", "@language", "@index"}:
            raise Unsupported("a value object with other entries")
        literal = value[keys["@value"]]
        if literal is None:
            return None
        datatype = value.get(keys["@type"]) if "@type" in keys else None
        language = value.get(keys["@language"]) if "@language" in keys else None
        if datatype is not None and language is not None:
            raise Unsupported("a value with both @type and @language")
        if datatype is not None:
            if not isinstance(datatype, str):
                raise Unsupported("a @type that is not a string")
            iri = self._expand(ctx, datatype, vocab=True)
            if not isinstance(iri, str) or not _SCHEME.match(iri):
                raise Unsupported("a datatype")
            if not isinstance(literal, str):
                raise Unsupported("a typed native value")
            return self._literal(literal, datatype=iri)
        if language is not None:
            if not isinstance(language, str) or not isinstance(literal, str):
                raise Unsupported("@language")
            return self._literal(literal, language=language)
        if isinstance(literal, str):
            return self._literal(literal)
        return self._native(literal, None)

    def _scalar(self, value, definition: Term | None, ctx: Context):
        kind = definition.kind if definition is not None else None
        if isinstance(value, str):
            if kind == "@id":
                return self._resource(ctx, value, vocab=False)
            if kind == "@vocab":
                return self._resource(ctx, value, vocab=True)
            if kind is not None:
                return self._literal(value, datatype=kind)
            language: Any = definition.language if definition is not None else _UNSET
            if language is _UNSET:
                language = ctx.language
            return self._literal(value, language=language) if language else self._literal(value)
        if kind is not None and kind not in ("@id", "@vocab"):
            raise Unsupported("a typed native value")
        return self._native(value, None)

    def _native(self, value, datatype):
        if isinstance(value, bool):
            return self._literal("true" if value else "false", datatype=XSD + "boolean")
        if isinstance(value, int):
            return self._literal(str(value), datatype=XSD + "integer")
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 1e21:
                return self._literal(str(int(value)), datatype=XSD + "integer")
            return self._literal(_canonical_double(value), datatype=XSD + "double")
        raise Unsupported("a value")

    def _literal(self, text: str, datatype: str | None = None, language: str | None = None) -> ox.Literal:
        try:
            if language:
                return ox.Literal(text, language=language)
            if datatype:
                return ox.Literal(text, datatype=self._named(datatype))
            return ox.Literal(text)
        except ValueError:
            raise Unsupported("a literal") from None


def _canonical_double(value: float) -> str:
    """The canonical lexical form of an xsd:double as JSON-LD writes it (``1.05E1``)."""
    from decimal import Decimal

    if value != value or value in (float("inf"), float("-inf")):
        raise Unsupported("a number that is not finite")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # a finite number's (checked above)
    text = "".join(map(str, digits))
    power = len(text) - 1 + exponent
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + mantissa + "E" + str(power)


# ------------------------------------------------------------------ the reader a load uses
def read_json(source, on_read=None) -> Any:
    """One JSON document from a file (gzipped or not), or a LoadError with line and column."""
    data = read_all(open_stream(source, on_read))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (byte {exc.start}); JSON-LD files must be UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise LoadError("not valid JSON: nested too deep") from None


class JsonLdReader:
    """The JSON-LD files of one run: the fast converter, or pyoxigraph's processor where it must."""

    def __init__(self, contexts_directory: str | None = None):
        self.contexts = ContextStore(contexts_directory)
        self.converter = Converter(self.contexts)
        self.slow = False  # a sampled document disagreed: this run uses pyoxigraph's processor throughout
        self.disagreed: str | None = None
        self.fallbacks: set[str] = set()  # documents the fast converter does not cover

    def calibrate(self, sources) -> None:
        """Convert a sample of the run's documents both ways; any difference sends the run to the slow path."""
        documents = [s for s in sources if s.fmt == "jsonld"]
        picked = [s for i, s in enumerate(documents) if i < SAMPLE_FIRST or i % SAMPLE_EVERY == 0]
        for source in picked:
            try:
                document = read_json(source)
                fast = self.converter.document(document, source.base, "s_")
            except (LoadError, Unsupported):
                continue  # its error comes in the check pass; an unsupported one takes the slow path there
            try:
                reference = self.reference(document, source.base)
            except LoadError:
                continue
            if not same_graph(fast, reference):
                self.slow, self.disagreed = True, str(source.path)
                return

    def quads(self, source, on_read=None) -> Iterator[ox.Quad]:
        document = read_json(source, on_read)
        if not self.slow:
            try:
                return iter(self.converter.document(document, source.base, ""))
            except Unsupported:
                self.fallbacks.add(str(source.path))
        return iter(self.reference(document, source.base))

    def reference(self, document: Any, base: str) -> list[ox.Quad]:
        """pyoxigraph's JSON-LD 1.1 processor on the document with its contexts inlined."""
        data = json.dumps(self.contexts.inline_document(document)).encode("utf-8")
        try:
            return list(ox.parse(data, format=ox.RdfFormat.JSON_LD, base_iri=base))
        except SyntaxError as exc:
            message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            raise LoadError(f"not valid JSON-LD: {one_line(message)}") from None
        except ValueError as exc:
            raise LoadError(f"not valid JSON-LD: {one_line(exc)}") from None

    def notes(self) -> list[str]:
        notes = []
        if self.slow:
            notes.append(f"the JSON-LD document {self.disagreed} read differently by kgenrich's converter and by "
                         "pyoxigraph's JSON-LD processor: every document of this run went through pyoxigraph's "
                         "(slower) processor")
        if self.fallbacks:
            notes.append(f"{len(self.fallbacks)} JSON-LD documents use constructs kgenrich's converter does not "
                         "cover and went through pyoxigraph's (slower) processor")
        return notes


def same_graph(a: list[ox.Quad], b: list[ox.Quad]) -> bool:
    """Whether two lists of quads are the same dataset up to blank node labels (RDFC-1.0)."""
    if len(set(a)) != len(set(b)):
        return False
    canon = []
    for quads in (a, b):
        dataset = ox.Dataset(quads)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        canon.append({str(q) for q in dataset})
    return canon[0] == canon[1]
