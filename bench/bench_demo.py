"""The demo end to end, timed: generate, load, extract, train with demo settings.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_demo.py [--size 3000] [--seed 0 1] [--threads 2]

For each seed: generates the demo collection (``kgenrich.demo.generator``), loads
it into an in-memory embedded store, extracts the dataset, trains the ensemble
with ``demo_model_settings()`` and prints, per task, the out-of-fold macro-F1 of
each modality on the artifacts that have it beside fusion's on the *same rows*
(the model card's ``scores[m][task]["fusion_same_rows"]``), fusion on all rows,
and whether fusion beats every single modality like for like.  Then the time of
each stage with the machine's load average (other jobs may share the CPUs).
Results also go to bench/out/demo-seed<N>.json.

``--dump DIR`` pickles the labelled records, groups, folds and out-of-fold
modality probabilities, so fusion variants can be studied without retraining.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = ROOT / "bench" / "out"
TASK_ORDER = ("material", "technique", "place", "time", "depiction")
SINGLES = ("image", "text", "tabular")


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run(size: int, seed: int, threads: int, workdir: Path, dump: Path | None) -> dict:
    import torch

    from kgenrich.config import load_settings
    from kgenrich.demo.generator import generate
    from kgenrich.models.image import clear_feature_cache
    from kgenrich.models.text import clear_embedding_cache
    from kgenrich.pipeline import load_inputs
    from kgenrich.store.embedded import EmbeddedStore
    from kgenrich.training import demo_model_settings, train_ensemble

    torch.set_num_threads(threads)
    clear_feature_cache()  # every seed pays its own feature extraction, as a fresh demo would
    clear_embedding_cache()
    stages, loads = {}, {}
    t0 = time.perf_counter()
    col = generate(workdir / f"demo-{seed}", size=size, seed=seed, progress=False)
    stages["generate"], loads["generate"] = time.perf_counter() - t0, load_avg()

    t0 = time.perf_counter()
    store = EmbeddedStore(None)
    for f in col.rdf_files:
        store.load_file(Path(f))
    settings = load_settings(environ={}, cwd=Path(tempfile.gettempdir()))
    inputs = load_inputs(store, settings, progress=False)
    labels, records = inputs.labels, inputs.records
    stages["load + extract"], loads["load + extract"] = time.perf_counter() - t0, load_avg()

    settings.sections = {"models": {**demo_model_settings(), "threads": threads, "n_jobs": threads}}
    settings.device = "cpu"
    settings.seed = seed
    captured = {}
    if dump is not None:
        from kgenrich.models import fusion as fusion_mod

        original = fusion_mod.FusionModel.fit

        def spy(self, recs, inputs, progress=False):
            captured["records"], captured["inputs"] = list(recs), inputs
            return original(self, recs, inputs, progress)

        fusion_mod.FusionModel.fit = spy
    t0 = time.perf_counter()
    ens = train_ensemble(records, labels, settings, workdir / f"models-{seed}", progress=False)
    stages["train"], loads["train"] = time.perf_counter() - t0, load_avg()
    if dump is not None:
        import pickle

        fusion_mod.FusionModel.fit = original
        dump.mkdir(parents=True, exist_ok=True)
        with open(dump / f"oof-seed{seed}.pkl", "wb") as fh:
            pickle.dump({"records": captured["records"], "inputs": captured["inputs"], "groups": ens.groups,
                         "seed": seed}, fh)

    t0 = time.perf_counter()
    clear_feature_cache()
    clear_embedding_cache()
    probs = ens.predict(records)  # cold: what `sync` pays to predict the gaps
    stages["predict (all, cold)"], loads["predict (all, cold)"] = time.perf_counter() - t0, load_avg()
    assert all(p.shape[0] == len(records) for p in probs.values())

    card = ens.card
    sc = card["scores"]
    print(f"\nseed {seed}: {len(records)} artifacts, {card['training_data']['labelled']} labelled, "
          f"{card['training_data']['folds']}-fold out-of-fold scores (the demo table)")
    print("macro-F1 of each modality on the artifacts that have it | fusion on the same rows (coverage)")
    header = ["task"] + list(SINGLES) + ["fusion (all)", "support", "margin", "fused > each"]
    rows = []
    result = {"seed": seed, "tasks": {}}
    for task in [t for t in TASK_ORDER if t in sc.get("fusion", {})] + \
                [t for t in sc.get("fusion", {}) if t not in TASK_ORDER]:
        cells, margins = [], []
        for m in SINGLES:
            s = sc.get(m, {}).get(task)
            if not s:
                cells.append("-")
                continue
            fs = s["fusion_same_rows"]["macro_f1"]
            cells.append(f"{s['macro_f1']:.3f} | {fs:.3f} ({s['coverage']:.0%})")
            margins.append(fs - s["macro_f1"])
        margin = min(margins) if margins else float("nan")
        f = sc["fusion"][task]
        rows.append([task] + cells + [f"{f['macro_f1']:.3f}", str(f["support"]), f"{margin:+.3f}",
                                      "yes" if margin > 0 else "NO"])
        result["tasks"][task] = {m: sc[m][task] for m in sc if task in sc[m]}
        result["tasks"][task]["min_margin"] = margin
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    total = sum(stages.values())
    print("stage times (s) [load average 1/5/15 min at the end of the stage]:")
    for k, v in stages.items():
        print(f"  {k:22s} {v:7.1f}   [{loads[k]}]")
    for m, t in card["timings"].items():
        print(f"    train {m:14s} " + ", ".join(f"{a} {b}" for a, b in t.items()))
    print(f"  {'total':22s} {total:7.1f}  on {threads} threads, {os.cpu_count()} CPUs")
    result.update(stages={k: round(v, 1) for k, v in stages.items()}, loads=loads, timings=card["timings"],
                  total_seconds=round(total, 1), notes=card["notes"])
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", type=Path, default=None)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kgenrich-bench-demo-") as tmp:
        for seed in args.seed:
            res = run(args.size, seed, args.threads, Path(tmp), args.dump)
            (OUT / f"demo-seed{seed}.json").write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
