"""The one store interface, on the embedded store, on real Oxigraph servers (union default
graph or not, SPARQL Update or Graph Store Protocol) and on Virtuoso 7."""

import gzip
import http.server
import threading

import pytest
from helpers import MINI, SILKNOW_PROFILE
from rdflib import Literal, URIRef
from servers import oxigraph_default  # noqa: F401  (fixture)

from kgenrich.errors import EndpointUnreachable, LoadError, StoreError, TruncatedResult
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore

G = URIRef("https://w3id.org/kgenrich/test/graph/museum-a")
SERVERS = {"oxigraph-server": "oxigraph", "oxigraph-default": "oxigraph_default", "virtuoso": "virtuoso"}


@pytest.fixture(params=["embedded", "oxigraph-server", "oxigraph-server-gsp", "oxigraph-default",
                        "oxigraph-default-gsp", "virtuoso"])
def store(request, tmp_path):
    if request.param == "embedded":
        yield EmbeddedStore(tmp_path / "store")
        return
    server = request.getfixturevalue(SERVERS[request.param.removesuffix("-gsp")])
    gsp = server.gsp if request.param.endswith("gsp") else None
    s = RemoteStore(server.query, update_endpoint=server.update, gsp_endpoint=gsp, retries=2, backoff=0.05)
    # Virtuoso is shared by the module's tests and has system graphs: leave only those behind.
    before = set(s.graph_names())
    yield s
    for graph in set(s.graph_names()) - before:
        s.drop_graph(graph)
    s.close()


def test_load_trig_keeps_graphs_and_queries_agree(store):
    quads = store.load_file(MINI).quads
    assert quads > 50
    graphs = {str(g) for g in store.graph_names()}
    assert {"https://w3id.org/kgenrich/test/graph/museum-a", "https://w3id.org/kgenrich/test/graph/museum-b",
            "https://w3id.org/kgenrich/test/graph/vocabulary"} <= graphs
    rows = store.select("SELECT ?o WHERE { GRAPH ?g { ?o a <http://erlangen-crm.org/current/E22_Man-Made_Object> } } ORDER BY ?o")
    assert len(rows) == 6
    # The default graph is the union of all graphs on every store kind.
    assert store.ask("ASK { <https://w3id.org/kgenrich/test/vocabulary/silk> ?p ?o }")
    notes = store.select("SELECT ?n WHERE { <https://w3id.org/kgenrich/test/object/a1> <http://erlangen-crm.org/current/P3_has_note> ?n }")
    assert notes[0]["n"] == Literal('Damasco de seda, "Valencia" > 1700\nsegunda línea', lang="es")
    triples = store.construct("CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <https://w3id.org/kgenrich/test/graph/museum-b> { ?s ?p ?o } }")
    assert len(triples) == len(list(store.graph_triples(URIRef("https://w3id.org/kgenrich/test/graph/museum-b"))))


def test_turtle_into_a_named_graph_and_gzip(store, tmp_path):
    path = tmp_path / "x.ttl.gz"
    path.write_bytes(gzip.compress(b'<http://x/s> <http://x/p> "v" .\n'))
    store.load_file(path, graph=URIRef("http://x/g"))
    assert list(store.graph_triples(URIRef("http://x/g"))) == [(URIRef("http://x/s"), URIRef("http://x/p"), Literal("v"))]


def test_malformed_file_loads_nothing_and_names_the_line(store, tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_text('<http://x/s> <http://x/p> "ok" .\n<http://x/s> <http://x/p> "unterminated .\n')
    with pytest.raises(LoadError) as info:
        store.load_file(path, graph=URIRef("http://x/g"))
    assert "broken.ttl" in str(info.value) and "line" in str(info.value)
    assert not store.ask("ASK { GRAPH <http://x/g> { ?s ?p ?o } }")


def test_unknown_format_and_missing_file(store, tmp_path):
    odd = tmp_path / "data.xyz"
    odd.write_text("x")
    with pytest.raises(LoadError, match="unknown RDF format"):
        store.load_file(odd)
    with pytest.raises(LoadError, match="no such file"):
        store.load_file(tmp_path / "missing.ttl")


def test_replace_graph_replaces_only_that_graph(store):
    store.load_file(MINI)
    other_before = sorted(store.graph_triples(URIRef("https://w3id.org/kgenrich/test/graph/museum-b")))
    new = [(URIRef("http://x/s"), URIRef("http://x/p"), Literal(f"v{i}")) for i in range(12)]
    assert store.replace_graph(G, new) == 12
    assert sorted(store.graph_triples(G)) == sorted(new)
    assert sorted(store.graph_triples(URIRef("https://w3id.org/kgenrich/test/graph/museum-b"))) == other_before
    assert not any("kgenrich-replace" in str(g) for g in store.graph_names())
    store.drop_graph(G)
    assert G not in store.graph_names()


def test_remote_batches_inserts(oxigraph):
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, batch_triples=7)
    new = [(URIRef("http://x/s"), URIRef("http://x/p"), Literal(i)) for i in range(50)]
    store.replace_graph(URIRef("http://x/g"), new)
    assert len(list(store.graph_triples(URIRef("http://x/g")))) == 50


