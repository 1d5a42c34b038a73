"""The embedded store: pyoxigraph, in memory or persistent in a directory.

Queries run with the union of all graphs as the default graph, which is what
Virtuoso does and what an Oxigraph server does with ``--union-default-graph``:
vocabulary look-ups see every graph, and queries that must stay inside one
museum graph say so with ``GRAPH``.

Several processes.  The store directory (RocksDB) can be written by one process
at a time; a second writer is told plainly who holds it.  Commands that only
read open it read-only (``read_only=True``): that takes no lock, so they run
while a sync or a load writes, and it needs no write permission, so a
read-only directory can be queried.  A read-only opening sees the store as it
was when it was opened (every update request of the writer is one transaction,
so it sees a sync's swap entirely or not at all).  pyoxigraph calls reading
beside a live writer undefined behaviour; what happens in practice is that the
writer's compactions remove files an opening reader was about to read, which
fails loudly, and the opening is then simply repeated (``OPEN_ATTEMPTS``).
The soak test (tests/test_soak.py) checks the result under load.

Queries (``guard.py``): a SERVICE is run only to the endpoints of ``service_endpoints``;
each query is evaluated in a helper thread and waited for in short waits, so Ctrl-C
stops it at once and ``query_timeout`` bounds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self, cast

import pyoxigraph as ox
from rdflib import URIRef

from ..errors import LoadError, StoreError
from . import journal
from .base import FORMATS, Row, Solutions, Store, Triple, swap_request
from .guard import DEFAULT_QUERY_TIMEOUT, bounded_iter, check_service
from .loading import LoadOptions, LoadRun
from .rdfio import OX_FORMATS, one_line, prepare, syntax_error
from .terms import solution_row, to_oxigraph, to_rdflib

if TYPE_CHECKING:
    from ..config import Settings

# Bytes of N-Triples per bulk load: small enough that the loader's buffers stay small, large
# enough that it does not write a swarm of tiny index files.
_BULK_BLOCK_BYTES = 16_000_000

# A reader opening beside a writer may find a file gone that the store's manifest still named
# (a compaction finished in between); the next attempt reads the new manifest.
OPEN_ATTEMPTS = 8
OPEN_BACKOFF = 0.05  # seconds, doubled per attempt (about 6 s in all)


def _vanished_file(exc: BaseException) -> bool:
    return "No such file or directory" in str(exc)


def _lock_held(exc: BaseException) -> bool:
    # RocksDB's words for its LOCK file held by another process, or by this one.
    text = str(exc)
    return "LOCK" in text and ("Resource temporarily unavailable" in text or "lock hold by current process" in text)


class EmbeddedStore(Store):
    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 service_endpoints: Iterable[str] = (), query_timeout: float = DEFAULT_QUERY_TIMEOUT):
        self.service_endpoints = tuple(service_endpoints)
        self.query_timeout = float(query_timeout)
        self.path = Path(path) if path else None
        self.read_only = bool(read_only) and self.path is not None
        if self.path is None:
            self._store = ox.Store()
        elif self.read_only:
            self._store = self._open_read_only()
            journal.warn_if_loading(self.path)
        else:
            self._store = self._open_read_write()
            # A load killed midway left its journal: take its part out before anything else is written.
            journal.repair(self._store, self.path)
        mode = " (read-only)" if self.read_only else ""
        self.description = f"embedded store {self.path}{mode}" if self.path else "in-memory store"

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False, in_memory: bool = False) -> Self:
        return cls(None if in_memory else settings.store, read_only=read_only,
                   service_endpoints=settings.service_endpoints, query_timeout=settings.query_timeout)

    def _open_read_write(self) -> ox.Store:
        assert self.path is not None  # only a store on disk is opened
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return ox.Store(str(self.path))
        except OSError as exc:
            if _lock_held(exc):
                raise StoreError(
                    f"the store {self.path} is being written by another process (a sync, load or demo still "
                    "running?); one process writes at a time: try again when it has finished. Commands that only "
                    "read (query, tasks, labels, dataset, validate) can run meanwhile") from None
            if isinstance(exc, PermissionError) or "Permission denied" in str(exc):
                raise StoreError(f"cannot write the store {self.path}: permission denied (commands that only "
                                 "read open it read-only and need no write permission)") from None
            raise StoreError(f"cannot open the store {self.path}: {one_line(exc)}") from None

    def _open_read_only(self) -> ox.Store:
        assert self.path is not None  # only a store on disk is opened
        if not (self.path / "CURRENT").is_file():
            what = "no such directory" if not self.path.exists() else "the directory holds no store"
            raise StoreError(f"no store at {self.path} ({what}): load data first (kgenrich load FILE...), "
                             "or name the store with --store DIR or --endpoint URL") from None
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return ox.Store.read_only(str(self.path))
            except (OSError, RuntimeError) as exc:
                if _vanished_file(exc) and attempt + 1 < OPEN_ATTEMPTS:
                    time.sleep(OPEN_BACKOFF * 2 ** attempt)
                    continue
                if _vanished_file(exc):
                    raise StoreError(f"cannot open the store {self.path} for reading: it changed under each of "
                                     f"{OPEN_ATTEMPTS} attempts (another process is writing heavily)") from None
                raise StoreError(f"cannot open the store {self.path} for reading: {one_line(exc)}") from None
        raise AssertionError("unreachable")

    # Capabilities: pyoxigraph returns whole results, and queries run with the union as the default graph.
    page_rows = None
    # pyoxigraph evaluates queries without holding the GIL, and its reads are safe from any thread.
    concurrent_reads = True
    default_graph_is_union = True

    @property
    def oxigraph(self) -> ox.Store:
        """The underlying pyoxigraph store (for benchmarks and tests)."""
        return self._store

    def _query(self, query: str):
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return self._store.query(query, use_default_graph_as_union=True)
            except SyntaxError as exc:
                raise StoreError(f"bad SPARQL: {one_line(exc)}") from None
            except (OSError, RuntimeError) as exc:
                if self.read_only and _vanished_file(exc) and attempt + 1 < OPEN_ATTEMPTS:
                    # A file this reading opening had not opened yet was compacted away: open afresh.
                    time.sleep(OPEN_BACKOFF * 2 ** attempt)
                    self._store = self._open_read_only()
                    continue
                raise StoreError(f"query failed: {one_line(exc)}") from None
        raise AssertionError("unreachable")

    def _bounded(self, query: str, produce) -> Iterator:
        """``produce(result)``'s items, the query evaluated in a helper thread (guard.bounded_iter)."""
        check_service(query, self.service_endpoints)

        def items():
            result = self._query(query)
            try:
                yield from produce(result)
            except (OSError, RuntimeError) as exc:  # evaluation is lazy: errors arrive while iterating
                raise StoreError(f"query failed: {one_line(exc)}") from None

        return bounded_iter(items, self.query_timeout)

    def select(self, query: str) -> list[Row]:
        return list(self.select_iter(query))

    def select_iter(self, query: str) -> Solutions:
        def produce(result):
            if not isinstance(result, ox.QuerySolutions):
                raise StoreError("expected a SELECT query")
            yield [v.value for v in result.variables]  # first: the variables, then the solutions
            yield from result

        items = self._bounded(query, produce)
        names = next(items)
        # the solutions are turned into rows here, not in the helper: the two threads then hardly
        # contend for the GIL (a fifth faster on a million rows)
        return Solutions(names, (solution_row(solution, names) for solution in items))

    def ask(self, query: str) -> bool:
        def produce(result):
            if not isinstance(result, ox.QueryBoolean):
                raise StoreError("expected an ASK query")
            yield bool(result)

        return next(self._bounded(query, produce))

    def construct(self, query: str) -> list[Triple]:
        def produce(result):
            if not isinstance(result, ox.QueryTriples):
                raise StoreError("expected a CONSTRUCT or DESCRIBE query")
            for t in result:
                yield to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)

        return list(self._bounded(query, produce))

    def update(self, text: str, *, idempotent: bool = False) -> None:
        # Nothing travels over a network: a request is applied or refused, never lost, so never repeated.
        self._check_writable("an update")
        check_service(text, self.service_endpoints)
        try:
            self._store.update(text)
        except SyntaxError as exc:
            raise StoreError(f"bad SPARQL update: {one_line(exc)}") from None
        except OSError as exc:
            raise StoreError(f"update failed: {one_line(exc)}") from None

    def _flush(self) -> None:
        """Write what was just made visible from the log into the store's tables: a reader opening the
        store later replays only the log, and a short log keeps its opening fast.  (After a swap, which
        a long-lived writer such as the review page repeats; a load is flushed when the store closes.)"""
        if self.path is not None:
            try:
                self._store.flush()
            except OSError as exc:
                raise StoreError(f"writing the store {self.path} failed: {one_line(exc)}") from None

    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None, *,
                   staging: str | None = None) -> int:
        # For small documents already in memory (task definitions, configuration, scratch stores): one
        # transaction.  Files go through load_files (streamed, bulk, journaled).
        if fmt not in FORMATS or fmt not in OX_FORMATS:
            raise LoadError(f"unknown RDF format '{fmt}'")
        self._check_writable("a load")
        data = prepare(data, fmt)
        before = len(self._store)
        kwargs: dict[str, Any] = {"format": OX_FORMATS[fmt]}
        if base:
            kwargs["base_iri"] = base
        if graph is not None:
            kwargs["to_graph"] = ox.NamedNode(str(graph))
        try:
            # pyoxigraph's load is transactional: a syntax error anywhere loads nothing.
            self._store.load(data, **kwargs)
        except SyntaxError as exc:
            raise syntax_error(exc, fmt) from None
        except MemoryError as exc:
            if "buffer maximal size" in str(exc):
                raise LoadError("a literal or IRI longer than 16 MiB (the parser's limit)") from None
            raise
        except ValueError as exc:
            raise LoadError(one_line(exc)) from None
        except OSError as exc:
            raise StoreError(f"loading into {self.description} failed: {one_line(exc)}") from None
        return len(self._store) - before

    def load_files(self, paths, fmt: str | None = None, graph: URIRef | None = None, *,
                   staging: str | None = None, options: LoadOptions | None = None, on_commit=None) -> LoadRun:
        # ``staging`` is not needed here: the journal keeps the run all or nothing (kgenrich/store/journal.py).
        self._check_writable("a load")
        return journal.load_run(self._store, self.path, paths, fmt, ox.NamedNode(str(graph)) if graph else None,
                                options or LoadOptions(), on_commit)

    def stage_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        self._check_writable("staging a graph")
        g = ox.NamedNode(str(graph))
        if self._store.contains_named_graph(g):
            self._store.remove_graph(g)
        quads = [ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), g) for s, p, o in triples]
        # One transaction: a failure leaves the staging graph empty, never half written.
        self._store.extend(quads)
        return len(quads)

    # No request size to respect: everything is one local transaction.
    max_update_bytes = None
    max_update_triples = None

    def add_ntriples(self, graph: URIRef, path: Path) -> int:
        # pyoxigraph's bulk loader writes index files directly, without a transaction: several
        # times faster than a transactional load and its memory stays flat when it is fed in
        # blocks (one big bulk load buffers the whole file).  Only for graphs no reader uses yet.
        from .base import iter_ntriples_blocks

        g = ox.NamedNode(str(graph))
        lines = 0
        for block in iter_ntriples_blocks(path, _BULK_BLOCK_BYTES):
            self._store.bulk_load(block.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES, to_graph=g)
            lines += block.count("\n")
        return lines

    def update_with_data(self, operations, data) -> None:
        if not any(op.strip() for op in operations):
            # Nothing to delete: pyoxigraph's load streams the file in one transaction, with far less
            # memory than the same triples as an INSERT DATA text.  Files are loaded in the order given.
            for graph, path in data:
                try:
                    self._store.load(path=str(path), format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(str(graph)))
                except (SyntaxError, ValueError, OSError) as exc:
                    raise StoreError(f"loading {path} failed: {exc}") from None
            return
        super().update_with_data(operations, data)

    def content_digest(self, skip) -> str | None:
        # pyoxigraph serialises a graph in the order of its index keys, which are derived from
        # the terms themselves: the same triples give the same bytes, so a hash of the dump is a
        # digest of the content (about 9 us per quad; a full extraction costs several times more).
        import hashlib

        class _Sink:
            def __init__(self):
                self.hash = hashlib.sha256()

            def write(self, data: bytes) -> int:
                self.hash.update(data)
                return len(data)

            def flush(self):
                pass

        sink = _Sink()
        graphs = sorted((g for g in self._store.named_graphs() if isinstance(g, ox.NamedNode) and not skip(g.value)),
                        key=lambda g: g.value)
        targets: list[ox.NamedNode | ox.DefaultGraph] = [ox.DefaultGraph(), *graphs]
        for graph in targets:
            sink.hash.update(f"\n#graph {graph}\n".encode())
            # pyoxigraph only calls write() on the file it dumps to: a sink that hashes is enough
            self._store.dump(cast("IO[bytes]", sink), ox.RdfFormat.N_QUADS, from_graph=graph)
        return sink.hash.hexdigest()

    def swap_graphs(self, pairs: Mapping[URIRef, URIRef]) -> None:
        # One update request is one pyoxigraph transaction: readers see every
        # live graph before the swap or every one after it.
        self.update(swap_request(pairs))
        self._flush()

    def drop_graph(self, graph: URIRef) -> None:
        self._check_writable("dropping a graph")
        g = ox.NamedNode(str(graph))
        if self._store.contains_named_graph(g):
            self._store.remove_graph(g)

    def graph_names(self) -> list[URIRef]:
        return sorted(URIRef(g.value) for g in self._store.named_graphs() if isinstance(g, ox.NamedNode)
                      and next(iter(self._store.quads_for_pattern(None, None, None, g)), None) is not None)

    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        g = ox.NamedNode(str(graph))
        for q in self._store.quads_for_pattern(None, None, None, g):
            yield to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)

    def __len__(self) -> int:
        return len(self._store)

    def close(self) -> None:
        if self.path is not None and not self.read_only and self._store is not None:
            try:
                self._store.flush()
            except OSError:
                pass
        self._store = None  # type: ignore[assignment]  # released: a closed store is not used again
