"""A loopback HTTP proxy that injects faults in front of a real SPARQL server.

Every request is counted; ``plan`` maps a request number to the fault done to
that request.  Faults:

- ``reset``: the connection is reset (TCP RST) after the request was read; the
  server never sees it;
- ``500``: an internal server error instead of forwarding;
- ``503``: "unavailable" with ``Retry-After: 1`` instead of forwarding;
- ``slow``: forwarded (the server applies it), answered only after the
  client's timeout has passed;
- ``drop``: forwarded (the server applies it), then the connection closes
  without an answer.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

FAULTS = ("reset", "500", "503", "slow", "drop")



def forward(handler: http.server.BaseHTTPRequestHandler, upstream, body: bytes, timeout: float):
    """Send the request ``handler`` is serving to ``upstream`` (a urlsplit result) as it came;
    (status, [(header, value)], body) of the answer, without the hop-by-hop headers."""
    connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=timeout)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
    connection.request(handler.command, handler.path, body=body or None, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    kept = [(k, v) for k, v in response.getheaders()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    connection.close()
    return response.status, kept, payload

class FaultProxy:
    def __init__(self, upstream: str, slow_seconds: float = 2.0):
        self.upstream = urlsplit(upstream)
        self.slow_seconds = slow_seconds
        self.plan: dict[int, str] = {}
        # (needle, n, fault): the fault for the n-th request (from 0) whose text holds the needle
        self.nth: tuple[str, int, str] | None = None
        self.requests: list[str] = []  # "METHOD path: first words", in order
        self.faults_done: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset_counts(self, plan: dict[int, str] | None = None, nth: tuple[str, int, str] | None = None) -> None:
        with self._lock:
            self.plan = dict(plan or {})
            self.nth = nth
            self.requests = []
            self.faults_done = []

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, summary: str) -> str | None:
        with self._lock:
            number = len(self.requests)
            self.requests.append(summary)
            fault = self.plan.get(number)
            if self.nth and self.nth[0] in summary:
                if sum(1 for r in self.requests if self.nth[0] in r) == self.nth[1] + 1:
                    fault = self.nth[2]
            if fault:
                self.faults_done.append((number, fault, summary))
            return fault

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body leave in separate writes: without this, Nagle's algorithm and the
                # client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                fault = proxy._next(self._summary(body))
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if fault in ("500", "503"):
                    payload = b"injected fault"
                    self.send_response(int(fault))
                    if fault == "503":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, headers, payload = self._forward(body)
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                if fault in ("slow", "drop"):
                    self.close_connection = True
                    return
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _summary(self, body: bytes) -> str:
                text = ""
                if "form" in (self.headers.get("Content-Type") or ""):
                    form = parse_qs(body.decode("utf-8", "replace"))
                    text = (form.get("update") or form.get("query") or [""])[0]
                    text = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
                return f"{self.command} {self.path.split('?')[0]}: {' '.join(text.split()[:6])}"

            def _forward(self, body: bytes):
                return forward(self, proxy.upstream, body, timeout=60)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        return Handler
