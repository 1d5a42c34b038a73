"""Training the ensemble: modality models + cross-fitted late fusion.

    ens = train_ensemble(records, labels, settings, models_dir)
    ens = Ensemble.load(models_dir)
    probs = ens.predict(records)   # task -> (n, k), rows sum to 1, columns = ens.groups[task]

Cross-fitting (crossfit.py): the labelled records are split into ``folds`` folds; every
modality is trained on all folds but one and predicts the held-out fold, so
that each record gets an out-of-fold (OOF) probability from a model that never
saw it.  Fusion trains on those OOF probabilities -- exactly what it will see
for a new artifact -- and the final modality models are then trained on all
records.  The scores in the model card are OOF scores too (fusion's through a
second cross-fit on the OOF table), so they estimate unseen-data quality.

Models are created by name through the registry (``kgenrich.models``): the
names in ``[models] modalities`` must be modality models, and ``[models]
stacker`` (default ``fusion``, LightGBM late fusion) a stacker; each reads its
parameters from the table of its name (``[models.fusion]`` ...; model_settings.py).

Where the parts live: model_settings.py ([models] as training reads it), crossfit.py (folds and
out-of-fold tables), ensemble_calibration.py (the calibration fitted on them), models_dir.py (the
models directory's layout, ownership markers, ``<models_dir>.partial`` staging and resumption) and
ensemble.py (the trained :class:`Ensemble`).  This module runs them in order, writes the ensemble's
card, and has the torchrun plumbing: under torchrun every rank trains (the torch fits
data-parallel) and rank 0 writes.
"""

from __future__ import annotations

import datetime as _dt
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .calibration import save_calibration
from .crossfit import (
    CrossFitRun,
    ModalityFits,
    crossfit_modalities,
    crossfit_stacker,
    fingerprint,
    make_folds,
    strata,
    usable_groups,
)
from .ensemble import Ensemble
from .ensemble_calibration import Calibration, calibrate
from .errors import ModelError
from .metrics import oof_scores
from .model_settings import demo_model_settings, model_config, model_params
from .models.base import FORMAT_VERSION, encode_targets, library_versions
from .models_dir import (
    ENSEMBLE_FILE,
    STACKER_DIR,
    TrainingProgress,
    check_models_dir,
    legacy_models_layout,
    open_staging,
    remove_models,
    remove_models_dir,
    run_key,
    swap_in,
)
from .records import ArtifactRecord
from .task_types import TaskLabels

if TYPE_CHECKING:
    from .config import Settings

# importable from here as before the split (commands, sync, the demo, bench and tests use them)
__all__ = ["ENSEMBLE_FILE", "STACKER_DIR", "Ensemble", "check_models_dir", "demo_model_settings",
           "distributed_command", "follow", "legacy_models_layout", "make_folds", "model_config",
           "model_params", "remove_models_dir", "strata", "train_ensemble", "usable_groups"]

SCORE_METHOD = ("out-of-fold ({k}-fold cross-fitting) on the training data; each modality on the "
                "labelled artifacts that have it (coverage), with fusion on the same rows "
                "(fusion_same_rows); fusion on all labelled artifacts. ece/brier/log_loss: of the "
                "calibrated probabilities, calibrators cross-fitted on the same folds (uncalibrated: "
                "before); fusion's macro-F1 and ECE: of its decision rule's choices, tuned out of fold")


def train_ensemble(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], settings: Settings,
                   models_dir: Path, progress: bool = True, resume: bool = False,
                   profile: dict | None = None) -> Ensemble | None:
    """Train every modality (cross-fitted) and the stacker into ``models_dir``.

    Everything is written into ``<models_dir>.partial`` and swapped in at the end,
    so an interrupted or failed run leaves ``models_dir`` as it was.  Long fits keep
    checkpoints there; ``resume=True`` continues an interrupted run on the same data
    and settings from its last checkpoint (finished folds and modalities are kept).

    Under torchrun the leader hands the arguments to the other ranks (which wait in
    :func:`follow`) and all train together; only the leader writes ``models_dir``,
    and only the leader gets the Ensemble back (the others get None).
    ``profile``: the collection profile the records were read with (profiles.Profile.describe()),
    recorded on the model card.
    """
    from .models import distributed

    d = distributed.setup()
    if d.world > 1 and not distributed.sharding_active():
        if d.leader:
            distributed.broadcast(("train", list(records), labels, settings, str(models_dir), resume))
        with distributed.collective():
            return _train_ensemble(records, labels, settings, Path(models_dir), progress and d.leader, resume,
                                   profile)
    return _train_ensemble(records, labels, settings, Path(models_dir), progress and d.leader, resume, profile)


