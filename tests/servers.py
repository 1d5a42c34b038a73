"""SPARQL servers for the write-back tests (Oxigraph, Virtuoso 7) and a fake ensemble.

Each server runs on 127.0.0.1 on a free port with its data in a temporary
directory, and is stopped by the fixture that started it.  Tests skip with the
reason when a binary is missing.  The Oxigraph launcher lives in the package
(kgenrich.store.local_server), where the benches import it too.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kgenrich.store.local_server import (  # noqa: F401  (free_port, oxigraph_binary: for the tests)
    OxigraphServer,
    ServerProcess,
    ServerUnavailable,
    free_port,
    oxigraph_binary,
)


# ------------------------------------------------------------------ fake models
class FakeEnsemble:
    """Deterministic probabilities from a hash of (artifact, task): no training, no torch.

    ``decisions``: task -> calibration.TaskCalibration (decision offsets, out-of-fold
    precision curve), as a trained ensemble has them; none by default.
    """

    def __init__(self, groups: dict[str, list[str]], version: str = "1", decisions: dict | None = None):
        self.groups = groups
        self.version = version
        self.decisions = dict(decisions or {})
        fp = hashlib.sha256(repr((sorted(groups.items()), version)).encode()).hexdigest()[:16]
        self.card = {"fingerprint": fp, "kind": "fake", "groups": groups}

    def predict(self, records, progress: bool = False) -> dict[str, np.ndarray]:
        out = {}
        for task, groups in self.groups.items():
            rows = []
            for r in records:
                seed = int(hashlib.sha256(f"{r.iri}|{task}|{self.version}".encode()).hexdigest()[:8], 16)
                logits = np.random.default_rng(seed).normal(size=len(groups)) * 2
                e = np.exp(logits - logits.max())
                rows.append(e / e.sum())
            out[task] = np.array(rows).reshape(len(records), len(groups))
        return out

    def describe(self, task: str) -> str:
        return f"Fake test model for {task} (version {self.version}); deterministic probabilities."


class FakeTrainer:
    """Trainer for run_sync(trainer=...) (the kgenrich.sync.Trainer protocol): 'trains' a FakeEnsemble and
    counts how often."""

    def __init__(self, version: str = "1", decisions: dict | None = None):
        self.version = version
        self.decisions = decisions
        self.trained = 0
        self._ensemble = None

    def exists(self, models_dir) -> bool:
        return (Path(models_dir) / "fake-ensemble").is_file()

    def train(self, records, labels, settings, models_dir, progress, profile=None):
        self.trained += 1
        groups = {k: v.group_ids for k, v in labels.items() if len(v.groups) >= 1}
        Path(models_dir).mkdir(parents=True, exist_ok=True)
        (Path(models_dir) / "fake-ensemble").write_text(repr(sorted(groups.items())))
        self._ensemble = FakeEnsemble(groups, self.version, self.decisions)
        return self._ensemble

    def load(self, models_dir, settings):
        groups = dict(eval((Path(models_dir) / "fake-ensemble").read_text()))  # our own file, written above
        return FakeEnsemble(groups, self.version, self.decisions)

    def card(self, models_dir) -> dict:
        """The card alone (kgenrich.sync.Trainer): what load() would give, without counting as a load."""
        return FakeTrainer.load(self, models_dir, None).card

    def read_decisions(self, models_dir) -> dict:
        return dict(self.decisions or {})

    def describe(self, card: dict, task: str) -> str:
        return FakeEnsemble(card["groups"], self.version).describe(task)


# ------------------------------------------------------------------ Virtuoso 7
VIRTUOSO_INI = """\
[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{isql_port}
LiteMode = 0
DisableUnixSocket = 1
DisableTcpSocket = 0
ServerThreads = 10
CheckpointInterval = 60
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime = 60
DirsAllowed = ., {dir}
VADInstallDir = /usr/share/virtuoso-opensource-7/vad/

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {dir}
MaxClientConnections = 10
ServerThreads = 10
EnabledDavVSP = 0
EnabledGzipContent = 0

[SPARQL]
ResultSetMaxRows = 10000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime = 60
DefaultQuery = select distinct ?Concept where {{[] a ?Concept}} LIMIT 100
"""


def virtuoso_binaries() -> tuple[str, str] | None:
    server, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    return (server, isql) if server and isql else None


class VirtuosoServer(ServerProcess):
    """Virtuoso 7 (Debian virtuoso-opensource-7-bin) in the foreground, with a virtuoso.ini of its own."""

    kind = "virtuoso"

    def __init__(self, workdir: Path):
        binaries = virtuoso_binaries()
        if binaries is None:
            pytest.skip("Virtuoso 7 is not installed (apt-get install virtuoso-opensource-7-bin; .ci/install-virtuoso.sh)")
        self.binary, self.isql = binaries
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        self.isql_port, self.http_port = free_port(), free_port()
        ini = workdir / "virtuoso.ini"
        ini.write_text(VIRTUOSO_INI.format(dir=workdir, isql_port=self.isql_port, http_port=self.http_port))
        self.log = open(workdir / "virtuoso-stdout.log", "wb")
        # +foreground keeps it our child, so that the fixture can stop it by its pid.
        self.process = subprocess.Popen([self.binary, "+configfile", str(ini), "+foreground"], cwd=workdir,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self._wait(timeout=90, interval=0.3)
        # The SPARQL endpoint runs as user SPARQL, which may only read until granted updates.
        self.sql('GRANT SPARQL_UPDATE TO "SPARQL";')
        self.sql("GRANT EXECUTE ON DB.DBA.SPARQL_INSERT_DICT_CONTENT TO \"SPARQL\";")
        self.sql("GRANT EXECUTE ON DB.DBA.SPARQL_DELETE_DICT_CONTENT TO \"SPARQL\";")

    def sql(self, statement: str) -> str:
        result = subprocess.run([self.isql, f"127.0.0.1:{self.isql_port}", "dba", "dba", f"exec={statement}"],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"isql-vt failed: {result.stdout[-500:]} {result.stderr[-500:]}")
        return result.stdout

    def _exit_detail(self) -> str:
        log = self.dir / "virtuoso.log"
        return ": " + log.read_text(errors="replace")[-2000:] if log.exists() else ""

    query = property(lambda self: self.url + "/sparql")
    update = property(lambda self: self.url + "/sparql")
    gsp = property(lambda self: self.url + "/sparql-graph-crud")

    def stop(self, grace: float = 30) -> None:
        super().stop(grace)


def started_oxigraph(workdir: Path, union_default_graph: bool = True) -> OxigraphServer:
    """An Oxigraph server, or the test skipped with the reason."""
    try:
        return OxigraphServer(workdir, union_default_graph=union_default_graph)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def oxigraph(tmp_path):
    server = started_oxigraph(tmp_path / "oxigraph")
    yield server
    server.stop()


@pytest.fixture
def oxigraph_default(tmp_path):
    """An Oxigraph server in its default mode: queries without GRAPH read only its own default graph."""
    server = started_oxigraph(tmp_path / "oxigraph-default", union_default_graph=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory):
    server = VirtuosoServer(tmp_path_factory.mktemp("virtuoso"))
    yield server
    server.stop()
