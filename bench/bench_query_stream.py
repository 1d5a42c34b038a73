"""`kgenrich query --format csv` of a large result: peak memory, time to the first row, total time.

    .venv/bin/python bench/bench_query_stream.py [--rows 1000000] [--runs 3] [--no-server] [--code DIR]

Builds a store of ``--rows`` triples (one graph; an embedded store, and an
Oxigraph server on 127.0.0.1 loaded with the same file), then runs
``kgenrich query --format csv 'SELECT ?s ?o WHERE { GRAPH ?g { ?s ?p ?o } }'``
as a child process ``--runs`` times per store and prints, per run: rows
written, seconds until the first row reached stdout, total seconds, and the
child's peak resident memory (VmHWM, sampled at every MiB of output).  ``--code DIR`` runs the kgenrich
package found in DIR instead of this checkout (e.g. an export of main, to
compare with the code before streaming).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kgenrich.store.local_server import OxigraphServer, oxigraph_binary

ROOT = Path(__file__).resolve().parent.parent

QUERY = "SELECT ?s ?o WHERE { GRAPH ?g { ?s ?p ?o } }"


def write_data(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(f'<http://example.org/bench/s{i}> <http://example.org/bench/p> "value number {i}" .\n')


def run_query(code: Path, store_args: list[str], cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env["PYTHONPATH"] = str(code)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "kgenrich", *store_args, "query", "--format", "csv", QUERY],
                             cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    header = child.stdout.readline()
    first = child.stdout.readline()
    first_at = time.perf_counter() - started
    rows = 1 if first else 0
    peak = high_water_mb(child.pid)
    # Read in large blocks: the reader should cost the machine as little as a redirection to a file.
    while block := child.stdout.read(1 << 20):
        rows += block.count(b"\n")
        peak = max(peak, high_water_mb(child.pid))
    _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time, whatever else the machine runs
    child.returncode = os.waitstatus_to_exitcode(status)
    total = time.perf_counter() - started
    if child.returncode != 0 or not header:
        raise SystemExit(f"query failed: {child.stderr.read().decode()[-500:]}")
    return {"rows": rows, "first_row_s": first_at, "total_s": total, "peak_mb": peak,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def high_water_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM); 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def report(name: str, runs: list[dict]) -> None:
    for i, r in enumerate(runs, 1):
        print(f"{name} run {i}: {r['rows']:,} rows, first row after {r['first_row_s']:.2f} s, "
              f"total {r['total_s']:.1f} s ({r['cpu_s']:.1f} s CPU), peak RSS {r['peak_mb']:.0f} MB")
    if len(runs) > 1:
        firsts = [r["first_row_s"] for r in runs]
        totals = [r["total_s"] for r in runs]
        print(f"{name}: first row {statistics.median(firsts):.2f} s (range {min(firsts):.2f}-{max(firsts):.2f}), "
              f"total {statistics.median(totals):.1f} s (range {min(totals):.1f}-{max(totals):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--code", type=Path, default=ROOT, help="directory holding the kgenrich package to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgenrich-bench-stream-") as tmp:
        tmp = Path(tmp)
        data = tmp / "data.nt"
        write_data(data, args.rows)
        # pyoxigraph's bulk loader, in a child of its own: its memory is not the query's.
        subprocess.run([sys.executable, "-c", "import sys, pyoxigraph as ox; s = ox.Store(sys.argv[1]); "
                        "s.bulk_load(path=sys.argv[2], format=ox.RdfFormat.N_TRIPLES, "
                        "to_graph=ox.NamedNode('http://example.org/bench/g')); s.flush()",
                        str(tmp / "store"), str(data)], check=True)
        runs = [run_query(args.code, ["--store", str(tmp / "store")], tmp) for _ in range(args.runs)]
        report("embedded", runs)
        if args.no_server:
            return
        binary = oxigraph_binary()
        if binary is None:
            print("oxigraph server: not installed, skipped")
            return
        location = tmp / "server" / "data"
        location.parent.mkdir()
        subprocess.run([binary, "load", "--location", str(location), "--file", str(data), "--graph",
                        "http://example.org/bench/g"], check=True, capture_output=True)
        server = OxigraphServer(tmp / "server", union_default_graph=True)
        try:
            runs = [run_query(args.code, ["--endpoint", server.query], tmp) for _ in range(args.runs)]
            report("oxigraph server", runs)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
