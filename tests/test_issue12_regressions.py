"""One regression test per case of issue 12 ("nothing leaks, nothing lies, nothing is half-written")
that is not covered where its class of failure is tested (test_endpoint_urls, test_config, test_redact,
test_cli_foundation, test_rdf_corpus, test_binding_properties, test_fault_injection, test_redaction,
test_soak)."""

from __future__ import annotations

import ctypes
import gzip
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from faults import FaultProxy
from helpers import MINI, MINI_TASKS, mini_settings
from rdflib import Literal, URIRef
from servers import FakeTrainer

from kgenrich import sparql
from kgenrich.errors import LoadError, StoreError
from kgenrich.querying import QueryError, QueryResult, query_form, run_query, write_results
from kgenrich.resources import ONTOLOGY_DIR, QUERIES_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync

KGENRICH = [sys.executable, "-m", "kgenrich"]
ROOT = Path(__file__).resolve().parent.parent


def cli(args, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kwargs)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def mini_dir(tmp_path):
    """A working directory with the mini collection in its embedded store and tasks for it."""
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n')
    store = EmbeddedStore(tmp_path / ".kgenrich" / "store")
    store.load_file(MINI)
    store.close()
    return tmp_path


# ------------------------------------------------------------------ query: the form by the parser
def test_a_hash_inside_an_iri_is_not_a_comment(mini_dir):
    text = "PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT (COUNT(*) AS ?n) WHERE { ?c skos:prefLabel ?l }"
    assert query_form(text) == "SELECT"
    out = cli(["query", "--format", "csv", text], mini_dir)
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "n" and int(out.stdout.splitlines()[1]) > 0


@pytest.mark.parametrize("text, form", [
    ('SELECT ?x WHERE { BIND ("ASK # not a comment" AS ?x) }', "SELECT"),
    ("# SELECT in a comment\nASK { <http://x/#a> ?p ?o }", "ASK"),
    ("PREFIX : <http://x/#> CONSTRUCT WHERE { ?s :p ?o }", "CONSTRUCT"),
    ("DESCRIBE <http://x/a#b>", "DESCRIBE"),
])
def test_the_form_is_read_by_the_grammar(text, form):
    assert query_form(text) == form


def test_an_update_is_refused_by_name_and_never_run(mini_dir):
    with pytest.raises(QueryError, match="SPARQL update"):
        query_form("INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }")
    out = cli(["query", "DROP ALL"], mini_dir)
    assert out.returncode == 2 and "SPARQL update" in out.stderr
    count = cli(["query", "--format", "csv", "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"], mini_dir)
    assert int(count.stdout.splitlines()[1]) == 102


def test_a_query_file_that_is_not_utf8_is_one_error_line(mini_dir):
    (mini_dir / "bad.rq").write_bytes(b"SELECT * WHERE { ?s ?p \xff }")
    out = cli(["query", "@bad.rq"], mini_dir)
    assert out.returncode == 2 and out.stderr == "error: bad.rq: not UTF-8 text (byte 23)\n"


def test_variables_keep_the_projection_order(tmp_path):
    store = EmbeddedStore(None)
    store.load_file(MINI)
    result = run_query(store, "SELECT ?z ?a (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?a ?p ?z } } GROUP BY ?z ?a LIMIT 1")
    assert result.variables == ["z", "a", "n"]


# ------------------------------------------------------------------ query: streamed results
class CountingRows:
    """Rows handed out one by one, counting how many were taken."""

    def __init__(self, n: int):
        self.n, self.taken = n, 0

    def __iter__(self):
        for i in range(self.n):
            self.taken += 1
            yield {"x": Literal(i)}


