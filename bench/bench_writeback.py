"""Build, validate and write 100,000 predictions: seconds per step, per store, as sync does it.

    .venv/bin/python bench/bench_writeback.py [--predictions 100000] [--chunk 2000] [--runs 3]
                                              [--shacl-sample 2000] [--no-server] [--replace] [--sparql-only]

Synthetic artifacts (4 production tasks, 5 groups each, two images per artifact) go
through the code of ``kgenrich sync``, chunk by chunk: select_predictions ->
prediction_triples.prediction_lines (N-Triples) -> the spool, with validation.ChunkValidator
(the SPARQL rules per chunk, with the subject classes read from the store) one chunk
behind in a thread, as sync runs it -> sync.write_graphs.
Writes: a first write into an empty graph on the embedded store (on disk) and on an
Oxigraph server with the Graph Store Protocol; ``--replace`` adds a second write that
replaces every prediction (models retrained), ``--sparql-only`` a server without the Graph
Store Protocol (staging graphs and one swap request).  Every figure is the median of ``--runs`` runs, with min-max; CPU seconds
are this process's (the server's work is not in them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rdflib import URIRef
from rdflib.namespace import RDF

from kgenrich import validation
from kgenrich.config import Settings
from kgenrich.graphs import OwnGraphs
from kgenrich.prediction_triples import agent_lines, prediction_lines
from kgenrich.predictions import Agent, agent_iri, now_literal, select_predictions
from kgenrich.records import ArtifactRecord
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import Spool, WritePlan, write_graphs
from kgenrich.task_types import Group, Task, TaskLabels

E = "http://erlangen-crm.org/current/"
TASKS = [Task(name, f"https://w3id.org/kgenrich/task/{name}", name, E + "E22_Man-Made_Object", E + prop, "collection",
              subject_link=E + "P108_has_produced", subject_class=E + "E12_Production")
         for name, prop in [("material", "P126_employed"), ("technique", "P32_used_general_technique"),
                            ("place", "P8_took_place_on_or_within"), ("time", "P4_has_time-span")]]
LABELS = {t.name: TaskLabels(t, [Group(f"g{i}", f"g{i}", f"http://data.silknow.org/vocabulary/{t.name}-{i}")
                                 for i in range(5)], [], 0) for t in TASKS}
MUSEUM = URIRef("http://data.silknow.org/graph/bench")


def make(n_predictions: int, version: int):
    n = n_predictions // len(TASKS)
    records = [ArtifactRecord(f"http://data.silknow.org/object/{i}", "g", "m",
                              image_nodes=[f"http://data.silknow.org/image/{i}-{k}" for k in range(2)],
                              subjects={t.name: f"http://data.silknow.org/production/{i}" for t in TASKS})
               for i in range(n)]
    rng = np.random.default_rng(version)
    probs = {t.name: rng.dirichlet(np.ones(5), size=n) for t in TASKS}
    agents = {t.name: Agent(str(agent_iri(t.name, f"bench{version}")), t.name, f"bench model {version} for {t.name}")
              for t in TASKS}
    return records, probs, agents


def production_types(n: int) -> bytes:
    return "".join(f"<http://data.silknow.org/production/{i}> <{RDF.type}> <{E}E12_Production> .\n"
                   for i in range(n)).encode()


def build_validate_spool(store, records, probs, agents, chunk: int, spool: Spool) -> dict:
    """Chunk by chunk, as sync does: predictions -> N-Triples -> spool, validation one chunk behind in a
    thread (its own seconds in "validate", the time the loop waited for it in "wait")."""
    t = {"build": 0.0, "wait": 0.0, "spool": 0.0}
    groups = {task.name: LABELS[task.name].group_ids for task in TASKS}
    lines = agent_lines(agents.values())
    spool.append("reified", lines)
    validator = validation.ChunkValidator(store, TASKS, LABELS, lines, engine="sparql")
    at_time = now_literal()
    with ThreadPoolExecutor(max_workers=1) as checker:
        checking = None
        for start in range(0, len(records), chunk):
            t0 = time.perf_counter()
            part = records[start:start + chunk]
            preds = select_predictions(part, {k: v[start:start + chunk] for k, v in probs.items()}, groups, TASKS,
                                       LABELS, agents)
            built = prediction_lines(preds, agents.values(), at_time)
            t1 = time.perf_counter()
            if checking is not None:
                checking.result()
            checking = checker.submit(validator.check, built.lines(), built.subjects, len(built.statements))
            t2 = time.perf_counter()
            spool.append("reified", built.reified)
            spool.append("derived", built.derived)
            spool.append("minted", built.minted)
            t["build"] += t1 - t0
            t["wait"] += t2 - t1
            t["spool"] += time.perf_counter() - t2
        t0 = time.perf_counter()
        if checking is not None:
            checking.result()
        t["wait"] += time.perf_counter() - t0
    report = validator.report()
    assert report.conforms, report.text()
    spool.provenance.write_text("", encoding="utf-8")
    spool.state.write_text(f"<{OwnGraphs.from_settings(Settings()).provenance}/state> <{RDF.type}> "
                           f"<https://w3id.org/kgenrich/sync#SyncState> .\n", encoding="utf-8")
    t["validate"] = validator.seconds
    t["statements"] = report.statements
    t["triples"] = report.triples
    return t


def one_write(store, graphs, workdir: Path, n: int, chunk: int, version: int, first: bool) -> dict:
    records, probs, agents = make(n, version)
    spool = Spool(workdir / f"spool-{version}")
    cpu0, t0 = time.process_time(), time.perf_counter()
    steps = build_validate_spool(store, records, probs, agents, chunk, spool)
    t1 = time.perf_counter()
    plan = WritePlan(graphs=graphs, run=f"bench{version}", spool=spool, replace_all=True, withdraw=[],
                      inputs_gone=[], live_was_empty=first, had_state=not first)
    how = write_graphs(store, plan)
    t2 = time.perf_counter()
    spool.remove()
    return {**steps, "write": t2 - t1, "total": t2 - t0, "cpu": time.process_time() - cpu0, "how": how}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=2000, help="artifacts per chunk (sync's [sync] chunk_size)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shacl-sample", type=int, default=2000, help="predictions also validated by pySHACL (0: none)")
    ap.add_argument("--no-server", action="store_true")
    ap.add_argument("--replace", action="store_true", help="also replace every prediction (a retrain)")
    ap.add_argument("--sparql-only", action="store_true", help="also a server without the Graph Store Protocol")
    args = ap.parse_args()
    n_art = args.predictions // len(TASKS)
    graphs = OwnGraphs.from_settings(Settings())
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="kgenrich-bench-writeback-") as tmp:
        tmp = Path(tmp)
        for run in range(args.runs):
            store = EmbeddedStore(tmp / f"store-{run}")
            store.load_bytes(production_types(n_art), "ntriples", graph=MUSEUM)
            results.setdefault("embedded: first write", []).append(
                one_write(store, graphs, tmp, args.predictions, args.chunk, 2 * run, first=True))
            if args.replace:
                results.setdefault("embedded: replace every prediction", []).append(
                    one_write(store, graphs, tmp, args.predictions, args.chunk, 2 * run + 1, first=False))
            store.close()
            print(f"run {run + 1}: embedded done", file=sys.stderr, flush=True)
        if not args.no_server:
            from kgenrich.store.local_server import OxigraphServer

            for run in range(args.runs):
                kinds = [("Graph Store Protocol", True)] + ([("SPARQL Update only", False)] if args.sparql_only else [])
                for label, gsp in kinds:
                    server = OxigraphServer(tmp / f"server-{run}-{int(gsp)}")
                    try:
                        remote = RemoteStore(server.query, update_endpoint=server.update,
                                             gsp_endpoint=server.gsp if gsp else None, timeout=900)
                        remote.load_bytes(production_types(n_art), "ntriples", graph=MUSEUM)
                        results.setdefault(f"Oxigraph server, {label}: first write", []).append(
                            one_write(remote, graphs, tmp, args.predictions, args.chunk, 2 * run, first=True))
                        if args.replace:
                            results.setdefault(f"Oxigraph server, {label}: replace every prediction", []).append(
                                one_write(remote, graphs, tmp, args.predictions, args.chunk, 2 * run + 1,
                                          first=False))
                    finally:
                        server.stop()
                print(f"run {run + 1}: server done", file=sys.stderr, flush=True)
        shacl = None
        if args.shacl_sample:
            store = EmbeddedStore(None)
            store.load_bytes(production_types(n_art), "ntriples", graph=MUSEUM)
            records, probs, agents = make(args.shacl_sample, 0)
            spool = Spool(tmp / "spool-shacl")
            groups = {task.name: LABELS[task.name].group_ids for task in TASKS}
            preds = select_predictions(records, {k: v for k, v in probs.items()}, groups, TASKS, LABELS, agents)
            built = prediction_lines(preds, agents.values(), now_literal())
            validator = validation.ChunkValidator(store, TASKS, LABELS, agent_lines(agents.values()), engine="shacl")
            t0 = time.perf_counter()
            validator.check(built.lines(), built.subjects, len(built.statements))
            shacl = (len(preds), time.perf_counter() - t0)
            spool.remove()

    def fmt(values):
        return (f"{statistics.median(values):7.2f}" if len(values) == 1 else
                f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})")

    first = next(iter(results.values()))[0]
    print(f"{args.predictions:,} predictions ({first['statements']:,} statements, {first['triples']:,} triples), "
          f"chunks of {args.chunk} artifacts; median (min-max) of {args.runs} run(s); load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print()
    print("| store: write | how | build | validate (SPARQL, beside building) | waited for it | spool | write | "
          "total | CPU (this process) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        print(f"| {name} | {runs[0]['how']} | " + " | ".join(
            fmt([r[k] for r in runs]) for k in ("build", "validate", "wait", "spool", "write", "total", "cpu")) + " |")
    if shacl:
        print(f"\npySHACL on {shacl[0]:,} predictions: {shacl[1]:.2f} s "
              f"({1000 * shacl[1] / shacl[0]:.2f} ms per prediction; the SPARQL rules: "
              f"{1000 * statistics.median(r['validate'] for r in next(iter(results.values()))) / args.predictions:.3f})")


if __name__ == "__main__":
    main()
