"""Honest evaluation: train on some artifacts, score the others on hidden values.

Protocol (the same as prediction time): for every test artifact and every task
it has a kept label for, that one value is hidden -- the label and the asserted
values of the task are removed -- and the artifact is predicted with
everything else it has (its images, texts, museum and its *other* tasks'
labels, which the tabular and fusion models read).  A modality model that says
it reads no labels (``reads_labels = False``: image, text) gets the same input
either way, so its probabilities are computed once per artifact; every other
one, and the stacker, predicts the hidden-value copies task by task.

Each modality is scored on the test artifacts that have it (as in the SILKNOW
paper, every classifier on its own test set; ``coverage`` says which share
that is); fusion is scored on all.  Metrics: macro-F1 (the paper's primary
metric, over the groups present in truth or prediction, as scikit-learn does),
micro-F1, accuracy, support, and the confusion matrix over all the task's groups.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from .errors import ModelError
from .metrics import calibration_scores, reliability, scores
from .records import ArtifactRecord
from .task_types import TaskLabels

if TYPE_CHECKING:
    from .config import Settings
    from .training import Ensemble

def hide(record: ArtifactRecord, task: str) -> ArtifactRecord:
    """A copy of the record as it would look with the task's value unknown (label, values and
    their broader concepts removed)."""
    r = copy.copy(record)
    r.labels = {**record.labels, task: None}
    r.values = {**record.values, task: []}
    r.ancestors = {t: a for t, a in record.ancestors.items() if t != task}
    return r


def _entry(truth_idx: np.ndarray, ids: Sequence[str], pick: np.ndarray, shown: np.ndarray,
           shown_pick: np.ndarray | None, raw: np.ndarray) -> dict:
    """Scores of one modality (or fusion) on some rows: ``pick`` decides (F1, accuracy ...),
    ``shown`` are the probabilities as published (ECE of ``shown_pick``, default their top-1;
    Brier, log-loss), ``raw`` the same before calibration."""
    ids_arr = np.array(ids)
    s = scores(ids_arr[truth_idx], ids_arr[pick] if len(pick) else [], ids)
    if len(truth_idx):
        s.update(calibration_scores(shown, truth_idx, shown_pick))
        s["reliability"] = reliability(shown, truth_idx, shown_pick)
        s["uncalibrated"] = {"macro_f1": scores(ids_arr[truth_idx], ids_arr[raw.argmax(1)], ids)["macro_f1"],
                             **calibration_scores(raw, truth_idx),
                             "reliability": reliability(raw, truth_idx)}
    else:
        s.update({"ece": None, "brier": None, "log_loss": None})
    return s


def _index_scores(truth: np.ndarray, pred: np.ndarray, k: int) -> dict:
    """``metrics.scores`` of group indices 0..k-1 (it scores any labels; its annotation names ids)."""
    return scores(cast(Sequence[str], truth), cast(Sequence[str], pred), cast(Sequence[str], range(k)))


def score_ensemble(ensemble: Ensemble, test: Sequence[ArtifactRecord], progress: bool = False,
                   precision_targets: dict[str, list[float]] | None = None) -> dict:
    """Per task and modality scores of a trained ensemble on test records (hidden-value protocol).

    Fusion is scored as published: its decision rule's choices (macro-F1 ...)
    and the calibrated probability of the chosen value (``ece``, of that value;
    ``brier`` and ``log_loss`` of the calibrated distribution); ``macro_f1_argmax``
    is the argmax of the calibrated probabilities and ``uncalibrated`` the raw
    fused ones.  A modality's macro-F1 is its own argmax; its ``ece``, ``brier``
    and ``log_loss`` describe its calibrated probabilities (as the review page
    shows them), ``uncalibrated`` the raw ones.  With ``precision_targets``
    (task -> targets, e.g. [0.9]) fusion's entry also has ``min_precision``: per
    target the threshold from the models' out-of-fold curve, the precision and
    coverage they expect, and the precision and coverage measured here.
    """
    test = list(test)
    groups = ensemble.groups
    report: dict = {"tasks": {}}
    # a model that reads no labels sees the same input with or without the hidden value: one pass
    label_free = {m: model.predict(test, progress=progress) for m, model in ensemble.models.items()
                  if not model.reads_labels}
    for task, ids in groups.items():
        rows = [i for i, r in enumerate(test) if r.labels.get(task) in set(ids)]
        if not rows:
            continue
        hidden = [hide(test[i], task) for i in rows]
        inputs = {m: ({t: p[rows] for t, p in label_free[m].items()} if m in label_free else model.predict(hidden))
                  for m, model in ensemble.models.items()}
        raw_fused = ensemble.fuse(hidden, inputs, calibrated=False)[task]
        fused = ensemble.calibrate({task: raw_fused})[task]
        chosen = ensemble.decide(task, fused)
        index = {g: i for i, g in enumerate(ids)}
        truth = np.array([index[label] for label in (test[i].labels[task] for i in rows) if label is not None])
        entry = {}
        for m in ensemble.modalities:
            p = inputs[m][task]
            shown = ensemble.calibrate({task: p}, m)[task]
            ok = ~np.isnan(p).any(axis=1)
            s = _entry(truth[ok], ids, p[ok].argmax(1), shown[ok], None, p[ok])
            s["coverage"] = float(ok.mean())
            # fusion on exactly these rows: the like-for-like comparison with this modality
            s["fusion_macro_f1_same_rows"] = (_index_scores(truth[ok], chosen[ok], len(ids))["macro_f1"]
                                              if ok.any() else None)
            entry[m] = s
        s = _entry(truth, ids, chosen, fused, chosen, raw_fused)
        s["macro_f1_argmax"] = _index_scores(truth, fused.argmax(1), len(ids))["macro_f1"]
        s["coverage"] = 1.0
        decisions = ensemble.decisions
        targets = (precision_targets or {}).get(task, [])
        if targets and task in decisions:
            written = fused[np.arange(len(truth)), chosen]
            correct = chosen == truth
            s["min_precision"] = {}
            for target in targets:
                expected = decisions[task].threshold(target)
                keep = written >= (np.inf if expected["threshold"] is None else expected["threshold"])
                s["min_precision"][f"{target:g}"] = {
                    "threshold": expected["threshold"], "expected_precision": expected["precision"],
                    "expected_coverage": expected["coverage"],
                    "precision": float(correct[keep].mean()) if keep.any() else None,
                    "coverage": float(keep.mean()), "written": int(keep.sum())}
        entry["fusion"] = s
        report["tasks"][task] = entry
    return report


def precision_targets(settings: Settings | None, groups: Iterable[str], default: float = 0.9) -> dict[str, list[float]]:
    """task -> the precision targets to measure: 0.9 and the task's ``[sync] min_precision``."""
    wanted = settings.sync.min_precision if settings is not None else None
    out = {}
    for task in groups:
        own = wanted.get(task) if isinstance(wanted, dict) else wanted
        out[task] = sorted({default} | ({float(own)} if own is not None else set()))
    return out


