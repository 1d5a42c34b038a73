"""Issue 21, items 2-4: what a query may reach, what it reads, and how long it may run.

- SERVICE on the embedded store: refused unless the endpoint is listed in ``service_endpoints``
  (and then sent there only); no other command opens a connection the user did not configure.
- A non-union Oxigraph server: triples in its own default graph are read (SILKNOW vocabularies in the
  default graph, museum graphs named: the same predictions as on a union-mode server), and where a
  server cannot give both, one warning says how many triples are not read and what to change.
- The embedded store's query timeout and Ctrl-C; a remote query that times out is not repeated and
  says it timed out.
"""

from __future__ import annotations

import gzip
import http.server
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyoxigraph as ox
import pytest
import requests
from faults import forward
from helpers import MINI, MINI_TASKS
from rdflib import URIRef
from servers import oxigraph, oxigraph_default  # noqa: F401  (fixtures)
from test_remote_http import answer, scripted  # noqa: F401  (the scripted endpoint fixture)

from kgenrich.errors import EndpointUnreachable, LoadError
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.guard import QueryRefused, QueryTimeout, service_endpoints
from kgenrich.store.http import RequestTimeout
from kgenrich.store.remote import RemoteStore

KGENRICH = [sys.executable, "-m", "kgenrich"]


def cli(args, cwd, env=None, timeout=120, **kwargs):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    environment.update(env or {})
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=environment, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    assert "Traceback" not in result.stderr, result.stderr
    return result


class Listener:
    """A loopback HTTP endpoint that records every request it gets (and answers an empty result)."""

    def __init__(self):
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                hits.append(f"{self.command} {self.path}")
                body = b'{"head":{"vars":["s"]},"results":{"bindings":[]}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/sparql-results+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/s"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def mini_dir(tmp_path):
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n')
    store = EmbeddedStore(tmp_path / ".kgenrich" / "store")
    store.load_file(MINI)
    store.close()
    return tmp_path


# ------------------------------------------------------------------ item 2: SERVICE
def test_the_issues_service_query_is_refused_and_nothing_is_sent(mini_dir, listener):
    out = cli(["query", f"SELECT * {{ SERVICE SILENT <{listener.url}> {{ ?s ?p ?o }} }}"], mini_dir)
    assert out.returncode == 2 and out.stderr.startswith(f"error: SERVICE {listener.url}: ")
    assert "service_endpoints" in out.stderr and len(out.stderr.splitlines()) == 1
    assert listener.hits == []


@pytest.mark.parametrize("text", [
    "SELECT * {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "PREFIX e: <{base}> SELECT * {{ ?x ?y ?z OPTIONAL {{ SERVICE e:s {{ ?s ?p ?o }} }} }}",
    "BASE <{base}> SELECT * {{ FILTER EXISTS {{ sErViCe <s> {{ ?s ?p ?o }} }} }}",
    "ASK {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}",
    "SELECT * {{ VALUES ?e {{ <{url}> }} SERVICE ?e {{ ?s ?p ?o }} }}",
])
def test_every_spelling_of_service_is_refused_on_the_embedded_store(listener, text):
    store = EmbeddedStore(None)
    store.load_file(MINI)
    query = text.format(url=listener.url, base=listener.url[:-1])
    form = query.split()[0] if not query.startswith(("PREFIX", "BASE")) else "SELECT"
    with pytest.raises(QueryRefused, match="service_endpoints"):
        {"SELECT": store.select, "ASK": store.ask, "CONSTRUCT": store.construct}[form](query)
    with pytest.raises(QueryRefused):
        store.update(f"INSERT {{ GRAPH <http://x/g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}")
    assert listener.hits == []


def test_a_listed_endpoint_is_called_and_only_that_one(listener):
    store = EmbeddedStore(None, service_endpoints=[listener.url])
    assert store.select(f"SELECT * {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}") == []
    assert len(listener.hits) == 1 and listener.hits[0].startswith("POST /s")
    with pytest.raises(QueryRefused, match="http://127.0.0.1:9/other"):
        store.select(f"SELECT * {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} SERVICE <http://127.0.0.1:9/other> {{}} }}")
    with pytest.raises(QueryRefused):  # through a variable: never, even when the value is listed
        store.select(f"SELECT * {{ VALUES ?e {{ <{listener.url}> }} SERVICE ?e {{ ?s ?p ?o }} }}")
    assert len(listener.hits) == 1


