"""Classification metrics: macro-F1 (the SILKNOW paper's metric), micro-F1,
accuracy, support and the confusion matrix; calibration metrics (expected
calibration error, Brier score, log-loss, reliability bins); and the scores of
out-of-fold probabilities that training writes into the model cards.

Below both training.py (which scores while it trains) and evaluation.py
(which scores held-out artifacts), so that neither needs the other for them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .models.base import encode_targets
from .records import ArtifactRecord


def scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1 over the groups present in truth or prediction (as scikit-learn does), micro-F1,
    accuracy, support, and the confusion matrix over all ``labels``."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    y_true, y_pred = list(y_true), list(y_pred)
    if not y_true:
        return {"macro_f1": None, "micro_f1": None, "accuracy": None, "support": 0,
                "confusion": [], "labels": list(labels)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "support": len(y_true),
            "confusion": confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
            "labels": list(labels),
        }


def summary(s: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of ``scores`` (no confusion matrix), as the model cards keep them."""
    return {k: s[k] for k in ("macro_f1", "micro_f1", "accuracy", "support") + CALIBRATION_KEYS if k in s}


ECE_BINS = 15
CALIBRATION_KEYS = ("ece", "brier", "log_loss")
LOG_LOSS_EPS = 1e-6  # probabilities clipped here, as the calibrators do


def _chosen(p: np.ndarray, chosen: np.ndarray | None) -> np.ndarray:
    return np.asarray(p).argmax(axis=1) if chosen is None else np.asarray(chosen)


def reliability(p: np.ndarray, y: np.ndarray, chosen: np.ndarray | None = None, bins: int = ECE_BINS) -> dict[str, Any]:
    """Equal-width bins of the confidence of the chosen group (top-1 by default): per bin the
    number of rows, their mean confidence and their accuracy (None for an empty bin)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y)
    pick = _chosen(p, chosen)
    conf = p[np.arange(len(y)), pick] if len(y) else np.zeros(0)
    correct = pick == y
    # bin i holds [i/bins, (i+1)/bins), the last one includes 1.0
    which = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    hit_sum = np.bincount(which, weights=correct.astype(float), minlength=bins)

    def mean(total: np.ndarray) -> list[float | None]:
        return [round(float(t / c), 6) if c else None for t, c in zip(total, count)]

    return {"bins": bins, "count": count.tolist(), "confidence": mean(conf_sum), "accuracy": mean(hit_sum)}


def ece(p: np.ndarray, y: np.ndarray, chosen: np.ndarray | None = None, bins: int = ECE_BINS) -> float | None:
    """Expected calibration error of the chosen group's confidence: sum over equal-width bins of
    (rows in bin / rows) * |accuracy - mean confidence|."""
    r = reliability(p, y, chosen, bins)
    n = sum(r["count"])
    if not n:
        return None
    return float(sum(c * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"]) if c) / n)


def brier(p: np.ndarray, y: np.ndarray) -> float | None:
    """Multiclass Brier score: mean over rows of the squared distance to the one-hot truth (0 best, 2 worst)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y)
    if not len(y):
        return None
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(((p - onehot) ** 2).sum(axis=1)))


def log_loss(p: np.ndarray, y: np.ndarray) -> float | None:
    """Mean negative log-probability of the true group (probabilities clipped at 1e-6)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y)
    if not len(y):
        return None
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], LOG_LOSS_EPS, 1.0))))


def calibration_scores(p: np.ndarray, y: np.ndarray, chosen: np.ndarray | None = None) -> dict[str, float | None]:
    """``ece`` (of the chosen group's confidence, top-1 by default), ``brier`` and ``log_loss``."""
    return {"ece": ece(p, y, chosen), "brier": brier(p, y), "log_loss": log_loss(p, y)}


def oof_scores(records: Sequence[ArtifactRecord], groups: dict[str, list[str]], probs: dict[str, np.ndarray],
               fused: dict[str, np.ndarray] | None = None, *, calibrated: dict[str, np.ndarray] | None = None,
               decisions: dict[str, np.ndarray] | None = None,
               fused_decisions: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Scores of one modality's out-of-fold probabilities, per task.

    A modality is scored on the labelled rows where it has a prediction (image
    and text: the artifacts with a readable image / a text); ``coverage`` is
    that share of the task's labelled rows.  With ``fused`` (fusion's own
    out-of-fold probabilities, or ``fused_decisions``: its out-of-fold choices)
    each entry also carries ``fusion_same_rows``: fusion scored on exactly those
    rows -- the like-for-like comparison.

    ``decisions`` (task -> chosen group index per row, default argmax of ``probs``)
    are what macro-F1, micro-F1 and accuracy score; ``calibrated`` (default
    ``probs``) are the probabilities that ``ece``, ``brier`` and ``log_loss``
    describe (ECE of the probability of the group in ``decisions``, else of the top-1).  When ``calibrated`` is
    given, ``uncalibrated`` holds the same three for ``probs`` and argmax.
    """
    targets = encode_targets(records, groups)
    out = {}
    for task, ids in groups.items():
        p = probs[task]
        labelled = targets[task] >= 0
        rows = labelled & ~np.isnan(p).any(axis=1)
        if rows.any():
            ids_arr = np.array(ids)
            y = targets[task][rows]
            truth = ids_arr[y]
            pick = decisions[task][rows] if decisions is not None else p[rows].argmax(1)
            entry = summary(scores(truth, ids_arr[pick], ids))
            q = calibrated[task][rows] if calibrated is not None else p[rows]
            # a stacker's written choice, else the top-1 of the probabilities as shown
            entry.update(calibration_scores(q, y, pick if decisions is not None else None))
            if calibrated is not None:
                entry["uncalibrated"] = calibration_scores(p[rows], y)
            entry["coverage"] = round(float(rows.sum() / labelled.sum()), 4)
            if fused_decisions is not None:
                entry["fusion_same_rows"] = summary(scores(truth, ids_arr[fused_decisions[task][rows]], ids))
            elif fused is not None and fused is not probs:
                entry["fusion_same_rows"] = summary(scores(truth, ids_arr[fused[task][rows].argmax(1)], ids))
            out[task] = entry
    return out
