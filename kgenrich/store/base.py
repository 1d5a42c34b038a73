"""The one store interface every stage uses.

Two built-in implementations: :class:`~kgenrich.store.embedded.EmbeddedStore`
(pyoxigraph, in memory or on disk) and :class:`~kgenrich.store.remote.RemoteStore`
(any SPARQL 1.1 endpoint, optionally with the Graph Store Protocol); more come by
name from the registry (``kgenrich/store/__init__.py``).  Each speaks
rdflib terms to the rest of the package, so the same ``queries/*.rq`` run on
both and the caller never sees which store it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from rdflib import BNode, URIRef
from rdflib.term import Node

from .. import sparql
from ..errors import LoadError, StoreError
from .loading import LoadOptions, LoadRun, guess_format
from .rdfio import gunzip, parse_quads, serialized

if TYPE_CHECKING:
    from ..config import Settings

Row = dict[str, Node]
Triple = tuple[Node, Node, Node]

# Format names as the CLI and the stores use them, with their media types.
FORMATS = {
    "turtle": "text/turtle",
    "trig": "application/trig",
    "ntriples": "application/n-triples",
    "nquads": "application/n-quads",
    "rdfxml": "application/rdf+xml",
    "jsonld": "application/ld+json",
}
QUAD_FORMATS = {"trig", "nquads"}
# Rows per result page where a store may cut results: half of Virtuoso's default ResultSetMaxRows (10000).
DEFAULT_PAGE_ROWS = 5000
DEFAULT_BATCH_TRIPLES = 5000
# Bytes per update request where a store's requests must stay small (SPARQL Update over HTTP).
DEFAULT_BATCH_BYTES = 4_000_000
# A document read whole (task definitions, a configuration file): a gzip stream that decompresses to more is
# refused instead of filling the memory (collections go through ``kgenrich load``, which streams).
MAX_IN_MEMORY_BYTES = 256 * 1024 * 1024


def read_rdf_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzipped (at most MAX_IN_MEMORY_BYTES decompressed)."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if path.is_dir():
        raise LoadError(f"{path}: is a directory, not an RDF file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return gunzip(data, limit=MAX_IN_MEMORY_BYTES)
    except LoadError as exc:
        raise LoadError(f"{path}: {exc}") from None


def read_triples(path: Path, fmt: str | None = None) -> list[Triple]:
    """The triples of one file of a triple format, parsed exactly as a load parses it (rdflib terms).

    Errors are LoadErrors of one line naming the file, and the line where the parser gives one.
    """
    from .terms import to_rdflib

    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt in QUAD_FORMATS:
        raise LoadError(f"{path}: give a triple format (Turtle, N-Triples, RDF/XML), not {fmt}")
    data = read_rdf_bytes(path)
    try:
        quads = parse_quads(data, fmt, base=path.resolve().as_uri())
    except LoadError as exc:
        raise LoadError(f"{path}: {exc}") from None
    return [(to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)) for q in quads]


def swap_request(pairs: Mapping[URIRef, URIRef]) -> str:
    """One update request that replaces each live graph by its staged graph, in the mapping's order."""
    pairs = dict(pairs)
    graphs = [*pairs, *pairs.values()]
    if not pairs or len(set(graphs)) != len(graphs):
        raise StoreError("a swap needs distinct live and staged graphs, each named once")
    return " ;\n".join(sparql.prepare("replace_graph_swap", target=live, scratch=staged).strip()
                        for live, staged in pairs.items())


def iter_ntriples_blocks(path: Path, max_bytes: int, max_lines: int | None = None) -> Iterator[str]:
    """The lines of an N-Triples file in blocks of whole lines: at most ``max_bytes`` and ``max_lines``
    each (and at least one line)."""
    block: list[str] = []
    size = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            n = len(line.encode("utf-8"))
            if block and (size + n > max_bytes or (max_lines and len(block) >= max_lines)):
                yield "".join(block)
                block, size = [], 0
            block.append(line)
            size += n
    if block:
        yield "".join(block)


