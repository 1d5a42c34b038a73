"""Cross-fitting: every modality's out-of-fold (OOF) probabilities, and the stacker's.

The labelled records are split into ``folds`` folds; every modality is trained on all folds but
one and predicts the held-out fold, so that each record gets an out-of-fold probability from a
model that never saw it.  Fusion trains on those OOF probabilities -- exactly what it will see for
a new artifact -- and the final modality models are then trained on all records.  Fusion's own
score comes from a second cross-fit on the OOF table with the same folds.

A finished fold or modality is saved in the run's resumption state (models_dir.TrainingProgress)
and reused by a resumed run; running fits keep checkpoints there.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError
from .metrics import oof_scores
from .model_settings import model_params
from .models import create
from .models.base import ModalityModel, Stacker
from .models_dir import TrainingProgress
from .records import ArtifactRecord
from .task_types import TaskLabels

if TYPE_CHECKING:
    from .config import Settings


def usable_groups(labels: dict[str, TaskLabels]) -> tuple[dict[str, list[str]], list[str]]:
    """task -> its group ids, for the tasks a classifier can learn (two groups or more), and notes on the rest."""
    groups, notes = {}, []
    for task, tl in labels.items():
        if len(tl.group_ids) < 2:
            notes.append(f"task {task}: {len(tl.group_ids)} group(s) with enough support; "
                         "a classifier needs at least two, task skipped")
            continue
        groups[task] = list(tl.group_ids)
        small = [g.id for g in tl.groups if g.support == 1]
        if small:
            notes.append(f"task {task}: group(s) with a single example ({', '.join(small[:5])}); "
                         "they are learnt but cannot be scored reliably")
    return groups, notes


def fingerprint(records: Sequence[ArtifactRecord], groups: dict[str, list[str]]) -> str:
    """A digest of everything training reads, so a changed graph is detectable."""
    h = hashlib.sha256()
    h.update(json.dumps(groups, sort_keys=True).encode())
    for r in sorted(records, key=lambda r: r.iri):
        h.update(json.dumps([r.iri, r.museum, sorted(r.texts), sorted(r.images),
                             {t: r.labels.get(t) for t in sorted(groups)},
                             {t: sorted(r.values.get(t, [])) for t in sorted(groups)}],
                            ensure_ascii=False).encode())
    return h.hexdigest()


def strata(records: Sequence[ArtifactRecord], groups: dict[str, list[str]], min_count: int) -> list[str]:
    """A stratification key per record: all its labels, coarsened until each key has min_count rows."""
    from collections import Counter

    tasks = sorted(groups, key=lambda t: sum(r.labels.get(t) is not None for r in records))
    full = ["|".join(f"{t}={r.labels.get(t)}" for t in tasks) for r in records]
    counts = Counter(full)
    keys = []
    for r, key in zip(records, full):
        if counts[key] < min_count:
            # the rarest-labelled task first: it is the one a bad split hurts most
            key = next((f"{t}={r.labels[t]}" for t in tasks if r.labels.get(t) is not None), "none")
        keys.append(key)
    counts = Counter(keys)
    return [k if counts[k] >= min_count else "rare" for k in keys]


def make_folds(records, groups, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train rows, held-out rows) splits, stratified by :func:`strata` where it can be."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(records)
    idx = np.arange(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            keys = strata(records, groups, k)
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, keys))
        except ValueError:
            return list(KFold(k, shuffle=True, random_state=seed).split(idx))


def empty_probs(groups: dict[str, list[str]], n: int) -> dict[str, np.ndarray]:
    """task -> (n, k) of NaN: no probability yet (a row a modality cannot predict stays NaN)."""
    return {t: np.full((n, len(g)), np.nan) for t, g in groups.items()}


def create_modality(name: str, groups, params, settings) -> ModalityModel:
    """Model ``name`` of the registry, which must be a modality model (``[models] modalities``)."""
    model = create(name, groups, params, settings)
    if not isinstance(model, ModalityModel):
        raise ModelError(f"models.modalities: '{name}' is a {type(model).__name__}, not a modality model"
                         + (" (set it as models.stacker)" if isinstance(model, Stacker) else ""))
    return model


def create_stacker(name: str, groups, params, settings) -> Stacker:
    """Model ``name`` of the registry, which must be a stacker (``[models] stacker``)."""
    model = create(name, groups, params, settings)
    if not isinstance(model, Stacker):
        raise ModelError(f"models.stacker: '{name}' is a {type(model).__name__}, not a stacker")
    return model


@dataclass
class CrossFitRun:
    """What every fit of one training run shares."""

    labelled: list[ArtifactRecord]  # the records with a label of a trained task: the rows of every table
    groups: dict[str, list[str]]  # task -> group ids (the columns of its probabilities)
    folds: list[tuple[np.ndarray, np.ndarray]]  # (train rows, held-out rows)
    cfg: dict[str, Any]  # model_settings.model_config
    settings: Settings
    progress: bool  # progress bars
    state: TrainingProgress  # the resumption state in <models_dir>.partial (the leader's)
    reused: set[str]  # the steps an interrupted run finished (TrainingProgress.done_steps)
    staging: Path  # where this process writes the models (the leader: <models_dir>.partial)


@dataclass
class ModalityFits:
    """What cross-fitting the modalities gives: per trained modality, its OOF table, timings, description."""

    oof: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # modality -> task -> (n, k)
    timings: dict[str, dict] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


def crossfit_modalities(run: CrossFitRun, notes: list[str]) -> ModalityFits:
    """Cross-fit every ``[models] modalities`` model and fit its final model on all rows, saved in
    ``run.staging``; a modality no labelled record has, or whose final fit fails, is left out (noted)."""
    fits = ModalityFits()
    for name in run.cfg["modalities"]:
        params = model_params(run.cfg, name, run.settings)
        probe = create_modality(name, run.groups, params, run.settings)
        available = probe.available(run.labelled)
        if not available.any():
            notes.append(f"{name}: no labelled artifact has this modality; skipped")
            continue
        if f"{name}/done.json" in run.reused:
            _reuse_modality(run, name, fits, notes)
            continue
        _fit_modality(run, name, params, int(available.sum()), fits, notes)
    return fits


def _reuse_modality(run: CrossFitRun, name: str, fits: ModalityFits, notes: list[str]) -> None:
    """A modality an interrupted run finished: its saved fold predictions, description and timings."""
    done = run.state.load_done(name)
    fits.oof[name] = {t: np.full((len(run.labelled), len(g)), np.nan) for t, g in run.groups.items()}
    for f in range(len(run.folds)):
        fold_pred, _ = run.state.load_fold(name, f, run.groups)
        for t in run.groups:
            if fold_pred is not None:
                fits.oof[name][t][run.folds[f][1]] = fold_pred[t]
    fits.descriptions[name], fits.timings[name] = done["description"], done["timings"]
    notes.extend(done["notes"])


def _fit_modality(run: CrossFitRun, name: str, params: dict[str, Any], available: int, fits: ModalityFits,
                  notes: list[str]) -> None:
    """Cross-fit modality ``name``, then fit its final model on all rows and save it."""
    t0 = time.perf_counter()
    pred, modality_notes = _fold_predictions(run, name, params)
    t1 = time.perf_counter()
    try:
        final = create_modality(name, run.groups, params, run.settings)
        final.checkpoint_dir = run.state.checkpoint_dir(name, "final")
        final.fit(run.labelled, progress=run.progress)
    except ModelError as exc:
        notes.extend(modality_notes)
        notes.append(f"{name}: {exc}; modality left out")
        return
    t2 = time.perf_counter()
    final.info["oof_scores"] = oof_scores(run.labelled, run.groups, pred)
    final.save(run.staging / name)
    fits.oof[name] = pred
    fits.descriptions[name] = final.describe()
    fits.timings[name] = {"cross_fit_seconds": round(t1 - t0, 2), "final_fit_seconds": round(t2 - t1, 2),
                          "artifacts_with_modality": available}
    if final.info.get("choice"):
        modality_notes.append(f"{name}: {final.info['choice']}")
    if hasattr(final, "source") and final.source.skipped:
        modality_notes.append(f"{name}: {final.source.report()}")
    notes.extend(modality_notes)
    run.state.save_done(name, {"description": fits.descriptions[name], "timings": fits.timings[name],
                               "notes": modality_notes})


def _fold_predictions(run: CrossFitRun, name: str,
                      params: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Modality ``name``'s out-of-fold probabilities (a fold whose fit failed stays NaN, noted)."""
    from tqdm.auto import tqdm

    pred = empty_probs(run.groups, len(run.labelled))
    notes: list[str] = []
    for f, (tr, va) in enumerate(tqdm(run.folds, desc=f"{name} cross-fit", disable=not run.progress,
                                      leave=False)):
        fold_pred, note = _fold(run, name, params, f, tr, va)
        if note:
            notes.append(note)
        if fold_pred is not None:
            for t in run.groups:
                pred[t][va] = fold_pred[t]
    return pred, notes


