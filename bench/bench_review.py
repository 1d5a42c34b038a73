"""How fast the review page answers: queue pages, artifact views (with modality scores), label
search, single decisions and a bulk acceptance, over HTTP against the real app.

Works on a COPY of an embedded store with predictions (default: the `kgenrich demo` store in
.kgenrich/store, its models in .kgenrich/models), so the decisions it records never touch the
original.  Prints median and range of a few runs per request.

    python bench/bench_review.py [--store .kgenrich/store] [--models .kgenrich/models] [--config kgenrich.toml]
"""

from __future__ import annotations

import argparse
import shutil
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


def timed(fn, n):
    out, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return result, out


def show(what, seconds):
    ms = [1000 * s for s in seconds]
    print(f"{what:<48} median {statistics.median(ms):8.0f} ms   range {min(ms):.0f}-{max(ms):.0f} ms   (n={len(ms)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=".kgenrich/store")
    ap.add_argument("--models", default=".kgenrich/models")
    ap.add_argument("--config", default=None)
    ap.add_argument("--bulk", default="technique", help="task whose predictions >= 0.9 are bulk-accepted")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kgenrich-bench-review-"))
    try:
        shutil.copytree(args.store, work / "store")
        settings = load_settings(args.config, flags={"store": str(work / "store"), "models_dir": args.models})
        settings.sections["review"] = {"users_file": str(work / "users.json"), "secret_file": str(work / "secret"),
                                       "thumbnail_dir": str(work / "thumbnails")}
        UsersFile(work / "users.json").add("bench", "bench-password")
        store = EmbeddedStore(work / "store")
        app = create_app(store, settings)
        t0 = time.perf_counter()
        collection = app.state.review.reader.collection()
        print(f"collection read (tasks, label groups, {len(collection.museums)} museum graphs): "
              f"{time.perf_counter() - t0:.2f} s")
        port = 8931
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base, auth = f"http://127.0.0.1:{port}", ("bench", "bench-password")
        get = lambda path, **params: requests.get(base + path, params=params, auth=auth)  # noqa: E731

        queue, s = timed(lambda: get("/api/queue", limit=50).json(), 5)
        show(f"queue page, all tasks ({queue['total']} pending)", s)
        _, s = timed(lambda: get("/api/queue", limit=50, order="confidence", task=args.bulk, min="0.8").json(), 5)
        show("queue page, one task, confidence >= 0.8", s)
        _, s = timed(lambda: get("/queue").text, 5)
        show("queue page (HTML)", s)
        items = queue["items"]
        _, s = timed(lambda: get("/api/artifacts/" + quote(items[0]["artifact"], safe="")).json(), 1)
        show("first artifact view (loads the ensemble)", s)
        s = [timed(lambda a=i["artifact"]: get("/api/artifacts/" + quote(a, safe="")).json(), 1)[1][0]
             for i in items[1:9]]
        show("artifact view with modality scores", s)
        _, s = timed(lambda: get("/api/concepts", task="material", q="se").json(), 5)
        show("label search", s)
        token = get("/api/session").json()["csrf_token"]
        post = lambda path, body: requests.post(base + path, json=body, auth=auth,  # noqa: E731
                                                headers={"X-CSRF-Token": token})
        s = []
        for item, decision in zip(items[10:20], ["accepted", "rejected"] * 5):
            t0 = time.perf_counter()
            post("/api/reviews", {"statement": item["statement"], "decision": decision}).raise_for_status()
            s.append(time.perf_counter() - t0)
        show("one decision (validate + one update + read back)", s)
        # the bulk acceptance, with its SHACL share measured apart on the same proposals
        n = get("/api/queue", task=args.bulk, min="0.9").json()["total"]
        total, proposals = app.state.review.reader.proposals(n + 1, task=args.bulk, min_confidence="0.9")
        prepared = [D.prepare(p, "accepted", D.Reviewer("bench")) for p in proposals]
        t0 = time.perf_counter()
        D.validate(prepared, store, collection.labels)
        shacl = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = post("/api/bulk-accept", {"task": args.bulk, "min": "0.9", "expected": n}).json()
        bulk = time.perf_counter() - t0
        print(f"bulk acceptance of {result.get('accepted')} predictions: {bulk:.1f} s "
              f"(the SHACL validation of the same decisions alone, measured before: {shacl:.1f} s)")
        server.should_exit = True
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
