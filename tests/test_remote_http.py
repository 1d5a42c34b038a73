"""RemoteStore over HTTP: which requests are repeated, which never are, and what messages show.

Real servers on 127.0.0.1: a scripted endpoint that can drop a connection after
reading the request, answer 503 with Retry-After, or hang; and the same
endpoint as a proxy in front of a real Oxigraph server, so that a request can
be applied by the store while its answer is lost on the way back.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from faults import forward
from rdflib import BNode, Literal, URIRef
from servers import free_port, oxigraph_default  # noqa: F401  (fixture)

from kgenrich import sparql
from kgenrich.errors import EndpointUnreachable, StoreError
from kgenrich.store.remote import RemoteStore

LIVE = URIRef("http://x/live")
STAGED = URIRef("http://x/staging/1")
P = URIRef("http://x/p")
RESULT = b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}'
JSON = {"Content-Type": "application/sparql-results+json"}


def answer(seen) -> tuple:
    """A fixed SPARQL result: ASK false (so the store's probe finds an empty store), else one row."""
    return ("answer", 200, JSON, b'{"boolean":false}' if "ASK" in seen.text else RESULT)


@dataclass
class Seen:
    method: str
    path: str
    form: dict
    headers: dict

    @property
    def text(self) -> str:
        return (self.form.get("update") or self.form.get("query") or [""])[0]


@dataclass
class Endpoint:
    """What the scripted endpoint saw, and what it does next.

    ``script(seen)`` returns one of: ``("answer", status, headers, body)``,
    ``("drop",)`` (close without answering), ``("hang", seconds)``,
    ``("forward",)`` (to the upstream server and back), ``("forward-drop",)``
    (to the upstream server, whose answer is then lost), ``("garbage",)``.
    """

    url: str
    seen: list[Seen] = field(default_factory=list)
    script: object = None
    upstream: str | None = None

    def count(self, needle: str) -> int:
        return sum(1 for s in self.seen if needle in s.text)


def _handler(endpoint: Endpoint):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            form = parse_qs(body.decode("utf-8", "replace")) if "form" in self.headers.get("Content-Type", "") else {}
            seen = Seen(self.command, self.path, form, {k.lower(): v for k, v in self.headers.items()})
            endpoint.seen.append(seen)
            action = endpoint.script(seen) if endpoint.script else ("forward",)
            kind = action[0]
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "hang":
                time.sleep(action[1])
                self.close_connection = True
                return
            if kind == "garbage":
                self.wfile.write(b"this is not HTTP\r\n\r\n")
                self.close_connection = True
                return
            if kind in ("forward", "forward-drop"):
                status, headers, payload = self._forward(body)
                if kind == "forward-drop":
                    self.close_connection = True
                    return
            else:
                _, status, headers, payload = action
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _forward(self, body: bytes):
            status, kept, payload = forward(self, urlsplit(endpoint.upstream), body, timeout=10)
            return status, dict(kept), payload

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def scripted(request):
    """A scripted endpoint; with the ``oxigraph`` fixture requested too, a proxy in front of it."""
    endpoint = Endpoint(url="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxied(scripted, oxigraph):
    """A RemoteStore that talks to a real Oxigraph server through the scripted proxy, and one that talks directly."""
    scripted.upstream = oxigraph.url
    store = RemoteStore(scripted.url + "/query", update_endpoint=scripted.url + "/update", retries=4, backoff=0.01)
    direct = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    return store, direct


def _triples(n: int, tag: str):
    return [(URIRef(f"http://x/s{i}"), P, Literal(f"{tag}{i}")) for i in range(n)]


def _lose_answer_of(needle: str, times: int = 1):
    """Forward every request; lose the answer of the first ``times`` requests holding ``needle``."""
    lost = []

    def script(seen):
        if needle in seen.text and len(lost) < times:
            lost.append(seen)
            return ("forward-drop",)
        return ("forward",)

    return script


# ------------------------------------------------------------------ the swap is sent once
def test_a_lost_swap_answer_is_not_repeated(proxied, scripted):
    store, direct = proxied
    direct.stage_graph(LIVE, _triples(3, "old"))
    direct.stage_graph(STAGED, _triples(5, "new"))
    scripted.script = _lose_answer_of("MOVE")
    with pytest.raises(EndpointUnreachable, match="not repeated") as info:
        store.swap_graphs({LIVE: STAGED})
    assert scripted.count("MOVE") == 1
    assert "\n" not in str(info.value)
    # The store applied it once: the new content is live and the staging graph is gone.
    assert sorted(direct.graph_triples(LIVE)) == sorted(_triples(5, "new"))
    assert STAGED not in direct.graph_names()
    # What a repeat would have done: MOVE SILENT of the absent staging graph empties the live graph.
    direct.update(sparql.prepare("replace_graph_swap", target=LIVE, scratch=STAGED))
    assert list(direct.graph_triples(LIVE)) == []


def test_replace_graph_does_not_repeat_its_swap(proxied, scripted):
    store, direct = proxied
    scripted.script = _lose_answer_of("MOVE")
    with pytest.raises(EndpointUnreachable):
        store.replace_graph(LIVE, _triples(4, "v"))
    assert scripted.count("MOVE") == 1
    assert sorted(direct.graph_triples(LIVE)) == sorted(_triples(4, "v"))


# ------------------------------------------------------------------ idempotent requests are repeated
def test_a_query_whose_answer_is_lost_is_repeated(proxied, scripted):
    store, direct = proxied
    direct.stage_graph(LIVE, _triples(2, "v"))
    query = "SELECT ?o WHERE { GRAPH <http://x/live> { ?s ?p ?o } } ORDER BY ?o"
    scripted.script = _lose_answer_of("ORDER BY ?o", times=2)
    assert [str(r["o"]) for r in store.select(query)] == ["v0", "v1"]
    assert scripted.count("ORDER BY ?o") == 3


def test_insert_data_batches_are_repeated_without_duplicates(proxied, scripted):
    store, direct = proxied
    store.batch_triples = 4
    scripted.script = _lose_answer_of("INSERT DATA", times=3)
    assert store.stage_graph(STAGED, _triples(10, "v")) == 10
    # Three batches, the first three answers lost after the store applied them: six requests.
    assert scripted.count("INSERT DATA") == 6
    assert sorted(direct.graph_triples(STAGED)) == sorted(_triples(10, "v"))


def test_blank_node_data_is_sent_once(proxied, scripted, tmp_path):
    store, direct = proxied
    path = tmp_path / "blank.ttl"
    path.write_text('<http://x/a> <http://x/p> [ <http://x/q> "1" ] .\n')
    scripted.script = _lose_answer_of("} } WHERE")
    with pytest.raises(EndpointUnreachable, match="not repeated"):
        store.load_file(path, graph=URIRef("http://x/g"))
    assert scripted.count("INSERT") == 1
    # The file was staged once (one blank node, not two), then the load failed as a whole: the
    # staging graph is dropped, and nothing of the file reached its graph.
    assert direct.select("SELECT ?b WHERE { GRAPH ?g { <http://x/a> <http://x/p> ?b } }") == []
    assert direct.graph_names() == []


# ------------------------------------------------------------------ statuses and Retry-After
def _warm(store: RemoteStore, endpoint: Endpoint) -> None:
    """The first query also probes the default graph; afterwards count only what the test sends."""
    endpoint.script = answer
    store.select("SELECT ?x {}")
    endpoint.seen.clear()


def test_retry_after_is_honoured(scripted):
    store = RemoteStore(scripted.url + "/sparql", retries=3, backoff=0.001)
    _warm(store, scripted)
    answers = iter([("answer", 503, {"Retry-After": "1"}, b"busy")])
    scripted.script = lambda seen: next(answers, None) or answer(seen)
    started = time.monotonic()
    assert store.select("SELECT ?x {}") == [{"x": Literal("1")}]
    assert time.monotonic() - started >= 0.9  # the server's second, not the 1 ms backoff
    assert len(scripted.seen) == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_idempotent_requests_are_repeated_on_server_errors(scripted, status):
    store = RemoteStore(scripted.url + "/sparql", retries=3, backoff=0.001)
    scripted.script = lambda seen: ("answer", status, {}, b"Virtuoso 42000 Error: busy\nmore")
    with pytest.raises(StoreError) as info:
        store.drop_graph(LIVE)
    assert len(scripted.seen) == 3
    assert f"HTTP {status} Virtuoso 42000 Error: busy" in str(info.value) and "3 attempt" in str(info.value)
    assert isinstance(info.value, EndpointUnreachable) == (status != 500)


def test_the_swap_is_not_repeated_on_503(scripted):
    store = RemoteStore(scripted.url + "/sparql", retries=4, backoff=0.001)
    scripted.script = lambda seen: ("answer", 503, {"Retry-After": "0"}, b"")
    with pytest.raises(EndpointUnreachable, match="HTTP 503"):
        store.swap_graphs({LIVE: STAGED})
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("action", [("drop",), ("garbage",)], ids=["dropped", "not-http"])
def test_lost_answers_repeat_queries_but_never_the_swap(scripted, action):
    store = RemoteStore(scripted.url + "/sparql", retries=3, backoff=0.001, timeout=0.3)
    _warm(store, scripted)
    scripted.script = lambda seen: action
    with pytest.raises(EndpointUnreachable, match="3 attempt"):
        store.ask("ASK {}")
    assert len(scripted.seen) == 3
    scripted.seen.clear()
    with pytest.raises(EndpointUnreachable, match="1 attempt.*not repeated"):
        store.swap_graphs({LIVE: STAGED})
    assert len(scripted.seen) == 1


def test_a_request_that_never_left_is_repeated_even_for_the_swap():
    url = f"http://user:Secret@127.0.0.1:{free_port()}/sparql"
    store = RemoteStore(url, retries=3, backoff=0.001, timeout=2)
    with pytest.raises(EndpointUnreachable) as info:
        store.swap_graphs({LIVE: STAGED})
    message = str(info.value)
    assert "3 attempt" in message and "not repeated" not in message
    assert url.replace("user:Secret@", "") in message and "Secret" not in message and "user" not in message


# ------------------------------------------------------------------ credentials
def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_user_info_becomes_basic_auth_and_leaves_the_url(scripted):
    scripted.script = answer
    port = scripted.url.rsplit(":", 1)[1]
    store = RemoteStore(f"http://alice:s3cr%40t@127.0.0.1:{port}/sparql")
    store.select("SELECT ?x {}")
    assert {s.headers["authorization"] for s in scripted.seen} == {_basic("alice", "s3cr@t")}
    assert all(s.path == "/sparql" and "alice" not in s.headers["host"] for s in scripted.seen)
    assert "alice" not in store.description and "s3cr" not in store.description
    # Credentials from the environment (the settings) win over the URL's.
    scripted.seen.clear()
    RemoteStore(f"http://alice:s3cr%40t@127.0.0.1:{port}/sparql", credentials=("env", "pw")).select("SELECT ?x {}")
    assert {s.headers["authorization"] for s in scripted.seen} == {_basic("env", "pw")}


def test_refused_access_names_the_fix_not_the_password(scripted):
    scripted.script = lambda seen: ("answer", 401, {}, b"")
    port = scripted.url.rsplit(":", 1)[1]
    with pytest.raises(StoreError) as info:
        RemoteStore(f"http://bob:Hunter22@127.0.0.1:{port}/sparql").select("SELECT ?x {}")
    assert "HTTP 401" in str(info.value) and "KGENRICH_USER" in str(info.value)
    assert "Hunter22" not in str(info.value) and "bob" not in str(info.value)


def test_a_redirect_is_reported_without_credentials(scripted):
    scripted.script = lambda seen: ("answer", 301, {"Location": "https://bob:Hunter22@elsewhere/sparql"}, b"")
    with pytest.raises(StoreError, match="HTTP 301") as info:
        RemoteStore(scripted.url + "/sparql", credentials=("bob", "Hunter22")).select("SELECT ?x {}")
    assert "Hunter22" not in str(info.value) and "elsewhere" in str(info.value)
    assert len(scripted.seen) == 1


# ------------------------------------------------------------------ the default graph of a store without the union
def test_default_mode_server_loads_into_its_default_graph_even_when_empty(oxigraph_default, tmp_path):
    # (issue 21: queries read an Oxigraph server's own default graph beside its named graphs, so a load
    # into it is visible; a server that cannot read both refuses it, tests/test_issue21_queries.py)
    store = RemoteStore(oxigraph_default.query, update_endpoint=oxigraph_default.update)
    assert store.default_graph_is_union is None  # nothing to probe with yet
    path = tmp_path / "v.nt"
    path.write_text("<http://x/s> <http://x/p> <http://x/o> .\n")
    assert store.load_file(path).quads == 1
    assert store.default_graph_is_union is False
    assert store.graph_names() == []  # the probe triple is gone again
    assert store.ask("ASK { <http://x/s> <http://x/p> <http://x/o> }")


def test_the_graph_list_follows_writes(oxigraph_default, tmp_path):
    store = RemoteStore(oxigraph_default.query, update_endpoint=oxigraph_default.update)
    store.stage_graph(URIRef("http://x/g1"), [(URIRef("http://x/a"), P, URIRef("http://x/b"))])
    assert store.ask("ASK { <http://x/a> <http://x/p> <http://x/b> }")
    store.stage_graph(URIRef("http://x/g2"), [(URIRef("http://x/c"), P, URIRef("http://x/d"))])
    # The second graph was written after the graph list was cached: it is read all the same.
    assert store.ask("ASK { <http://x/c> <http://x/p> <http://x/d> }")
    rows = store.select("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g")
    assert [str(r["g"]) for r in rows] == ["http://x/g1", "http://x/g2"]


def test_blank_nodes_stage_through_the_graph_store_too(oxigraph_default):
    store = RemoteStore(oxigraph_default.query, update_endpoint=oxigraph_default.update,
                        gsp_endpoint=oxigraph_default.gsp)
    b = BNode()
    store.stage_graph(STAGED, [(URIRef("http://x/a"), P, b), (b, P, Literal("1")), (URIRef("http://x/a"), P, Literal("2"))])
    rows = store.select("SELECT ?v WHERE { <http://x/a> <http://x/p>/<http://x/p> ?v }")
    assert [str(r["v"]) for r in rows] == ["1"]
