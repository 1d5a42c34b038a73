"""Build, validate and write 100,000 predictions; seconds per step, per store.

    .venv/bin/python bench/bench_writeback.py [--predictions 100000] [--shacl-sample 10000] [--no-server]

Synthetic artifacts (4 production tasks, 5 groups each, two images per artifact)
go through the same code as ``kgenrich sync``: select_predictions ->
build_triples -> validation (the SPARQL engine on everything; pySHACL on a
sample, extrapolated) -> write_graphs (stage, count, one-request swap) on the
embedded store and on an Oxigraph server (SPARQL Update batches and Graph Store PUT).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rdflib import URIRef
from rdflib.namespace import RDF

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from kgenrich import validation  # noqa: E402
from kgenrich.config import Settings  # noqa: E402
from kgenrich.predictions import ECRM, Agent, agent_iri, build_triples, select_predictions  # noqa: E402
from kgenrich.records import ArtifactRecord, Group, Task, TaskLabels  # noqa: E402
from kgenrich.store.embedded import EmbeddedStore  # noqa: E402
from kgenrich.store.remote import RemoteStore  # noqa: E402
from kgenrich.graphs import OwnGraphs
from kgenrich.sync import write_graphs  # noqa: E402

E = "http://erlangen-crm.org/current/"
TASKS = [Task(name, f"https://w3id.org/kgenrich/task/{name}", name, E + "E22_Man-Made_Object", E + prop, "collection",
              subject_link=E + "P108_has_produced", subject_class=E + "E12_Production")
         for name, prop in [("material", "P126_employed"), ("technique", "P32_used_general_technique"),
                            ("place", "P8_took_place_on_or_within"), ("time", "P4_has_time-span")]]
LABELS = {t.name: TaskLabels(t, [Group(f"g{i}", f"g{i}", f"http://data.silknow.org/vocabulary/{t.name}-{i}")
                                 for i in range(5)], [], 0) for t in TASKS}


def make(n_predictions: int):
    n = n_predictions // len(TASKS)
    records = [ArtifactRecord(f"http://data.silknow.org/object/{i}", "g", "m",
                              image_nodes=[f"http://data.silknow.org/image/{i}-{k}" for k in range(2)],
                              subjects={t.name: f"http://data.silknow.org/production/{i}" for t in TASKS})
               for i in range(n)]
    rng = np.random.default_rng(0)
    probs = {t.name: rng.dirichlet(np.ones(5), size=n) for t in TASKS}
    agents = {t.name: Agent(str(agent_iri(t.name, "bench")), t.name, f"bench model for {t.name}") for t in TASKS}
    store_types = "\n".join(f"<http://data.silknow.org/production/{i}> <{RDF.type}> <{E}E12_Production> ."
                            for i in range(n)).encode()
    return records, probs, agents, store_types


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=100_000)
    ap.add_argument("--shacl-sample", type=int, default=10_000, help="predictions validated by pySHACL (0: none)")
    ap.add_argument("--no-server", action="store_true")
    args = ap.parse_args()

    records, probs, agents, types_nt = make(args.predictions)
    groups = {t.name: LABELS[t.name].group_ids for t in TASKS}
    preds, t_select = timed(lambda: select_predictions(records, probs, groups, TASKS, LABELS, agents))
    triples, t_build = timed(lambda: build_triples(preds, agents.values()))
    rows = [("build: select top-1", len(preds), t_select), ("build: triples", len(triples), t_build)]

    source = EmbeddedStore(None)
    source.load_bytes(types_nt, "ntriples", graph=URIRef("http://data.silknow.org/graph/bench"))
    context, t_ctx = timed(lambda: validation.task_context(TASKS, LABELS) + validation.subject_context(source, triples, TASKS))
    rows.append(("validate: context from store", len(context), t_ctx))
    rep, t_val = timed(lambda: validation.validate(triples, context, engine="sparql"))
    assert rep.conforms, rep.text()
    rows.append(("validate: SPARQL engine (all)", rep.statements, t_val))
    if args.shacl_sample:
        sample_preds = preds[: args.shacl_sample]
        sample = build_triples(sample_preds, agents.values())
        srep, t_sh = timed(lambda: validation.validate(sample, context, engine="shacl"))
        assert srep.conforms, srep.text()
        rows.append((f"validate: pySHACL ({len(sample_preds)})", srep.statements, t_sh))
        rows.append(("validate: pySHACL (extrapolated)", len(preds), t_sh * len(preds) / len(sample_preds)))

    graphs = OwnGraphs.from_settings(Settings())
    prov = [(URIRef(f"{graphs.provenance}/state"), RDF.type, URIRef("https://w3id.org/kgenrich/sync#SyncState"))]
    embedded = EmbeddedStore(None)
    _, t = timed(lambda: write_graphs(embedded, graphs, "bench1", triples, prov))
    rows.append(("write: embedded (stage+swap)", len(triples), t))
    _, t = timed(lambda: write_graphs(embedded, graphs, "bench2", triples, prov))
    rows.append(("write: embedded, replacing", len(triples), t))

    if not args.no_server:
        from servers import OxigraphServer

        with tempfile.TemporaryDirectory() as tmp:
            server = OxigraphServer(Path(tmp))
            try:
                for label, gsp in (("SPARQL Update batches", None), ("Graph Store PUT", server.gsp)):
                    remote = RemoteStore(server.query, update_endpoint=server.update, gsp_endpoint=gsp,
                                         batch_triples=5000, timeout=600)
                    _, t = timed(lambda: write_graphs(remote, graphs, "bench-" + ("gsp" if gsp else "u"), triples, prov))
                    rows.append((f"write: Oxigraph server, {label}", len(triples), t))
            finally:
                server.stop()

    width = max(len(r[0]) for r in rows)
    print(f"{'step'.ljust(width)}  {'items':>10}  {'seconds':>8}")
    for name, n, secs in rows:
        print(f"{name.ljust(width)}  {n:>10}  {secs:>8.2f}")


if __name__ == "__main__":
    main()
