"""The embedded store's loads: checked first, then bulk-loaded under a journal the next writer repairs.

pyoxigraph's transactional ``Store.load`` holds a whole file's changes in
memory until it commits (3.5 million quads: 9-10 GB and ten times the bulk
loader's time); its bulk loader writes index files directly, with no
transaction.  kgenrich keeps all-or-nothing loads on top of the bulk loader
with a **load journal** instead of a transaction:

- every file of the run is parsed once first (:mod:`kgenrich.store.loading`):
  a file that does not parse leaves the store untouched;
- a run of more than :data:`~kgenrich.store.loading.TRANSACTION_QUADS`
  statements writes ``<store>/kgenrich-load/journal.json`` (made durable
  before the first write), then bulk-loads in batches of ``load_batch_quads``,
  then removes the journal: that removal is the commit;
- the journal names what a rollback must remove: the graphs that held no
  triple before the run (removed whole), the run's blank-node prefix, and a
  spool of the ground triples the run added to graphs that had triples
  before;
- Ctrl-C (or any failure) during the write rolls back at once; a process
  killed midway leaves the journal, and the next command that opens the
  store for writing rolls the run back before doing anything else, saying so.
  A command that only reads says a load is in progress or was interrupted,
  and reads what is there (part of the run).

There is no cheap "rename a graph" in Oxigraph (a graph name is part of every
index key), so loading into a graph of the load's own and moving it into
place would cost a second full write in one transaction: the journal is the
cheap step.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox

from ..errors import LoadError, StoreError
from .loading import (
    QUAD_FORMATS,
    TRANSACTION_QUADS,
    LoadErrors,
    LoadOptions,
    LoadRun,
    Progress,
    Reader,
    batches,
    checked_sources,
    counted,
    graph_key,
    graph_term,
    new_prefix,
    notice,
    now_iso,
)
from .rdfio import one_line
from .streams import Source

JOURNAL_DIR = "kgenrich-load"
JOURNAL_FILE = "journal.json"
SPOOL_FILE = "added.nq.gz"
JOURNAL_VERSION = 1


# ------------------------------------------------------------------ the journal on disk
def journal_dir(store_path: Path) -> Path:
    return Path(store_path) / JOURNAL_DIR


def read_journal(store_path: Path) -> dict | None:
    """The journal of a load in progress or interrupted, or None.  A journal that cannot be read is an error:
    the store may hold part of a load that nobody can now tell apart."""
    path = journal_dir(store_path) / JOURNAL_FILE
    if not path.is_file():
        return None
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"the load journal {path} cannot be read ({one_line(exc)}); the store may hold part of an "
                         "interrupted load") from None
    if not isinstance(journal, dict) or journal.get("version") != JOURNAL_VERSION:
        raise StoreError(f"the load journal {path} is not one this kgenrich version wrote")
    return journal


def _write_durably(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_journal(store_path: Path) -> None:
    directory = journal_dir(store_path)
    journal = directory / JOURNAL_FILE
    if journal.exists():
        journal.unlink()  # the commit point: everything else in the directory is leftovers
        _sync_dir(directory)
    shutil.rmtree(directory, ignore_errors=True)


def describe(journal: dict) -> str:
    files = journal.get("files") or []
    what = files[0] if len(files) == 1 else f"{len(files)} files"
    return f"a load of {what} started {journal.get('started', '?')}"


def in_progress(journal: dict) -> bool:
    """Whether the process that wrote the journal still runs (on this machine)."""
    if journal.get("host") != socket.gethostname():
        return False
    pid = journal.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# ------------------------------------------------------------------ opening a store
def warn_if_loading(store_path: Path) -> None:
    """For a reading opening: say that the store holds part of a load (running or interrupted)."""
    try:
        journal = read_journal(store_path)
    except StoreError as exc:
        notice(f"warning: {exc}")
        return
    if journal is None:
        return
    if in_progress(journal):
        notice(f"warning: {describe(journal)} is in progress (process {journal.get('pid')}): what is read now may "
               "include part of it")
    else:
        notice(f"warning: {describe(journal)} was interrupted: the store holds part of it until the next command "
               "that writes to the store removes it (kgenrich load, sync, ...)")


def repair(store: ox.Store, store_path: Path) -> bool:
    """Roll back an interrupted load named by the journal (for a writing opening).  True when one was."""
    directory = journal_dir(store_path)
    if not directory.exists():
        return False
    journal = read_journal(store_path)
    if journal is None:
        shutil.rmtree(directory, ignore_errors=True)  # a run killed while checking: nothing was written
        return False
    notice(f"warning: {describe(journal)} was interrupted; removing what it loaded (the store goes back to how it "
           "was before it)")
    try:
        removed = rollback(store, store_path, journal)
    except KeyboardInterrupt:
        notice("interrupted: the load is not removed yet; the next command that writes to the store goes on")
        raise
    notice(f"removed {removed:,} quads of the interrupted load")
    return True


# ------------------------------------------------------------------ rollback
def rollback(store: ox.Store, store_path: Path | None, journal: dict, progress: Progress | None = None) -> int:
    """Remove what the journal's run wrote; idempotent (a rollback that is itself interrupted is repeated by
    the next writer).  Returns the quads removed."""
    removed = 0
    prefix = journal["prefix"]
    blank = ox.BlankNode

    def remove_all(quads: Iterable[ox.Quad]) -> None:
        nonlocal removed
        for q in quads:
            store.remove(q)
            removed += 1
            if progress is not None and removed % 16_384 == 0:
                progress.update(16_384)

    for key in journal.get("new_graphs", []):
        graph = graph_term(key)
        # One quad at a time: Store.remove_graph / clear_graph delete in one transaction (a 3.5M-quad graph:
        # ~5 GB); a snapshot iterator keeps its place while the quads go.
        remove_all(store.quads_for_pattern(None, None, None, graph))
        if type(graph) is not ox.DefaultGraph and key not in journal.get("named_before", []):
            if store.contains_named_graph(graph):
                store.remove_graph(graph)  # empty by now: only its name goes
    for key in journal.get("old_graphs", []):
        graph = graph_term(key)
        remove_all(q for q in store.quads_for_pattern(None, None, None, graph)
                   if (type(q.subject) is blank and q.subject.value.startswith(prefix))
                   or (type(q.object) is blank and q.object.value.startswith(prefix)))
    spool = journal.get("spool")
    if spool and store_path is not None:
        path = journal_dir(store_path) / spool
        if path.is_file():
            with gzip.open(path, "rb") as fh:
                remove_all(ox.parse(fh, format=ox.RdfFormat.N_QUADS))
    store.flush()
    if store_path is not None:
        _remove_journal(store_path)
    return removed


# ------------------------------------------------------------------ a load run
class _Spool:
    """Ground quads a run adds to graphs that had triples before it, gzipped beside the journal."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._fh: IO[str] | None = None
        self.count = 0

    def add(self, quad: ox.Quad) -> None:
        if self.directory is None:  # an in-memory store: nothing outlives the process, no spool needed
            self.count += 1
            return
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fh = gzip.open(self.directory / SPOOL_FILE, "wt", encoding="utf-8", compresslevel=1)
        self._fh.write(f"{quad} .\n")
        self.count += 1

    def close(self) -> str | None:
        if self._fh is None:
            return None
        assert self.directory is not None  # a spool file is only opened in a directory
        self._fh.close()
        with open(self.directory / SPOOL_FILE, "rb") as fh:
            os.fsync(fh.fileno())
        return SPOOL_FILE