def test_the_word_service_elsewhere_is_no_service_call():
    store = EmbeddedStore(None)
    store.load_bytes(b'<http://x/a> <http://x/p> "customer service" .', "ntriples")
    rows = store.select('SELECT ?s WHERE { ?s ?p "customer service" }  # a service desk')
    assert [str(r["s"]) for r in rows] == ["http://x/a"]
    assert service_endpoints("SELECT ?service WHERE { ?service ?p ?o }") == []
    # pyoxigraph reads the keyword only as written: an escaped spelling is a syntax error there
    with pytest.raises(Exception, match="bad SPARQL"):
        store.select("SELECT * { \\u0053ERVICE <http://127.0.0.1:9/s> { ?s ?p ?o } }")


def test_service_endpoints_is_a_typed_setting(mini_dir, listener):
    (mini_dir / "kgenrich.toml").write_text((mini_dir / "kgenrich.toml").read_text()
                                            + f'service_endpoints = ["{listener.url}"]\n')
    out = cli(["query", "--format", "csv", f"SELECT * {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}"], mini_dir)
    assert out.returncode == 0, out.stderr
    assert len(listener.hits) == 1
    (mini_dir / "kgenrich.toml").write_text('service_endpoints = ["not an iri"]\n')
    out = cli(["query", "ASK {}"], mini_dir)
    assert out.returncode == 2 and "service_endpoints" in out.stderr and "absolute IRI" in out.stderr


SOCKET_GUARD = """
import socket, sys
_real_connect = socket.socket.connect
def _connect(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open({log!r}, "a") as fh:
            fh.write(repr(address) + " " + repr(sys.argv[1:4]) + "\\n")
    return _real_connect(self, address, *args)
socket.socket.connect = _connect
_real_connect_ex = socket.socket.connect_ex
def _connect_ex(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open({log!r}, "a") as fh:
            fh.write(repr(address) + " " + repr(sys.argv[1:4]) + "\\n")
    return _real_connect_ex(self, address, *args)
socket.socket.connect_ex = _connect_ex
"""


def test_no_command_opens_a_connection_on_the_embedded_store(mini_dir, tmp_path):
    """Every reading command and a sync with the tabular model: no TCP connection at all."""
    guard = tmp_path / "guard"
    guard.mkdir()
    log = tmp_path / "connections.log"
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD.format(log=str(log)))
    env = {"PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")])}
    (mini_dir / "kgenrich.toml").write_text((mini_dir / "kgenrich.toml").read_text() + """
[models]
modalities = ["tabular"]
folds = 2
n_jobs = 1
[models.tabular]
num_boost_round = 5
[models.fusion]
num_boost_round = 5
""")
    commands = [["query", "--format", "csv", "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"], ["tasks", "--json"],
                ["labels", "--json"], ["dataset", "--json"], ["sync", "--quiet"], ["validate", "--json"],
                ["config", "show"]]
    for command in commands:
        out = cli(command, mini_dir, env=env)
        assert out.returncode in (0, 4), (command, out.stderr)
    # the guard is in force (a connection a test makes on purpose is recorded)
    out = cli(["--endpoint", "http://127.0.0.1:9/sparql", "query", "ASK {}"], mini_dir, env=env)
    assert out.returncode == 2
    lines = log.read_text().splitlines()
    assert lines and all("'--endpoint'" in line for line in lines), lines


# ------------------------------------------------------------------ item 3: a non-union server
SILKNOW_VOCABULARIES = ["vocabularies/silknow-thesaurus.ttl", "vocabularies/aat-centuries.ttl",
                        "vocabularies/silknow-dates-extension.ttl", "vocabularies/geonames-subset.ttl"]
SMALL_MUSEUMS = {"mobilier", "cer", "smithsonian", "versailles", "joconde"}  # ~12,000 quads of the train file
TABULAR = {"modalities": ["tabular"], "folds": 2, "n_jobs": 1, "tabular": {"num_boost_round": 10},
           "fusion": {"num_boost_round": 10}}


def _museum_slice(silknow_dir: Path) -> bytes:
    quads = [q for q in ox.parse(gzip.open(silknow_dir / "kg" / "silknow-train.trig.gz"), format=ox.RdfFormat.TRIG)
             if q.graph_name.value.rsplit("/", 1)[-1] in SMALL_MUSEUMS]
    return ox.serialize(quads, format=ox.RdfFormat.N_QUADS)