class WatchingOut(io.StringIO):
    def __init__(self, rows: CountingRows):
        super().__init__()
        self.rows, self.taken_at_write = rows, []

    def write(self, text):
        self.taken_at_write.append(self.rows.taken)
        return super().write(text)


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_results_are_written_while_rows_are_still_coming(fmt):
    rows = CountingRows(5000)
    out = WatchingOut(rows)
    write_results(QueryResult("SELECT", ["x"], rows), fmt, out)
    # Something was written before most rows were read: the result is never held whole.
    assert out.taken_at_write[2] <= (1000 if fmt == "table" else 2), out.taken_at_write[:5]
    assert rows.taken == 5000


def test_the_embedded_store_hands_rows_out_lazily():
    store = EmbeddedStore(None)
    solutions = store.select_iter("SELECT ?i WHERE { VALUES ?i { 1 2 3 } }")
    assert solutions.variables == ["i"] and not isinstance(solutions.rows, list)
    assert [int(r["i"]) for r in solutions] == [1, 2, 3]


def test_a_remote_result_streams_before_the_server_has_sent_it_all():
    """The server sends half its rows, then waits until the client has read a row (or 10 s)."""
    first = b'{"head":{"vars":["i"]},"results":{"bindings":[' + b",".join(
        b'{"i":{"type":"literal","value":"%d"}}' % i for i in range(20000))
    rest = b"," + b",".join(b'{"i":{"type":"literal","value":"%d"}}' % i for i in range(20000, 40000)) + b"]}}"
    client_has_a_row = threading.Event()
    waited = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.send_header("Content-Length", str(len(first) + len(rest)))
            self.end_headers()
            self.wfile.write(first)
            self.wfile.flush()
            waited["in_time"] = client_has_a_row.wait(10)
            self.wfile.write(rest)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = RemoteStore(f"http://127.0.0.1:{server.server_address[1]}/sparql", retries=1)
        store._union, store._probe_due = True, False  # a scripted server: no default-graph probe
        count = 0
        for _ in store.select_iter("SELECT ?i WHERE { ?s ?p ?i }"):
            count += 1
            client_has_a_row.set()
        assert count == 40000 and waited["in_time"], "the first row came only after the whole answer"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ --store typo/dir, concurrent use
