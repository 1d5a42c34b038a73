"""How fast and in how much memory a collection loads: kgenrich load beside pyoxigraph's own loaders.

Rows (issue 22's table plus kgenrich's own), each in a fresh process, timed with its peak memory (the
process's maximum resident set, from wait4):

- ``kgenrich load before issue 22``: the old path (the whole file read and gunzipped, one ``Store.load``
  transaction); ``--transactional`` only: on the Tate file it needs ~10 GB;
- ``pyoxigraph Store.load``: one transaction, the file streamed (``--transactional`` only, ~9 GB on Tate);
- ``pyoxigraph Store.bulk_load``: no transaction (the speed to match: kgenrich must stay within 2x);
- ``kgenrich load``: this version (streamed check, journaled bulk batches of ``load_batch_quads``);
- JSON-LD: N Linked Art documents made from the Tate samples with new object IRIs, loaded as a
  directory, beside pyoxigraph's JSON-LD processor per document (measured on 100, scaled to N);
- ``--server``: the same files into an Oxigraph server (``oxigraph serve``) by ``kgenrich load
  --endpoint``, beside the server's own ``oxigraph load`` of the same files (SILKNOW only; the Tate file
  with ``--server-tate``: the server's move transaction needs memory in proportion to the file).

    python bench/bench_load.py                 # Tate and SILKNOW, JSON-LD 20,000 documents
    python bench/bench_load.py --only tate --transactional   # the 10 GB rows: run alone

Prints one table; figures depend on the machine's load, printed beside each row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TATE = SHARED / "tate" / "tate.nq.gz"
SAMPLES = SHARED / "tate" / "jsonld-sample"
SILKNOW = SHARED / "silknow"
SILKNOW_FILES = ["vocabularies/silknow-thesaurus.ttl", "vocabularies/aat-centuries.ttl",
                 "vocabularies/silknow-dates-extension.ttl", "vocabularies/geonames-subset.ttl",
                 "kg/silknow-train.trig.gz", "kg/silknow-dev.trig.gz"]
TATE_GRAPH = "https://collection.tate.org.uk/graph"
TIMEOUT = 1800

# Each pyoxigraph row is a small script run in its own process: argv = store directory, files...
OLD_KGENRICH = """
import gzip, sys, pyoxigraph as ox
from pathlib import Path
store = ox.Store(sys.argv[1])
for name in sys.argv[2:]:
    data = Path(name).read_bytes()
    if data[:2] == b"\\x1f\\x8b":
        data = gzip.decompress(data)
    store.load(data, format=ox.RdfFormat.from_extension(name.removesuffix(".gz").rsplit(".", 1)[1]))
store.flush()
print(len(store))
"""
STORE_LOAD = """
import gzip, sys, pyoxigraph as ox
store = ox.Store(sys.argv[1])
for name in sys.argv[2:]:
    with gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb") as fh:
        store.load(fh, format=ox.RdfFormat.from_extension(name.removesuffix(".gz").rsplit(".", 1)[1]))
store.flush()
print(len(store))
"""
BULK_LOAD = """
import gzip, sys, pyoxigraph as ox
store = ox.Store(sys.argv[1])
for name in sys.argv[2:]:
    with gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb") as fh:
        store.bulk_load(fh, format=ox.RdfFormat.from_extension(name.removesuffix(".gz").rsplit(".", 1)[1]))
store.flush()
print(len(store))
"""
JSONLD_PER_DOCUMENT = """
import json, sys, time, pyoxigraph as ox
from kgenrich.store.jsonld import ContextStore
contexts = ContextStore()
names = sys.argv[1:]
start = time.perf_counter()
n = 0
for name in names:
    document = contexts.inline_document(json.loads(open(name).read()))
    n += sum(1 for _ in ox.parse(json.dumps(document).encode(), format=ox.RdfFormat.JSON_LD))
print(n, time.perf_counter() - start)
"""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(command: list[str], cwd: Path | None = None) -> tuple[float, float, str, int]:
    """(seconds, peak MB, stdout, exit status) of one command in its own process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = start + TIMEOUT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    return seconds, usage.ru_maxrss / 1024, text, os.waitstatus_to_exitcode(status)


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


def kgenrich(*args: str) -> list[str]:
    return [sys.executable, "-m", "kgenrich", *args]


class Table:
    def __init__(self):
        self.rows = []

    def add(self, data: str, how: str, result, note: str = "") -> tuple[float, float]:
        seconds, peak, text, status = result
        if status != 0:
            note = f"FAILED ({status}): {text.strip().splitlines()[-1] if text.strip() else ''}"
        self.rows.append((data, how, seconds, peak, load_average(), note))
        print(f"{data:10} {how:48} {seconds:8.1f} s {peak:8.0f} MB   load {load_average()}  {note}", flush=True)
        return seconds, peak

    def markdown(self) -> str:
        lines = ["| data | how | time | peak memory | load average after | note |", "|---|---|---|---|---|---|"]
        for data, how, seconds, peak, load, note in self.rows:
            lines.append(f"| {data} | {how} | {seconds:.1f} s | {peak:,.0f} MB | {load} | {note} |")
        return "\n".join(lines)


