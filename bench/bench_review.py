"""How fast the review page answers: queue pages, artifact views (with modality scores), label
search, decisions (accept, reject, correct, undo), a bulk acceptance and its undo, statistics --
over HTTP against the real app.  Targets (issue 19): a queue page <= 150 ms and a decision
<= 100 ms at the median, on the demo store, on 2 cores.

Works on a COPY of an embedded store with predictions (default: the `kgenrich demo` store in
.kgenrich/store, its models in .kgenrich/models), so the decisions it records never touch the
original.  Prints median and range of a few runs per request, and the load average before and after.

    python bench/bench_review.py [--store .kgenrich/store] [--models .kgenrich/models] [--config kgenrich.toml]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests
import uvicorn

from kgenrich.config import load_settings
from kgenrich.review import decisions as D
from kgenrich.review.app import create_app
from kgenrich.review.users import UsersFile
from kgenrich.store.embedded import EmbeddedStore

TARGETS = {"queue": 150.0, "decision": 100.0}


def timed(fn, n):
    out, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return result, out


def show(what, seconds, target=None):
    ms = [1000 * s for s in seconds]
    median = statistics.median(ms)
    verdict = "" if target is None else f"   target <= {target:.0f} ms: {'met' if median <= target else 'NOT met'}"
    print(f"{what:<52} median {median:7.0f} ms   range {min(ms):.0f}-{max(ms):.0f} ms   (n={len(ms)}){verdict}")
    return median


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def restart(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=".kgenrich/store")
    ap.add_argument("--models", default=".kgenrich/models")
    ap.add_argument("--config", default=None)
    ap.add_argument("--bulk", default="technique", help="task whose predictions >= 0.9 are bulk-accepted")
    args = ap.parse_args()
    print(f"before: {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="kgenrich-bench-review-"))
    try:
        shutil.copytree(args.store, work / "store")
        shutil.copytree(args.models, work / "models")  # a sync below must not touch the original models
        settings = load_settings(args.config, flags={"store": str(work / "store"), "models_dir": str(work / "models")})
        settings.sections["review"] = {"users_file": str(work / "users.json"), "secret_file": str(work / "secret"),
                                       "thumbnail_dir": str(work / "thumbnails")}
        UsersFile(work / "users.json").add("bench", "bench-password")
        store = EmbeddedStore(work / "store")
        app = create_app(store, settings)
        reader = app.state.review.reader
        t0 = time.perf_counter()
        collection = reader.collection()
        print(f"collection read (tasks, label groups, {len(collection.museums)} museum graphs): "
              f"{time.perf_counter() - t0:.2f} s")
        server, base = restart(app)
        http = requests.Session()
        http.auth = ("bench", "bench-password")
        get = lambda path, **params: http.get(base + path, params=params)  # noqa: E731

        first, s = timed(lambda: get("/api/queue", limit=50).json(), 1)
        show("first queue page (reads the queue index)", s)
        queue, s = timed(lambda: get("/api/queue", limit=50).json(), 5)
        medians = {"queue": show(f"queue page, all tasks ({queue['total']} pending)", s, TARGETS["queue"])}
        _, s = timed(lambda: get("/api/queue", limit=50, after=queue["next"]).json(), 5)
        show("next queue page (keyset)", s, TARGETS["queue"])
        _, s = timed(lambda: get("/api/queue", limit=50, order="confidence", task=args.bulk, min="0.8").json(), 5)
        show("queue page, one task, confidence >= 0.8", s, TARGETS["queue"])
        _, s = timed(lambda: get("/queue").text, 5)
        medians["queue_html"] = show("queue page (HTML, with thumbnails' first lines)", s, TARGETS["queue"])
        items = queue["items"]
        token = get("/api/session").json()["csrf_token"]

        def post(path, body):
            return http.post(base + path, json=body, headers={"X-CSRF-Token": token})

        _, s = timed(lambda: get("/api/artifacts/" + quote(items[0]["artifact"], safe="")).json(), 1)
        show("first artifact view (loads the ensemble)", s)
        s = [timed(lambda a=i["artifact"]: get("/api/artifacts/" + quote(a, safe="")).json(), 1)[1][0]
             for i in items[1:9]]
        show("artifact view with modality scores and history", s)
        _, s = timed(lambda: get("/api/concepts", task="material", q="se").json(), 5)
        show("label search", s)

        s, decided = [], []
        for item, decision in zip(items[10:30], ["accepted", "rejected"] * 10):
            if item["stand_in"] and decision == "accepted":
                decision = "rejected"
            t0 = time.perf_counter()
            r = post("/api/reviews", {"statement": item["statement"], "decision": decision})
            s.append(time.perf_counter() - t0)
            r.raise_for_status()
            decided.append(r.json())
        medians["decision"] = show("one decision (validate + one update + read back)", s, TARGETS["decision"])
        _, s = timed(lambda: get("/api/queue", limit=50).json(), 1)
        show("queue page right after a decision", s, TARGETS["queue"])
        s = []
        material = [i for i in get("/api/queue", limit=40, task="material").json()["items"]]
        for item in material[:10]:
            other = next(g.concept for g in collection.labels["material"].groups if g.concept != item["value"])
            t0 = time.perf_counter()
            post("/api/reviews", {"statement": item["statement"], "decision": "corrected", "value": other}
                 ).raise_for_status()
            s.append(time.perf_counter() - t0)
        show("one correction", s, TARGETS["decision"])
        s = []
        for outcome in decided[:10]:
            t0 = time.perf_counter()
            post("/api/reviews", {"statement": outcome["statement"], "decision": "undone",
                                  "revises": outcome["review"]}).raise_for_status()
            s.append(time.perf_counter() - t0)
        show("one undo (a revision: withdraws the curated value)", s, TARGETS["decision"])
        _, s = timed(lambda: get("/api/stats").json(), 3)
        show("progress statistics", s)

        # 100 decisions in all, then an incremental sync: it predicts again only what they touched
        more = [i for i in get("/api/queue", limit=300).json()["items"] if not i["stand_in"]]
        totals = get("/api/stats").json()["totals"]
        done = totals["accepted"] + totals["corrected"] + totals["rejected"]
        for item in more[: max(0, 100 - done)]:
            post("/api/reviews", {"statement": item["statement"], "decision": "rejected"}).raise_for_status()
        decided_now = get("/api/stats").json()["totals"]
        touched = len({i["artifact"] for i in get("/api/queue", status="decided", limit=500).json()["items"]})
        server.should_exit = True
        time.sleep(0.5)
        from kgenrich.sync import run_sync

        report = run_sync(store, settings, progress=False)
        print(f"sync after {decided_now['accepted'] + decided_now['corrected'] + decided_now['rejected']} decisions "
              f"(on {touched} artifacts): {report.repredicted_artifacts} artifacts predicted again, replaced_all "
              f"{report.replaced_all}, retrained {report.trained}, {report.seconds:.1f} s")
        server, base = restart(app)

        # the bulk acceptance, with its SHACL share measured apart on the same proposals
        n = get("/api/queue", task=args.bulk, min="0.9").json()["total"]
        total, proposals, _ = reader.proposals(n + 1, task=args.bulk, min_confidence="0.9")
        prepared = [D.prepare(p, "accepted", D.Reviewer("bench")) for p in proposals]
        t0 = time.perf_counter()
        D.validate(prepared, store, collection.groups)
        shacl = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = post("/api/bulk-accept", {"task": args.bulk, "min": "0.9", "expected": total}).json()
        bulk = time.perf_counter() - t0
        print(f"bulk acceptance of {result.get('accepted')} predictions: {bulk:.1f} s "
              f"(the SHACL validation of the same decisions alone, measured before: {shacl:.1f} s)")
        if result.get("batch"):
            t0 = time.perf_counter()
            undone = post("/api/bulk-undo", {"batch": result["batch"]}).json()
            print(f"undo of that bulk acceptance ({undone.get('undone')} decisions): {time.perf_counter() - t0:.1f} s")
        server.should_exit = True
        store.close()
        print(f"after: {load_average()}")
        met = all(medians[k] <= TARGETS["queue" if k.startswith("queue") else k] for k in medians)
        print("targets " + ("met" if met else "NOT met") + ": " +
              ", ".join(f"{k} {v:.0f} ms" for k, v in medians.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
