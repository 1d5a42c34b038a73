"""What a query may do on the embedded store: reach only listed SERVICE endpoints, run for a bounded time,
and give way to Ctrl-C.

SERVICE.  pyoxigraph evaluates ``SERVICE <url> { ... }`` by sending the pattern to ``url`` from this
process: a query typed into ``kgenrich query`` (or a SERVICE in a query file) would make kgenrich reach
any address, loopback and the local network included.  So a query or update whose text may hold a
SERVICE is parsed (rdflib's parser: it only parses, it never evaluates) and refused unless every SERVICE
names an endpoint of the ``service_endpoints`` setting; a SERVICE whose endpoint is a variable, or a
text the parser cannot read but that may hold one, is refused too.  A remote store's SERVICE is the
server's business (its own policy), not checked here.

Time.  pyoxigraph evaluates a query inside one call that neither returns nor looks at signals until it
is done (a three-way cross join: minutes).  It releases the GIL meanwhile, so :func:`bounded_iter`
runs the query in a helper thread and waits for its rows in short, interruptible waits: Ctrl-C stops
the wait at once, and so does ``query_timeout`` -- the seconds spent waiting for the store (the time
the caller spends with the rows, writing them out, say, does not count).  The abandoned evaluation
cannot be cancelled inside pyoxigraph: it finishes in the background (and ends with the process,
which for a command is at once).
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from ..errors import StoreError

DEFAULT_QUERY_TIMEOUT = 600.0  # seconds (the query_timeout setting; 0: no limit)
_WAIT_SLICE = 0.2  # seconds per wait: how soon Ctrl-C is honoured
_BATCH_ROWS = 512
_BATCH_SECONDS = 0.05  # a slow result still reaches the caller this often
_QUEUED_BATCHES = 4


class QueryRefused(StoreError):
    """A query that kgenrich will not run (a SERVICE to an endpoint not allowed)."""


class QueryTimeout(StoreError):
    """A query that ran longer than its limit; it was given up."""


# ------------------------------------------------------------------ SERVICE
def _may_hold_service(text: str) -> bool:
    # pyoxigraph reads the SERVICE keyword only as written (any case): it does not expand \u escapes
    # outside strings and IRIs (tests/test_issue21_queries.py), so a text without it calls nothing.
    return "service" in text.lower()


def service_endpoints(text: str) -> list[str] | None:
    """The endpoints the SERVICE patterns of ``text`` name ('?x' for a variable); None if the text
    cannot be parsed as a query or an update."""
    from pyparsing import ParseException, ParseResults
    from rdflib.plugins.sparql import algebra
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import Variable

    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, CompValue):
            if node.name == "ServiceGraphPattern":
                term = node.get("term")
                found.append(f"?{term}" if isinstance(term, Variable) else str(term) if term is not None else "?")
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple, ParseResults)):
            for value in node:
                walk(value)

    def resolved(prologue_node, body):
        # prefixed names and relative IRIs as the query's own PREFIX and BASE declare them
        prologue = algebra.translatePrologue(prologue_node, None)
        return algebra.traverse(body, functools.partial(algebra.translatePName, prologue=prologue))

    # What rdflib's parser raises for a text it cannot read: pyparsing's ParseException for the grammar,
    # ValueError for an escape that names no code point, RecursionError for nesting deeper than the stack.
    unreadable = (ParseException, ValueError, RecursionError)
    try:
        query = parseQuery(text)
    except ParseException:
        query = None  # not a query: perhaps an update
    except unreadable:
        return None
    if query is None:
        try:
            update = parseUpdate(text)
        except unreadable:
            return None
    try:
        if query is not None:
            walk(resolved(query[0], query[1]))
            return found
        requests = list(update["request"]) if "request" in update else []
        prologues = list(update["prologue"]) if "prologue" in update else []
        for i, request in enumerate(requests):
            # an update is PROLOGUE request ; PROLOGUE request ...: each request with the prologue before it
            prologue = prologues[i] if i < len(prologues) else (prologues[-1] if prologues else [])
            walk(resolved(prologue, request))
    except Exception:  # must be broad: rdflib's prefix resolution raises a bare Exception
        # for a prefix that is not declared (rdflib.plugins.sparql.sparql.Prologue.resolvePName), and its
        # algebra others for a BASE it refuses; a text that cannot be read here is refused by the caller.
        return None
    return found


def check_service(text: str, allowed: Sequence[str]) -> None:
    """Refuse ``text`` if it may call a SERVICE endpoint that is not in ``allowed``."""
    if not _may_hold_service(text):
        return
    named = service_endpoints(text)
    if named is None:
        raise QueryRefused("the query cannot be checked for SERVICE calls (it does not parse as SPARQL 1.1 here); "
                           "on the embedded store kgenrich runs SERVICE only to the endpoints of the "
                           "service_endpoints setting")
    refused = [e for e in named if e not in set(allowed)]
    if refused:
        listed = ", ".join(sorted(set(refused))[:3])
        raise QueryRefused(f"SERVICE {listed}: the embedded store calls other endpoints only when they are listed "
                           "in the service_endpoints setting (kgenrich.toml), and never through a variable; nothing "
                           "was sent")


# ------------------------------------------------------------------ time and Ctrl-C
def bounded_iter(produce: Callable[[], Iterable], timeout: float, describe: str = "the query") -> Iterator:
    """The items of ``produce()``, computed in a helper thread and handed over in batches.

    Waiting for them is interruptible (Ctrl-C) and bounded: more than ``timeout`` seconds of waiting in
    all (0: no limit) raises :class:`QueryTimeout`.  Closing the iterator early stops the helper at its
    next item.
    """
    channel: queue.Queue = queue.Queue(maxsize=_QUEUED_BATCHES)
    stop = threading.Event()

    def put(message) -> bool:
        while not stop.is_set():
            try:
                channel.put(message, timeout=_WAIT_SLICE)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            batch, last = [], time.monotonic()
            for item in produce():
                if stop.is_set():
                    return
                batch.append(item)
                if len(batch) >= _BATCH_ROWS or time.monotonic() - last > _BATCH_SECONDS:
                    if not put(("items", batch)):
                        return
                    batch, last = [], time.monotonic()
            if put(("items", batch)):
                put(("end", None))
        except BaseException as exc:  # handed to the waiting thread, which raises it
            put(("error", exc))

    helper = threading.Thread(target=work, name="kgenrich-query", daemon=True)
    helper.start()
    waited = 0.0
    try:
        while True:
            started = time.monotonic()
            while True:
                left = None if not timeout else timeout - waited - (time.monotonic() - started)
                if left is not None and left <= 0:
                    raise QueryTimeout(
                        f"{describe} ran for more than {timeout:g} s on the embedded store and was given up "
                        "(query_timeout); raise query_timeout in kgenrich.toml (0: no limit), or narrow the query")
                try:
                    kind, value = channel.get(timeout=_WAIT_SLICE if left is None else min(_WAIT_SLICE, left))
                    break
                except queue.Empty:
                    continue
            waited += time.monotonic() - started
            if kind == "items":
                yield from value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
