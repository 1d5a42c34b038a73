"""Streamed, all-or-nothing loads of RDF files and directories: what both stores share.

A load run (one ``kgenrich load`` with its files and directories) goes in two
passes over the input, never holding a file in memory:

1. **Check.**  Every file is parsed as a stream (gzip decompressed as it is
   read, :mod:`kgenrich.store.streams`) and its statements counted.  A syntax
   error, a broken gzip stream, an unknown JSON-LD context or a token over the
   parser's 16 MiB limit anywhere in any file stops the run here, before
   anything is written: the store is as it was.  Every failing file is
   reported, one line each.
2. **Write.**  The embedded store writes a run of at most one batch (and at
   most :data:`TRANSACTION_QUADS` statements) in one transaction, a larger one
   with its bulk loader in batches of ``load_batch_quads`` under a load journal
   (:mod:`kgenrich.store.journal`); a remote store stages it in bounded batches
   and moves it in one request (:mod:`kgenrich.store.remote_load`).

Blank nodes.  Every file of a run gets blank-node labels of its own (the run's
random prefix, the file's number, the label as written; a JSON-LD document's
labels are scoped by the converter), so two files, two documents or one file
loaded twice never share a blank node, and what a run wrote into a graph that
already had triples can be told from what was there by that prefix.  A run
into graphs that are all new lets the parser name blank nodes at random
instead (:attr:`Reader.parser_renames`): cheaper, and just as unshared.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

from ..errors import LoadError
from .rdfio import OX_FORMATS, check_xml_stream, one_line, syntax_error
from .streams import Source, open_stream, read_error

if TYPE_CHECKING:
    from .jsonld import JsonLdReader

# A run of at most this many statements is written in one transaction (no journal, no second pass).
TRANSACTION_QUADS = 100_000
DEFAULT_BATCH_QUADS = 500_000
# The parser's longest token (pyoxigraph's buffer limit); named in the error for a longer literal or IRI.
MAX_TOKEN_BYTES = 16 * 1024 * 1024
QUAD_FORMATS = {"trig", "nquads"}
_SUFFIXES = {
    ".ttl": "turtle", ".turtle": "turtle", ".trig": "trig", ".nt": "ntriples", ".ntriples": "ntriples",
    ".nq": "nquads", ".nquads": "nquads", ".rdf": "rdfxml", ".owl": "rdfxml", ".xml": "rdfxml",
    ".jsonld": "jsonld", ".json": "jsonld",
}
_PROGRESS_EVERY = 16_384


def guess_format(path: Path) -> str:
    """The RDF format of a file from its name (``.gz`` looked through)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        known = ", ".join(sorted(_SUFFIXES))
        raise LoadError(f"{path}: unknown RDF format '{suffix or name}' (known: {known}, optionally .gz)")
    return _SUFFIXES[suffix]


def has_rdf_suffix(path: Path) -> bool:
    name = path.name.lower()
    return Path(name[:-3] if name.endswith(".gz") else name).suffix in _SUFFIXES


# ------------------------------------------------------------------ what a run reads
@dataclass
class LoadOptions:
    """How a run loads: bulk batch size (bounds memory), offline JSON-LD contexts, progress bars."""

    batch_quads: int = DEFAULT_BATCH_QUADS
    jsonld_contexts: str | None = None
    progress: bool = False


@dataclass
class LoadRun:
    """What a run loaded: per file (path, format, statements read), and the quads the store gained."""

    files: list[tuple[str, str, int]] = field(default_factory=list)
    added: int = 0
    skipped: int = 0  # files in a directory without an RDF suffix
    notes: list[str] = field(default_factory=list)

    @property
    def statements(self) -> int:
        return sum(n for _, _, n in self.files)