def _train_ensemble(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], settings: Settings,
                    models_dir: Path, progress: bool, resume: bool,
                    profile: dict | None = None) -> Ensemble | None:
    from .models import distributed

    cfg = model_config(settings)
    _check_device(cfg, settings)
    groups, notes = _trainable_groups(labels)
    labelled = _labelled_records(records, groups, cfg["folds"])
    folds = make_folds(labelled, groups, cfg["folds"], settings.seed)
    models_dir = Path(models_dir)
    dist = distributed.info()
    leader = dist.leader
    if leader:
        check_models_dir(models_dir)  # before hours of training, not at the swap
    # the leader writes <models_dir>.partial; the other ranks train alongside, writing into a scratch
    # directory (their files equal the leader's), and read progress and checkpoints from the leader's
    work = models_dir.with_name(models_dir.name + ".partial")
    scratch = None if leader else tempfile.TemporaryDirectory(prefix="kgenrich-rank-")
    staging = work if scratch is None else Path(scratch.name)
    key = run_key(fingerprint(records, groups), cfg, settings.seed)
    reused = set(open_staging(work, key, resume, leader, notes))
    run = CrossFitRun(labelled, groups, folds, cfg, settings, progress, TrainingProgress(work, leader), reused,
                      staging)

    fits = crossfit_modalities(run, notes)
    if not fits.oof:
        if scratch is None:  # the leader
            remove_models(work, "an interrupted training run")
        else:
            scratch.cleanup()
        raise ModelError("no modality could be trained: " + "; ".join(notes))
    cal, scores = _fit_fusion(run, fits)
    card = _ensemble_card(records, labels, run, fits, cal, scores, notes, profile)
    card["distributed"] = dist.card()
    card["cpu_threads"] = _cpu_threads()
    (staging / ENSEMBLE_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str))
    if scratch is not None:  # another rank: the leader writes the models
        scratch.cleanup()
        return None
    swap_in(work, models_dir)
    return Ensemble.load(models_dir, settings)


def _check_device(cfg: dict[str, Any], settings: Settings) -> None:
    """An impossible device is the user's error for the whole run, not a per-model note."""
    from .models.torch_base import resolve_device

    image_device = model_params(cfg, "image", settings)["device"] if "image" in cfg else settings.models.device
    resolve_device(image_device or settings.device)


def _trainable_groups(labels: dict[str, TaskLabels]) -> tuple[dict[str, list[str]], list[str]]:
    groups, notes = usable_groups(labels)
    if not groups:
        raise ModelError("no task has two or more label groups with enough support; nothing to train "
                         + ("(" + "; ".join(notes) + ")" if notes else ""))
    return groups, notes


def _labelled_records(records: Sequence[ArtifactRecord], groups: dict[str, list[str]],
                      k: int) -> list[ArtifactRecord]:
    """The records with a label in a trained group: enough of them for ``k``-fold cross-fitting."""
    kept = {t: set(g) for t, g in groups.items()}
    labelled = [r for r in records if any(r.labels.get(t) in kept[t] for t in groups)]
    if len(labelled) < 2 * k:
        raise ModelError(f"only {len(labelled)} labelled artifacts; need at least {2 * k} for {k}-fold cross-fitting")
    return labelled