def update_request(operations: Sequence[str], data: Sequence[tuple[URIRef, Path]]) -> str:
    """One update request: the operations, then an INSERT DATA per (graph, N-Triples file)."""
    parts = list(operations)
    for graph, path in data:
        body = Path(path).read_text(encoding="utf-8")
        if body.strip():
            parts.append(sparql.prepare("insert_ntriples", graph=graph, triples=sparql.RawTriples(body)))
    return sparql.join_updates(parts)


@dataclass
class Solutions:
    """A SELECT result read as it arrives: the projected variables, then the rows one by one.

    Iterate over it once.  Stores that can (both of ours) produce rows lazily, so
    a million-row result is never held in memory; ``close()`` releases what an
    abandoned iteration still holds (an HTTP connection).
    """

    variables: list[str]
    rows: Iterator[Row]

    def __iter__(self) -> Iterator[Row]:
        return self.rows

    def close(self) -> None:
        close = getattr(self.rows, "close", None)
        if close is not None:
            close()


@dataclass
class LoadReport:
    path: str
    format: str
    quads: int
    graphs: int


class Store(ABC):
    """A quad store that answers SPARQL 1.1 and accepts whole-graph writes.

    What differs between stores is said here, as capabilities, so that callers
    ask the store instead of testing its class:

    - :attr:`page_rows`: rows one result may safely carry (None: no limit);
    - :attr:`default_graph_is_union`: the store's own default graph is the union of its named graphs;
    - :attr:`read_only`: opened by a command that only reads; every write raises StoreError;
    - :attr:`concurrent_reads`: several queries may run at once from threads of one process.

    Queries never depend on the last one: a store whose default graph is not
    the union answers them as if it were (see :class:`~kgenrich.store.remote.RemoteStore`).
    """

    #: Human-readable description for messages (never includes credentials).
    description: str = "store"

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False, in_memory: bool = False) -> Self:
        """The store the settings describe (:func:`kgenrich.store.open_store` picks the class by
        ``settings.store_kind``).  ``read_only``: every write is refused (see :attr:`read_only`);
        ``in_memory``: nothing kept on disk, where the store has a disk to keep it on."""
        raise NotImplementedError(f"{cls.__name__} does not say how it is built from the settings")

    # --- capabilities --------------------------------------------------------
    # The values here are what a store that says nothing about itself can be
    # relied on for; EmbeddedStore and RemoteStore state their own.
    @property
    def page_rows(self) -> int | None:
        """Rows a single result may safely carry; None when results are never cut."""
        return DEFAULT_PAGE_ROWS

    @property
    def default_graph_is_union(self) -> bool | None:
        """Whether the store's own default graph holds the triples of its named graphs (None: not known yet)."""
        return None

    #: Opened for reading only (see :func:`kgenrich.store.open_store`): writes are refused, never sent.
    read_only: bool = False

    #: Whether queries may run at once from several threads (dataset extraction then reads a page's
    #: inputs side by side).  Off unless a store says it is safe.
    concurrent_reads: bool = False

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(f"{self.description} was opened read-only: {what} refused "
                             "(a command that only reads never writes)")

    # --- reading -----------------------------------------------------------
    @abstractmethod
    def select(self, query: str) -> list[Row]:
        """Rows of a SELECT, each a dict of bound variables to rdflib terms."""

    def select_iter(self, query: str) -> Solutions:
        """The rows of a SELECT as they come, with the projected variables in their order.

        This generic version reads the whole result first; stores that can stream say so by overriding it.
        """
        rows = self.select(query)
        variables: list[str] = []
        for row in rows:
            variables.extend(name for name in row if name not in variables)
        return Solutions(variables, iter(rows))

    @abstractmethod
    def ask(self, query: str) -> bool:
        """The answer to an ASK."""

    @abstractmethod
    def construct(self, query: str) -> list[Triple]:
        """Triples of a CONSTRUCT (or DESCRIBE)."""

    # --- writing -----------------------------------------------------------
    @abstractmethod
    def update(self, text: str, *, idempotent: bool = False) -> None:
        """Run one SPARQL Update request (all or nothing where the store applies a request in one transaction).

        ``idempotent``: applying the request twice has the effect of applying it
        once (DROP SILENT, INSERT DATA of ground triples).  Only such a request
        is ever repeated after it may have reached the store; any other is
        repeated only when it certainly never left.
        """

    @abstractmethod
    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None, *,
                   staging: str | None = None) -> int:
        """Add RDF in a format of FORMATS (gzipped or not); all or nothing.  Returns the quads added.

        Triples go into ``graph`` (the default graph when None); quad formats keep their graphs.
        ``staging``: an IRI prefix for graphs of kgenrich's own where a store that
        cannot load in one request stages the data before moving it in (see
        :class:`~kgenrich.store.remote.RemoteStore`).  A syntax error raises
        LoadError (with line and column where the parser gives them) before anything is written.
        """

    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        """Write the full content of a graph no reader uses yet (a staging graph), the fastest way the store has.

        Whatever the graph held before is gone.  Returns the number of triples
        written.  This generic version uses SPARQL Update: DROP SILENT, then
        INSERT DATA batches of ground triples, then one request for the triples
        with blank nodes (whose labels are scoped to one request).
        """
        triples = list(triples)
        self.update(sparql.prepare("drop_graph", graph=graph), idempotent=True)
        self._insert_triples(graph, triples, DEFAULT_BATCH_TRIPLES)
        return len(triples)

    def swap_graphs(self, pairs: Mapping[URIRef, URIRef]) -> None:
        """For each ``live: staged`` pair, replace the live graph by the staged one, in ONE update request.

        The staged graph is gone afterwards; an empty (or absent) staged graph
        leaves the live graph empty.  Pairs are applied in the mapping's order,
        which matters on a store that does not apply a request in one transaction.  Never repeated:
        after a lost answer, a second MOVE of the (by then absent) staged graph
        would empty the fresh live graph.
        """
        self.update(swap_request(pairs), idempotent=False)

    def replace_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        """Replace the content of one named graph in a single step readers see whole.

        Staged into a scratch graph, then swapped in.  Returns the number of triples written.
        """
        scratch = URIRef(f"{graph}#kgenrich-replace")
        written = self.stage_graph(scratch, triples)
        self.swap_graphs({graph: scratch})
        return written

    # --- bulk writes of prepared N-Triples files -------------------------------
    @property
    def max_update_bytes(self) -> int | None:
        """The largest update request (in bytes) sent in one piece; None when there is no such limit."""
        return DEFAULT_BATCH_BYTES

    @property
    def max_update_triples(self) -> int | None:
        """The most triples one update request carries (some servers refuse more); None: no such limit."""
        return DEFAULT_BATCH_TRIPLES

    def add_ntriples(self, graph: URIRef, path: Path) -> int:
        """Add an N-Triples file (ground triples) to a graph, the fastest way the store has, with bounded
        memory: for a graph no reader relies on yet (a staging graph, a first write).  Not atomic: after a
        failure the graph may hold part of the file.  Returns the number of lines sent.

        This generic version sends INSERT DATA requests of at most :attr:`max_update_bytes`.
        """
        sent = 0
        for block in iter_ntriples_blocks(path, self.max_update_bytes or DEFAULT_BATCH_BYTES, self.max_update_triples):
            self.update(sparql.prepare("insert_ntriples", graph=graph, triples=sparql.RawTriples(block)),
                        idempotent=True)
            sent += block.count("\n")
        return sent

    def update_with_data(self, operations: Sequence[str], data: Sequence[tuple[URIRef, Path]]) -> None:
        """ONE update request: ``operations`` in order, then the triples of each N-Triples file added to its graph.

        Atomic where the store applies a request in one transaction.  Never repeated (it may hold deletions).  The caller keeps
        the request within :attr:`max_update_bytes`.
        """
        self.update(update_request(operations, data), idempotent=False)

    def put_ntriples(self, graph: URIRef, path: Path) -> bool:
        """Replace a graph by an N-Triples file in one request readers see whole, where the store can (a Graph
        Store PUT); False (nothing done) where it cannot."""
        return False

    @abstractmethod
    def drop_graph(self, graph: URIRef) -> None:
        """Remove a named graph (silently if absent)."""

    def content_digest(self, skip) -> str | None:
        """A digest of the content of every graph but those ``skip(graph IRI)`` names, where the store can
        compute one in a fraction of the time a full extraction takes; None where it cannot.  Equal
        content gives an equal digest; any changed, added or removed triple changes it."""
        return None

    @abstractmethod
    def graph_names(self) -> list[URIRef]:
        """The named graphs that hold at least one triple."""

    @abstractmethod
    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        """Every triple of one named graph."""

    def _insert_triples(self, graph: URIRef | None, triples: list[Triple], batch_triples: int) -> None:
        """Add triples by SPARQL Update: ground ones in INSERT DATA batches (repeatable), the rest in one request.

        Blank node labels are scoped to one request, so every triple with a
        blank node goes in the same request; that request is not repeatable (a
        second copy would add fresh blank nodes).  ``graph`` None: the default graph.
        """
        ground = [t for t in triples if not any(isinstance(x, BNode) for x in t)]
        blank = [t for t in triples if any(isinstance(x, BNode) for x in t)]
        for start in range(0, len(ground), batch_triples):
            block = sparql.TripleBlock(ground[start:start + batch_triples])
            if graph is None:
                self.update(sparql.prepare("insert_data_default", triples=block), idempotent=True)
            else:
                self.update(sparql.prepare("insert_data", graph=graph, triples=block), idempotent=True)
        if blank:
            block = sparql.TripleBlock(blank)
            if graph is None:
                self.update(sparql.prepare("insert_blank_default", triples=block))
            else:
                self.update(sparql.prepare("insert_blank", graph=graph, triples=block))

    def close(self) -> None:  # noqa: B027 - a store with nothing to release need not override it
        """Release files or connections."""

    # --- shared conveniences ----------------------------------------------
    def load_file(self, path: Path, fmt: str | None = None, graph: URIRef | None = None, *,
                  staging: str | None = None, options: LoadOptions | None = None) -> LoadReport:
        """Load one file, all or nothing, naming the file in any error (and the line, where the parser gives one)."""
        path = Path(path)
        if path.is_dir():
            raise LoadError(f"{path}: is a directory, not an RDF file")
        fmt = fmt or guess_format(path)
        run = self.load_files([path], fmt=fmt, graph=graph, staging=staging, options=options)
        return LoadReport(str(path), fmt, run.added, 0)

    def load_files(self, paths, fmt: str | None = None, graph: URIRef | None = None, *,
                   staging: str | None = None, options: LoadOptions | None = None, on_commit=None) -> LoadRun:
        """Load files and directories (their RDF files, recursively) in ONE run, all or nothing: every file is
        checked before anything is written.  ``on_commit`` is called just before the step that makes the run
        permanent (the command line stops treating Ctrl-C as a cancel from there on).

        This generic version reads each file whole and hands it to :meth:`load_bytes`; both stores of
        kgenrich stream instead.
        """
        import pyoxigraph as ox

        from .loading import LoadErrors, Reader, collect_sources, graph_errors, new_prefix

        sources, skipped, errors = collect_sources(paths, fmt)
        errors += graph_errors(sources, graph)
        reader = Reader(new_prefix(), None if graph is None else ox.NamedNode(str(graph)), options or LoadOptions())
        documents = []
        run = LoadRun(skipped=skipped)
        for number, source in enumerate(sources):
            try:
                quads = list(reader.quads(number, source))
            except LoadError as exc:
                errors.append(f"{source.path}: {exc}")
                continue
            documents.append(quads)
            run.files.append((str(source.path), source.fmt, len(quads)))
        if errors:
            raise LoadErrors(errors)
        if on_commit is not None:
            on_commit()
        for quads in documents:
            run.added += self.load_bytes(serialized(quads, ox.RdfFormat.N_QUADS), "nquads", staging=staging)
        return run

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
