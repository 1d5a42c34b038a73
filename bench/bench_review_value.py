"""What a review is worth (issue 19): a simulated curator reviews predictions through the review
page's JSON API, in the queue's order (least confident first) and, as a control, at random;
after every round a sync retrains on the curated values.  Measured per number of reviews N:
errors fixed per 100 reviews, and the macro-F1 of the predictions on held-out rows nobody reviewed.

    nice -n 10 python bench/bench_review_value.py [--dataset silknow] [--seeds 0 1 2] [--step 250] [--rounds 8]

Protocol (per seed):
  1. The dataset's files go into a fresh embedded store.  Every artifact of the held-out split
     (SILKNOW: kg/silknow-dev) loses the value of one of its tasks, drawn at random; the hidden
     values are the truth.  Half of these rows (drawn at random; --evaluation-share) may be
     reviewed, the other half never is: the macro-F1 is measured on that half.  (SILKNOW dev has
     4,409 artifacts: 2,204 reviewable rows, so by N = 2,000 either order has reviewed nearly all
     of them; the share of their errors fixed is printed too.)
  2. A first sync trains the models (tabular + fusion, as on metadata-only collections) and writes
     a prediction for every gap; the store and models are copied for each order.
  3. Rounds of `--step` reviews: the curator takes the pending predictions on reviewable rows in
     the queue's order (GET /api/queue?order=uncertainty) or at random, and answers each with
     the truth through POST /api/reviews: the right group is accepted (a group that stands for
     several values is accepted naming the hidden value), a wrong one is corrected to the hidden
     value.  Then `sync --retrain` (the curated values are training labels; a plain sync retrains
     only when more than [sync] retrain_share of the training data changed).
  Errors fixed: corrections (a prediction that was wrong, put right).  Macro-F1: per task over
  the evaluation rows (a row without a prediction counts as wrong), then the mean over tasks.

Prints a table (and writes bench/out/bench_review_value_<dataset>.json); the load average is
printed at the start and the end.  New datasets (e.g. the Tate's Linked Art) are an entry of
DATASETS: the files to load, the held-out files, the tasks and the models.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = ROOT / "bench" / "out"


@dataclass
class Dataset:
    name: str
    files: list[Path]  # everything loaded into the store, the held-out split included
    heldout: list[Path]  # the held-out split
    support: list[Path]  # what labelling the held-out split alone needs (vocabularies)
    tasks: tuple[str, ...]
    models: dict = field(default_factory=dict)

    def missing(self) -> list[Path]:
        return [f for f in self.files if not f.is_file()]


def silknow(shared: Path) -> Dataset:
    base = shared / "silknow"
    vocabularies = [base / "vocabularies" / v for v in ("silknow-thesaurus.ttl", "aat-centuries.ttl",
                                                         "silknow-dates-extension.ttl", "geonames-subset.ttl")]
    return Dataset("silknow", vocabularies + [base / "kg/silknow-train.trig.gz", base / "kg/silknow-dev.trig.gz"],
                   [base / "kg/silknow-dev.trig.gz"], vocabularies, ("material", "technique", "place", "time"),
                   {"modalities": ["tabular"], "folds": 3})


DATASETS = {"silknow": silknow}


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def settings_for(work: Path, dataset: Dataset, seed: int, threads: int):
    from kgenrich.config import load_settings

    s = load_settings(environ={}, cwd=work)
    s.store = str(work / "store")
    s.models_dir = str(work / "models")
    s.seed = seed
    s.device = "cpu"
    s.sections = {"models": {**dataset.models, "seed": seed, "threads": threads, "n_jobs": threads},
                  "sync": {"report_dir": str(work / "reports")},
                  "review": {"users_file": str(work / "users.json"), "secret_file": str(work / "secret"),
                             "thumbnail_dir": str(work / "thumbnails"), "page_size": 500, "bulk_limit": 100000}}
    return s


@dataclass
class Truth:
    group: str  # the hidden value's label group
    value: str  # the hidden value (a concept of that group)


def prepare(dataset: Dataset, work: Path, seed: int, threads: int, evaluation_share: float = 0.5):
    """The store with the held-out values hidden, its first sync, and the truth of every hidden row
    split into reviewable and evaluation rows."""
    from rdflib import URIRef

    from kgenrich import sparql
    from kgenrich.pipeline import load_inputs
    from kgenrich.store.embedded import EmbeddedStore
    from kgenrich.sync import run_sync

    settings = settings_for(work, dataset, seed, threads)
    scratch = EmbeddedStore(None)
    for f in dataset.support + dataset.heldout:
        scratch.load_file(f)
    heldout = {r.iri for r in load_inputs(scratch, settings, with_inputs=False, progress=False).records}
    scratch.close()
    store = EmbeddedStore(work / "store")
    for f in dataset.files:
        store.load_file(f)
    inputs = load_inputs(store, settings, with_inputs=False, progress=False)
    rng = random.Random(seed)
    tasks = {t.name: t for t in inputs.tasks if t.name in dataset.tasks}
    hidden: dict[tuple[str, str], Truth] = {}
    for record in sorted((r for r in inputs.records if r.iri in heldout), key=lambda r: r.iri):
        labelled = [t for t in sorted(tasks) if record.labels.get(t) is not None]
        if not labelled:
            continue
        task = rng.choice(labelled)
        group = record.labels[task]
        mapping = inputs.value_groups.get(task, {})
        value = next((v for v in sorted(record.values.get(task, [])) if group in mapping.get(v, [])), None)
        if value is None:
            continue
        subject = record.subjects.get(task) or record.iri
        store.update(sparql.bind("DELETE WHERE { GRAPH $g { $s $p ?o } }",
                                 {"g": URIRef(record.graph), "s": URIRef(subject), "p": URIRef(tasks[task].property)}))
        hidden[(record.iri, task)] = Truth(group, value)
    rows = sorted(hidden)
    rng.shuffle(rows)
    cut = len(rows) - int(round(len(rows) * evaluation_share))
    reviewable, evaluation = set(rows[:cut]), set(rows[cut:])
    t0 = time.perf_counter()
    report = run_sync(store, settings, retrain=True, progress=False)
    store.close()
    print(f"  seed {seed}: {len(heldout)} held-out artifacts, {len(hidden)} values hidden "
          f"({len(reviewable)} reviewable, {len(evaluation)} for evaluation); first sync {report.predictions} "
          f"predictions in {time.perf_counter() - t0:.0f} s", flush=True)
    return hidden, reviewable, evaluation


def macro_f1(pairs: list[tuple[str, str | None]]) -> float:
    """Macro-F1 over the classes of the truth (a missing prediction is wrong)."""
    classes = sorted({t for t, _ in pairs})
    scores = []
    for c in classes:
        tp = sum(1 for t, p in pairs if t == c and p == c)
        fp = sum(1 for t, p in pairs if t != c and p == c)
        fn = sum(1 for t, p in pairs if t == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return statistics.mean(scores) if scores else 0.0


def evaluate(reader, hidden: dict, evaluation: set) -> dict:
    c = reader.collection()
    index = reader.index()
    predicted: dict[tuple[str, str], str] = {}
    for row in sorted(index.live, key=lambda r: -(r.confidence or 0.0)):
        group = c.group_of(row.task, row.value)
        predicted.setdefault((row.artifact, row.task), group.id if group else None)
    per_task: dict[str, list] = defaultdict(list)
    for key in evaluation:
        per_task[key[1]].append((hidden[key].group, predicted.get(key)))
    scores = {t: macro_f1(pairs) for t, pairs in sorted(per_task.items())}
    return {"tasks": scores, "mean": statistics.mean(scores.values())}


def pool_errors(reader, hidden: dict, reviewable: set) -> int:
    """How many reviewable rows the first sync's predictions got wrong (what a curator could fix)."""
    c = reader.collection()
    wrong = 0
    for row in reader.index().live:
        key = (row.artifact, row.task)
        if key in reviewable:
            group = c.group_of(row.task, row.value)
            wrong += int(group is None or group.id != hidden[key].group)
    return wrong