def embedded_rows(table: Table, name: str, files: list[Path], graph_args: list[str], work: Path,
                  transactional: bool) -> None:
    names = [str(f) for f in files]
    rows = []
    if transactional:
        rows += [("kgenrich load before issue 22 (whole file, one transaction)", OLD_KGENRICH),
                 ("pyoxigraph Store.load (one transaction)", STORE_LOAD)]
    rows.append(("pyoxigraph Store.bulk_load (no transaction)", BULK_LOAD))
    bulk = None
    for how, script in rows:
        store = work / f"{name}-{len(table.rows)}"
        seconds, _ = table.add(name, how, run(python(script, str(store), *names)))
        if script is BULK_LOAD:
            bulk = seconds
        shutil.rmtree(store, ignore_errors=True)
    store = work / f"{name}-kgenrich"
    result = run(kgenrich("--store", str(store), "load", "--quiet", *graph_args, *names))
    seconds, _peak = result[0], result[1]
    note = f"{seconds / bulk:.2f}x bulk_load" if bulk else ""
    table.add(name, "kgenrich load (this version)", result, note + (f"; {result[2].strip().splitlines()[-1]}"
                                                                   if result[3] == 0 else ""))
    shutil.rmtree(store, ignore_errors=True)


def make_documents(target: Path, count: int) -> None:
    """``count`` Linked Art documents: the Tate samples again and again, each with its own object IRI."""
    samples = sorted(SAMPLES.glob("*.json"))
    texts = [(p.read_text(encoding="utf-8"), json.loads(p.read_text(encoding="utf-8"))["id"]) for p in samples]
    target.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        text, ident = texts[k % len(texts)]
        fresh = f"{ident}-copy{k // len(texts)}"
        (target / f"d{k:06d}.json").write_text(text.replace(ident, fresh), encoding="utf-8")


def jsonld_rows(table: Table, count: int, work: Path) -> None:
    documents = work / "linked-art-documents"
    make_documents(documents, count)
    sample = sorted(documents.glob("*.json"))[:100]
    seconds, peak, text, status = run(python(JSONLD_PER_DOCUMENT, *map(str, sample)))
    per_document = float(text.split()[1]) / len(sample) if status == 0 else float("nan")
    table.rows.append((f"{count:,} docs", "pyoxigraph JSON-LD, per document (100 measured, scaled)",
                       per_document * count, peak, load_average(), f"{per_document * 1000:.0f} ms a document"))
    print(f"{count:,} docs pyoxigraph JSON-LD per document: {per_document * 1000:.0f} ms -> {per_document * count:.0f} s",
          flush=True)
    store = work / "jsonld-kgenrich"
    result = run(kgenrich("--store", str(store), "load", "--quiet", "--graph", TATE_GRAPH, str(documents)))
    table.add(f"{count:,} docs", "kgenrich load DIR (this version)", result,
              result[2].strip().splitlines()[-1] if result[3] == 0 else "")
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(documents, ignore_errors=True)


def server_rows(table: Table, name: str, files: list[Path], graph_args: list[str], work: Path) -> None:
    binary = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    if not Path(binary).exists():
        print("(no oxigraph binary: server rows skipped)")
        return
    location = work / f"{name}-offline"
    total, peak, status = 0.0, 0.0, 0
    for f in files:
        seconds, mb, text, status = run([binary, "load", "--location", str(location), "--file", str(f)])
        total, peak = total + seconds, max(peak, mb)
        if status != 0:
            break
    table.add(name, "oxigraph load (the server's own, offline)", (total, peak, text, status))
    shutil.rmtree(location, ignore_errors=True)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = work / f"{name}-server"
    server = subprocess.Popen([binary, "serve", "--location", str(data), "--bind", f"127.0.0.1:{port}",
                               "--union-default-graph"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        url = f"http://127.0.0.1:{port}"
        result = run(kgenrich("--endpoint", f"{url}/query", "--update-endpoint", f"{url}/update",
                              "--gsp-endpoint", f"{url}/store", "load", "--quiet", *graph_args,
                              *map(str, files)))
        table.add(name, "kgenrich load --endpoint (Oxigraph server, GSP)", result,
                  result[2].strip().splitlines()[-1] if result[3] == 0 else "")
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["tate", "silknow", "jsonld"], action="append")
    parser.add_argument("--transactional", action="store_true", help="also the one-transaction rows (~10 GB on Tate)")
    parser.add_argument("--documents", type=int, default=20_000, help="JSON-LD documents to make and load")
    parser.add_argument("--server", action="store_true", help="also load SILKNOW into an Oxigraph server")
    parser.add_argument("--server-tate", action="store_true", help="also load the Tate file into an Oxigraph server")
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    only = set(args.only or ["tate", "silknow", "jsonld"])
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-load-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; load average at start {load_average()}", flush=True)
    table = Table()
    try:
        if "tate" in only:
            if TATE.is_file():
                embedded_rows(table, "Tate", [TATE], [], work, args.transactional)
                if args.server_tate:
                    server_rows(table, "Tate", [TATE], [], work)
            else:
                print(f"(no {TATE}: Tate rows skipped)")
        if "silknow" in only:
            files = [SILKNOW / f for f in SILKNOW_FILES]
            if all(f.is_file() for f in files):
                # The vocabularies (default graph) and the museum graphs of the TriG files, in one run.
                embedded_rows(table, "SILKNOW", files, [], work, args.transactional)
                if args.server:
                    server_rows(table, "SILKNOW", files, [], work)
            else:
                print(f"(no SILKNOW data under {SILKNOW}: rows skipped)")
        if "jsonld" in only:
            if SAMPLES.is_dir():
                jsonld_rows(table, args.documents, work)
            else:
                print(f"(no {SAMPLES}: JSON-LD rows skipped)")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table.markdown())


if __name__ == "__main__":
    main()
