"""`kgenrich load` on the embedded store: streamed, bulk-loaded, and still all or nothing (issues 21, 22).

Real files, a real store directory, and real processes: a syntax error at the
end of a large file, a SIGKILL at several moments of a load, Ctrl-C while it
writes and after it committed.  The runs are made "large" with a small
``load_batch_quads`` so that they take the journaled bulk path on files of a
few ten thousand quads.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from kgenrich.cli import main
from kgenrich.errors import LoadError
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.journal import JOURNAL_DIR, JOURNAL_FILE
from kgenrich.store.loading import LoadOptions

EX = "http://example.org/load/"
G1, G2 = f"{EX}g1", f"{EX}g2"
ROOT = Path(__file__).resolve().parent.parent


def collection(n: int, graph: str = G1, offset: int = 0, sets: str = G2) -> str:
    """N-Quads: per object a ground triple, a blank node with a literal and a nested blank node, and a
    triple into a second graph: blank nodes that span lines, as in museum dumps."""
    lines = []
    for i in range(offset, offset + n):
        lines += [f'<{EX}o{i}> <{EX}label> "object {i}" <{graph}> .',
                  f'<{EX}o{i}> <{EX}name> _:n{i} <{graph}> .',
                  f'_:n{i} <{EX}content> "name of {i}" <{graph}> .',
                  f'_:n{i} <{EX}part> _:p{i} <{graph}> .',
                  f'_:p{i} <{EX}value> "{i}"^^<http://www.w3.org/2001/XMLSchema#integer> <{graph}> .',
                  f'<{EX}o{i}> <{EX}member> <{EX}set{i % 7}> <{sets}> .']
    return "\n".join(lines) + "\n"


def snapshot(store_dir: Path) -> list[str]:
    """Every quad of the store, read without repairing anything."""
    store = ox.Store.read_only(str(store_dir))
    try:
        return sorted(str(q) for q in store)
    finally:
        del store


def cli(args, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, **kwargs)


def popen(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "kgenrich", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def workdir(tmp_path):
    """A directory with a kgenrich.toml that makes any run above 2,000 quads take the bulk path, and a store
    holding data the loads must keep: part of g1 (some of it also in the file), and the default graph."""
    (tmp_path / "kgenrich.toml").write_text("load_batch_quads = 2000\n")
    store = EmbeddedStore(tmp_path / "store")
    seed = tmp_path / "seed.nq"
    seed.write_text(collection(50, offset=0) + f'<{EX}x> <{EX}y> "default graph" .\n')
    store.load_file(seed)
    store.close()
    return tmp_path


def journal_path(store_dir: Path) -> Path:
    return store_dir / JOURNAL_DIR / JOURNAL_FILE


# ------------------------------------------------------------------ what a load writes
@pytest.mark.parametrize("batch", [2_000, 1_000_000], ids=["bulk", "one-transaction"])
def test_a_run_loads_exactly_its_quads_and_blank_nodes_never_merge(tmp_path, batch):
    path = tmp_path / "c.nq"
    path.write_text(collection(3_000))
    expected = ox.Dataset(ox.parse(path=str(path)))
    store = EmbeddedStore(tmp_path / "store")
    options = LoadOptions(batch_quads=batch)
    run = store.load_files([path], options=options)
    assert run.added == len(expected) == 18_000 and run.statements == 18_000
    loaded = ox.Dataset(store.oxigraph)
    for dataset in (loaded, expected):
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    assert {str(q) for q in loaded} == {str(q) for q in expected}
    # The same file again: ground quads are already there, its blank nodes are new ones.
    assert store.load_files([path], options=options).added == 12_000
    blanks = {q.subject.value for q in store.oxigraph if isinstance(q.subject, ox.BlankNode)}
    assert len(blanks) == 2 * 6_000
    store.close()


def test_two_files_in_one_run_never_share_a_blank_node(tmp_path):
    a, b = tmp_path / "a.ttl", tmp_path / "b.ttl"
    for path in (a, b):
        path.write_text(f'_:x <{EX}p> "same label" .\n[] <{EX}q> _:x .\n')
    store = EmbeddedStore(None)
    store.load_files([a, b], graph=G1)
    subjects = {q.subject.value for q in store.oxigraph if str(q.predicate) == f"<{EX}p>"}
    assert len(subjects) == 2


def test_a_syntax_error_at_the_end_of_a_large_file_leaves_the_store_unchanged(workdir):
    before = snapshot(workdir / "store")
    good = collection(3_000, offset=100)
    cases = {"broken.nq": good + "<http://x/a> <http://x/b> .\n",
             "broken.nq.gz": gzip.compress((good + "<http://x/a> <http://x/b> .\n").encode())}
    for name, body in cases.items():
        path = workdir / name
        (path.write_bytes if isinstance(body, bytes) else path.write_text)(body)
        result = cli(["--store", "store", "load", name], workdir)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {name}: line 18001, column ")
        assert snapshot(workdir / "store") == before
    # A broken gzip stream near its end, and a good file beside a broken one: nothing of either is loaded.
    data = bytearray(gzip.compress(good.encode()))
    data[-30] ^= 0xFF
    (workdir / "flipped.nq.gz").write_bytes(bytes(data))
    (workdir / "good.nq").write_text(good)
    result = cli(["--store", "store", "load", "good.nq", "flipped.nq.gz"], workdir)
    assert result.returncode == 2 and "flipped.nq.gz: broken gzip file" in result.stderr
    assert "good.nq" not in result.stderr
    assert snapshot(workdir / "store") == before


@pytest.mark.parametrize("graphs", ["old", "new"])
def test_a_kill_at_any_moment_leaves_the_store_as_it_was_or_loaded_whole(workdir, graphs):
    store_dir = workdir / "store"
    before = snapshot(store_dir)
    if graphs == "old":
        # Graphs that hold triples (some of them the file's own ground quads): the spool and the prefix.
        (workdir / "big.nq").write_text(collection(12_000, offset=0))
    else:
        # Graphs that are all new: the parser names the blank nodes, and the rollback removes the graphs.
        (workdir / "big.nq").write_text(collection(12_000, graph=f"{EX}g5", sets=f"{EX}g6"))
    reference = EmbeddedStore(workdir / "reference")
    reference.load_file(workdir / "seed.nq")
    reference.load_files([workdir / "big.nq"], options=LoadOptions(batch_quads=2_000))
    complete = len(reference)
    reference.close()
    outcomes, partial_seen = [], False
    delays = ("journal", "journal+0.3", "journal+0.8", 0.05, 0.6, 2.0) if graphs == "old" else \
        ("journal", "journal+0.3", "journal+0.8", 1.2)
    for delay in delays:
        child = popen(["--store", "store", "load", "big.nq"], workdir)
        if isinstance(delay, str):
            deadline = time.time() + 60
            while not journal_path(store_dir).exists() and child.poll() is None and time.time() < deadline:
                time.sleep(0.002)
            time.sleep(float(delay.partition("+")[2] or 0))
        else:
            time.sleep(delay)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=60)
        left = snapshot(store_dir)
        interrupted = journal_path(store_dir).exists()
        if interrupted:
            partial_seen |= len(left) > len(before)
            # A reading command says so, and reads what is there.
            reading = cli(["--store", "store", "query", "ASK { ?s ?p ?o }"], workdir)
            assert reading.returncode == 0 and "was interrupted" in reading.stderr
        # The next command that writes rolls it back first.
        store = EmbeddedStore(store_dir)
        n = len(store)
        store.close()
        after = snapshot(store_dir)
        assert not journal_path(store_dir).exists()
        if n == len(before):
            assert after == before
            outcomes.append("old")
        else:
            assert not interrupted and n == complete, (delay, n)
            outcomes.append("whole")
            # Start the next round from the old store.
            shutil.rmtree(store_dir)
            seed = EmbeddedStore(store_dir)
            seed.load_file(workdir / "seed.nq")
            seed.close()
            before = snapshot(store_dir)
    # At least one kill landed in the middle of the write (the rollback was exercised, not only the check).
    assert partial_seen, outcomes


def test_ctrl_c_while_writing_removes_what_was_written(workdir):
    store_dir = workdir / "store"
    before = snapshot(store_dir)
    (workdir / "big.nq").write_text(collection(12_000, offset=0))
    child = popen(["--store", "store", "load", "big.nq"], workdir)
    deadline = time.time() + 60
    while not journal_path(store_dir).exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.002)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    if child.returncode == 0:
        pytest.skip("the load finished before Ctrl-C arrived (a very fast machine)")
    assert child.returncode == 130, err
    assert "removing what was loaded so far" in err and "interrupted: nothing was loaded" in err
    assert "Aborted" not in err and "Traceback" not in err
    assert snapshot(store_dir) == before and not (store_dir / JOURNAL_DIR).exists()


# A driver that runs `kgenrich load` with a Ctrl-C sent to itself at a chosen point after the commit.
DRIVER = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
import kgenrich.store.journal as journal
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.loading import Reader
where = sys.argv[1]

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)  # the handler runs here

if where == "commit-bulk":
    original = journal._remove_journal
    def remove(path):
        ctrl_c()
        original(path)
    journal._remove_journal = remove
elif where == "commit-transaction":
    original = Reader.rename
    def rename(self, *args):
        ctrl_c()
        return original(self, *args)
    Reader.rename = rename
elif where == "close":
    original = EmbeddedStore.close
    def close(self):
        ctrl_c()
        original(self)
    EmbeddedStore.close = close
from kgenrich.cli import main
main(sys.argv[2:], prog_name="kgenrich")
"""