def evaluate_split(train: Sequence[ArtifactRecord], test: Sequence[ArtifactRecord], labels: dict[str, TaskLabels],
                   settings, progress: bool = True, models_dir: Path | None = None) -> dict:
    from .training import train_ensemble

    if not test:
        raise ModelError("the test set is empty")
    with tempfile.TemporaryDirectory(prefix="kgenrich-eval-") as tmp:
        ens = train_ensemble(list(train), labels, settings, Path(models_dir or Path(tmp) / "models"), progress)
        assert ens is not None, "evaluation runs in one process (or the leader of a torchrun)"
        report = score_ensemble(ens, test, progress, precision_targets(settings, ens.groups))
    report["training"] = {"artifacts": len(train), "card_scores": ens.card["scores"], "notes": ens.card["notes"],
                          "timings": ens.card["timings"], "descriptions": ens.card["descriptions"]}
    report["test"] = {"artifacts": len(test)}
    return report


def holdout_split(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], test_size: float, seed: int):
    """Seeded split by artifact, stratified on the labels (coarsened where a combination is rare)."""
    from sklearn.model_selection import train_test_split

    from .training import strata, usable_groups

    groups, _ = usable_groups(labels)
    idx = np.arange(len(records))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            keys = strata(records, groups, 2)
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=keys)
        except ValueError:
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed)
    return [records[i] for i in sorted(tr)], [records[i] for i in sorted(te)]


def evaluate_holdout(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], settings,
                     test_size: float = 0.2, seed: int = 0, progress: bool = True) -> dict:
    if not 0 < test_size < 1:
        raise ModelError("test_size must be between 0 and 1")
    train, test = holdout_split(list(records), labels, test_size, seed)
    report = evaluate_split(train, test, labels, settings, progress)
    report["split"] = {"method": "holdout by artifact, stratified", "test_size": test_size, "seed": seed}
    return report


# -- reports ---------------------------------------------------------------------

