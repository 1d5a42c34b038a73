"""Calibration, the macro-F1 decision rule and precision targets on the real SILKNOW data (issue 11).

    python bench/bench_calibration.py tune [--only NAME]   # choose the tabular defaults: 5-fold CV on train only
    python bench/bench_calibration.py dev [--seeds 0 1 2]  # train on silknow-train, score silknow-dev once per seed
    python bench/bench_calibration.py dev --config before  # the same with the models as they were before issue 11

tune  the tabular model alone, for each configuration of a small grid, cross-validated
      (5 folds) on the labelled artifacts of kg/silknow-train -- dev is never read: per
      task the out-of-fold macro-F1 of argmax, of the decision rule (calibrated, offsets
      tuned out of fold, as training does) and the calibrated log-loss.
dev   tabular + fusion trained on silknow-train (3-fold cross-fitting, as `kgenrich
      train`), every dev artifact scored on each task it has with that value hidden:
      macro-F1 of tabular and of the written predictions (fusion, calibrated, decision
      rule), ECE / Brier / log-loss of the written confidence calibrated and uncalibrated
      (and the ECE that sampling alone would give a perfectly calibrated model on these
      rows), and with min_precision = 0.9 the precision and coverage measured on dev.
      "--config before" trains the models as they were before calibration (tabular:
      200 rounds of 31 leaves, balanced weights, group features only; no calibration,
      argmax): the same protocol, for comparison.

Needs ../shared/data/silknow.  Tables to stdout, everything to bench/out/bench_calibration_*.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

# bench/ is on sys.path when this script runs (python bench/bench_calibration.py)
from bench_models import SILKNOW, SILKNOW_TABULAR, VOCABULARIES, extract_all, settings_with, store_of, table

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = ROOT / "bench" / "out"
TASKS = ("material", "technique", "place", "time")
TARGETS = {"material": 0.60, "technique": 0.72, "place": 0.50, "time": 0.62}

# The tabular model before issue 11 (LGB_DEFAULTS, no early stopping, balanced weights, groups only).
BEFORE_TABULAR = {"num_boost_round": 200, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 5,
                  "lambda_l2": 1.0, "class_weight_power": 1.0, "early_stopping_rounds": 0, "concepts": False}
REGULARISED = {"learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 20, "lambda_l2": 5.0}
STRONG = {"learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 40, "lambda_l2": 10.0}
EARLY = {"num_boost_round": 1000, "early_stopping_rounds": 30}
# tune: every configuration tried, in order (the count is reported with the results)
GRID = {
    "before (31 leaves, 200 rounds, w^1)": BEFORE_TABULAR,
    "31 leaves, early stop, w^1": {**BEFORE_TABULAR, **EARLY},
    "15 leaves reg, early stop, w^1": {**REGULARISED, **EARLY, "class_weight_power": 1.0, "concepts": False},
    "15 leaves reg, early stop, w^0.5": {**REGULARISED, **EARLY, "class_weight_power": 0.5, "concepts": False},
    "15 leaves reg, early stop, w^0": {**REGULARISED, **EARLY, "class_weight_power": 0.0, "concepts": False},
    "7 leaves strong reg, early stop, w^0.5": {**STRONG, **EARLY, "class_weight_power": 0.5, "concepts": False},
    "15 leaves reg, early stop, w^0.5, concepts always": {**REGULARISED, **EARLY, "class_weight_power": 0.5,
                                                           "concepts": True},
    "15 leaves reg, early stop, w^0.5, concepts auto": {**REGULARISED, **EARLY, "class_weight_power": 0.5,
                                                         "concepts": "auto"},
}


def load(split: str, labels=None):
    s = settings_with({}, 1)
    store = store_of([SILKNOW / v for v in VOCABULARIES] + [SILKNOW / f"kg/silknow-{split}.trig.gz"])
    _, labels, records = extract_all(store, s, labels)
    return labels, records


def tune(threads: int, only: str = "") -> dict:
    import numpy as np

    from kgenrich.calibration import fit_task, macro_f1
    from kgenrich.metrics import log_loss
    from kgenrich.models.base import encode_targets
    from kgenrich.models.tabular import TabularModel
    from kgenrich.training import make_folds, usable_groups

    labels, train = load("train")
    groups, _ = usable_groups(labels)
    groups = {t: g for t, g in groups.items() if t in TASKS}
    kept = [r for r in train if any(r.labels.get(t) is not None for t in groups)]
    folds = make_folds(kept, groups, 5, 0)
    fold = np.zeros(len(kept), dtype=int)
    for f, (_, va) in enumerate(folds):
        fold[va] = f
    targets = encode_targets(kept, groups)
    results, rows = {}, []
    for name, params in GRID.items():
        if only not in name:
            continue
        t0 = time.perf_counter()
        oof = {t: np.zeros((len(kept), len(g))) for t, g in groups.items()}
        for tr, va in folds:
            model = TabularModel(groups, {**params, "n_jobs": threads, "seed": 0}).fit([kept[i] for i in tr])
            pred = model.predict([kept[i] for i in va])
            for t in groups:
                oof[t][va] = pred[t]
        res = {}
        for t, ids in groups.items():
            y = targets[t]
            on = y >= 0
            fit = fit_task(oof[t][on], y[on], fold[on], ids)
            res[t] = {"argmax": macro_f1(y[on], oof[t][on].argmax(1), len(ids)),
                      "decision": macro_f1(y[on], fit.oof_pred, len(ids)),
                      "log_loss_calibrated": log_loss(fit.oof_probs, y[on])}
        results[name] = {"params": params, "tasks": res, "seconds": round(time.perf_counter() - t0, 1)}
        rows.append([name] + [f"{res[t]['argmax']:.3f} / {res[t]['decision']:.3f} / {res[t]['log_loss_calibrated']:.3f}"
                              for t in groups]
                    + [f"{statistics.mean(res[t]['decision'] for t in groups):.4f}", f"{time.perf_counter() - t0:.0f}"])
        print(f"  {name}: done", flush=True)
    print(f"\ntabular alone, 5-fold CV on silknow-train ({len(kept)} labelled artifacts), {len(rows)} of the "
          f"{len(GRID)} configurations; "
          "per task: macro-F1 argmax / macro-F1 decision rule (calibrated, offsets tuned out of fold) / "
          "calibrated log-loss")
    print(table(rows, ["configuration"] + list(groups) + ["mean decision F1", "s"]))
    return results


def dev_run(config: str, seed: int, train, dev, labels, threads: int) -> dict:
    from kgenrich.evaluation import score_ensemble
    from kgenrich.training import train_ensemble

    models = {"modalities": ["tabular"], "folds": 3, "seed": seed}
    if config == "before":
        models.update({"tabular": dict(BEFORE_TABULAR), "calibration": "none", "decision": "argmax"})
    s = settings_with(models, threads)
    s.seed = seed
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ens = train_ensemble(train, labels, s, Path(tmp) / "m", progress=False)
        train_s = time.perf_counter() - t0
        report = score_ensemble(ens, dev, precision_targets={t: [0.9] for t in ens.groups})
    report["train_seconds"] = train_s
    report["card"] = {"calibration": ens.card.get("calibration"), "scores": ens.card["scores"],
                      "descriptions": ens.card["descriptions"], "timings": ens.card["timings"]}
    return report


def ece_floor(rel: dict) -> float:
    """The ECE a perfectly calibrated model would still show on these rows, from sampling alone:
    per bin the expected |accuracy - confidence| of n Bernoulli draws at the bin's confidence
    (half-normal: sqrt(2/pi) * sd), weighted like ECE.  An approximation from the bins."""
    n = sum(rel["count"])
    return sum(c / n * math.sqrt(2 / math.pi) * math.sqrt(m * (1 - m) / c)
               for c, m in zip(rel["count"], rel["confidence"]) if c)


def spread(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def dev(config: str, seeds: list[int], threads: int) -> dict:
    labels, train = load("train")
    _, dev_records = load("dev", labels)
    runs = {}
    for seed in seeds:
        print(f"  {config}, seed {seed} ...", flush=True)
        runs[seed] = dev_run(config, seed, train, dev_records, labels, threads)
    tasks = [t for t in TASKS if t in runs[seeds[0]]["tasks"]]
    get = lambda t, *path: [_dig(runs[s]["tasks"][t], path) for s in seeds]  # noqa: E731
    rows = []
    for t in tasks:
        rows.append([t, runs[seeds[0]]["tasks"][t]["fusion"]["support"], spread(get(t, "tabular", "macro_f1")),
                     spread(get(t, "fusion", "macro_f1")), f"{TARGETS[t]:.2f}", f"{SILKNOW_TABULAR[t]:.2f}",
                     spread(get(t, "fusion", "ece")),
                     spread([ece_floor(r) for r in get(t, "fusion", "reliability")]),
                     spread(get(t, "fusion", "uncalibrated", "ece")),
                     spread(get(t, "fusion", "brier")), spread(get(t, "fusion", "uncalibrated", "brier")),
                     spread(get(t, "fusion", "log_loss")), spread(get(t, "fusion", "uncalibrated", "log_loss"))])
    print(f"\nSILKNOW train ({len(train)}) -> dev ({len(dev_records)}), one value hidden per artifact and task; "
          f"config '{config}', seeds {seeds}: mean (min-max). Written F1: fusion's decisions; ECE: of the "
          "written confidence; ECE floor: what sampling alone gives a perfectly calibrated model on these rows")
    print(table(rows, ["task", "support", "tabular F1", "written F1", "target", "SILKNOW tab", "ECE",
                       "ECE floor", "ECE uncal",
                       "Brier", "Brier uncal", "log-loss", "log-loss uncal"]))
    prow = []
    for t in tasks:
        prow.append([t, spread(get(t, "fusion", "min_precision", "0.9", "threshold")),
                     spread(get(t, "fusion", "min_precision", "0.9", "expected_precision")),
                     spread(get(t, "fusion", "min_precision", "0.9", "precision")),
                     spread(get(t, "fusion", "min_precision", "0.9", "expected_coverage")),
                     spread(get(t, "fusion", "min_precision", "0.9", "coverage"))])
    print("\nmin_precision = 0.9: threshold from the out-of-fold curve, precision and coverage expected (OOF) "
          "and measured on dev")
    print(table(prow, ["task", "threshold", "OOF precision", "dev precision", "OOF coverage", "dev coverage"]))
    rules = {t: [runs[s]["card"]["calibration"][t]["calibration"]["method"] + "/"
                 + runs[s]["card"]["calibration"][t]["decision"]["rule"] for s in seeds]
             for t in tasks} if runs[seeds[0]]["card"]["calibration"] else {}
    print("calibration/decision chosen per seed: " + "; ".join(f"{t} {', '.join(v)}" for t, v in rules.items()))
    print("train seconds per seed: " + ", ".join(f"{runs[s]['train_seconds']:.0f}" for s in seeds))
    return {str(s): r for s, r in runs.items()}


def _dig(d, path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["tune", "dev"])
    ap.add_argument("--config", choices=["current", "before"], default="current")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="tune: the configurations whose name contains this")
    args = ap.parse_args()
    if not (SILKNOW / "kg" / "silknow-train.trig.gz").is_file():
        print(f"skipped: SILKNOW data not found at {SILKNOW}")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part == "tune":
        result = tune(args.threads, args.only)
        path = OUT / f"bench_calibration_tune{'_' + args.only.replace(' ', '_') if args.only else ''}.json"
    else:
        result = dev(args.config, args.seeds, args.threads)
        path = OUT / f"bench_calibration_dev_{args.config}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
