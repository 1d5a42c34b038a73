"""Classification metrics: macro-F1 (the SILKNOW paper's metric), micro-F1,
accuracy, support and the confusion matrix; and the scores of out-of-fold
probabilities that training writes into the model cards.

Below both training.py (which scores while it trains) and evaluation.py
(which scores held-out artifacts), so that neither needs the other for them.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from .models.base import encode_targets
from .records import ArtifactRecord


def scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
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


def summary(s: dict) -> dict:
    """The headline numbers of ``scores`` (no confusion matrix), as the model cards keep them."""
    return {k: s[k] for k in ("macro_f1", "micro_f1", "accuracy", "support")}


def oof_scores(records: Sequence[ArtifactRecord], groups: dict[str, list[str]], probs: dict[str, np.ndarray],
               fused: Optional[dict[str, np.ndarray]] = None) -> dict:
    """Scores of one modality's out-of-fold probabilities, per task.

    A modality is scored on the labelled rows where it has a prediction (image
    and text: the artifacts with a readable image / a text); ``coverage`` is
    that share of the task's labelled rows.  With ``fused`` (fusion's own
    out-of-fold probabilities) each entry also carries ``fusion_same_rows``:
    fusion scored on exactly those rows -- the like-for-like comparison.
    """
    targets = encode_targets(records, groups)
    out = {}
    for task, ids in groups.items():
        p = probs[task]
        labelled = targets[task] >= 0
        rows = labelled & ~np.isnan(p).any(axis=1)
        if rows.any():
            ids_arr = np.array(ids)
            truth = ids_arr[targets[task][rows]]
            entry = summary(scores(truth, ids_arr[p[rows].argmax(1)], ids))
            entry["coverage"] = round(float(rows.sum() / labelled.sum()), 4)
            if fused is not None and fused is not probs:
                entry["fusion_same_rows"] = summary(scores(truth, ids_arr[fused[task][rows].argmax(1)], ids))
            out[task] = entry
    return out