def report_modalities(report: dict) -> list[str]:
    """The modalities of a report's tasks in the order they appear (the ensemble's), fusion last."""
    seen = dict.fromkeys(m for entry in report["tasks"].values() for m in entry if m != "fusion")
    has_fusion = any("fusion" in entry for entry in report["tasks"].values())
    return [*seen, *(["fusion"] if has_fusion else [])]


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown_table(report: dict) -> str:
    lines = ["| task | modality | macro-F1 | micro-F1 | accuracy | ECE | Brier | log-loss | ECE uncal. | support "
             "| coverage |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, entry in report["tasks"].items():
        for m, s in entry.items():
            lines.append(f"| {task} | {m} | {_fmt(s['macro_f1'])} | {_fmt(s['micro_f1'])} | {_fmt(s['accuracy'])} "
                         f"| {_fmt(s.get('ece'))} | {_fmt(s.get('brier'))} | {_fmt(s.get('log_loss'))} "
                         f"| {_fmt(s.get('uncalibrated', {}).get('ece'))} | {s['support']} "
                         f"| {s.get('coverage', 1.0):.0%} |")
    targets = [(task, t, v) for task, entry in report["tasks"].items()
               for t, v in entry.get("fusion", {}).get("min_precision", {}).items()]
    if targets:
        lines += ["", "| task | min_precision | threshold | expected precision | precision | expected coverage "
                  "| coverage |", "|---|---|---|---|---|---|---|"]
        for task, t, v in targets:
            lines.append(f"| {task} | {t} | {_fmt(v['threshold'])} | {_fmt(v['expected_precision'])} "
                         f"| {_fmt(v['precision'])} | {v['expected_coverage']:.0%} | {v['coverage']:.0%} |")
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def reliability_diagram(task: str, entry: dict, path: Path) -> None:
    """Accuracy against confidence per bin: fusion calibrated and uncalibrated, and each modality."""
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", label="perfect")
    curves = [(f"fusion (ECE {_fmt(entry['fusion'].get('ece'))})", entry["fusion"].get("reliability"), "-", 2.2)]
    raw = entry["fusion"].get("uncalibrated", {})
    curves.append((f"fusion uncalibrated ({_fmt(raw.get('ece'))})", raw.get("reliability"), "--", 1.4))
    curves += [(f"{m} ({_fmt(s.get('ece'))})", s.get("reliability"), "-", 1.0)
               for m, s in entry.items() if m != "fusion"]
    for label, rel, style, width in curves:
        if not rel:
            continue
        pts = [(c, a) for c, a in zip(rel["confidence"], rel["accuracy"]) if c is not None]
        if pts:
            ax.plot(*zip(*pts), ls=style, lw=width, marker="o", ms=3, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{task}: reliability (15 bins, confidence of the chosen value)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    rel = entry["fusion"].get("reliability")
    if rel:
        width = 1.0 / rel["bins"]
        hist.bar(np.arange(rel["bins"]) * width, rel["count"], width=width, align="edge", color="C0", alpha=0.6)
    hist.set_xlabel("confidence")
    hist.set_ylabel("fusion rows", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict, out_dir: Path) -> list[Path]:
    """report.json, report.md, f1_by_modality.png, one confusion PNG (fusion) and one
    reliability diagram per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "report.md"]
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    (out / "report.md").write_text("# kgenrich evaluation\n\n" + markdown_table(report))

    tasks = list(report["tasks"])
    if not tasks:
        return written
    # every modality the ensemble scored (a plugin's too), in the report's order; fusion last
    mods = report_modalities(report)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(tasks), 4))
    width = 0.8 / max(len(mods), 1)
    for j, m in enumerate(mods):
        vals = [(report["tasks"][t].get(m, {}).get("macro_f1") or 0.0) for t in tasks]
        ax.bar(np.arange(len(tasks)) + j * width, vals, width, label=m)
    ax.set_xticks(np.arange(len(tasks)) + width * (len(mods) - 1) / 2, tasks)
    ax.set_ylabel("macro-F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("macro-F1 per task and modality")
    fig.tight_layout()
    fig.savefig(out / "f1_by_modality.png", dpi=110)
    plt.close(fig)
    written.append(out / "f1_by_modality.png")

    for t in tasks:
        for m, s in report["tasks"][t].items():
            if m != "fusion" or not s["confusion"]:
                continue
            cm = np.array(s["confusion"], dtype=float)
            norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
            n = len(s["labels"])
            fig, ax = plt.subplots(figsize=(2 + 0.45 * n, 1.6 + 0.45 * n))
            ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(n), s["labels"], rotation=90, fontsize=7)
            ax.set_yticks(range(n), s["labels"], fontsize=7)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{t} ({m}), row-normalised", fontsize=9)
            fig.tight_layout()
            path = out / f"confusion_{_slug(t)}_{m}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
        if "fusion" in report["tasks"][t]:
            path = out / f"reliability_{_slug(t)}.png"
            reliability_diagram(t, report["tasks"][t], path)
            written.append(path)
    return written