def _fit_fusion(run: CrossFitRun, fits: ModalityFits) -> tuple[Calibration, dict[str, dict]]:
    """Cross-fit and fit the stacker, fit the calibration, score everything out of fold, and save
    the stacker and the calibrators into ``run.staging``; fills fits.timings / descriptions."""
    labelled, groups, oof = run.labelled, run.groups, fits.oof
    fusion, fused_oof, seconds = crossfit_stacker(run, oof)
    fits.timings["fusion"] = {"fit_seconds": round(seconds, 2)}
    t0 = time.perf_counter()
    cal = calibrate(labelled, groups, oof, fused_oof, run.folds, run.settings.models,
                    run.settings.sync.min_precision)
    fits.timings["calibration"] = {"fit_seconds": round(time.perf_counter() - t0, 2)}
    scores = {m: oof_scores(labelled, groups, p, calibrated=cal.modality_oof[m], fused_decisions=cal.fused_pred)
              for m, p in oof.items()}
    scores["fusion"] = oof_scores(labelled, groups, fused_oof, calibrated=cal.fused_oof, decisions=cal.fused_pred)
    fusion.info["oof_scores"] = scores["fusion"]
    fusion.info["calibration"] = cal.summary
    fusion.save(run.staging / STACKER_DIR)
    save_calibration(run.staging / STACKER_DIR, cal.fusion)
    for m, per_task in cal.modalities.items():
        save_calibration(run.staging / m, per_task)
    fits.descriptions["fusion"] = fusion.describe()
    return cal, scores


def _ensemble_card(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], run: CrossFitRun,
                   fits: ModalityFits, cal: Calibration, scores: dict[str, dict], notes: list[str],
                   profile: dict | None) -> dict[str, Any]:
    """ensemble.json: what was trained on what, with which settings, how well (out of fold), how long
    (the caller adds how it ran: distributed, CPU threads)."""
    cfg, groups, settings, k = run.cfg, run.groups, run.settings, run.cfg["folds"]
    targets = encode_targets(run.labelled, groups)
    trained = [*fits.oof, cfg["stacker"]]
    return {
        "format_version": FORMAT_VERSION,
        "kgenrich_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "fingerprint": fingerprint(records, groups),
        # the collection profile the records were read with, and why it was chosen (profiles.py)
        "profile": profile,
        "tasks": {t: {"label": labels[t].task.label, "property": labels[t].task.property,
                      "groups": [{"id": g.id, "label": g.label, "concept": g.concept, "support": g.support}
                                 for g in labels[t].groups],
                      "training_labels": int((targets[t] >= 0).sum())} for t in groups},
        "groups": groups,
        "modalities": sorted(fits.oof),
        "training_data": {"artifacts": len(records), "labelled": len(run.labelled), "folds": k},
        "params": {**cfg, **{m: model_params(cfg, m, settings) for m in trained}},
        "descriptions": fits.descriptions,
        "scores": scores,
        "score_method": SCORE_METHOD.format(k=k),
        "calibration": cal.summary,
        "modality_calibration": {m: {t: c.calibrator.method for t, c in per_task.items()}
                                 for m, per_task in cal.modalities.items()},
        "timings": fits.timings,
        "notes": notes,
        "versions": library_versions(),
    }


def _cpu_threads() -> dict:
    """The CPU threads this training ran with, and why (threads.py chose them when the command started)."""
    import os
    import sys

    from . import threads

    out = {"openmp": os.environ.get("OMP_NUM_THREADS"), "wait_policy": threads.wait_policy()}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if threads.CHOSEN:
        out["why"] = threads.CHOSEN.get("why")
    return out


# ------------------------------------------------------------------ torchrun
def follow() -> None:
    """The other ranks of a torchrun: do the leader's collective work (train, predict) until it is done."""
    from .models import distributed

    while True:
        command = distributed.broadcast(None)
        if command[0] == "stop":
            return
        with distributed.collective():
            if command[0] == "train":
                _, records, labels, settings, models_dir, resume = command
                _train_ensemble(records, labels, settings, Path(models_dir), False, resume)
            elif command[0] == "predict":
                _, models_dir, settings, records = command
                Ensemble.load(Path(models_dir), settings).predict(records)


@contextmanager
def distributed_command() -> Iterator[bool]:
    """Around a command that may run under torchrun: yields True in the process that does the
    command's work (the only one without torchrun; the leader, rank 0, under it) -- the other ranks
    follow the leader's training and prediction and get False when it is done."""
    from .models import distributed

    d = distributed.setup()
    if d.world == 1:
        yield True
        return
    try:
        if not d.leader:
            follow()
            # Leave together: a rank that destroys its process group and exits while another still
            # has gloo work in flight can abort that one ("terminate called without an active
            # exception", seen once in CI).
            distributed.barrier()
            yield False
            return
        yield True
        # only when the leader finished: after an error torchrun stops the other ranks itself
        distributed.broadcast(("stop",))
        distributed.barrier()
    finally:
        distributed.teardown()
