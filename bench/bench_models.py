"""Benchmarks of the models (issue 4).

    .venv/bin/python bench/bench_models.py [silknow] [demo] [text] [--size 3000] [--threads 2]

silknow  tabular (and fusion over tabular) trained on kg/silknow-train, scored on
         kg/silknow-dev with one value hidden per artifact and task, against
         SILKNOW's own tabular classifier (macro-F1).  Needs ../shared/data/silknow.
demo     the demo collection with demo_model_settings(): per task and modality
         macro-F1 on a held-out 20%, training time and inference throughput per
         modality on this machine's CPU.
text     the offline text encoders compared on the demo's descriptions
         (text-only heads, same split): e5, use, xlmr (small, from config).
Results go to stdout as tables and to bench/out/*.json.
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

SILKNOW = ROOT.parent / "shared" / "data" / "silknow"
VOCABULARIES = ["vocabularies/silknow-thesaurus.ttl", "vocabularies/aat-centuries.ttl",
                "vocabularies/silknow-dates-extension.ttl", "vocabularies/geonames-subset.ttl"]
SILKNOW_TABULAR = {"material": 0.53, "place": 0.22, "technique": 0.61, "time": 0.53}
SILKNOW_FUSED = {"material": 0.67, "place": 0.58, "technique": 0.70, "time": 0.63}
OUT = ROOT / "bench" / "out"


def settings_with(models: dict, threads: int):
    from kgenrich.config import load_settings

    s = load_settings(environ={}, cwd=Path(tempfile.gettempdir()))
    s.sections = {"models": {**models, "threads": threads, "n_jobs": threads}}
    s.device = "cpu"
    return s


def store_of(files):
    from kgenrich.store.embedded import EmbeddedStore

    store = EmbeddedStore(None)
    for f in files:
        store.load_file(Path(f))
    return store


def extract_all(store, settings, labels=None):
    """(tasks, label groups, labelled records) of a store; with ``labels`` given (e.g. the training
    collection's), the records are labelled with those groups instead of their own."""
    from kgenrich.dataset import assign_labels
    from kgenrich.pipeline import load_inputs

    inputs = load_inputs(store, settings, progress=False)
    if labels is None:
        return inputs.tasks, inputs.labels, inputs.records
    assign_labels(inputs.records, labels, inputs.value_groups)
    return inputs.tasks, labels, inputs.records


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def bench_silknow(threads: int) -> dict:
    if not (SILKNOW / "kg" / "silknow-train.trig.gz").is_file():
        print(f"silknow: skipped, data not found at {SILKNOW}")
        return {}
    from kgenrich.evaluation import score_ensemble
    from kgenrich.training import train_ensemble

    s = settings_with({"modalities": ["tabular"], "folds": 3}, threads)
    t0 = time.perf_counter()
    _, labels, train = extract_all(store_of([SILKNOW / v for v in VOCABULARIES] + [SILKNOW / "kg/silknow-train.trig.gz"]), s)
    _, _, dev = extract_all(store_of([SILKNOW / v for v in VOCABULARIES] + [SILKNOW / "kg/silknow-dev.trig.gz"]), s, labels)
    t_extract = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ens = train_ensemble(train, labels, s, Path(tmp) / "m", progress=False)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        ens.models["tabular"].predict(dev)
        t_pred = time.perf_counter() - t0
        report = score_ensemble(ens, dev)
    rows = []
    for task, entry in report["tasks"].items():
        ref = SILKNOW_TABULAR.get(task)
        tab, fus = entry["tabular"], entry["fusion"]
        rows.append([task, tab["support"], f"{tab['macro_f1']:.3f}", f"{fus['macro_f1']:.3f}",
                     f"{tab['accuracy']:.3f}", "-" if ref is None else f"{ref:.2f}",
                     "-" if ref is None else ("yes" if tab["macro_f1"] >= ref else "NO"),
                     "-" if task not in SILKNOW_FUSED else f"{SILKNOW_FUSED[task]:.2f}"])
    print(f"\nSILKNOW train ({len(train)} artifacts) -> dev ({len(dev)} artifacts), one value hidden per artifact and task")
    print(table(rows, ["task", "support", "tabular macro-F1", "fusion(tab) macro-F1", "accuracy",
                       "SILKNOW tabular", ">= ref", "SILKNOW all-fused"]))
    print(f"extract {t_extract:.1f}s, train (3-fold cross-fit + final + fusion) {t_train:.1f}s, "
          f"tabular inference {len(dev) / t_pred:.0f} artifacts/s ({threads} threads)")
    return {"report": report, "extract_s": t_extract, "train_s": t_train, "tabular_artifacts_per_s": len(dev) / t_pred}


def demo_records(size: int, workdir: Path, threads: int):
    from kgenrich.demo.generator import generate

    col = generate(workdir / "demo", size=size, seed=0, progress=False)
    s = settings_with({}, threads)
    return extract_all(store_of(col.rdf_files), s)


def bench_demo(size: int, threads: int, workdir: Path) -> dict:
    import torch

    from kgenrich.evaluation import holdout_split, score_ensemble
    from kgenrich.models.image import clear_feature_cache
    from kgenrich.models.text import clear_embedding_cache
    from kgenrich.training import demo_model_settings, train_ensemble

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    _, labels, records = demo_records(size, workdir, threads)
    print(f"\ndemo: {len(records)} artifacts generated and extracted in {time.perf_counter() - t0:.1f}s")
    s = settings_with(demo_model_settings(), threads)
    train, test = holdout_split(records, labels, 0.2, 0)
    t0 = time.perf_counter()
    ens = train_ensemble(train, labels, s, workdir / "models", progress=False)
    t_train = time.perf_counter() - t0
    # cold inference throughput: clear the per-process caches first
    clear_feature_cache()
    clear_embedding_cache()
    speed = {}
    for m, model in ens.models.items():
        t0 = time.perf_counter()
        model.predict(test)
        speed[m] = len(test) / (time.perf_counter() - t0)
    report = score_ensemble(ens, test)
    mods = ["image", "text", "tabular", "fusion"]
    rows = []
    for task, entry in report["tasks"].items():
        # like for like: each single modality against fusion on the rows that modality covers
        wins = all((entry[m]["fusion_macro_f1_same_rows"] or 0) > (entry[m]["macro_f1"] or 0)
                   for m in mods[:3] if m in entry)
        cells = [f"{entry[m]['macro_f1']:.3f} ({entry[m]['fusion_macro_f1_same_rows']:.3f}, {entry[m]['coverage']:.0%})"
                 if m in entry else "-" for m in mods[:3]]
        rows.append([task] + cells + [f"{entry['fusion']['macro_f1']:.3f}", entry["fusion"]["support"],
                                      "yes" if wins else "no"])
    print(f"demo holdout: train {len(train)}, test {len(test)} artifacts. macro-F1 of each modality on the "
          "artifacts it covers (fusion on the same rows, coverage); fusion on all")
    print(table(rows, ["task"] + mods + ["support", "fused > each single"]))
    timings = ens.card["timings"]
    trows = [[m, f"{t.get('cross_fit_seconds', 0) + t.get('final_fit_seconds', t.get('fit_seconds', 0)):.1f}",
              f"{speed[m]:.0f}" if m in speed else "-"] for m, t in timings.items()]
    print(table(trows, ["modality", "train s (folds + final)", "inference artifacts/s (cold)"]))
    print(f"total training {t_train:.1f}s on {threads} CPU threads; notes: {'; '.join(ens.card['notes']) or 'none'}")
    return {"report": report, "train_s": t_train, "timings": timings, "artifacts_per_s": speed,
            "records": records, "labels": labels, "split": (train, test)}


def bench_text(threads: int, workdir: Path, data: dict | None, size: int) -> dict:
    import numpy as np
    import torch

    from kgenrich.evaluation import holdout_split, scores
    from kgenrich.models.base import encode_targets
    from kgenrich.models.text import TextModel
    from kgenrich.training import usable_groups

    torch.set_num_threads(threads)
    if data is None:
        _, labels, records = demo_records(size, workdir, threads)
        train, test = holdout_split(records, labels, 0.2, 0)
    else:
        labels, (train, test) = data["labels"], data["split"]
    groups, _ = usable_groups(labels)
    configs = {
        "e5 (frozen, heads)": {"model": "e5", "epochs": 40, "batch_size": 64, "lr": 2e-3, "hidden": 256},
        "use (frozen, heads)": {"model": "use", "epochs": 40, "batch_size": 64, "lr": 2e-3, "hidden": 256},
        # model_id None: built from the keys below (TextModel's default is the real-collection checkpoint)
        "xlmr small from config": {"model": "xlmr", "model_id": None, "epochs": 8, "batch_size": 32, "lr": 1e-3, "max_length": 128,
                                   "xlmr_layers": 2, "xlmr_hidden": 128, "xlmr_heads": 4, "vocab_size": 4000},
    }
    results, rows = {}, []
    targets = encode_targets(test, groups)
    for name, params in configs.items():
        model = TextModel(groups, {**params, "threads": threads, "device": "cpu", "seed": 0})
        t0 = time.perf_counter()
        model.fit(train)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        p = model.predict(test)
        t_pred = time.perf_counter() - t0
        res = {}
        for task, ids in groups.items():
            ok = (targets[task] >= 0) & ~np.isnan(p[task]).any(1)
            res[task] = scores(np.array(ids)[targets[task][ok]], np.array(ids)[p[task][ok].argmax(1)], ids)["macro_f1"]
        results[name] = {"macro_f1": res, "fit_s": t_fit, "predict_artifacts_per_s": len(test) / t_pred}
        rows.append([name] + [f"{res[t]:.3f}" for t in groups] + [f"{np.mean(list(res.values())):.3f}",
                                                                   f"{t_fit:.0f}", f"{len(test) / t_pred:.0f}"])
    print("\ntext encoders on the demo descriptions (text-only, macro-F1 on the held-out artifacts with text)")
    print(table(rows, ["encoder"] + list(groups) + ["mean", "fit s", "predict art/s"]))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["silknow", "demo", "text"])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kgenrich-bench-") as tmp:
        work = Path(tmp)
        if "silknow" in args.parts:
            results["silknow"] = bench_silknow(args.threads)
        demo = None
        if "demo" in args.parts:
            demo = bench_demo(args.size, args.threads, work)
            results["demo"] = {k: v for k, v in demo.items() if k not in ("records", "labels", "split")}
        if "text" in args.parts:
            results["text"] = bench_text(args.threads, work, demo, args.size)
    (OUT / "bench_models.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {OUT / 'bench_models.json'}")


if __name__ == "__main__":
    main()