def _load_the_ordinary_way(server, silknow_dir: Path, museums: bytes) -> None:
    """As a curator loads a server by hand: the thesaurus into the default graph (POST /store?default),
    the museum graphs named (POST /store with N-Quads)."""
    for name in SILKNOW_VOCABULARIES:
        answer = requests.post(server.gsp + "?default", data=(silknow_dir / name).read_bytes(),
                               headers={"Content-Type": "text/turtle"}, timeout=60)
        assert answer.status_code in (200, 201, 204), answer.text
    answer = requests.post(server.gsp, data=museums, headers={"Content-Type": "application/n-quads"}, timeout=60)
    assert answer.status_code in (200, 201, 204), answer.text


def _sync(store: RemoteStore, tmp_path: Path, name: str):
    from helpers import mini_settings

    from kgenrich.demo.run import demo_task_definitions
    from kgenrich.namespaces import CONFIG_GRAPH
    from kgenrich.sync import run_sync

    store.load_bytes(demo_task_definitions(600), "ntriples", graph=CONFIG_GRAPH)
    settings = mini_settings(ontology=[], models_dir=str(tmp_path / name / "models"))
    settings.sections = {"models": TABULAR, "sync": {"report_dir": str(tmp_path / name / "reports"),
                                                     "validation_engine": "sparql"}}
    return run_sync(store, settings, progress=False)