class LoadErrors(LoadError):
    """Several files of one run failed the check: one line each; nothing was loaded."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__(self.messages[0] if len(self.messages) == 1 else
                         f"{len(self.messages)} files failed; nothing was loaded: " + "; ".join(self.messages[:3]))


def graph_errors(sources, graph) -> list[str]:
    """Where --graph does not fit the files: a quad format named with --graph (found in a directory, it keeps
    its graphs), JSON-LD without it."""
    errors = []
    for source in sources:
        if graph is not None and source.fmt in QUAD_FORMATS and not source.in_directory:
            errors.append(f"{source.path}: --graph applies to triple formats; {source.fmt} carries its own graphs")
        elif graph is None and source.fmt == "jsonld":
            errors.append(f"{source.path}: JSON-LD documents name no graph: give --graph IRI (the collection's "
                          "named graph; kgenrich reads artifacts from named graphs only)")
    return errors


def checked_sources(paths: Iterable[Path], fmt: str | None, graph) -> tuple[list[Source], int]:
    """The files of a run (:func:`collect_sources`) and the number skipped, or LoadErrors for every file
    that is missing or does not fit ``--graph`` (:func:`graph_errors`), or a LoadError when there is none."""
    sources, skipped, errors = collect_sources(paths, fmt)
    errors += graph_errors(sources, graph)
    if errors:
        raise LoadErrors(errors)
    if not sources:
        raise LoadError("no RDF files to load" + (f" ({skipped} files without an RDF suffix skipped)" if skipped
                                                  else ""))
    return sources, skipped


def collect_sources(paths: Iterable[Path], fmt: str | None = None) -> tuple[list[Source], int, list[str]]:
    """The files of a run, in order: each named file, and each directory's RDF files (recursively, sorted by
    path; hidden entries and files without an RDF suffix skipped and counted).  Returns (sources, skipped,
    errors)."""
    sources: list[Source] = []
    errors: list[str] = []
    skipped = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    if name.startswith("."):
                        continue
                    child = Path(root) / name
                    if has_rdf_suffix(child):
                        found.append(child)
                    else:
                        skipped += 1
            for child in sorted(found):
                sources.append(Source(child, fmt or guess_format(child), _size(child), in_directory=True))
            continue
        if not path.exists():
            errors.append(f"{path}: no such file")
            continue
        try:
            sources.append(Source(path, fmt or guess_format(path), _size(path)))
        except LoadError as exc:
            errors.append(str(exc))
    return sources, skipped, errors


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ------------------------------------------------------------------ statements of one file
class Reader:
    """Parses the files of one run into quads, the same way in the check pass and in the write pass.

    ``prefix``: the run's blank-node prefix; a file's blank nodes become ``prefix + f{n}_ + label``.
    ``target``: where triples without a graph go (a NamedNode, or the default graph).
    """

    def __init__(self, prefix: str, target, options: LoadOptions):
        self.prefix = prefix
        self.target = target if target is not None else ox.DefaultGraph()
        self.options = options
        self._jsonld: JsonLdReader | None = None
        # Set for a write into graphs that are all new: the parser then gives blank nodes random labels itself
        # (no run could share them, and a rollback removes those graphs whole), which spares a new Python
        # quad for every statement with a blank node.  JSON-LD documents keep their scoped labels.
        self.parser_renames = False

    def jsonld(self):
        if self._jsonld is None:
            from .jsonld import JsonLdReader

            self._jsonld = JsonLdReader(self.options.jsonld_contexts)
        return self._jsonld

    def prepare(self, sources: list[Source]) -> None:
        """Before a run's check pass: decide how its JSON-LD documents are read (see kgenrich.store.jsonld)."""
        if any(s.fmt == "jsonld" for s in sources):
            self.jsonld().calibrate(sources)

    def notes(self) -> list[str]:
        return self._jsonld.notes() if self._jsonld is not None else []

    def scope(self, number: int) -> str:
        return f"{self.prefix}f{number}_"

    def quads(self, number: int, source: Source, on_read=None) -> Iterator[ox.Quad]:
        """The quads of one file, blank nodes renamed, triples put into the target graph.  Raises LoadError
        (without the file name: the caller adds it) at the first thing that does not parse."""
        return self.rename(number, source, self.raw(source, on_read))

    def raw(self, source: Source, on_read=None) -> Iterator[ox.Quad]:
        """The quads as parsed: blank nodes as labelled by the parser, triples in the default graph."""
        if source.fmt == "jsonld":
            return self.jsonld().quads(source, on_read)
        return self._parsed(source, on_read)

    def rename(self, number: int, source: Source, quads: Iterable[ox.Quad]) -> Iterator[ox.Quad]:
        """Parsed quads as they are written: the file's blank-node scope, triples into the target graph."""
        if self.parser_renames and source.fmt != "jsonld":
            return iter(quads) if source.fmt in QUAD_FORMATS else self._moved(quads, self.target)
        return self._renamed(quads, self.scope(number), None if source.fmt in QUAD_FORMATS else self.target)

    @staticmethod
    def _moved(quads: Iterable[ox.Quad], target) -> Iterator[ox.Quad]:
        if type(target) is ox.DefaultGraph:
            yield from quads
            return
        make = ox.Quad
        for q in quads:
            yield make(q.subject, q.predicate, q.object, target)

    def _parsed(self, source: Source, on_read) -> Iterator[ox.Quad]:
        if source.fmt not in OX_FORMATS:
            raise LoadError(f"unknown RDF format '{source.fmt}'")
        count = 0
        stream = open_stream(source, on_read)
        try:
            if source.fmt == "rdfxml":
                # The RDF/XML parser accepts some truncated files: check the XML first (a third read; RDF/XML
                # files are vocabularies, not collections).
                check_xml_stream(stream)
                stream.close()
                stream = open_stream(source)
            try:
                for quad in ox.parse(stream, format=OX_FORMATS[source.fmt], base_iri=source.base,
                                     rename_blank_nodes=self.parser_renames):
                    count += 1
                    yield quad
            except SyntaxError as exc:
                raise syntax_error(exc, source.fmt) from None
            except MemoryError as exc:
                if "buffer maximal size" in str(exc):
                    raise LoadError(f"a literal or IRI longer than {MAX_TOKEN_BYTES // (1024 * 1024)} MiB (the "
                                    f"parser's limit) after statement {count:,}") from None
                raise
            except ValueError as exc:  # e.g. a base IRI the parser refuses
                raise LoadError(one_line(exc)) from None
            except (OSError, EOFError, zlib.error) as exc:
                raise read_error(exc) from None
        finally:
            stream.close()

    @staticmethod
    def _renamed(quads: Iterable[ox.Quad], scope: str, target) -> Iterator[ox.Quad]:
        # The hot loop of a load: a few type checks per quad, a new Quad only where something changes.
        blank = ox.BlankNode
        make = ox.Quad
        # the terms: ``type(x) is blank`` (the fastest test) does not narrow their types for mypy
        s: Any
        o: Any
        g: Any
        if target is None:  # quad formats keep their graphs
            for q in quads:
                s, o, g = q.subject, q.object, q.graph_name
                sb, ob, gb = type(s) is blank, type(o) is blank, type(g) is blank
                if sb or ob or gb:
                    yield make(blank(scope + s.value) if sb else s, q.predicate,
                               blank(scope + o.value) if ob else o, blank(scope + g.value) if gb else g)
                else:
                    yield q
        else:
            for q in quads:
                s, o = q.subject, q.object
                sb, ob = type(s) is blank, type(o) is blank
                g = q.graph_name
                if type(g) is blank:
                    g = blank(scope + g.value)
                elif type(g) is ox.DefaultGraph:
                    g = target
                yield make(blank(scope + s.value) if sb else s, q.predicate, blank(scope + o.value) if ob else o, g)


