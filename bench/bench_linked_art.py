"""kgenrich on a real Linked Art collection, against a baseline a data scientist writes in an afternoon.

    python bench/bench_linked_art.py [--data ../shared/data/tate/tate.nq.gz] [--workdir bench/out/linked-art]
                                     [--seed 0] [--holdout 0.2] [--min-train 100] [--json OUT.json]

What it does, with default settings throughout (nothing here knows the collection):

1. ``kgenrich load`` the file into a fresh embedded store;
2. holds out a share of the objects (seeded): each held-out object loses the statement of one of
   the tasks it has a label for -- its type (``crm:P2_has_type`` a "type of work") or its
   production's time-span -- chosen at random; the hidden value is the truth;
3. ``kgenrich sync`` (default settings: profile auto, every modality that finds its inputs, fusion),
   timed, with its peak memory, then a second ``sync`` with nothing changed;
4. scores the predictions written for the held-out objects: macro-F1 per task over the values
   with at least ``--min-train`` training objects, and the coverage (the share of those objects
   that got a prediction);
5. the baseline on the same split: TF-IDF of all the object's texts, one-hot creator and
   department, log dimensions, a logistic regression (C and class weights chosen by 3-fold
   cross-validation on at most 20,000 of the training objects, then fitted on all of them), read
   from ``kgenrich dataset`` of the same store;
6. the text encoder's speed (texts per second) on the collection's own texts.

It prints a table and, with ``--json``, writes every figure.  It needs the data file (not
shipped): the Tate collection in Linked Art (``../shared/data/tate/``), or any other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tate" / "tate.nq.gz"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"
TYPE_OF_WORK = "http://vocab.getty.edu/aat/300435443"
PREDICTIONS = "http://data.silknow.org/predictions"
TASKS = ("type", "century")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """A kgenrich command in a child process: (result, wall seconds, peak resident MB of that child)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "kgenrich", *args], cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    out_parts, err_parts = [], []
    import threading

    readers = [threading.Thread(target=lambda s=stream, acc=acc: acc.append(s.read()), daemon=True)
               for stream, acc in ((child.stdout, out_parts), (child.stderr, err_parts))]
    for reader in readers:
        reader.start()
    # the child's own peak (VmHWM), read until it exits: os.wait4 gives it whole
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    peak_kb = usage.ru_maxrss
    for reader in readers:
        reader.join()
    wall = time.perf_counter() - started
    out, err = "".join(out_parts), "".join(err_parts)
    result = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    if child.returncode != 0:
        raise SystemExit(f"kgenrich {' '.join(args)} failed ({child.returncode}):\n{err[-3000:]}")
    return result, wall, peak_kb / 1024


# ------------------------------------------------------------------ the held-out split
def hide(store_dir: Path, holdout: float, seed: int) -> dict[str, tuple[str, str]]:
    """Remove one task's statement from a share of the objects; returns {object: (task, true value)}: the
    type's IRI, or the century's group id (century_19)."""
    import pyoxigraph as ox

    from kgenrich.labels import date_group
    from kgenrich.record_values import literal_year
    from kgenrich.store.terms import to_rdflib

    store = ox.Store(str(store_dir))
    p2, p4 = ox.NamedNode(CRM + "P2_has_type"), ox.NamedNode(CRM + "P4_has_time-span")
    p108i = ox.NamedNode(CRM + "P108i_was_produced_by")
    begin, end = ox.NamedNode(CRM + "P82a_begin_of_the_begin"), ox.NamedNode(CRM + "P82b_end_of_the_end")
    type_of_work = ox.NamedNode(TYPE_OF_WORK)
    objects = sorted({q.subject.value for q in store.quads_for_pattern(
        None, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
        ox.NamedNode(CRM + "E22_Human-Made_Object"), None)})
    rng = random.Random(seed)
    labelled: dict[str, dict[str, tuple]] = {}
    for iri in objects:
        obj = ox.NamedNode(iri)
        found = {}
        types = [q for q in store.quads_for_pattern(obj, p2, None, None)
                 if any(True for _ in store.quads_for_pattern(q.object, p2, type_of_work, None))]
        if len(types) == 1:
            found["type"] = ([types[0]], types[0].object.value)
        spans = [q for prod in store.quads_for_pattern(obj, p108i, None, None)
                 for q in store.quads_for_pattern(prod.object, p4, None, None)]
        if len(spans) == 1:
            b = next((to_rdflib(q.object) for q in store.quads_for_pattern(spans[0].object, begin, None, None)), None)
            e = next((to_rdflib(q.object) for q in store.quads_for_pattern(spans[0].object, end, None, None)), None)
            yb, ye = literal_year(b), literal_year(e)
            if yb is not None and ye is not None and date_group(yb, "century") == date_group(ye, "century"):
                found["century"] = (spans, date_group(yb, "century"))
        if found:
            labelled[iri] = found
    chosen = rng.sample(sorted(labelled), int(holdout * len(labelled)))
    truth = {}
    for iri in chosen:
        task = rng.choice(sorted(labelled[iri]))
        quads, group = labelled[iri][task]
        for quad in quads:
            store.remove(quad)
        truth[iri] = (task, group)
    store.flush()
    del store
    return truth


