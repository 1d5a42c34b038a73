"""Faults at every request of a sync, against a real Oxigraph server through a loopback proxy.

A sync is first run cleanly through the proxy to count its requests.  Then,
for every request number, a sync runs with one fault injected at exactly that
request (connection reset, 500, 503 with Retry-After, an answer slower than
the timeout, an answer dropped after the server applied the request).  Each
faulty sync either succeeds or fails with a KgenrichError; afterwards

- the live graphs are the old run's or the new run's, never a mix (the
  prediction graph and the provenance graph belong to the same run);
- nothing outside kgenrich's graphs changed;
- the next sync (no fault) succeeds and leaves the new run's graphs and no
  staging graph.

The fake ensemble of tests/servers.py stands in for the models (no training);
two model versions alternate so that old and new always differ.
"""

from __future__ import annotations

import pytest
from faults import FAULTS, FaultProxy
from helpers import MINI, mini_settings
from rdflib import Literal, URIRef
from servers import FakeTrainer
from test_sync import graph_fingerprints

from kgenrich.errors import KgenrichError
from kgenrich.graphs import OwnGraphs
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync

pytestmark = [pytest.mark.server, pytest.mark.slow]

XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
TIMEOUT = 0.5  # seconds; the "slow" fault answers after SLOW
SLOW = 0.8


def view(store, graph: URIRef) -> frozenset:
    """A prediction graph's triples with the run's time stamps blanked out (two runs of one model differ
    only in those)."""
    return frozenset((str(s), str(p), "TIME" if isinstance(o, Literal) and str(o.datatype) == XSD_DATETIME
                      else str(o)) for s, p, o in store.graph_triples(graph))


def state_view(store, graph: URIRef) -> frozenset:
    """What the provenance graph says about the live run: its state node (run fingerprint, statement
    count, the run it names) and the artifacts' input fingerprints.  Earlier runs are kept as history."""
    out = set()
    for s, p, o in store.graph_triples(graph):
        if str(s) == f"{graph}/state" or str(s).startswith(f"{graph}/input/"):
            out.add((str(s), str(p), "RUN" if "/run/" in str(o) else str(o)))
    return frozenset(out)


@pytest.fixture
def rig(oxigraph, tmp_path):
    proxy = FaultProxy(oxigraph.url, slow_seconds=SLOW)
    direct = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    direct.load_file(MINI)
    through = RemoteStore(proxy.url + "/query", update_endpoint=proxy.url + "/update", timeout=TIMEOUT, retries=3,
                          backoff=0.01)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    # The SPARQL engine of the SHACL gate: the same verdicts as pySHACL (tests/test_validation.py), in a third
    # of the time, which this test spends 90 times.
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports"), "validation_engine": "sparql"}}
    yield proxy, direct, through, settings
    proxy.close()


def test_a_fault_at_any_request_of_a_sync_leaves_old_or_new_and_the_next_sync_repairs(rig):
    proxy, direct, through, settings = rig
    own = OwnGraphs.from_settings(settings)
    museum_before = graph_fingerprints(direct, skip=())
    museum_before = {g: h for g, h in museum_before.items() if not own.is_ours(g)}

    def live() -> tuple[frozenset, frozenset]:
        return view(direct, own.predictions), state_view(direct, own.provenance)

    def sync(version: str, store=through, retrain: bool = True):
        return run_sync(store, settings, retrain=retrain, progress=False, trainer=FakeTrainer(version=version))

    # The two runs every faulty sync is judged against, and the number of requests of one sync.
    sync("A")
    state_a = live()
    proxy.reset_counts()
    sync("B")
    state_b = live()
    requests = len(proxy.requests)
    proxy_requests = list(proxy.requests)
    assert state_a != state_b and state_a[0] and state_b[0]
    assert requests > 20, proxy.requests

    outcomes = {"ok": 0, "failed": 0, "old": 0, "new": 0}
    current = {"run": "B"}
    states = {"A": state_a, "B": state_b}

    def case(number: int, fault: str) -> tuple[bool, str]:
        """One sync with ``fault`` at request ``number``; the checks; the repairing sync."""
        target = "A" if current["run"] == "B" else "B"
        proxy.reset_counts({number: fault})
        try:
            sync(target)
            succeeded = True
        except KgenrichError as exc:
            assert "\n" not in str(exc), exc
            succeeded = False
        done = proxy.faults_done
        assert done and done[0][0] == number, (number, fault, proxy.requests[-3:])
        where = f"fault {fault} at request {number} ({done[0][2]})"
        now = live()
        assert now in (states[current["run"]], states[target]), f"{where}: the live graphs are a mix"
        ended = "new" if now == states[target] else "old"
        museum = {g: h for g, h in graph_fingerprints(direct).items() if not own.is_ours(g)}
        assert museum == museum_before, f"{where}: a graph that is not kgenrich's changed"
        # The next sync repairs whatever the fault left: the new run, no staging graph.  (Without --retrain:
        # after a faulty sync that succeeded there is nothing to repair, and it writes nothing.)
        sync(target, store=direct, retrain=False)
        assert live() == states[target], f"{where}: the next sync did not repair"
        assert not [g for g in direct.graph_names() if own.is_staging(g)], where
        current["run"] = target
        outcomes["ok" if succeeded else "failed"] += 1
        outcomes[ended] += 1
        return succeeded, ended

    # Every request of the sync, each with one fault (the kinds in turn).
    for number in range(requests):
        case(number, FAULTS[number % len(FAULTS)])
    # The request that makes a sync visible, with every kind of fault: never repeated, so a fault that
    # stops it before the server leaves the old run, and one after the server applied it the new run.
    # (the run's one write: the last update request -- one request that removes the old run and adds the new)
    swap = max(i for i, r in enumerate(proxy_requests) if r.startswith("POST /update"))
    assert sum(1 for r in proxy_requests if r.startswith("POST /update")) == 1, proxy_requests
    expected = {"reset": "old", "500": "old", "503": "old", "slow": "new", "drop": "new"}
    for fault in FAULTS:
        assert case(swap, fault) == (False, expected[fault]), fault
    # Both outcomes happen elsewhere too: faults that retries absorb, and faults that stop a sync.
    assert outcomes["ok"] > 0 and outcomes["failed"] >= len(FAULTS), outcomes
    print("fault injection:", requests, "requests per sync;", outcomes)
