"""A local Oxigraph SPARQL server in a child process, for the test suite and the benches.

``oxigraph serve`` (the ``oxigraph`` binary of the ``test`` extra) on 127.0.0.1 on
a free port, with its data in a directory of the caller's.  It lives in the package
so that tests and bench scripts both import it as an installed name; nothing in
the agent itself starts a server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

__all__ = ["OxigraphServer", "ServerProcess", "ServerUnavailable", "free_port", "oxigraph_binary"]


class ServerUnavailable(RuntimeError):
    """The server's binary is not installed (tests skip on it, benches say so)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A server child process: wait until its SPARQL endpoint answers, stop it gracefully."""

    kind = "server"
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def query(self) -> str:
        raise NotImplementedError

    def _exit_detail(self) -> str:
        return ""

    def _wait(self, timeout: float, interval: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}{self._exit_detail()}")
            try:
                if requests.get(self.query, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(interval)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start within {timeout:g} s")

    def stop(self, grace: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def oxigraph_binary() -> str | None:
    """The ``oxigraph`` binary beside this Python (a virtual environment's), else on the PATH."""
    candidate = Path(sys.executable).parent / "oxigraph"
    return str(candidate) if candidate.exists() else shutil.which("oxigraph")


class OxigraphServer(ServerProcess):
    """``oxigraph serve`` on 127.0.0.1: with the union default graph (as Virtuoso behaves), or in
    its default mode, where the default graph is a graph of its own."""

    kind = "oxigraph"

    def __init__(self, workdir: Path, union_default_graph: bool = True):
        binary = oxigraph_binary()
        if binary is None:
            raise ServerUnavailable("the oxigraph server binary is not installed (pip install oxigraph)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "oxigraph.log", "wb")  # closed by stop()
        self.union_default_graph = union_default_graph
        command = [binary, "serve", "--location", str(workdir / "data"), "--bind", f"127.0.0.1:{self.port}"]
        if union_default_graph:
            command.append("--union-default-graph")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(timeout=30, interval=0.1)

    @property
    def query(self) -> str:
        return self.url + "/query"

    @property
    def update(self) -> str:
        return self.url + "/update"

    @property
    def gsp(self) -> str:
        return self.url + "/store"