def serve(app):
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def pending_in_order(http, base: str, reviewable: set, order: str, rng: random.Random, n: int) -> list[dict]:
    """The next ``n`` pending predictions on reviewable rows: in the queue's order, or at random."""
    found, after = [], ""
    while True:
        params = {"limit": 500, "order": "uncertainty"}
        if after:
            params["after"] = after
        page = http.get(base + "/api/queue", params=params).json()
        found += [i for i in page["items"] if (i["artifact"], i["task"]) in reviewable]
        after = page.get("next")
        if (order == "uncertainty" and len(found) >= n) or not after:
            break
    if order == "random":
        rng.shuffle(found)
    return found[:n]


def run_order(dataset: Dataset, prepared: Path, run: Path, seed: int, order: str, step: int, rounds: int,
              threads: int, hidden: dict, reviewable: set, evaluation: set) -> list[dict]:
    import requests

    from kgenrich.review.app import create_app
    from kgenrich.review.users import UsersFile
    from kgenrich.store.embedded import EmbeddedStore
    from kgenrich.sync import run_sync

    shutil.copytree(prepared / "store", run / "store")
    shutil.copytree(prepared / "models", run / "models")
    settings = settings_for(run, dataset, seed, threads)
    UsersFile(run / "users.json").add("curator", "curator-password")
    store = EmbeddedStore(run / "store")
    app = create_app(store, settings)
    reader = app.state.review.reader
    server, base = serve(app)
    http = requests.Session()
    http.auth = ("curator", "curator-password")
    http.headers["X-CSRF-Token"] = http.get(base + "/api/session").json()["csrf_token"]
    rng = random.Random(1000 + seed)
    results = [{"reviews": 0, "fixed": 0, "pool_errors": pool_errors(reader, hidden, reviewable),
                **evaluate(reader, hidden, evaluation)}]
    reviews = fixed = 0
    try:
        for _round_no in range(1, rounds + 1):
            t0 = time.perf_counter()
            for item in pending_in_order(http, base, reviewable, order, rng, step):
                truth = hidden[(item["artifact"], item["task"])]
                if item["group"] == truth.group:
                    body = {"decision": "accepted", "value": truth.value if item["stand_in"] else None}
                else:
                    body = {"decision": "corrected", "value": truth.value}
                    fixed += 1
                r = http.post(base + "/api/reviews", json={"statement": item["statement"], **body})
                if r.status_code not in (200, 201):
                    raise SystemExit(f"review refused ({r.status_code}): {r.text[:300]}")
                reviews += 1
            t_reviews = time.perf_counter() - t0
            t0 = time.perf_counter()
            run_sync(store, settings, retrain=True, progress=False)
            t_sync = time.perf_counter() - t0
            scores = evaluate(reader, hidden, evaluation)
            results.append({"reviews": reviews, "fixed": fixed, **scores, "seconds_reviews": round(t_reviews, 1),
                            "seconds_sync": round(t_sync, 1)})
            print(f"    {order:<11} seed {seed} N={reviews:>5}: fixed {fixed:>4} ({100 * fixed / reviews:.1f} per 100), "
                  f"macro-F1 {scores['mean']:.4f} (reviews {t_reviews:.0f} s, sync {t_sync:.0f} s; {load_average()})",
                  flush=True)
    finally:
        server.should_exit = True
        time.sleep(0.5)
        store.close()
    return results


