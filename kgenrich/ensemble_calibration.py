"""The calibration a training run fits on its out-of-fold tables: per task, fusion's calibrator,
decision rule and precision curve, and each modality's calibrator (the fitting itself: calibration.py).

Fitted with the cross-fitting folds, so the calibrated out-of-fold probabilities it gives back are
themselves out of fold -- what the model card's scores are computed from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .calibration import TaskCalibration, fit_task
from .config import ModelsSettings
from .models.base import encode_targets
from .records import ArtifactRecord


@dataclass
class Calibration:
    """What ``calibrate`` fits on the out-of-fold tables (see calibration.py)."""

    fusion: dict[str, TaskCalibration]  # task -> calibrator, decision offsets, precision curve
    modalities: dict[str, dict[str, TaskCalibration]]  # modality -> task -> calibrator only
    fused_oof: dict[str, np.ndarray]  # calibrated, out of fold (calibrators cross-fitted)
    fused_pred: dict[str, np.ndarray]  # the decision rule's choices, out of fold
    modality_oof: dict[str, dict[str, np.ndarray]]
    summary: dict  # task -> calibration / decision / precision_targets, for the cards


def calibrate(labelled: Sequence[ArtifactRecord], groups: dict[str, list[str]], oof: dict[str, dict[str, np.ndarray]],
              fused_oof: dict[str, np.ndarray], folds, models: ModelsSettings,
              min_precision: float | dict[str, float] | None) -> Calibration:
    """Per task: fusion's calibrator, decision rule and precision curve, and each modality's
    calibrator, all fitted on out-of-fold probabilities with the cross-fitting folds
    (``[models] calibration`` / ``decision``); the precision curve's targets: ``[sync] min_precision``."""
    method, decision, wanted = models.calibration, models.decision, min_precision
    fold = np.zeros(len(labelled), dtype=np.int64)
    for f, (_, va) in enumerate(folds):
        fold[va] = f
    targets = encode_targets(labelled, groups)
    out = Calibration({}, {m: {} for m in oof}, {}, {}, {m: {} for m in oof}, {})
    for task, ids in groups.items():
        y = targets[task]
        rows = y >= 0
        task_targets = [wanted.get(task)] if isinstance(wanted, dict) else [wanted]
        fit = fit_task(fused_oof[task][rows], y[rows], fold[rows], ids, method, decision,
                       [t for t in task_targets if t is not None])
        out.fusion[task] = fit.saved
        out.summary[task] = fit.summary
        out.fused_oof[task] = fused_oof[task].copy()
        out.fused_oof[task][rows] = fit.oof_probs
        out.fused_pred[task] = fused_oof[task].argmax(axis=1)
        out.fused_pred[task][rows] = fit.oof_pred
        for m, per_task in oof.items():
            p = per_task[task]
            has = rows & ~np.isnan(p).any(axis=1)
            out.modality_oof[m][task] = p.copy()
            if has.sum() < 2:
                out.modalities[m][task] = TaskCalibration()
                continue
            choice = fit_task(p[has], y[has], fold[has], ids, method, "argmax")
            out.modalities[m][task] = TaskCalibration(choice.saved.calibrator)
            out.modality_oof[m][task][has] = choice.oof_probs
    return out