# ------------------------------------------------------------------ reading kgenrich's predictions
def predictions_of(store_dir: Path, truth: dict) -> dict[str, tuple[str, float]]:
    """{object: (predicted value, confidence)} for the held-out objects' hidden task: the type's IRI, or the
    century's group id."""
    import pyoxigraph as ox

    from kgenrich.labels import date_group_of_concept

    store = ox.Store.read_only(str(store_dir))
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    subj, pred, objp = (ox.NamedNode(rdf + n) for n in ("subject", "predicate", "object"))
    graph = ox.NamedNode(PREDICTIONS)
    confidence = ox.NamedNode("https://w3id.org/kgenrich/ontology#confidence")
    p108i = ox.NamedNode(CRM + "P108i_was_produced_by")
    out = {}
    for iri, (task, _) in truth.items():
        obj = ox.NamedNode(iri)
        if task == "type":
            subjects, predicate = [obj], CRM + "P2_has_type"
        else:
            subjects = [q.object for q in store.quads_for_pattern(obj, p108i, None, None)]
            predicate = CRM + "P4_has_time-span"
        best = None
        for subject in subjects:
            for q in store.quads_for_pattern(None, subj, subject, graph):
                st = q.subject
                if not any(True for _ in store.quads_for_pattern(st, pred, ox.NamedNode(predicate), graph)):
                    continue
                value = next(store.quads_for_pattern(st, objp, None, graph)).object.value
                conf = float(next(store.quads_for_pattern(st, confidence, None, graph)).object.value)
                group = value if task == "type" else date_group_of_concept(value, "century")
                if best is None or conf > best[1]:
                    best = (group, conf)
        if best is not None:
            out[iri] = best
    return out


