"""Shared test set-up: quiet, single-threaded, offline; SILKNOW data and servers."""

from __future__ import annotations

import os

# Two cores on CI: keep every library single-threaded, and never reach a model hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SILKNOW = ROOT.parent / "shared" / "data" / "silknow"
VOCABULARIES = [
    "vocabularies/silknow-thesaurus.ttl",
    "vocabularies/aat-centuries.ttl",
    "vocabularies/silknow-dates-extension.ttl",
    "vocabularies/geonames-subset.ttl",
]


@pytest.fixture(scope="session")
def silknow_dir() -> Path:
    if not (SILKNOW / "kg" / "silknow-train.trig.gz").is_file():
        pytest.skip(f"SILKNOW data not found at {SILKNOW} (only present beside the project checkout on CI and dev machines)")
    return SILKNOW


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oxigraph_binary() -> str | None:
    candidate = Path(sys.executable).parent / "oxigraph"
    if candidate.exists():
        return str(candidate)
    return shutil.which("oxigraph")


class OxigraphServer:
    """A real Oxigraph server on 127.0.0.1, union default graph (as Virtuoso behaves)."""

    def __init__(self, location: Path):
        binary = oxigraph_binary()
        if binary is None:
            pytest.skip("the oxigraph server binary is not installed (pip install oxigraph)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(location.parent / f"oxigraph-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--location", str(location), "--bind", f"127.0.0.1:{self.port}", "--union-default-graph"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oxigraph server exited with {self.process.returncode}")
            try:
                requests.get(self.url + "/query", params={"query": "ASK {}"}, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("oxigraph server did not start within 30 s")

    @property
    def query(self) -> str:
        return self.url + "/query"

    @property
    def update(self) -> str:
        return self.url + "/update"

    @property
    def gsp(self) -> str:
        return self.url + "/store"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture
def oxigraph_server(tmp_path):
    server = OxigraphServer(tmp_path / "oxigraph-data")
    yield server
    server.stop()