def test_unreachable_endpoint_is_one_clear_error():
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}/sparql"
    store = RemoteStore(url, retries=2, backoff=0.01, timeout=2)
    with pytest.raises(EndpointUnreachable) as info:
        store.select("SELECT * { ?s ?p ?o }")
    assert url in str(info.value) and "2 attempt" in str(info.value)


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers 503 a given number of times, then a fixed SPARQL JSON result."""

    failures_left = 0
    calls = 0
    extra_headers: dict = {}

    def do_POST(self):
        type(self).calls += 1
        request = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        body = b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}'
        if b"ASK" in request:  # the store's probe of its default graph: an empty store
            body = b'{"boolean":false}'
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        for k, v in self.extra_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FlakyHandler.calls = 0
    _FlakyHandler.extra_headers = {}
    yield f"http://user:secret@127.0.0.1:{server.server_address[1]}/sparql"
    server.shutdown()


def test_retries_with_backoff_on_5xx(flaky_server):
    store = RemoteStore(flaky_server, retries=3, backoff=0.01)
    store.select("SELECT ?x {}")  # the first query also probes the default graph: count the next one only
    _FlakyHandler.calls = 0
    _FlakyHandler.failures_left = 2
    assert store.select("SELECT ?x {}") == [{"x": Literal("1")}]
    assert _FlakyHandler.calls == 3


def test_gives_up_after_retries_without_printing_credentials(flaky_server):
    _FlakyHandler.failures_left = 5
    store = RemoteStore(flaky_server, retries=2, backoff=0.01)
    with pytest.raises(EndpointUnreachable) as info:
        store.select("SELECT ?x {}")
    assert "HTTP 503" in str(info.value) and "secret" not in str(info.value)


def test_a_server_cut_result_is_an_error(flaky_server):
    _FlakyHandler.failures_left = 0
    _FlakyHandler.extra_headers = {"X-SPARQL-MaxRows": "1"}
    with pytest.raises(TruncatedResult):
        RemoteStore(flaky_server).select("SELECT ?x {}")
    _FlakyHandler.extra_headers = {}
    with pytest.raises(TruncatedResult):
        RemoteStore(flaky_server, result_limit=1).select("SELECT ?x {}")


def test_blank_nodes_and_the_default_graph(store, tmp_path, request):
    path = tmp_path / "periods.ttl"
    path.write_text("""@prefix time: <http://www.w3.org/2006/time#> .
