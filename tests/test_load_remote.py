"""`kgenrich load` into a real Oxigraph server: streamed, staged in bounded batches, moved in one request;
the same content as the embedded store, blank nodes whole across batch boundaries (issue 22 item 3)."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest
from faults import FaultProxy
from rdflib import URIRef
from test_load_journal import G1, G2, collection

from kgenrich.errors import StoreError
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.loading import LoadOptions
from kgenrich.store.remote import RemoteStore

EX = "http://example.org/load/"
STAGING = "http://example.org/load/staging/"


def dump(store: RemoteStore) -> ox.Dataset:
    """Every quad of the server, read by SPARQL (one result: blank node labels agree across graphs)."""
    from kgenrich.store.terms import to_oxigraph

    reader = RemoteStore(store.endpoint)
    quads = [ox.Quad(*(to_oxigraph(row[v]) for v in ("s", "p", "o")), ox.NamedNode(str(row["g"])))
             for row in reader.select("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")]
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return dataset


def canonical(quads) -> set:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return {str(q) for q in dataset}


@pytest.mark.server
@pytest.mark.parametrize("gsp", [False, True], ids=["update", "graph-store"])
def test_a_run_is_staged_in_small_batches_and_arrives_whole(oxigraph, tmp_path, gsp):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.nq").write_text(collection(400))
    # A TriG file whose blank node is named in two graphs, and Turtle with anonymous blank nodes.
    (data / "b.trig").write_text(f'<{G1}> {{ _:shared <{EX}p> "in g1" }}\n<{G2}> {{ _:shared <{EX}p> "in g2" }}\n')
    (data / "c.ttl").write_text(f'<{EX}c> <{EX}q> [ <{EX}r> [ <{EX}s> "deep" ] ] .\n')
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, gsp_endpoint=oxigraph.gsp if gsp else None,
                        batch_triples=7)
    run = store.load_files([data], graph=f"{EX}g3", staging=STAGING, options=LoadOptions())
    assert run.statements == 2_400 + 2 + 3
    local = EmbeddedStore(None)
    local.load_files([data], graph=f"{EX}g3", options=LoadOptions())
    assert {str(q) for q in dump(store)} == canonical(local.oxigraph)
    assert not [g for g in store.graph_names() if str(g).startswith(STAGING)]
    assert run.added == len(local)


@pytest.mark.server
def test_a_failure_while_staging_leaves_nothing_and_the_next_run_loads(oxigraph, tmp_path):
    path = tmp_path / "a.nq"
    path.write_text(collection(200))
    proxy = FaultProxy(oxigraph.url)
    store = RemoteStore(proxy.url + "/query", update_endpoint=proxy.url + "/update", retries=1, batch_triples=20)
    direct = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    try:
        proxy.reset_counts(nth=("INSERT", 9, "500"))
        with pytest.raises(StoreError, match="HTTP 500"):
            store.load_files([path], staging=STAGING, options=LoadOptions())
        assert direct.graph_names() == []
        proxy.reset_counts()
        assert store.load_files([path], staging=STAGING, options=LoadOptions()).added == 1_200
        assert {str(g) for g in direct.graph_names()} == {G1, G2}
    finally:
        proxy.close()


@pytest.mark.server
def test_json_ld_loads_into_a_server_as_into_the_embedded_store(oxigraph, tmp_path):
    from test_load_jsonld import LINKED_ART_DOC

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"{i}.json").write_text(json.dumps(LINKED_ART_DOC).replace("object/1", f"object/{i}"))
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, gsp_endpoint=oxigraph.gsp, batch_triples=10)
    store.load_files([docs], graph=f"{EX}la", staging=STAGING, options=LoadOptions())
    local = EmbeddedStore(None)
    local.load_files([docs], graph=f"{EX}la", options=LoadOptions())
    assert {str(q) for q in dump(store)} == canonical(local.oxigraph)


@pytest.mark.server
def test_a_run_arrives_whole_in_virtuoso(virtuoso, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.nq").write_text(collection(100))
    (data / "b.ttl").write_text(f'<{EX}c> <{EX}q> [ <{EX}r> [ <{EX}s> "deep" ] ] .\n')
    store = RemoteStore(virtuoso.query, update_endpoint=virtuoso.update, batch_triples=7)
    for graph in (G1, G2):
        store.drop_graph(URIRef(graph))
    store.load_files([data], graph=G2, staging=STAGING, options=LoadOptions())
    local = EmbeddedStore(None)
    local.load_files([data], graph=G2, options=LoadOptions())
    reader = RemoteStore(virtuoso.query)
    from hashlib import sha1

    from rdflib import BNode

    from kgenrich.store.terms import to_oxigraph

    def term(value):  # Virtuoso names blank nodes nodeID://b123
        return ox.BlankNode(sha1(str(value).encode()).hexdigest()) if isinstance(value, BNode) else to_oxigraph(value)

    quads = [ox.Quad(*(term(row[v]) for v in ("s", "p", "o")), ox.NamedNode(str(row["g"])))
             for graph in (G1, G2) for row in reader.select(
                 f"SELECT ?s ?p ?o (<{graph}> AS ?g) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")]
    assert canonical(quads) == canonical(local.oxigraph)
    assert not [g for g in store.graph_names() if str(g).startswith(STAGING)]