def load_run(store: ox.Store, store_path: Path | None, paths, fmt: str | None, graph,
             options: LoadOptions, on_commit: Callable[[], None] | None = None) -> LoadRun:
    """Check every file, then write them all (one transaction, or journaled bulk batches); see the module
    docstring.  ``graph``: NamedNode for triples without a graph, or None (the default graph)."""
    sources, skipped = checked_sources(paths, fmt, graph)
    prefix = new_prefix()
    reader = Reader(prefix, graph, options)
    directory = journal_dir(store_path) if store_path is not None else None
    if directory is not None and directory.exists():
        shutil.rmtree(directory, ignore_errors=True)  # leftovers of a run killed while checking
    progress = Progress(options.progress)
    run = LoadRun(skipped=skipped)
    reader.prepare(sources)
    # A run that fits in one batch (and in TRANSACTION_QUADS) is written in one transaction.
    small = min(TRANSACTION_QUADS, options.batch_quads)
    status, kept, spool_name = _check_all(store, reader, sources, directory, small, progress, run)
    before = len(store)
    if kept is not None:
        _write_in_one_transaction(store, reader, kept, on_commit)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        # Every graph new: a rollback removes them whole, so the parser may name blank nodes itself (faster).
        reader.parser_renames = not any(status.values())
        journal = _begin_journal(store, directory, prefix, status, run, spool_name)
        _bulk_load(store, store_path, reader, sources, journal, options.batch_quads, progress, run.statements)
        if on_commit is not None:
            on_commit()
        store.flush()
        if store_path is not None:
            _remove_journal(store_path)
    run.added = len(store) - before
    run.notes = reader.notes()
    return run


def _check_all(store: ox.Store, reader: Reader, sources: list[Source], directory: Path | None, small: int,
               progress: Progress, run: LoadRun) -> tuple[dict, list | None, str | None]:
    """Pass 1: check every file (each read goes into ``run.files``), or LoadErrors naming every file that
    does not parse.  Returns which graphs held triples before the run (graph term -> bool), the parsed
    quads of a small run (None once it is not small), and the spool of ground quads added to old graphs."""
    errors: list[str] = []  # the files that fail to parse
    status: dict = {}  # graph term -> True when it held triples before the run
    spool = _Spool(directory)
    kept: list | None = []  # (file number, source, parsed quads) while the run is small
    progress.start("checking", sum(s.size for s in sources), "B")
    try:
        for number, source in enumerate(sources):
            quads: list = []
            try:
                n = _check_file(store, reader, number, source, status, spool, quads if kept is not None else None,
                                small, progress.update)
            except LoadError as exc:
                errors.append(f"{source.path}: {exc}")
                continue
            run.files.append((str(source.path), source.fmt, n))
            if kept is not None:
                kept.append((number, source, quads))
                if sum(len(q) for _, _, q in kept) > small:
                    kept = None
        spool_name = spool.close()
    except BaseException:
        progress.close()
        spool.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    progress.close()
    if errors:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise LoadErrors(errors)
    return status, kept, spool_name


