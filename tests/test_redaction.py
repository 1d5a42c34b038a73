"""No command ever prints a password: every command, against malformed, unreachable and chatty
endpoints, with credentials in the endpoint URLs and in the environment.

What is searched for the secrets: stdout, stderr, the log records kgenrich and
its libraries emit, and every file the command leaves in its working
directory (reports, models and their cards).  The whole matrix runs in-process
(click's test runner, fast); a sample runs as real processes.
"""

from __future__ import annotations

import base64
import http.server
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from helpers import MINI, MINI_TASKS
from servers import free_port

from kgenrich.cli import main
from kgenrich.resources import ONTOLOGY_DIR

URL_SECRET = "UrlSecret1"
ENV_SECRET = "EnvSecret2"
FILE_SECRET = "FileSecret3"
SECRETS = [URL_SECRET, ENV_SECRET, FILE_SECRET]


def leaks(text: str) -> list[str]:
    """Every form of a secret found in ``text``: as is, URL-encoded, or inside basic-auth base64."""
    found = []
    for secret in SECRETS:
        forms = {secret, quote(secret, safe="")}
        for user in ("alice", "bob"):
            forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
        found += [form for form in forms if form in text]
    return found


class Chatty(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers every request with an error quoting what it received, credentials included."""

    def _any(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        auth = self.headers.get("Authorization", "")
        decoded = base64.b64decode(auth.split(" ", 1)[1]).decode() if " " in auth else ""
        status = 401 if "/locked" in self.path else 500
        body = f"refused {decoded} ({auth}) at {self.path}; see http://{decoded}@127.0.0.1/ for help".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def chatty():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Chatty)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def endpoints(chatty: str) -> dict[str, list[str]]:
    """Global options naming an endpoint with credentials, per kind of trouble."""
    closed = f"127.0.0.1:{free_port()}"
    return {
        "bad-scheme": ["--endpoint", f"htp://alice:{URL_SECRET}@127.0.0.1:1/query"],
        "no-scheme": ["--endpoint", f"alice:{URL_SECRET}@127.0.0.1:1/query"],
        "no-host": ["--endpoint", f"http://alice:{URL_SECRET}@/query"],
        "bad-port": ["--endpoint", f"http://alice:{URL_SECRET}@127.0.0.1:99999/query"],
        "bad-ipv6": ["--endpoint", f"http://alice:{URL_SECRET}@[::1/query"],
        "encoded": ["--endpoint", f"http://alice:{quote(URL_SECRET + '/@:', safe='')}@{closed}/query"],
        "unreachable": ["--endpoint", f"http://alice:{URL_SECRET}@{closed}/query"],
        "update-unreachable": ["--endpoint", f"http://{closed}/query",
                               "--update-endpoint", f"http://alice:{URL_SECRET}@{closed}/update"],
        "chatty-500": ["--endpoint", f"http://alice:{URL_SECRET}@{chatty}/query"],
        "chatty-401": ["--endpoint", f"http://alice:{URL_SECRET}@{chatty}/locked",
                       "--gsp-endpoint", f"http://alice:{URL_SECRET}@{chatty}/store"],
    }


COMMANDS = {
    "load": ["load", "--graph", "http://example.org/g", str(MINI)],
    "query": ["query", "SELECT * WHERE { ?s ?p ?o } LIMIT 1"],
    "tasks": ["tasks"],
    "labels": ["labels", "--json"],
    "dataset": ["dataset", "--out", "records.jsonl"],
    "train": ["train", "--quiet"],
    "evaluate": ["evaluate", "--json", "--out", "evaluation"],
    "sync": ["sync", "--quiet"],
    "sync-dry-run": ["sync", "--dry-run", "--json"],
    "validate": ["validate", "--report", "validation.json"],
    "validate-file": ["validate", "predictions.ttl"],
    "demo": ["demo", "--size", "100"],
    "config-show": ["config", "show"],
    "config-apply": ["config", "apply", "--dry-run", "predictions.ttl"],
    "config-reset": ["config", "reset", "--dry-run"],
    "serve": ["serve", "--port", str(free_port())],
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n'
        "retries = 1\ntimeout = 5\n")
    (tmp_path / "predictions.ttl").write_text("# no predictions\n")
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("KGENRICH_")]:
        monkeypatch.delenv(var)
    # A reviewer, so that `serve` gets as far as the store; and never a web server that would block the test.
    assert CliRunner().invoke(main, ["users", "add", "rev", "--password-stdin"], input="a long password\n").exit_code == 0
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("serve started")))
    return tmp_path


def files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("environment", ["url-only", "env-password"])
def test_no_command_prints_a_password(workdir, chatty, caplog, environment):
    env = {"KGENRICH_USER": "bob", "KGENRICH_PASSWORD": ENV_SECRET} if environment == "env-password" else {}
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    failures = []
    for kind, options in endpoints(chatty).items():
        for name, args in COMMANDS.items():
            result = runner.invoke(main, options + args, env=env, catch_exceptions=True)
            seen = result.output + (result.stderr or "") + caplog.text + files_text(workdir)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                failures.append(f"{kind}/{name}: escaped {type(result.exception).__name__}")
            if leaks(seen):
                failures.append(f"{kind}/{name}: {leaks(seen)} in {seen[-300:]!r}")
            if result.exit_code == 0:
                failures.append(f"{kind}/{name}: exit 0 against a broken endpoint")
            error_lines = [line for line in (result.stderr or "").splitlines() if line.startswith("error:")]
            if result.exit_code != 0 and len(error_lines) != 1:
                failures.append(f"{kind}/{name}: {len(error_lines)} error lines: {result.stderr!r}")
            caplog.clear()
    assert failures == []


def test_a_password_in_the_config_file_is_never_printed(workdir, chatty):
    closed = f"127.0.0.1:{free_port()}"
    with open(workdir / "kgenrich.toml", "a") as toml:
        toml.write(f'endpoint = "http://carol:{FILE_SECRET}@{closed}/query"\n')
    for args in (["tasks"], ["sync"], ["query", "ASK {}"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and not leaks(result.output + (result.stderr or "")), result.output


def test_real_processes_never_print_a_password(tmp_path, chatty):
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n'
        "retries = 1\n")
    (tmp_path / "predictions.ttl").write_text("# no predictions\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env.update({"KGENRICH_USER": "bob", "KGENRICH_PASSWORD": ENV_SECRET, "KGENRICH_DEBUG": "1"})
    options = endpoints(chatty)
    for kind, command in (("bad-scheme", "sync"), ("chatty-500", "labels"), ("unreachable", "query"),
                          ("update-unreachable", "load")):
        result = subprocess.run([sys.executable, "-m", "kgenrich", *options[kind], *COMMANDS[command]], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0, (kind, command)
        # KGENRICH_DEBUG=1 adds the (redacted) traceback of a bug; a user error stays one line.
        assert not leaks(result.stdout + result.stderr + files_text(tmp_path)), (kind, command, result.stderr)
        assert result.stderr.startswith("error: "), (kind, command, result.stderr)


@pytest.mark.server
def test_a_sync_through_an_endpoint_with_credentials_writes_them_nowhere(oxigraph, tmp_path):
    """Reports, model cards and the graphs a sync writes, after a sync that worked (the server ignores
    the credentials; kgenrich sends them)."""
    from helpers import mini_settings
    from servers import FakeTrainer

    from kgenrich.store.remote import RemoteStore
    from kgenrich.sync import run_sync

    host = oxigraph.url.split("//", 1)[1]
    store = RemoteStore(f"http://alice:{URL_SECRET}@{host}/query",
                        update_endpoint=f"http://alice:{URL_SECRET}@{host}/update")
    store.load_file(MINI)
    settings = mini_settings(models_dir=str(tmp_path / "models"),
                             endpoint=f"http://alice:{URL_SECRET}@{host}/query")
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    report = run_sync(store, settings, progress=False, trainer=FakeTrainer())
    assert report.wrote and list((tmp_path / "reports").iterdir()) and list((tmp_path / "models").iterdir())
    written = "\n".join(f"{s} {p} {o}" for g in store.graph_names() for s, p, o in store.graph_triples(g))
    assert not leaks(files_text(tmp_path) + written + str(report.to_dict()))