# ------------------------------------------------------------------ the baseline
def baseline(records_file: Path, truth: dict, seed: int) -> dict[str, dict[str, str]]:
    """TF-IDF of all texts + one-hot creator and department + log dimensions -> logistic regression."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import OneHotEncoder

    records = [json.loads(line) for line in records_file.open(encoding="utf-8")]
    train = [r for r in records if r["iri"] not in truth]
    test = [r for r in records if r["iri"] in truth]

    def text(r):
        return " \n ".join(t["text"] for t in r["texts"])

    def categories(r):
        lit = r.get("literals", {})
        return [(lit.get("creator") or [""])[0], (lit.get("collection") or [""])[0]]

    def dimensions(r):
        out = []
        for key in ("height", "width", "depth"):
            values = r.get("literals", {}).get(key) or []
            x = float(values[0]) if values else float("nan")
            out += [math.log1p(max(x, 0.0)) if x == x else 0.0, 0.0 if x == x else 1.0]
        return out

    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=2)
    X = sparse.hstack([words.fit_transform([text(r) for r in train]), onehot.fit_transform([categories(r) for r in train]),
                       sparse.csr_matrix(np.array([dimensions(r) for r in train]))]).tocsr()
    Xt = sparse.hstack([words.transform([text(r) for r in test]), onehot.transform([categories(r) for r in test]),
                        sparse.csr_matrix(np.array([dimensions(r) for r in test]))]).tocsr()
    out: dict[str, dict[str, str]] = {}
    rng = np.random.default_rng(seed)
    for task in TASKS:
        rows = [i for i, r in enumerate(train) if r["labels"].get(task)]
        y = np.array([train[i]["labels"][task] for i in rows])
        # C and class weights by 3-fold cross-validation on (at most 20,000 of) the training objects
        sample = np.sort(rng.choice(len(rows), min(len(rows), 20_000), replace=False))
        best, best_score = None, -1.0
        for C in (1.0, 10.0):
            for weight in (None, "balanced"):
                scores = []
                folds = StratifiedKFold(3, shuffle=True, random_state=seed)
                for fit, check in folds.split(np.zeros(len(sample)), y[sample]):
                    model = LogisticRegression(C=C, class_weight=weight, max_iter=500)
                    model.fit(X[[rows[i] for i in sample[fit]]], y[sample[fit]])
                    scores.append(f1_score(y[sample[check]], model.predict(X[[rows[i] for i in sample[check]]]),
                                           average="macro"))
                if np.mean(scores) > best_score:
                    best, best_score = (C, weight), float(np.mean(scores))
        model = LogisticRegression(C=best[0], class_weight=best[1], max_iter=500).fit(X[rows], y)
        predicted = model.predict(Xt)
        out[task] = {r["iri"]: str(p) for r, p in zip(test, predicted)}
        out[task + ":choice"] = {"C": best[0], "class_weight": best[1], "cv_macro_f1": round(best_score, 4)}
    return out


def score(truth: dict, predicted: dict[str, str], task: str, kept: set) -> dict:
    from sklearn.metrics import f1_score

    rows = [iri for iri, (t, g) in truth.items() if t == task and g in kept]
    y = [truth[iri][1] for iri in rows]
    p = [predicted.get(iri, "(none)") for iri in rows]
    return {"objects": len(rows), "macro_f1": round(float(f1_score(y, p, labels=sorted(kept), average="macro")), 4),
            "accuracy": round(float(np.mean([a == b for a, b in zip(y, p)])) if rows else 0.0, 4),
            "coverage": round(sum(1 for iri in rows if iri in predicted) / max(1, len(rows)), 4)}


def text_speed(records_file: Path, n: int = 2000) -> dict:
    """The default offline text encoder's throughput on the collection's own texts (unique, in order)."""
    from kgenrich.models.text import OFFLINE_MODEL, embed_frozen

    texts = []
    seen = set()
    for line in records_file.open(encoding="utf-8"):
        for t in json.loads(line)["texts"]:
            if t["text"] not in seen:
                seen.add(t["text"])
                texts.append(t["text"])
        if len(texts) >= n:
            break
    embed_frozen(OFFLINE_MODEL, texts[:64])  # load the encoder first
    started = time.perf_counter()
    embed_frozen(OFFLINE_MODEL, texts[64:n])
    seconds = time.perf_counter() - started
    return {"encoder": OFFLINE_MODEL, "texts": len(texts[64:n]), "texts_per_second": round(len(texts[64:n]) / seconds, 1),
            "unique_texts_in_collection": len(seen) if len(texts) < n else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "linked-art")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--min-train", type=int, default=100)
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--loaded-store", type=Path,
                        help="copy this store (the data file already loaded) instead of loading the file again")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"data file not found: {args.data}", file=sys.stderr)
        return 2
    work = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    store, models = work / "store", work / "models"
    figures: dict = {"data": str(args.data), "seed": args.seed, "holdout": args.holdout, "cpus": os.cpu_count()}

    if args.loaded_store:
        shutil.copytree(args.loaded_store, store)
        figures["load"] = {"seconds": None, "peak_mb": None, "copied_from": str(args.loaded_store)}
    else:
        _, wall, peak = run(["--store", str(store), "load", str(args.data)], work)
        figures["load"] = {"seconds": round(wall, 1), "peak_mb": round(peak), "load_average": load_average()}
    truth = hide(store, args.holdout, args.seed)
    figures["held_out"] = dict(Counter(t for t, _ in truth.values()))

    result, wall, peak = run(["--store", str(store), "--models-dir", str(models), "sync", "--json", "--quiet"], work)
    report = json.loads(result.stdout)
    figures["first_sync"] = {"seconds": round(wall, 1), "peak_mb": round(peak), "load_average": load_average(),
                             "stages": report.get("stages"), "profile": report.get("profile"),
                             "profile_reason": report.get("profile_reason"), "predictions": report.get("predictions"),
                             "inactive": report.get("inactive")}
    result, wall, _ = run(["--store", str(store), "--models-dir", str(models), "sync", "--json", "--quiet"], work)
    again = json.loads(result.stdout)
    figures["no_change_sync"] = {"seconds": round(wall, 1), "wrote": again.get("wrote"),
                                 "share_of_first": round(wall / figures["first_sync"]["seconds"], 4)}

    card = json.loads((models / "ensemble.json").read_text(encoding="utf-8"))
    # everything is compared as group ids: a type's IRI is its group's concept
    ids = {t: {g["concept"]: g["id"] for g in card["tasks"][t]["groups"]} for t in TASKS if t in card["tasks"]}
    truth = {iri: (t, ids.get(t, {}).get(v, v)) for iri, (t, v) in truth.items()}
    supports = {t: {g["id"]: g["support"] for g in card["tasks"][t]["groups"]} for t in TASKS if t in card["tasks"]}
    kept = {t: {g for g, n in supports.get(t, {}).items() if n >= args.min_train} for t in TASKS}
    predicted = {iri: (ids.get(truth[iri][0], {}).get(v, v), c) for iri, (v, c) in predictions_of(store, truth).items()}
    records = work / "records.jsonl"
    run(["--store", str(store), "dataset", "--out", str(records), "--json"], work)
    base = baseline(records, truth, args.seed)
    figures["tasks"] = {}
    for task in TASKS:
        figures["tasks"][task] = {
            "groups_scored": sorted(kept[task]),
            "kgenrich": score(truth, {i: g for i, (g, _) in predicted.items()}, task, kept[task]),
            "baseline": score(truth, base[task], task, kept[task]),
            "baseline_choice": base[task + ":choice"],
            "modalities_out_of_fold": {m: round(card["scores"][m][task]["macro_f1"], 4)
                                       for m in card["modalities"] + ["fusion"] if task in card["scores"].get(m, {})},
        }
    figures["text_encoder"] = text_speed(records)
    print(f"{'task':<10}{'objects':>8}  {'kgenrich macro-F1':>18}  {'coverage':>9}  {'baseline macro-F1':>18}")
    for task, f in figures["tasks"].items():
        print(f"{task:<10}{f['kgenrich']['objects']:>8}  {f['kgenrich']['macro_f1']:>18.4f}  "
              f"{f['kgenrich']['coverage']:>9.1%}  {f['baseline']['macro_f1']:>18.4f}")
    first = figures["first_sync"]
    print(f"load {figures['load']['seconds']} s ({figures['load']['peak_mb']} MB); first sync {first['seconds']} s "
          f"({first['peak_mb']} MB, load average {first['load_average']}); no-change sync "
          f"{figures['no_change_sync']['seconds']} s ({figures['no_change_sync']['share_of_first']:.1%} of the first); "
          f"text encoder {figures['text_encoder']['texts_per_second']} texts/s")
    print(f"profile: {first['profile']} ({first['profile_reason']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