def new_prefix() -> str:
    """A run's blank-node prefix: random, so that no two runs ever share a blank node."""
    return "kgl" + uuid.uuid4().hex[:16]


def graph_key(graph) -> str:
    """A graph name as the journal writes it: the IRI, '' for the default graph, '_:label' for a blank one."""
    if type(graph) is ox.DefaultGraph:
        return ""
    if type(graph) is ox.BlankNode:
        return "_:" + graph.value
    return graph.value


def graph_term(key: str):
    if key == "":
        return ox.DefaultGraph()
    if key.startswith("_:"):
        return ox.BlankNode(key[2:])
    return ox.NamedNode(key)


def counted(quads: Iterable[ox.Quad], on_quads: Callable[[int], None] | None) -> Iterator[ox.Quad]:
    """The quads, reporting progress every few thousand."""
    if on_quads is None:
        yield from quads
        return
    n = 0
    for q in quads:
        yield q
        n += 1
        if n == _PROGRESS_EVERY:
            on_quads(n)
            n = 0
    if n:
        on_quads(n)


def batches(quads: Iterator[ox.Quad], size: int) -> Iterator[Iterator[ox.Quad]]:
    """Consecutive slices of at most ``size`` quads, each consumed lazily (no list of a batch is kept)."""
    quads = iter(quads)
    while True:
        first = next(quads, None)
        if first is None:
            return
        yield itertools.chain((first,), itertools.islice(quads, size - 1))


# ------------------------------------------------------------------ progress
class Progress:
    """Two tqdm bars on a terminal's stderr (checking: bytes of the files read; loading: quads and quads/s)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None

    def start(self, desc: str, total: int | None, unit: str, scale: bool = True) -> None:
        self.close()
        if self.enabled:
            from tqdm import tqdm

            # disable=None: only on a terminal (a script's stderr keeps its one-line errors).
            self._bar = tqdm(total=total or None, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024
                             if unit == "B" else 1000, file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                             leave=False, disable=None)

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def notice(message: str) -> None:
    """A line on stderr for the user (the store layer has no console of its own)."""
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["DEFAULT_BATCH_QUADS", "LoadErrors", "LoadOptions", "LoadRun", "Progress", "QUAD_FORMATS", "Reader",
           "Source", "TRANSACTION_QUADS", "batches", "collect_sources", "counted", "graph_key", "graph_term",
           "guess_format", "new_prefix", "notice", "now_iso", "open_stream"]