def test_a_reading_command_never_creates_a_store(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        EmbeddedStore(tmp_path / "typo" / "dir", read_only=True)
    assert not (tmp_path / "typo").exists()
    out = cli(["--store", "typo/dir", "query", "ASK {}"], tmp_path)
    assert out.returncode == 2 and "no store at typo/dir" in out.stderr and not (tmp_path / "typo").exists()


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from kgenrich.store.embedded import EmbeddedStore
store = EmbeddedStore(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
store.close()
"""


def test_reads_run_and_writes_are_told_plainly_while_another_process_writes(mini_dir):
    store_dir = mini_dir / ".kgenrich" / "store"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT)), str(store_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match="being written by another process"):
            EmbeddedStore(store_dir)
        load = cli(["load", str(MINI)], mini_dir)
        assert load.returncode == 2 and load.stderr.count("\n") == 1
        assert "being written by another process" in load.stderr and "RocksDB" not in load.stderr
        query = cli(["query", "--format", "csv", "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"],
                    mini_dir)
        assert query.returncode == 0 and query.stdout.splitlines()[1] == "102"
        tasks = cli(["tasks", "--json"], mini_dir)
        assert tasks.returncode == 0 and json.loads(tasks.stdout)["tasks"]
    finally:
        holder.communicate("\n", timeout=30)


def _drop_file_permission_override():
    """Run as root (CI containers): take the capabilities that ignore file permissions out of the
    bounding set of this (child) process, so that after exec a read-only directory is read-only for it."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_store_directory_can_be_queried(mini_dir, tmp_path_factory):
    frozen = tmp_path_factory.mktemp("frozen") / "store"
    shutil.copytree(mini_dir / ".kgenrich" / "store", frozen)
    (frozen / "LOCK").unlink(missing_ok=True)
    for path in [frozen, *frozen.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    try:
        for args, ok in ((["query", "--format", "csv", "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"],
                          True), (["load", str(MINI)], False)):
            result = subprocess.run(KGENRICH + ["--store", str(frozen)] + args, cwd=mini_dir, env=env,
                                    capture_output=True, text=True, timeout=120,
                                    preexec_fn=_drop_file_permission_override)
            assert "Traceback" not in result.stderr
            if ok:
                assert result.returncode == 0 and result.stdout.splitlines()[1] == "102", result.stderr
            else:
                assert result.returncode == 2 and "permission denied" in result.stderr, result.stderr
    finally:
        for path in [frozen, *frozen.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)


# ------------------------------------------------------------------ validate says when there was nothing
@pytest.mark.parametrize("target, held", [
    (["--graph", "https://w3id.org/kgenrich/test/graph/museum-a"], "triples, none of them an rdf:Statement"),
    (["--graph", "http://example.org/no/such/graph"], "empty or absent"),
    ("file", "no triples"),
])
def test_validate_warns_and_exits_4_when_there_is_nothing_to_validate(mini_dir, target, held):
    if target == "file":
        (mini_dir / "none.ttl").write_text("# no predictions here\n")
        target = ["none.ttl"]
    out = cli(["validate", *target], mini_dir)
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith("warning: ") and held in out.stderr and "nothing was validated" in out.stderr


# ------------------------------------------------------------------ parse errors keep file:line
def test_validate_file_names_file_and_line(mini_dir):
    (mini_dir / "broken.ttl").write_text('<http://x/a> <http://x/b> "c" .\n<http://x/a> <http://x/b> .\n')
    out = cli(["validate", "broken.ttl"], mini_dir)
    assert out.returncode == 2
    assert out.stderr == "error: broken.ttl: line 2, column 27: not valid Turtle: . is not a valid RDF object\n"


def test_rdfxml_errors_name_the_line_on_the_embedded_store(tmp_path):
    path = tmp_path / "broken.rdf"
    path.write_text('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
                    '<rdf:Description rdf:about="http://x/a">\n<foo>\n</rdf:RDF>\n')
    store = EmbeddedStore(None)
    with pytest.raises(LoadError) as info:
        store.load_file(path, graph=URIRef("http://x/g"))
    assert str(info.value) == f"{path}: line 5, column 3: not well-formed XML (mismatched tag)"
    assert len(store) == 0


@pytest.mark.server
def test_remote_loads_name_file_and_line_without_byte_reprs(oxigraph, tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_bytes('<http://x/a> <http://x/b> "ünï" .\n<http://x/a> <http://x/b> "\n'.encode())
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    with pytest.raises(LoadError) as info:
        store.load_file(path, graph=URIRef("http://x/g"))
    message = str(info.value)
    assert message.startswith(f"{path}: line 2, column ") and "\n" not in message and "b'" not in message
    assert store.graph_names() == []


def test_a_corrupt_gzip_is_one_load_error(tmp_path):
    data = bytearray(gzip.compress(b'<http://x/a> <http://x/b> "c" .\n' * 200))
    data[30] ^= 0xFF
    path = tmp_path / "flipped.nt.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(LoadError, match=r"flipped\.nt\.gz: broken gzip file \(Error -3"):
        EmbeddedStore(None).load_file(path)


# ------------------------------------------------------------------ remote loads are all or nothing
@pytest.mark.server
def test_a_failure_in_batch_7_of_a_remote_load_leaves_nothing(oxigraph, tmp_path):
    path = tmp_path / "big.nt"
    path.write_text("".join(f'<http://x/s{i}> <http://x/p> "{i}" .\n' for i in range(100)))
    proxy = FaultProxy(oxigraph.url)
    direct = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    direct.load_file(MINI)
    before = direct.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0]["n"]
    store = RemoteStore(proxy.url + "/query", update_endpoint=proxy.url + "/update", retries=1, batch_triples=10)
    try:
        proxy.reset_counts(nth=("INSERT DATA", 6, "500"))  # the seventh batch fails
        with pytest.raises(StoreError, match="HTTP 500"):
            store.load_file(path, graph=URIRef("http://x/g"), staging="http://x/staging/")
        assert sum(1 for r in proxy.requests if "INSERT DATA" in r) == 7
        assert direct.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0]["n"] == before
        assert not [g for g in direct.graph_names() if "staging" in str(g) or str(g) == "http://x/g"]
        # Nothing half-loaded to clean up: the same load, without the fault, loads the file whole.
        proxy.reset_counts()
        assert store.load_file(path, graph=URIRef("http://x/g"), staging="http://x/staging/").quads == 100
        assert len(list(direct.graph_triples(URIRef("http://x/g")))) == 100
        assert not [g for g in direct.graph_names() if "staging" in str(g)]
    finally:
        proxy.close()


@pytest.mark.server
def test_a_remote_load_is_moved_in_by_one_request(oxigraph, tmp_path):
    proxy = FaultProxy(oxigraph.url)
    store = RemoteStore(proxy.url + "/query", update_endpoint=proxy.url + "/update", batch_triples=10)
    try:
        proxy.reset_counts()
        store.load_file(MINI, staging="http://x/staging/")
        moves = [r for r in proxy.requests if "ADD SILENT GRAPH" in r]
        assert len(moves) == 1  # three graphs, one request
        assert {str(g) for g in store.graph_names()} == {
            "https://w3id.org/kgenrich/test/graph/museum-a", "https://w3id.org/kgenrich/test/graph/museum-b",
            "https://w3id.org/kgenrich/test/graph/vocabulary"}
    finally:
        proxy.close()


# ------------------------------------------------------------------ staging graphs are not data
def _example_queries() -> dict[str, str]:
    out = {}
    for path in sorted((QUERIES_DIR / "examples").glob("*.rq")):
        out[path.stem] = path.read_text(encoding="utf-8")
    return out


def test_example_queries_ignore_a_staging_graph_left_by_a_killed_sync(tmp_path):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    clean = EmbeddedStore(None)
    clean.load_file(MINI)
    run_sync(clean, settings, progress=False, trainer=FakeTrainer(version="1"))
    killed = EmbeddedStore(None)
    for g in clean.graph_names():
        killed.stage_graph(g, list(clean.graph_triples(g)))
    # New models, every prediction staged again, and the run ends before its swap -- what a sync
    # killed between staging and the swap leaves (a sharded run stages exactly so; the single-process
    # embedded write has no staging graphs at all).
    staged = run_sync(killed, settings, progress=False, trainer=FakeTrainer(version="2"), shard=(0, 1),
                      run_id="killed-run")
    assert staged.write == "staged" and not staged.wrote
    assert [g for g in killed.graph_names() if "/staging/" in str(g)], "the killed sync left no staging graph"
    artifact = next(iter(r["o"] for r in clean.select(
        "SELECT ?o WHERE { GRAPH ?g { ?o a <http://erlangen-crm.org/current/E22_Man-Made_Object> } } ORDER BY ?o")))
    bindings = {"threshold": Literal("0", datatype=URIRef("http://www.w3.org/2001/XMLSchema#float")),
                "artifact": artifact}
    for name, text in _example_queries().items():
        needed = {k: v for k, v in bindings.items() if f"${k}" in text}
        query = sparql.bind(text, needed)
        assert sorted(map(repr, killed.select(query))) == sorted(map(repr, clean.select(query))), name


@pytest.mark.server
def test_an_abandoned_streamed_result_does_not_spoil_the_next_request(oxigraph):
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update)
    store.stage_graph(URIRef("http://x/g"), [(URIRef(f"http://x/s{i}"), URIRef("http://x/p"), Literal(i))
                                             for i in range(30000)])
    solutions = store.select_iter("SELECT ?s ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
    first = next(iter(solutions))
    solutions.close()  # the reader went away (a closed pipe) with most of the answer unread
    assert "s" in first
    assert store.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0]["n"] == Literal(30000)