def _predictions(store: RemoteStore) -> set:
    rows = store.select("SELECT ?s ?p ?o WHERE { GRAPH <http://data.silknow.org/predictions> { ?st a "
                        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement> ; "
                        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#subject> ?s ; "
                        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#predicate> ?p ; "
                        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#object> ?o } }")
    return {(str(r["s"]), str(r["p"]), str(r["o"])) for r in rows}


@pytest.mark.server
def test_default_graph_vocabularies_on_a_default_mode_server_give_the_union_servers_predictions(
        silknow_dir, oxigraph, oxigraph_default, tmp_path):
    museums = _museum_slice(silknow_dir)
    reports, predictions = {}, {}
    for name, server in (("union", oxigraph), ("default", oxigraph_default)):
        _load_the_ordinary_way(server, silknow_dir, museums)
        store = RemoteStore(server.query, update_endpoint=server.update)
        assert store.default_graph_is_union is server.union_default_graph
        reports[name] = _sync(store, tmp_path, name)
        predictions[name] = _predictions(store)
    assert reports["default"].predictions == reports["union"].predictions > 100
    assert predictions["default"] == predictions["union"]


class StrippingProxy:
    """A proxy in front of a default-mode Oxigraph server that drops the union-default-graph parameter:
    a non-union server without Oxigraph's extension, as most are."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if "form" in self.headers.get("Content-Type", ""):
                    body = urlencode([(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)
                                      if k != "union-default-graph"]).encode()
                    self.headers.replace_header("Content-Length", str(len(body)))
                status, headers, payload = forward(self, target, body, timeout=30)
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.server
def test_a_server_that_cannot_read_both_says_what_is_not_read(oxigraph_default, caplog):
    requests.post(oxigraph_default.gsp + "?default", data=b"<http://x/a> <http://x/p> <http://x/b> .\n"
                  b"<http://x/a> <http://x/p> <http://x/c> .\n", headers={"Content-Type": "application/n-triples"})
    requests.post(oxigraph_default.gsp + "?graph=http://x/g", data=b"<http://x/n> <http://x/p> <http://x/m> .\n",
                  headers={"Content-Type": "application/n-triples"})
    proxy = StrippingProxy(oxigraph_default.url)
    try:
        store = RemoteStore(proxy.url + "/query")
        with caplog.at_level(logging.WARNING, logger="kgenrich"):
            rows = store.select("SELECT ?o WHERE { ?s <http://x/p> ?o }")
            store.select("SELECT ?o WHERE { ?s <http://x/p> ?o }")
        assert [str(r["o"]) for r in rows] == ["http://x/m"]  # the named graph is read ...
        assert store.unread_default_triples == 2  # ... the default graph is not, and that is said once
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "2 triple(s) of the server's own default graph are not read" in warnings[0]
        assert "union-default-graph" in warnings[0] and "--graph IRI" in warnings[0]
        # directly, the server's own parameter reads both
        direct = RemoteStore(oxigraph_default.query)
        assert sorted(str(r["o"]) for r in direct.select("SELECT ?o WHERE { ?s <http://x/p> ?o }")) == [
            "http://x/b", "http://x/c", "http://x/m"]
        assert direct.unread_default_triples is None
        # a load into the default graph through the proxy would be invisible: refused, nothing written
        with pytest.raises(LoadError, match="give --graph IRI"):
            RemoteStore(proxy.url + "/query", update_endpoint=proxy.url + "/update").load_bytes(
                b"<http://x/s> <http://x/p> <http://x/o> .", "ntriples")
        assert not direct.ask("ASK { <http://x/s> ?p ?o }")
    finally:
        proxy.close()


def test_the_warning_is_one_line_on_the_command_line(oxigraph_default, tmp_path):
    requests.post(oxigraph_default.gsp + "?default", data=b"<http://x/a> <http://x/p> <http://x/b> .\n",
                  headers={"Content-Type": "application/n-triples"})
    requests.post(oxigraph_default.gsp + "?graph=http://x/g", data=b"<http://x/n> <http://x/p> <http://x/m> .\n",
                  headers={"Content-Type": "application/n-triples"})
    proxy = StrippingProxy(oxigraph_default.url)
    try:
        out = cli(["--endpoint", proxy.url + "/query", "query", "--format", "csv",
                   "SELECT ?o WHERE { ?s <http://x/p> ?o }"], tmp_path)
    finally:
        proxy.close()
    assert out.returncode == 0 and out.stdout.splitlines() == ["o", "http://x/m"]
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("warning: ") and "1 triple(s)" in out.stderr


# ------------------------------------------------------------------ item 4: time
CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f . ?g ?h ?i }"


@pytest.fixture
def crowded_dir(tmp_path):
    """An embedded store where CROSS_JOIN takes hours."""
    store = EmbeddedStore(tmp_path / ".kgenrich" / "store")
    store.load_bytes("".join(f'<http://x/{i}> <http://x/p> "{i}" .\n' for i in range(400)).encode(), "ntriples")
    store.close()
    return tmp_path


def test_an_embedded_query_stops_at_its_timeout(crowded_dir):
    (crowded_dir / "kgenrich.toml").write_text("query_timeout = 1\n")
    started = time.monotonic()
    out = cli(["query", CROSS_JOIN], crowded_dir)
    assert time.monotonic() - started < 30
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("error: the query ran for more than 1 s on the embedded store") and \
        "query_timeout" in out.stderr
    # in this process: joins of about a second (a query given up still finishes in the background)
    store = EmbeddedStore(None, query_timeout=0.2)
    store.load_bytes("".join(f'<http://x/{i}> <http://x/p> "{i}" .\n' for i in range(200)).encode(), "ntriples")
    with pytest.raises(QueryTimeout):
        store.select("SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }")
    with pytest.raises(QueryTimeout):
        store.ask("ASK { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f FILTER(CONCAT(?b, ?d, ?f) = 'x') }")
    # the time spent with the rows does not count: a slow reader of a quick query is not stopped
    rows = store.select_iter("SELECT ?s WHERE { ?s ?p ?o }")
    taken = 0
    for _ in rows:
        taken += 1
        if taken == 1:
            time.sleep(0.8)
    assert taken == 200


def test_ctrl_c_stops_a_long_embedded_query_at_once(crowded_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    child = subprocess.Popen(KGENRICH + ["query", CROSS_JOIN], cwd=crowded_dir, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(4)  # imports done, the query running
        assert child.poll() is None
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=20)
        assert time.monotonic() - sent < 5
        assert child.returncode == 130 and err == "interrupted\n"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_remote_query_that_times_out_is_not_repeated_and_says_so(scripted):  # noqa: F811
    store = RemoteStore(scripted.url + "/sparql", retries=4, backoff=0.001, timeout=0.3)
    scripted.script = answer
    store.select("SELECT ?x {}")  # the default-graph probe, answered
    scripted.seen.clear()
    scripted.script = lambda seen: ("hang", 1.0)
    with pytest.raises(RequestTimeout) as info:
        store.ask("ASK {}")
    assert len(scripted.seen) == 1  # one computation on the server, not four
    message = str(info.value)
    assert "gave no answer within 0.3 s" in message and "not repeated" in message and "cannot reach" not in message
    assert isinstance(info.value, EndpointUnreachable)
    scripted.seen.clear()
    with pytest.raises(RequestTimeout, match="may or may not have been applied"):
        store.swap_graphs({URIRef("http://x/live"): URIRef("http://x/staging/1")})
    assert len(scripted.seen) == 1
    # a lost answer (the connection closed) is still repeated
    scripted.seen.clear()
    scripted.script = lambda seen: ("drop",)
    with pytest.raises(EndpointUnreachable, match="4 attempt"):
        store.ask("ASK {}")
    assert len(scripted.seen) == 4