def spread(values, digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(results: dict, seeds: list[int], rounds: int) -> str:
    lines = ["| N | fixed per 100, uncertainty | fixed per 100, random | ratio | macro-F1 uncertainty | "
             "macro-F1 random | F1 gain uncertainty | F1 gain random |",
             "|---|---|---|---|---|---|---|---|"]
    for k in range(rounds + 1):
        row = {}
        for order in ("uncertainty", "random"):
            runs = [results[order][str(s)][k] for s in seeds]
            base = [results[order][str(s)][0]["mean"] for s in seeds]
            row[order] = {"n": runs[0]["reviews"],
                          "fixed": [100 * r["fixed"] / r["reviews"] if r["reviews"] else 0.0 for r in runs],
                          "f1": [r["mean"] for r in runs], "gain": [r["mean"] - b for r, b in zip(runs, base)]}
        u, r = row["uncertainty"], row["random"]
        ratio = (statistics.mean(u["fixed"]) / statistics.mean(r["fixed"])) if statistics.mean(r["fixed"]) else 0.0
        lines.append(f"| {u['n']:,} | {spread(u['fixed'], 1)} | {spread(r['fixed'], 1)} "
                     f"| {ratio:.2f}x | {spread(u['f1'])} | {spread(r['f1'])} | {spread(u['gain'])} | "
                     f"{spread(r['gain'])} |" if u["n"] else
                     f"| 0 | - | - | - | {spread(u['f1'])} | {spread(r['f1'])} | - | - |")
    errors = [results[o][str(s)][0].get("pool_errors") for o in ("uncertainty", "random") for s in seeds]
    if all(e for e in errors):
        lines += ["", "Share of the reviewable rows' errors (as the first sync predicted them) fixed after N reviews:", "",
                  "| N | uncertainty | random |", "|---|---|---|"]
        for k in range(1, rounds + 1):
            share = {o: [results[o][str(s)][k]["fixed"] / results[o][str(s)][0]["pool_errors"] for s in seeds]
                     for o in ("uncertainty", "random")}
            lines.append(f"| {results['uncertainty'][str(seeds[0])][k]['reviews']:,} | {spread(share['uncertainty'], 2)} "
                         f"| {spread(share['random'], 2)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="silknow")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--step", type=int, default=250, help="reviews per round (a sync follows each round)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--evaluation-share", type=float, default=0.5,
                    help="share of the hidden rows kept for the macro-F1 (never reviewed); the rest may be reviewed")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args()
    dataset = DATASETS[args.dataset](args.shared)
    if dataset.missing():
        print(f"skipped: {args.dataset} data not found ({', '.join(map(str, dataset.missing()))})")
        return
    started = time.perf_counter()
    print(f"start: {load_average()}", flush=True)
    work = args.keep or Path(tempfile.mkdtemp(prefix="kgenrich-bench-review-value-"))
    results: dict = {"uncertainty": {}, "random": {}}
    try:
        for seed in args.seeds:
            prepared = work / f"seed{seed}"
            prepared.mkdir(parents=True, exist_ok=True)
            hidden, reviewable, evaluation = prepare(dataset, prepared, seed, args.threads, args.evaluation_share)
            for order in ("uncertainty", "random"):
                run = work / f"seed{seed}-{order}"
                run.mkdir(parents=True, exist_ok=True)
                results[order][str(seed)] = run_order(dataset, prepared, run, seed, order, args.step, args.rounds,
                                                      args.threads, hidden, reviewable, evaluation)
                save(args, results)  # what is done so far survives an interrupted run
                if not args.keep:
                    shutil.rmtree(run, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.dataset}: review value, seeds {args.seeds}, {args.step} reviews per round, sync --retrain after "
          f"each; mean (min-max) over seeds; macro-F1 on held-out rows nobody reviewed\n")
    print(table(results, args.seeds, args.rounds))
    print(f"\nend: {load_average()}; {time.perf_counter() - started:.0f} s in all")
    print(f"written: {save(args, results)}")


def save(args, results: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench_review_value_{args.dataset}.json"
    path.write_text(json.dumps({"dataset": args.dataset, "seeds": args.seeds, "step": args.step,
                                "rounds": args.rounds, "results": results}, indent=1))
    return path


if __name__ == "__main__":
    main()
