"""The review web app over HTTP (uvicorn on 127.0.0.1, a free port): access, CSRF, the JSON API,
bad input on page and API, a remote store that goes down, and the `serve` / `users` commands."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import uvicorn
from helpers import MINI, MINI_TASKS, mini_settings
from rdflib import URIRef
from servers import FakeTrainer, free_port, oxigraph  # noqa: F401  (fixture)

from kgenrich import sparql
from kgenrich.review.app import create_app
from kgenrich.review.users import UsersFile
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync

PRED = URIRef("http://data.silknow.org/predictions")
VOC = "https://w3id.org/kgenrich/test/vocabulary/"


class Served:
    """The app in a background thread; stopped by the fixture."""

    def __init__(self, store, settings, users):
        self.store, self.settings, self.users = store, settings, users
        self.app = create_app(store, settings, users)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the review app did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)

    def graphs(self) -> dict[str, str]:
        out = {}
        for g in self.store.graph_names():
            lines = sorted(sparql.ntriples_line(*t) for t in self.store.graph_triples(g))
            out[str(g)] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        return out


def _settings(tmp_path):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")},
                         "review": {"users_file": str(tmp_path / "users.json"), "secret_file": str(tmp_path / "secret"),
                                    "thumbnail_dir": str(tmp_path / "thumbnails"), "page_size": 5}}
    return settings


def _users(tmp_path) -> UsersFile:
    users = UsersFile(tmp_path / "users.json")
    users.add("alice", "alice-password")
    users.add("bob", "bob-password")
    users.add("rita", "rita-password", role="readonly")
    return users


@pytest.fixture
def served(tmp_path):
    store = EmbeddedStore(None)
    store.load_file(MINI)
    settings = _settings(tmp_path)
    run_sync(store, settings, progress=False, trainer=FakeTrainer())
    app = Served(store, settings, _users(tmp_path))
    yield app
    app.stop()


def login(served, name="alice") -> tuple[requests.Session, str]:
    s = requests.Session()
    page = s.get(served.url + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = s.post(served.url + "/login", data={"csrf_token": token, "username": name, "password": f"{name}-password",
                                            "next": "/queue"})
    assert r.status_code == 200 and r.url.endswith("/queue"), r.text
    return s, re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)


def queue(s, served, **params):
    r = s.get(served.url + "/api/queue", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_anonymous_users_see_nothing_and_cannot_write(served):
    before = served.graphs()
    r = requests.get(served.url + "/queue", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = requests.get(served.url + "/api/queue")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    r = requests.post(served.url + "/api/reviews", json={"statement": "urn:x", "decision": "accepted"})
    assert r.status_code == 401 and "anonymous users cannot record decisions" in r.json()["error"]
    r = requests.post(served.url + "/review", data={"statement": "urn:x", "decision": "accepted"})
    assert r.status_code == 401 and "anonymous users cannot record decisions" in r.text
    assert served.graphs() == before


def test_anonymous_read_lets_visitors_look_but_never_write(served):
    served.app.state.review.anonymous_read = True  # [review] anonymous_read = true
    page = requests.get(served.url + "/queue")
    assert page.status_code == 200 and "awaiting review" in page.text and 'value="accepted"' not in page.text
    item = requests.get(served.url + "/api/queue").json()["items"][0]
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = requests.post(served.url + "/api/reviews", json={"statement": item["statement"], "decision": "accepted"},
                      headers={"X-CSRF-Token": token}, cookies=page.cookies)
    assert r.status_code == 401 and "anonymous users cannot record decisions" in r.json()["error"]


def test_wrong_password_and_no_open_redirect(served):
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(served.url + "/login").text).group(1)
    r = s.post(served.url + "/login", data={"csrf_token": token, "username": "alice", "password": "nope"})
    assert r.status_code == 401 and "wrong user name or password" in r.text
    r = s.post(served.url + "/login", data={"csrf_token": token, "username": "alice", "password": "alice-password",
                                            "next": "//evil.example/"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    # a login form posted without the token is refused
    r = requests.post(served.url + "/login", data={"username": "alice", "password": "alice-password"})
    assert r.status_code == 403 and "CSRF" in r.text


def test_posts_without_the_csrf_token_are_refused_and_write_nothing(served):
    s, token = login(served)
    item = queue(s, served)["items"][0]
    before = served.graphs()
    r = s.post(served.url + "/api/reviews", json={"statement": item["statement"], "decision": "accepted"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = s.post(served.url + "/api/reviews", json={"statement": item["statement"], "decision": "accepted"},
               headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert r.status_code == 403
    r = s.post(served.url + "/review", data={"statement": item["statement"], "decision": "accepted"})
    assert r.status_code == 403 and "CSRF" in r.text
    # basic auth (credentials a browser may replay) needs the token too
    r = requests.post(served.url + "/api/reviews", json={"statement": item["statement"], "decision": "accepted"},
                      auth=("alice", "alice-password"))
    assert r.status_code == 403
    assert served.graphs() == before


def test_read_only_role_looks_but_cannot_decide(served):
    s, token = login(served, "rita")
    page = s.get(served.url + "/queue")
    assert page.status_code == 200 and 'value="accepted"' not in page.text and "awaiting review" in page.text
    item = queue(s, served)["items"][0]
    r = s.post(served.url + "/api/reviews", json={"statement": item["statement"], "decision": "accepted"},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and "read-only" in r.json()["error"]


def test_get_never_changes_anything(served):
    s, _ = login(served)
    before = served.graphs()
    data = queue(s, served)
    artifact = data["items"][0]["artifact"]
    for path in ["/queue", "/queue?status=all&order=confidence", "/queue?status=decided", "/bulk?min=0.5",
                 "/artifacts/" + quote(artifact, safe=""), "/api/artifacts/" + quote(artifact, safe=""),
                 "/api/concepts?task=material&q=si", "/api/session", "/thumbnails/0?artifact=" + quote(artifact),
                 "/review", "/api/reviews", "/logout"]:
        r = s.get(served.url + path)
        assert r.status_code in (200, 404, 405), (path, r.status_code)
    assert served.graphs() == before


def test_api_queue_filters_order_and_paging(served):
    s, _ = login(served)
    everything = queue(s, served, limit=100)
    assert everything["total"] == len(everything["items"]) > 5
    confidences = [i["confidence"] for i in everything["items"]]
    assert confidences == sorted(confidences)  # least confident first by default
    most = queue(s, served, order="confidence", limit=100)["items"]
    assert [i["confidence"] for i in most] == sorted(confidences, reverse=True)
    by_artifact = queue(s, served, order="artifact", limit=100)["items"]
    assert [i["artifact"] for i in by_artifact] == sorted(i["artifact"] for i in by_artifact)
    page2 = queue(s, served, limit=3, offset=3)
    assert [i["statement"] for i in page2["items"]] == [i["statement"] for i in everything["items"][3:6]]
    place = queue(s, served, task="place", limit=100)
    assert place["total"] == sum(1 for i in everything["items"] if i["task"] == "place") > 0
    value = everything["items"][0]["value"]
    assert all(i["value"] == value for i in queue(s, served, value=value, limit=100)["items"])
    band = queue(s, served, min="0.7", max="0.99", limit=100)["items"]
    assert band and all(0.7 <= i["confidence"] <= 0.99 for i in band)
    museum = everything["items"][0]["museum"]
    assert all(i["museum"] == museum for i in queue(s, served, museum=museum, limit=100)["items"])
    for bad in ({"min": "lots"}, {"max": "2"}, {"task": "colour"}, {"order": "random"}, {"status": "maybe"},
                {"museum": "not an iri"}):
        r = s.get(served.url + "/api/queue", params=bad)
        assert r.status_code in (400, 404) and r.json()["error"], bad
        assert s.get(served.url + "/queue", params=bad).status_code in (400, 404)


def test_api_decisions_and_their_refusals(served):
    s, token = login(served)
    h = {"X-CSRF-Token": token}
    items = queue(s, served, limit=100)["items"]
    first, material = items[0], next(i for i in items if i["task"] == "material")
    r = s.post(served.url + "/api/reviews", json={"statement": first["statement"], "decision": "accepted"}, headers=h)
    assert r.status_code == 201 and r.json()["decision"] == "accepted" and r.json()["reviewer"] == "alice"
    r = s.post(served.url + "/api/reviews", json={"statement": first["statement"], "decision": "accepted"}, headers=h)
    assert r.status_code == 200 and r.json()["recorded"] is False  # the same decision again: done already
    bob, bob_token = login(served, "bob")
    r = bob.post(served.url + "/api/reviews", json={"statement": first["statement"], "decision": "rejected"},
                 headers={"X-CSRF-Token": bob_token})
    assert r.status_code == 409 and "already accepted by alice" in r.json()["error"]
    before = served.graphs()
    for body, status in [({"statement": material["statement"], "decision": "corrected", "value": VOC + "paper"}, 422),
                         ({"statement": material["statement"], "decision": "corrected", "value": VOC + "damask"}, 422),
                         ({"statement": material["statement"], "decision": "corrected"}, 422),
                         ({"statement": material["statement"], "decision": "maybe"}, 400),
                         ({"statement": "http://data.silknow.org/statement/none", "decision": "accepted"}, 409),
                         ({"statement": "bad iri>", "decision": "accepted"}, 422)]:
        r = s.post(served.url + "/api/reviews", json=body, headers=h)
        assert r.status_code == status and r.json()["error"], (body, r.text)
    r = s.post(served.url + "/api/reviews", data="not json", headers=h)
    assert r.status_code == 400
    assert served.graphs() == before
    # the queue says what was decided
    decided = queue(s, served, status="decided")
    assert [(i["statement"], i["decision"], i["reviewer"]) for i in decided["items"]] == [
        (first["statement"], "accepted", "alice")]
    assert first["statement"] not in {i["statement"] for i in queue(s, served, limit=100)["items"]}


def test_label_search_is_limited_to_the_task_and_safe_with_quotes(served):
    s, _ = login(served)
    found = s.get(served.url + "/api/concepts", params={"task": "material", "q": 'linen "fine" >'}).json()
    assert [c["concept"] for c in found["concepts"]] == [VOC + "linen"]
    found = s.get(served.url + "/api/concepts", params={"task": "material", "q": "seda"}).json()["concepts"]
    assert [(c["concept"], c["lang"], c["group"]) for c in found] == [(VOC + "silk", "es", "animal_fibre")]
    # damask is a technique: searching it for material finds nothing; paper is in no group
    assert s.get(served.url + "/api/concepts", params={"task": "material", "q": "damas"}).json()["concepts"] == []
    assert s.get(served.url + "/api/concepts", params={"task": "material", "q": "paper"}).json()["concepts"] == []
    places = s.get(served.url + "/api/concepts", params={"task": "place", "q": "lyon"}).json()["concepts"]
    assert [(c["concept"], c["group"]) for c in places] == [("https://sws.geonames.org/2996944/", "FR")]


def test_artifact_view_and_api(served):
    s, _ = login(served)
    item = queue(s, served, task="material")["items"][0]
    data = s.get(served.url + "/api/artifacts/" + quote(item["artifact"], safe="")).json()
    assert data["artifact"] == item["artifact"] and data["museum"] == item["museum"]
    material = next(t for t in data["tasks"] if t["task"] == "material")
    assert [p["statement"] for p in material["predictions"]] == [item["statement"]]
    assert "no trained models" in data["scores_note"]  # the fake ensemble has none on disk: said, not hidden
    page = s.get(served.url + "/artifacts/" + quote(item["artifact"], safe=""))
    assert page.status_code == 200 and item["statement"] in page.text and "no trained models" in page.text
    r = s.get(served.url + "/api/artifacts/" + quote("https://w3id.org/kgenrich/test/object/none", safe=""))
    assert r.status_code == 404 and "no artifact" in r.json()["error"]


class NanEnsemble:
    """An ensemble one of whose models had nothing it could read for the artifact and answers NaN
    (as the real image model does for an artifact whose only image file is missing)."""

    def __init__(self, groups):
        self.groups = groups

    def modality_probs(self, records):
        import numpy as np

        flat = {t: np.full((len(records), len(g)), 1.0 / len(g)) for t, g in self.groups.items() if g}
        return {"tabular": {t: np.full_like(p, np.nan) for t, p in flat.items()}, "other": flat}

    def fuse(self, records, inputs):
        return inputs["other"]


def test_artifact_scores_of_a_model_without_input_are_null_not_nan(served):
    # Regression: a NaN probability made the artifact view and API fail (JSON has no NaN).
    s, _ = login(served)
    reader = served.app.state.review.reader
    fake = NanEnsemble({t: v.group_ids for t, v in reader.collection().labels.items()})
    reader.ensemble = lambda: fake
    item = queue(s, served, task="material")["items"][0]
    r = s.get(served.url + "/api/artifacts/" + quote(item["artifact"], safe=""))
    assert r.status_code == 200, r.text
    scores = next(t for t in r.json()["tasks"] if t["task"] == "material")["scores"]
    assert scores, r.json()["scores_note"]
    assert all(e["modalities"]["tabular"] is None and e["modalities"]["other"] > 0 for e in scores)
    assert s.get(served.url + "/artifacts/" + quote(item["artifact"], safe="")).status_code == 200


def test_form_decisions_and_bulk_acceptance_without_javascript(served):
    s, token = login(served)
    items = queue(s, served, limit=100)["items"]
    r = s.post(served.url + "/review", data={"csrf_token": token, "statement": items[0]["statement"],
                                             "decision": "rejected", "next": "/queue"})
    assert r.status_code == 200 and f"rejected {items[0]['value_label']}" in r.text
    r = s.post(served.url + "/review", data={"csrf_token": token, "statement": items[0]["statement"],
                                             "decision": "accepted", "next": "/queue"})
    assert "already rejected by alice" in r.text
    preview = s.get(served.url + "/bulk", params={"min": "0.9"})
    expected = int(re.search(r'name="expected" value="(\d+)"', preview.text).group(1))
    high = [i for i in items[1:] if i["confidence"] >= 0.9]
    assert expected == len(high) > 0
    # a stale confirmation (the count changed) is refused, nothing written
    before = served.graphs()
    r = s.post(served.url + "/bulk", data={"csrf_token": token, "min": "0.9", "max": "1", "expected": expected + 1})
    assert "the selection changed" in r.text and served.graphs() == before
    r = s.post(served.url + "/bulk", data={"csrf_token": token, "min": "0.9", "max": "1", "expected": expected})
    assert f"accepted {expected} predictions" in r.text
    decided = queue(s, served, status="decided", limit=100)["items"]
    assert sorted(i["statement"] for i in decided if i["decision"] == "accepted") == sorted(i["statement"] for i in high)


def test_api_bulk_accept_with_basic_auth(served):
    auth = ("alice", "alice-password")
    token = requests.get(served.url + "/api/session", auth=auth).json()["csrf_token"]
    r = requests.post(served.url + "/api/bulk-accept", json={"task": "place", "min": "0", "expected": 0}, auth=auth,
                      headers={"X-CSRF-Token": token})
    assert r.status_code == 409 and "the selection changed" in r.json()["error"]
    n = requests.get(served.url + "/api/queue", params={"task": "place"}, auth=auth).json()["total"]
    r = requests.post(served.url + "/api/bulk-accept", json={"task": "place", "expected": n}, auth=auth,
                      headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["accepted"] == n
    assert requests.get(served.url + "/api/queue", params={"task": "place"}, auth=auth).json()["total"] == 0
    assert requests.get(served.url + "/api/session", auth=("alice", "wrong")).status_code == 401


@pytest.mark.server
def test_remote_store_that_goes_down(oxigraph, tmp_path):
    """On a real Oxigraph server: decisions through the SPARQL endpoints; then the server stops,
    and page and API say so clearly; nothing was half-written."""
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, retries=1, timeout=5)
    store.load_file(MINI)
    settings = _settings(tmp_path)
    run_sync(store, settings, progress=False, trainer=FakeTrainer())
    served = Served(store, settings, _users(tmp_path))
    try:
        s, token = login(served)
        items = queue(s, served, limit=100)["items"]
        r = s.post(served.url + "/api/reviews", json={"statement": items[0]["statement"], "decision": "accepted"},
                   headers={"X-CSRF-Token": token})
        assert r.status_code == 201, r.text
        before = served.graphs()
        oxigraph.stop()
        r = s.post(served.url + "/api/reviews", json={"statement": items[1]["statement"], "decision": "accepted"},
                   headers={"X-CSRF-Token": token})
        assert r.status_code == 503 and "the store cannot answer" in r.json()["error"]
        assert "nothing was written" in r.json()["error"]
        page = s.get(served.url + "/queue")
        assert page.status_code == 503 and "the store cannot answer" in page.text
    finally:
        served.stop()
    # the server again, on the same data: exactly the one decision made before it went down
    restarted = type(oxigraph)(Path(oxigraph.log.name).parent)
    try:
        again = RemoteStore(restarted.query, update_endpoint=restarted.update)
        served.store = again
        assert served.graphs() == before
    finally:
        restarted.stop()


# ------------------------------------------------------------------ the commands
def _cli(args, cwd, stdin=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    return subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, input=stdin, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_users_and_serve_commands(tmp_path):
    work = tmp_path
    (work / "kgenrich.toml").write_text(f'ontology = ["{MINI_TASKS.parent.parent.parent / "ontology" / "kgenrich.ttl"}", '
                                        f'"{MINI_TASKS.parent.parent.parent / "ontology" / "crm-core.ttl"}", '
                                        f'"{MINI_TASKS}"]\n')
    store = EmbeddedStore(work / ".kgenrich" / "store")
    store.load_file(MINI)
    store.close()
    r = _cli(["serve", "--port", str(free_port())], work)
    assert r.returncode != 0 and "no reviewers" in r.stderr and "kgenrich users add" in r.stderr
    r = _cli(["users", "add", "alice", "--password-stdin"], work, stdin="short\n")
    assert r.returncode != 0 and "at least 8 characters" in r.stderr
    r = _cli(["users", "add", "alice", "--password-stdin"], work, stdin="a long password\n")
    assert r.returncode == 0 and "added alice (reviewer)" in r.stdout
    r = _cli(["users", "add", "x/y", "--password-stdin"], work, stdin="a long password\n")
    assert r.returncode != 0 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = _cli(["users", "list", "--json"], work)
    assert '"alice"' in r.stdout and "scrypt" not in r.stdout
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    proc = subprocess.Popen([sys.executable, "-m", "kgenrich", "serve", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, answered = time.time() + 90, None
        while time.time() < deadline and proc.poll() is None:
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert answered is not None and answered.status_code == 200, proc.stderr.read() if proc.poll() else ""
        assert requests.get(f"http://127.0.0.1:{port}/api/queue", auth=("alice", "a long password")).status_code == 200
        # the port is taken now: a second server says so in one line
        r = _cli(["serve", "--port", str(port)], work)
        assert r.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    finally:
        proc.terminate()
        proc.wait(20)