def _write_in_one_transaction(store: ox.Store, reader: Reader, kept: list,
                              on_commit: Callable[[], None] | None) -> None:
    """A small run: one transaction, all or nothing by itself."""
    if on_commit is not None:
        on_commit()
    try:
        store.extend(q for number, source, quads in kept for q in reader.rename(number, source, quads))
    except OSError as exc:
        raise StoreError(f"loading into the store failed: {one_line(exc)}") from None


def _begin_journal(store: ox.Store, directory: Path | None, prefix: str, status: dict, run: LoadRun,
                   spool_name: str | None) -> dict:
    """The journal of a bulk run: what a rollback must remove; made durable before the first write."""
    journal = {
        "version": JOURNAL_VERSION, "prefix": prefix, "started": now_iso(), "pid": os.getpid(),
        "host": socket.gethostname(), "files": [path for path, _, _ in run.files],
        "new_graphs": sorted(graph_key(g) for g, old in status.items() if not old),
        "old_graphs": sorted(graph_key(g) for g, old in status.items() if old),
        "named_before": sorted(graph_key(g) for g in status if type(g) is not ox.DefaultGraph
                               and store.contains_named_graph(g)),
        "spool": spool_name,
    }
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        _write_durably(directory / JOURNAL_FILE, json.dumps(journal, indent=1))
    return journal


def _bulk_load(store: ox.Store, store_path: Path | None, reader: Reader, sources: list[Source], journal: dict,
               batch_quads: int, progress: Progress, statements: int) -> None:
    """Pass 2: parse again and bulk-load in batches of bounded size; any failure (Ctrl-C included) rolls the
    run back at once."""
    progress.start("loading", statements, "quad")
    try:
        # One stream over all the files: batches span files (a directory of small documents is a few
        # bulk writes, not one per document).
        stream = itertools.chain.from_iterable(reader.quads(number, source) for number, source in enumerate(sources))
        for batch in batches(counted(stream, progress.update), batch_quads):
            store.bulk_extend(batch)
    except BaseException as exc:
        progress.close()
        _roll_back_now(store, store_path, journal, exc)
        raise _as_load_error(exc) from None
    progress.close()


def _check_file(store: ox.Store, reader: Reader, number: int, source, status: dict, spool: _Spool,
                kept: list | None, small: int, on_read) -> int:
    """Parse one file to its end (raising LoadError at the first problem); returns its statements.  Notes
    whether each graph it writes held triples before the run, spools the ground quads it adds to such a
    graph, and keeps the parsed quads in ``kept`` (while that is not None and small)."""
    blank, default, make = ox.BlankNode, ox.DefaultGraph, ox.Quad
    target = reader.target
    scope = reader.scope(number)
    triples = source.fmt not in QUAD_FORMATS
    n = 0
    g: Any  # ``type(g) is blank`` (the fastest test) does not narrow its type for mypy
    # The hot loop: parsed quads (no renaming needed to check), one dict look-up for the graph.
    for q in reader.raw(source, on_read):
        n += 1
        if kept is not None:
            kept.append(q)
            if len(kept) > small:
                kept = None
        g = q.graph_name
        gtype = type(g)
        moved = False
        if gtype is default:
            if triples:
                g, moved = target, True
        elif gtype is blank:
            g = blank(scope + g.value)  # the run's own: always a new graph
        old = status.get(g)
        if old is None:
            old = status[g] = next(iter(store.quads_for_pattern(None, None, None, g)), None) is not None
        if old and type(q.subject) is not blank and type(q.object) is not blank:
            quad = make(q.subject, q.predicate, q.object, g) if moved else q
            if quad not in store:
                spool.add(quad)
    return n


class InterruptedWithLeftovers(KeyboardInterrupt):
    """Ctrl-C while a failed load's part was being removed: the store holds that part until the next command
    that writes to it removes it (the command line says so instead of "nothing was loaded")."""

    leftovers = True


def _roll_back_now(store: ox.Store, store_path: Path | None, journal: dict, cause: BaseException) -> None:
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else "the load failed"
    notice(f"{why}: removing what was loaded so far (the store goes back to how it was)")
    try:
        rollback(store, store_path, journal)
    except KeyboardInterrupt as again:
        raise InterruptedWithLeftovers() from again


def _as_load_error(exc: BaseException) -> BaseException:
    if isinstance(exc, (LoadError, StoreError, KeyboardInterrupt)):
        return exc
    if isinstance(exc, OSError):
        return StoreError(f"loading into the store failed: {one_line(exc)}; nothing of it was kept")
    return exc
