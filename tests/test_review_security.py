"""The review server's sessions and limits (issue 21 item 5, and the review parts of items 4 and 7;
issue 19's log-in throttling): throttled form and basic-auth log-ins, password checks off the event
loop, logout that ends the session on the server, cookie flags, no framing, bounded bodies,
`users add` on an existing name, the warning of `serve` on a non-loopback address."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time

import requests
from helpers import MINI, MINI_TASKS
from servers import free_port
from test_review_app import login, queue, served  # noqa: F401  (fixture)

from kgenrich.review.access import LoginThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _form_login(session, served, name, password):
    page = session.get(served.url + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return session.post(served.url + "/login", data={"csrf_token": token, "username": name, "password": password,
                                                      "next": "/queue"}, allow_redirects=False)


def test_form_log_in_is_throttled_per_user_with_a_growing_wait(served):  # noqa: F811
    clock = Clock()
    served.app.state.review.throttle = LoginThrottle(free_user=3, free_address=100, clock=clock)
    s = requests.Session()
    for _ in range(3):
        assert _form_login(s, served, "alice", "wrong").status_code == 401
    waits = []
    for _ in range(3):
        assert _form_login(s, served, "alice", "wrong").status_code == 401  # a failure after the free ones ...
        r = _form_login(s, served, "alice", "alice-password")  # ... and the next try must wait, even if right
        assert r.status_code == 429 and "too many failed log-ins" in r.text and 'value="alice"' in r.text
        waits.append(int(r.headers["retry-after"]))
        clock.now += waits[-1]
    assert waits == [1, 2, 4]  # the wait doubles with every failure
    # another user is not held up by alice's failures; alice logs in once she has waited
    assert _form_login(requests.Session(), served, "bob", "bob-password").status_code == 303
    assert _form_login(s, served, "alice", "alice-password").status_code == 303


def test_basic_auth_is_throttled_per_address(served):  # noqa: F811
    clock = Clock()
    served.app.state.review.throttle = LoginThrottle(free_user=100, free_address=4, clock=clock)
    for n in range(4):
        assert requests.get(served.url + "/api/queue", auth=(f"guess{n}", "x")).status_code == 401
    assert requests.get(served.url + "/api/queue", auth=("guess9", "x")).status_code == 401
    r = requests.get(served.url + "/api/queue", auth=("alice", "alice-password"))
    assert r.status_code == 429 and "too many failed log-ins" in r.json()["error"] and r.headers["retry-after"]
    clock.now += 60
    assert requests.get(served.url + "/api/queue", auth=("alice", "alice-password")).status_code == 200


def test_password_checks_do_not_run_on_the_event_loop(served):  # noqa: F811
    """While a password check is under way (scrypt: slow on purpose), other requests are served."""
    users = served.app.state.review.users
    entered, release = threading.Event(), threading.Event()
    real = users.authenticate

    def slow(name, password):
        entered.set()
        release.wait(20)
        return real(name, password)

    users.authenticate = slow
    try:
        worker = threading.Thread(target=lambda: requests.get(served.url + "/api/session", auth=("alice", "x")))
        worker.start()
        assert entered.wait(10)
        t0 = time.perf_counter()
        r = requests.get(served.url + "/login", timeout=5)
        assert r.status_code == 200 and time.perf_counter() - t0 < 5
    finally:
        release.set()
        users.authenticate = real
        worker.join(20)


def test_logout_ends_the_session_on_the_server(served):  # noqa: F811
    s, token = login(served)
    copied = dict(s.cookies)
    assert requests.get(served.url + "/api/session", cookies=copied).status_code == 200
    s.post(served.url + "/logout", data={"csrf_token": token})
    # the copied cookie is worth nothing now
    r = requests.get(served.url + "/api/session", cookies=copied)
    assert r.status_code == 401
    r = requests.get(served.url + "/queue", cookies=copied, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_cookies_and_frame_protection(served):  # noqa: F811
    s = requests.Session()
    page = s.get(served.url + "/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    for r in (page, s.get(served.url + "/api/queue"), s.get(served.url + "/static/review.js")):
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    # behind a TLS proxy on this machine (X-Forwarded-Proto: https), cookies are Secure
    r = requests.get(served.url + "/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in r.headers["set-cookie"].lower()


def _raw(served, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + 1:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_oversized_bodies_are_refused_before_they_are_read(served, caplog):  # noqa: F811
    caplog.set_level(logging.ERROR)
    # a 200 MB form field on /login: refused by its declared length, nothing read
    status, data = _raw(served, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                                b"\r\nContent-Length: 209715200\r\n\r\n", b"username=")
    assert status == 413 and b"larger than 64 KiB" in data
    # a JSON body with no declared length (chunked), streamed past the limit: refused as it comes
    s, token = login(served)
    chunk = b"x" * 65536

    def body():
        yield b'{"statement": "'
        for _ in range(40):  # 2.5 MB
            yield chunk

    r = s.post(served.url + "/api/reviews", data=body(), headers={"X-CSRF-Token": token,
                                                                  "Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than 1024 KiB" in r.json()["error"]
    # a form under the limit still works, and the server logged no failure
    assert s.get(served.url + "/queue").status_code == 200
    assert not [rec for rec in caplog.records if "unexpected failure" in rec.getMessage()]


def _cli(args, cwd, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    return subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, input=stdin, env=env,
                          capture_output=True, text=True, timeout=120)


def test_users_add_refuses_an_existing_name_unless_forced(tmp_path):
    r = _cli(["users", "add", "alice", "--password-stdin"], tmp_path, stdin="first password\n")
    assert r.returncode == 0 and "added alice (reviewer)" in r.stdout
    stored = (tmp_path / ".kgenrich" / "users.json").read_text()
    r = _cli(["users", "add", "alice", "--password-stdin"], tmp_path, stdin="second password\n")
    assert r.returncode != 0 and r.stderr.startswith("error:") and "exists already" in r.stderr and "--force" in r.stderr
    assert (tmp_path / ".kgenrich" / "users.json").read_text() == stored  # the password is unchanged
    r = _cli(["users", "add", "alice", "--role", "admin", "--force", "--password-stdin"], tmp_path,
             stdin="second password\n")
    assert r.returncode == 0 and "updated alice (admin)" in r.stdout


def test_serve_warns_when_it_listens_beyond_this_machine(tmp_path):
    from kgenrich.store.embedded import EmbeddedStore

    root = MINI_TASKS.parent.parent.parent
    (tmp_path / "kgenrich.toml").write_text(f'ontology = ["{root / "ontology" / "kgenrich.ttl"}", '
                                            f'"{root / "ontology" / "crm-core.ttl"}", "{MINI_TASKS}"]\n')
    store = EmbeddedStore(tmp_path / ".kgenrich" / "store")
    store.load_file(MINI)
    store.close()
    _cli(["users", "add", "alice", "--password-stdin"], tmp_path, stdin="a long password\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    proc = subprocess.Popen([sys.executable, "-m", "kgenrich", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.time() + 90
        while time.time() < deadline and "kgenrich review on" not in line:
            line = proc.stderr.readline()
            if line.startswith("warning:"):
                warning = line
            if not line and proc.poll() is not None:
                break
        assert "beyond this machine" in warning and "TLS" in warning and "Secure" in warning
    finally:
        proc.terminate()
        proc.wait(20)
