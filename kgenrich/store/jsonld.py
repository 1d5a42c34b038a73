"""JSON-LD documents into quads, offline, each context processed once per run.

Contexts.  A document names its context by URL; nothing is fetched: a context
comes from the directory of the ``jsonld_contexts`` setting or from the copy
kgenrich ships for Linked Art (:mod:`~kgenrich.store.jsonld_contexts`).

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

Where each part lives: contexts offline in :mod:`~kgenrich.store.jsonld_contexts`,
context processing in :mod:`~kgenrich.store.jsonld_terms`, documents into quads
in :mod:`~kgenrich.store.jsonld_converter`; here the files of one run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyoxigraph as ox

from ..errors import LoadError
from .jsonld_contexts import ContextStore
from .jsonld_converter import Converter
from .jsonld_terms import Unsupported
from .rdfio import one_line
from .streams import open_stream, read_all

SAMPLE_FIRST = 3
SAMPLE_EVERY = 200


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


__all__ = ["ContextStore", "Converter", "JsonLdReader", "Unsupported", "read_json", "same_graph"]