<http://x/c18> a time:TimeInterval ; time:hasBeginning [ time:inXSDDate "1701" ] ; time:hasEnd [ time:inXSDDate "1800" ] .
<http://x/louis-xv> time:intervalIn <http://x/c18> .
""")
    graph = None
    if "virtuoso" in request.node.name:
        # Virtuoso has no default graph to write into: a clear error, then a named graph.  (An
        # Oxigraph server in its default mode has one, and kgenrich's queries read it, issue 21.)
        with pytest.raises(LoadError, match="give --graph IRI") as info:
            store.load_file(path)
        assert "\n" not in str(info.value)
        graph = URIRef("http://x/periods")
    assert store.load_file(path, graph=graph).quads == 6
    rows = store.select("""PREFIX time: <http://www.w3.org/2006/time#>
        SELECT ?b ?e WHERE { <http://x/c18> time:hasBeginning/time:inXSDDate ?b ; time:hasEnd/time:inXSDDate ?e }""")
    # Each blank node kept its own identity: exactly one beginning and one end.
    assert [(str(r["b"]), str(r["e"])) for r in rows] == [("1701", "1800")]
    assert store.ask("ASK { <http://x/louis-xv> <http://www.w3.org/2006/time#intervalIn> <http://x/c18> }")


# ------------------------------------------------------------------ the contract: staging, swapping, capabilities
def test_stage_and_swap_graphs(store):
    store.load_file(MINI)
    museum_b = URIRef("https://w3id.org/kgenrich/test/graph/museum-b")
    other_before = sorted(store.graph_triples(museum_b))
    live, live2 = URIRef("http://x/live"), URIRef("http://x/live2")
    staged, staged2 = URIRef("http://x/staging/a"), URIRef("http://x/staging/b")
    store.stage_graph(live, [(URIRef("http://x/s"), URIRef("http://x/p"), Literal("old"))])
    store.stage_graph(live2, [(URIRef("http://x/s"), URIRef("http://x/p"), Literal("old2"))])
    new = [(URIRef("http://x/s"), URIRef("http://x/p"), Literal(f"v{i}")) for i in range(7)]
    assert store.stage_graph(staged, new) == 7
    assert store.stage_graph(staged, new[:3]) == 3  # staging again replaces, never adds
    assert sorted(store.graph_triples(staged)) == sorted(new[:3])
    store.stage_graph(staged2, [])
    store.swap_graphs({live: staged, live2: staged2})
    assert sorted(store.graph_triples(live)) == sorted(new[:3])
    assert list(store.graph_triples(live2)) == []  # an empty staged graph empties the live one
    names = store.graph_names()
    assert staged not in names and staged2 not in names and live2 not in names
    assert sorted(store.graph_triples(museum_b)) == other_before
    with pytest.raises(StoreError, match="distinct"):
        store.swap_graphs({live: live})


def test_capabilities_say_what_differs(store, request):
    kind = request.node.callspec.params["store"]
    if kind == "embedded":
        assert store.page_rows is None and store.default_graph_is_union and store.concurrent_reads
        return
    assert store.page_rows == 5000
    store.load_file(MINI)
    assert store.default_graph_is_union is (not kind.startswith("oxigraph-default"))
    capped = RemoteStore(store.endpoint, result_limit=1000)
    assert capped.page_rows == 999


def test_default_mode_server_gives_the_same_tasks_groups_and_records(oxigraph_default):
    from helpers import mini_settings

    from kgenrich.labels import labels_json
    from kgenrich.pipeline import load_inputs
    from kgenrich.tasks import load_tasks

    local = EmbeddedStore()
    local.load_file(MINI)
    remote = RemoteStore(oxigraph_default.query, update_endpoint=oxigraph_default.update)
    remote.load_file(MINI)
    assert remote.default_graph_is_union is False
    results = []
    for s in (local, remote):
        settings = mini_settings(page_size=4)
        tasks = load_tasks(s, settings)
        inputs = load_inputs(s, settings, tasks=tasks, profile=SILKNOW_PROFILE, progress=False)
        results.append(([t.name for t in tasks], labels_json(inputs.labels), [r.to_dict() for r in inputs.records]))
    assert results[0] == results[1]
    assert results[0][2]  # records were read at all


def test_no_module_outside_the_store_asks_which_store_it_has():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "kgenrich"
    pattern = re.compile(r"isinstance\([^)]*(RemoteStore|EmbeddedStore)|store\.remote import|store\.(gsp_endpoint|batch_triples)")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "store" not in p.relative_to(root).parts and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


# ------------------------------------------------------------------ stores by name (store_kind)
class _PluginStore(EmbeddedStore):
    """A store of another distribution: here an in-memory engine that records how it was built."""

    built_with: dict = {}

    @classmethod
    def from_settings(cls, settings, *, read_only=False, in_memory=False):
        store = cls(None)
        store.built_with = {"store": settings.store, "read_only": read_only, "in_memory": in_memory}
        return store


@pytest.fixture
def plugin_store():
    import kgenrich.store as stores

    stores.register("plugin-store", _PluginStore)
    yield "plugin-store"
    stores.unregister("plugin-store")


def test_open_store_builds_the_registered_class_the_settings_name(plugin_store, tmp_path):
    from kgenrich.config import load_settings
    from kgenrich.store import names, open_store

    assert {"embedded", "remote", plugin_store} <= set(names())
    settings = load_settings(flags={"store": str(tmp_path / "s"), "store_kind": plugin_store}, environ={},
                             cwd=tmp_path)
    store = open_store(settings, read_only=True)
    assert type(store) is _PluginStore
    assert store.built_with == {"store": str(tmp_path / "s"), "read_only": True, "in_memory": False}


def test_auto_is_remote_with_an_endpoint_and_embedded_otherwise(tmp_path):
    from kgenrich.config import load_settings
    from kgenrich.store import open_store, store_kind

    local = load_settings(flags={"store": str(tmp_path / "s")}, environ={}, cwd=tmp_path)
    assert local.store_kind == "auto" and store_kind(local) == "embedded"
    with open_store(local) as store:
        assert type(store) is EmbeddedStore and store.path == tmp_path / "s" and not store.read_only
    with open_store(local, in_memory=True) as store:
        assert store.path is None
    remote = load_settings(flags={"endpoint": "http://127.0.0.1:9/sparql", "timeout": 7, "batch_triples": 11},
                           environ={}, cwd=tmp_path)
    assert store_kind(remote) == "remote"
    with open_store(remote, read_only=True) as store:
        assert type(store) is RemoteStore and store.read_only
        assert (store.endpoint, store.timeout, store.batch_triples) == ("http://127.0.0.1:9/sparql", 7.0, 11)


def test_an_unknown_store_kind_is_one_line_naming_the_known_stores(tmp_path, monkeypatch):
    import kgenrich.store as stores
    from kgenrich.config import load_settings
    from kgenrich.errors import ConfigError

    monkeypatch.setattr(stores, "_entry_points", {})  # the installed distributions add nothing here
    settings = load_settings(flags={"store_kind": "embeded"}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError) as caught:
        stores.open_store(settings)
    message = str(caught.value)
    assert "\n" not in message
    assert message == ("store_kind 'embeded': no such store (known: auto, embedded, remote) "
                       "(did you mean 'embedded'?)")
    without_endpoint = load_settings(flags={"store_kind": "remote"}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="store_kind 'remote' needs an endpoint"):
        stores.open_store(without_endpoint)


def test_a_store_of_another_distribution_comes_by_entry_point(tmp_path, monkeypatch):
    import importlib.metadata

    import kgenrich.store as stores
    from kgenrich.config import load_settings
    from kgenrich.errors import ConfigError

    found = {"thirdparty": importlib.metadata.EntryPoint("thirdparty", f"{__name__}:_PluginStore", stores.ENTRY_POINT_GROUP),
             "broken": importlib.metadata.EntryPoint("broken", "no_such_module_here:Store", stores.ENTRY_POINT_GROUP),
             "notastore": importlib.metadata.EntryPoint("notastore", "pathlib:Path", stores.ENTRY_POINT_GROUP)}
    monkeypatch.setattr(stores, "_entry_points", found)
    settings = load_settings(flags={"store_kind": "thirdparty"}, environ={}, cwd=tmp_path)
    assert type(stores.open_store(settings)) is _PluginStore
    for name, why in (("broken", "cannot be loaded"), ("notastore", "is not a Store class")):
        with pytest.raises(ConfigError, match=f"store '{name}': entry point .* {why}"):
            stores.get_store_class(name)


def test_entry_points_are_read_only_for_names_not_built_in(monkeypatch):
    import kgenrich.store as stores

    def no_metadata(**kwargs):
        raise RuntimeError("entry points read")

    monkeypatch.setattr(stores, "_entry_points", None)
    monkeypatch.setattr(stores.importlib.metadata, "entry_points", no_metadata)
    assert stores.get_store_class("embedded") is EmbeddedStore and stores.get_store_class("remote") is RemoteStore
    with pytest.raises(RuntimeError, match="entry points read"):
        stores.get_store_class("not-built-in")


def test_pyproject_declares_the_builtin_stores_as_entry_points():
    import tomllib
    from pathlib import Path

    import kgenrich.store as stores

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][stores.ENTRY_POINT_GROUP]
    assert declared == {name: f"kgenrich.store.{stores._REGISTRY[name]}" for name in stores.BUILTIN}


def test_a_scratch_store_is_a_fresh_in_memory_engine():
    from kgenrich.store import scratch_store

    first, second = scratch_store(), scratch_store()
    first.update("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert first.path is None and len(first) == 1 and len(second) == 0 and not first.read_only
