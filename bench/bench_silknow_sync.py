"""`kgenrich sync` on the SILKNOW data served by a real Oxigraph server.

    .venv/bin/python bench/bench_silknow_sync.py [--shared ../shared/data/silknow] [--keep DIR]

Starts `oxigraph serve` on 127.0.0.1 (union default graph), loads the SILKNOW
vocabularies + train + dev through `kgenrich load`, runs `kgenrich sync` twice
with the shipped task set, runs the ADASilk-style example query
(queries/examples/asserted_or_predicted.rq) and prints: load and sync seconds,
gaps and predictions per task, what the second sync wrote, and how many
predicted rows the example query returns.  Everything runs in a temporary
directory (or --keep DIR) and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
from bench_extract import FILES  # noqa: E402  (the same six files, in loading order)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kgenrich(args, env, cwd) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kgenrich", *args], env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"kgenrich {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "silknow")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    if not (args.shared / FILES[-1]).is_file():
        sys.exit(f"SILKNOW data not found under {args.shared} (give --shared)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="kgenrich-silknow-sync-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    binary = Path(sys.executable).parent / "oxigraph"
    server = subprocess.Popen([str(binary), "serve", "--location", str(work / "oxigraph"), "--bind",
                               f"127.0.0.1:{port}", "--union-default-graph"],
                              stdout=open(work / "oxigraph.log", "wb"), stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/query", params={"query": "ASK {}"}, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        env = {**os.environ, "KGENRICH_ENDPOINT": base + "/query", "KGENRICH_UPDATE_ENDPOINT": base + "/update",
               "KGENRICH_GSP_ENDPOINT": base + "/store", "KGENRICH_MODELS_DIR": str(work / "models")}
        t0 = time.perf_counter()
        kgenrich(["load", *[str(args.shared / f) for f in FILES]], env, work)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = json.loads(kgenrich(["sync", "--json"], env, work).stdout)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = json.loads(kgenrich(["sync", "--json"], env, work).stdout)
        t_second = time.perf_counter() - t0
        query = kgenrich(["query", "--format", "csv", f"@{ROOT / 'queries/examples/asserted_or_predicted.rq'}"], env, work)
        rows = list(csv.DictReader(io.StringIO(query.stdout)))
        per_property: dict[str, int] = {}
        for row in rows:
            if row["source"] == "predicted":
                name = row["property"].rsplit("/", 1)[-1]
                per_property[name] = per_property.get(name, 0) + 1

        print(f"SILKNOW vocabularies + train + dev on an Oxigraph server (127.0.0.1:{port}), shipped task set")
        print()
        print("| step | seconds | result |")
        print("|---|---:|---|")
        print(f"| load (6 files) | {t_load:.1f} | |")
        print(f"| first sync (trains) | {t_first:.1f} | {first['predictions']} predictions, {first['triples']} triples, "
              f"validation: {first['validation_engine']} |")
        print(f"| second sync, no change | {t_second:.1f} | written {second['written']}, withdrawn {second['withdrawn']}, "
              f"unchanged {second['unchanged']} |")
        print()
        print("gaps per task:", ", ".join(f"{t} {n}" for t, n in first["gaps"].items()))
        print("predicted rows returned by queries/examples/asserted_or_predicted.rq:",
              ", ".join(f"{p} {n}" for p, n in sorted(per_property.items())))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