@pytest.mark.parametrize("where", ["commit-bulk", "commit-transaction", "close"])
def test_ctrl_c_after_the_commit_is_not_an_interruption(workdir, where):
    (workdir / "c.nq").write_text(collection(1_000 if where == "commit-transaction" else 3_000, offset=500))
    driver = workdir / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT)))
    before = len(snapshot(workdir / "store"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    if where == "commit-transaction":
        (workdir / "kgenrich.toml").write_text("load_batch_quads = 100000\n")
    result = subprocess.run([sys.executable, str(driver), where, "--store", "store", "load", "c.nq"], cwd=workdir,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded ") and "interrupted" not in result.stderr
    assert "Aborted" not in result.stderr and "Traceback" not in result.stderr
    assert len(snapshot(workdir / "store")) > before


# ------------------------------------------------------------------ issue 21: bounded input
def test_gzip_is_decompressed_as_it_is_read(tmp_path):
    # 40 MB of N-Triples in a gzip file of ~100 KB: reading it whole would hold the 40 MB at once.
    line = f'<{EX}s> <{EX}p> "{"x" * 2000}" .\n'.encode()
    path = tmp_path / "bomb.nt.gz"
    chunk = line * (1_000_000 // len(line))
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(40):
            fh.write(chunk)
    size = 40 * len(chunk)
    assert size > 39_000_000 and path.stat().st_size < 1_000_000
    store = EmbeddedStore(None)
    tracemalloc.start()
    try:
        run = store.load_files([path], graph=None, options=LoadOptions(batch_quads=1_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert run.added == 1 and run.statements == size // len(line)
    assert peak < size / 4, peak  # streamed: ~6 MB of buffers


def test_a_literal_over_16_mib_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "huge.nt"
    path.write_text(f'<{EX}a> <{EX}p> "short" .\n<{EX}a> <{EX}p> "{"x" * (17 * 1024 * 1024)}" .\n')
    result = cli(["--store", "store", "load", "--graph", G1, "huge.nt"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: huge.nt: a literal or IRI longer than 16 MiB")
    assert "bug" not in result.stderr
    with pytest.raises(LoadError, match="huge.nt: a literal or IRI longer than 16 MiB"):
        EmbeddedStore(None).load_file(path)


# ------------------------------------------------------------------ issue 21: the wrong place
@pytest.mark.parametrize("graph", ["http://data.silknow.org/predictions", "http://data.silknow.org/predictions/provenance",
                                   "https://w3id.org/kgenrich/config", "http://data.silknow.org/predictions/reviews",
                                   "http://data.silknow.org/predictions/curated"])
def test_loading_into_kgenrich_own_graphs_is_refused(tmp_path, graph):
    path = tmp_path / "a.nt"
    path.write_text(f'<{EX}a> <{EX}p> "x" .\n')
    result = CliRunner().invoke(main, ["--store", str(tmp_path / "store"), "load", "--graph", graph, str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: --graph {graph} is one of kgenrich's own graphs")
    assert result.output.count("\n") == 1
    assert not (tmp_path / "store").exists()


# ------------------------------------------------------------------ directories
def test_a_directory_is_one_run(workdir):
    data = workdir / "dump"
    (data / "sub").mkdir(parents=True)
    (data / "a.ttl").write_text(f'<{EX}a> <{EX}p> "a" .\n')
    (data / "sub" / "b.nq.gz").write_bytes(gzip.compress(collection(10, offset=900).encode()))
    (data / "README.txt").write_text("not RDF")
    (data / ".hidden.ttl").write_text("not even read")
    result = cli(["--store", "store", "load", "--graph", G2, "dump", "--json"], workdir)
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert [Path(f["path"]).name for f in report["loaded"]] == ["a.ttl", "b.nq.gz"]
    assert report["skipped"] == 1 and report["statements"] == 61
    # A broken file anywhere in the directory: nothing of the directory is loaded.
    before = snapshot(workdir / "store")
    (data / "sub" / "c.ttl").write_text(f'<{EX}c> <{EX}p> "c" .\n<{EX}c> <{EX}p> .\n')
    (data / "d.ttl").write_text(f'<{EX}d> <{EX}p> "d" .\n')
    result = cli(["--store", "store", "load", "--graph", G2, "dump"], workdir)
    assert result.returncode == 2 and "sub/c.ttl: line 2" in result.stderr
    assert snapshot(workdir / "store") == before