def _fold(run: CrossFitRun, name: str, params: dict[str, Any], f: int, tr: np.ndarray,
          va: np.ndarray) -> tuple[dict | None, str]:
    """Fold ``f``: a model trained on rows ``tr`` predicts rows ``va`` (saved, or reused when an
    interrupted run finished it); a failed fit gives no predictions and a note."""
    if f"{name}/fold-{f + 1}.npz" in run.reused:
        return run.state.load_fold(name, f, run.groups)
    fold_pred, note = None, ""
    try:
        model = create_modality(name, run.groups, params, run.settings)
        model.checkpoint_dir = run.state.checkpoint_dir(name, f"fold{f + 1}")
        model.fit([run.labelled[i] for i in tr], progress=run.progress)
    except ModelError as exc:
        note = f"{name}, fold {f + 1}: {exc}"
    else:
        fold_pred = model.predict([run.labelled[i] for i in va])
    run.state.save_fold(name, f, run.groups, fold_pred, note, va)
    return fold_pred, note


def crossfit_stacker(run: CrossFitRun, oof: dict[str, dict[str, np.ndarray]]
                     ) -> tuple[Stacker, dict[str, np.ndarray], float]:
    """The stacker (``[models] stacker``) fitted on the modalities' OOF table, its own out-of-fold
    probabilities (cross-fitted over that table with the same folds) and the seconds both took."""
    name, labelled, groups = run.cfg["stacker"], run.labelled, run.groups
    params = model_params(run.cfg, name, run.settings)
    fused_oof = empty_probs(groups, len(labelled))
    t0 = time.perf_counter()
    for tr, va in run.folds:
        sub = {m: {t: p[tr] for t, p in pm.items()} for m, pm in oof.items()}
        fm = create_stacker(name, groups, params, run.settings).fit([labelled[i] for i in tr], sub)
        pv = fm.predict([labelled[i] for i in va], {m: {t: p[va] for t, p in pm.items()} for m, pm in oof.items()})
        for t in groups:
            fused_oof[t][va] = pv[t]
    fusion = create_stacker(name, groups, params, run.settings).fit(labelled, oof)
    return fusion, fused_oof, time.perf_counter() - t0
