"""JSON-LD documents into quads with the active contexts of :mod:`~kgenrich.store.jsonld_terms`.

Node objects, value objects, lists and scalars become pyoxigraph quads; a
construct outside the covered part of JSON-LD 1.1 raises :class:`Unsupported`.
"""

from __future__ import annotations

from typing import Any

import pyoxigraph as ox

from .jsonld_contexts import ContextStore
from .jsonld_terms import (
    RDF_FIRST,
    RDF_NIL,
    RDF_REST,
    RDF_TYPE,
    SCHEME,
    UNSET,
    XSD,
    Context,
    ContextProcessor,
    Term,
    Unsupported,
)

DEFAULT_GRAPH = ox.DefaultGraph()


class Converter(ContextProcessor):
    """JSON-LD documents into quads, with every (context, local context) pair processed once."""

    def __init__(self, contexts: ContextStore):
        super().__init__(contexts)
        self._nodes: dict[str, ox.NamedNode] = {}
        self._root = Context()

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
        if not SCHEME.match(iri):
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
            if definition is not None and definition.scoped is not UNSET:
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
        graph = DEFAULT_GRAPH
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
            if expanded.startswith("_:") or not SCHEME.match(expanded):
                raise Unsupported("a property that is not an absolute IRI")
            definition = node_ctx.terms.get(key)
            if definition is not None and definition.scoped is not UNSET:
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
            self._out.append(ox.Quad(cell, first, term, DEFAULT_GRAPH))
            self._out.append(ox.Quad(cell, rest, head, DEFAULT_GRAPH))
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
            if not isinstance(iri, str) or not SCHEME.match(iri):
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
            language: Any = definition.language if definition is not None else UNSET
            if language is UNSET:
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

