"""kgenrich sync end to end against real SPARQL servers: Oxigraph and Virtuoso 7,
started on 127.0.0.1 by the fixtures in tests/servers.py."""

from __future__ import annotations

import pytest
from helpers import MINI, mini_settings
from rdflib import Literal
from rdflib.namespace import XSD
from servers import FakeTrainer, oxigraph, oxigraph_default, virtuoso  # noqa: F401  (fixtures)
from test_sync import PRED, graph_fingerprints

from kgenrich import sparql
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync

pytestmark = [pytest.mark.server, pytest.mark.slow]

TEST_GRAPHS = "https://w3id.org/kgenrich/test/graph/"


def _ours(store):
    return {k: v for k, v in graph_fingerprints(store).items() if k.startswith(TEST_GRAPHS)}


def _sync_twice(store, tmp_path, batch_triples=5000):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    trainer = FakeTrainer()
    before = _ours(store)
    first = run_sync(store, settings, progress=False, trainer=trainer)
    assert first.wrote and first.predictions > 0
    assert _ours(store) == before  # the museum and vocabulary graphs are untouched
    live = sorted(store.graph_triples(PRED))
    assert len(live) == first.triples
    rows = store.select(sparql.prepare("examples/predictions_above_confidence",
                                       threshold=Literal("0", datatype=XSD.float)))
    assert len(rows) == first.predictions
    side = store.select(sparql.load("examples/asserted_or_predicted"))
    assert sum(1 for r in side if str(r["source"]) == "predicted") == first.predictions
    second = run_sync(store, settings, progress=False, trainer=trainer)
    assert not second.wrote and second.written == 0 and second.unchanged == first.predictions
    assert sorted(store.graph_triples(PRED)) == live
    # new models: everything re-predicted and swapped in; no staging graph left
    third = run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"), retrain=True)
    assert third.wrote
    assert not [g for g in store.graph_names() if "/staging/" in str(g)]
    assert _ours(store) == before
    return first


@pytest.mark.parametrize("mode", ["oxigraph", "oxigraph_default"], ids=["union-default-graph", "default-mode"])
@pytest.mark.parametrize("gsp", [False, True], ids=["sparql-update", "graph-store"])
def test_sync_on_oxigraph_server(mode, tmp_path, gsp, request):
    # In its default mode the server's default graph is not the union of the named
    # graphs; task checks, label groups and SHACL validation read vocabulary without
    # GRAPH and must see the same as on a union store.
    server = request.getfixturevalue(mode)
    store = RemoteStore(server.query, update_endpoint=server.update,
                        gsp_endpoint=server.gsp if gsp else None, batch_triples=40)
    store.load_file(MINI)
    assert store.default_graph_is_union is server.union_default_graph
    _sync_twice(store, tmp_path)


def test_sync_on_virtuoso(virtuoso, tmp_path):
    # Everything runs against Virtuoso: task checks, extraction, state and live-graph
    # reads, validation context, staging writes in batches, counts, the MOVE swap.
    # Small batches: Virtuoso refuses very large INSERT DATA requests (about 50k triples).
    store = RemoteStore(virtuoso.query, update_endpoint=virtuoso.update, batch_triples=40)
    for g in [g for g in store.graph_names() if str(g).startswith(TEST_GRAPHS) or str(g).startswith(str(PRED))]:
        store.drop_graph(g)
    store.load_file(MINI)
    _sync_twice(store, tmp_path)
