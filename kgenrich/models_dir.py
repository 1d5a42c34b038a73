"""The models directory training writes: its layout, which directories are kgenrich's, and the
``<models_dir>.partial`` staging with the resumption state of an interrupted run.

Layout of a models directory::

    ensemble.json          the ensemble's card (version, fingerprint, tasks, scores ...)
    image/ text/ tabular/  one directory per modality: model.json + weights
    fusion/                the stacker: model.json + its files (LightGBM text files for fusion)

Training writes ``<models_dir>.partial`` (with its resumption state: finished folds under
``progress/``, checkpoints of running fits under ``checkpoints/``) and swaps it in whole at the end
(:func:`swap_in`); a resumed run reuses what the interrupted one finished if its run key
(:func:`run_key`: data, groups, settings) is the same.

Every directory training makes carries kgenrich's marker file (``owned.py``): the models
directory, ``.partial`` and ``.old`` (kind ``models``: they are renamed into one another)
and each checkpoint directory (kind ``checkpoint``).  Training renames or removes only
what carries the marker, is empty, or has the layout an older kgenrich wrote before
markers (:func:`legacy_models_layout`); anything else at those paths stops the run before
it trains, with one error line, and nothing is touched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from . import owned
from .errors import ModelError
from .models.base import CARD_FILE

ENSEMBLE_FILE = "ensemble.json"
STACKER_DIR = "fusion"  # the stacker's directory, whichever stacker it is (and its key in the card's scores)
# resumption state inside <models_dir>.partial (removed before the swap)
PROGRESS_FILE = "progress.json"
PROGRESS_DIR = "progress"
CHECKPOINTS_DIR = "checkpoints"
RUN_KEY_IGNORED = ("device", "threads", "n_jobs", "num_workers", "checkpoint_seconds")
# the marker kinds (owned.py): a models directory, its .partial and .old share one, as they are renamed
# into one another; a checkpoint directory inside .partial has its own
MODELS_KIND = "models"
CHECKPOINT_KIND = "checkpoint"
# files an older kgenrich (before markers) wrote at the top of a models directory: the ensemble card,
# sync's training state (sync.TRAINING_STATE) and, in .partial, the resumption marker
LEGACY_MODELS_FILES = (ENSEMBLE_FILE, "sync-training.json", PROGRESS_FILE)
LEGACY_CHECKPOINT_FILE = "fit.pt"


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def legacy_models_layout(directory: Path) -> bool:
    """A models directory (or its .partial / .old) written by a kgenrich older than the marker files.

    Recognised by what only kgenrich writes there and by nothing else being there: an ensemble
    card with ``format_version`` and ``kgenrich_version`` (a finished run) or a resumption file
    with the run's key (an interrupted one); beside it only sync's training state, the
    resumption directories, and model directories that each hold a model card with a
    ``format_version``.  One file of the user's in it and it is not recognised.
    """
    directory = Path(directory)
    card = _json_object(directory / ENSEMBLE_FILE) if (directory / ENSEMBLE_FILE).is_file() else None
    progress = _json_object(directory / PROGRESS_FILE) if (directory / PROGRESS_FILE).is_file() else None
    finished = card is not None and "format_version" in card and "kgenrich_version" in card
    interrupted = progress is not None and "key" in progress
    if not (finished or interrupted):
        return False
    for entry in directory.iterdir():
        if entry.is_symlink():
            return False
        if entry.is_file() and entry.name in LEGACY_MODELS_FILES:
            continue
        if entry.is_dir() and entry.name in (PROGRESS_DIR, CHECKPOINTS_DIR) and interrupted:
            continue
        model_card = entry / CARD_FILE
        if entry.is_dir() and model_card.is_file() and "format_version" in (_json_object(model_card) or {}):
            continue
        return False
    return True


def legacy_checkpoint_layout(directory: Path) -> bool:
    """A checkpoint directory of an older kgenrich: its checkpoint file (and a temporary one) only."""
    return all(entry.is_file() and not entry.is_symlink() and entry.name.startswith(
        (LEGACY_CHECKPOINT_FILE, f".{LEGACY_CHECKPOINT_FILE}.")) for entry in Path(directory).iterdir())


MODELS_ADVICE = ("give --models-dir (models_dir) a new or empty directory, or the directory of models kgenrich "
                 "trained; move your files elsewhere or remove them yourself")


def check_models_dir(models_dir: Path) -> None:
    """Refuse, before any work, a models directory (or its .partial / .old) that kgenrich did not make."""
    models_dir = Path(models_dir)
    for path, what in ((models_dir, "a models directory"),
                       (models_dir.with_name(models_dir.name + ".partial"), "an interrupted training run"),
                       (models_dir.with_name(models_dir.name + ".old"), "a previous models directory")):
        owned.check(path, (MODELS_KIND,), what, MODELS_ADVICE, legacy_models_layout)


def remove_models(path: Path, what: str) -> bool:
    """Remove ``path`` (``what`` names it in a refusal) if kgenrich made it; refuse anything else."""
    return owned.remove(path, (MODELS_KIND,), what, MODELS_ADVICE, legacy_models_layout)


def remove_models_dir(models_dir: Path) -> bool:
    """Remove a models directory that kgenrich made (True), nothing if absent (False); refuse anything else."""
    return remove_models(Path(models_dir), "a models directory")


def run_key(data_fingerprint: str, cfg: dict, seed: int) -> str:
    """What an interrupted run must share with its resumption: data (``data_fingerprint``: the
    digest of the records and groups, crossfit.fingerprint), settings (not the device), seed."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in sorted(value.items()) if k not in RUN_KEY_IGNORED}
        return value
    blob = json.dumps({"data": data_fingerprint, "models": strip(cfg), "seed": seed},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class TrainingProgress:
    """What an interrupted run has finished, in ``<models_dir>.partial``: fold predictions and
    finished modalities under ``progress/``, checkpoints of running fits under ``checkpoints/``.
    Only the leader writes; every rank reads."""

    def __init__(self, root: Path, leader: bool):
        self.root = root
        self.leader = leader

    def checkpoint_dir(self, name: str, step: str) -> Path:
        path = self.root / CHECKPOINTS_DIR / f"{name}-{step}"
        if self.leader and owned.kind_of(path) != CHECKPOINT_KIND and not path.exists():
            owned.mark(path, CHECKPOINT_KIND)
        return path

    def _drop_checkpoint(self, name: str, step: str) -> None:
        # inside our own .partial; still, only a directory we made (or an older kgenrich's) goes
        owned.remove_if_ours(self.root / CHECKPOINTS_DIR / f"{name}-{step}", (CHECKPOINT_KIND,),
                             legacy_checkpoint_layout)

    def _fold_file(self, name: str, f: int) -> Path:
        return self.root / PROGRESS_DIR / name / f"fold-{f + 1}.npz"

    def _done_file(self, name: str) -> Path:
        return self.root / PROGRESS_DIR / name / "done.json"

    def done_steps(self) -> list[str]:
        base = self.root / PROGRESS_DIR
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.is_dir() else []

    def save_fold(self, name: str, f: int, groups, pred: dict | None, note: str, rows: np.ndarray) -> None:
        if not self.leader:
            return
        arrays: dict[str, Any] = {"rows": rows, "note": np.array(note)}
        for i, t in enumerate(groups):
            if pred is not None:
                arrays[f"task{i}"] = pred[t]
        self._atomic(self._fold_file(name, f), lambda tmp: np.savez(tmp, **arrays))
        self._drop_checkpoint(name, f"fold{f + 1}")

    def load_fold(self, name: str, f: int, groups) -> tuple[dict | None, str]:
        with np.load(self._fold_file(name, f)) as z:
            note = str(z["note"])
            if "task0" not in z:
                return None, note
            return {t: z[f"task{i}"] for i, t in enumerate(groups)}, note

    def save_done(self, name: str, entry: dict) -> None:
        if not self.leader:
            return
        self._atomic(self._done_file(name), lambda tmp: Path(tmp).write_text(json.dumps(entry, default=str)))
        self._drop_checkpoint(name, "final")

    def load_done(self, name: str) -> dict:
        return json.loads(self._done_file(name).read_text())

    @staticmethod
    def _atomic(path: Path, write) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        write(tmp)
        tmp.replace(path)


def open_staging(staging: Path, key: str, resume: bool, leader: bool, notes: list[str]) -> list[str]:
    """Prepare ``<models_dir>.partial`` (leader) and return the finished steps every rank reuses."""
    from .models import distributed

    steps: list[str] = []
    if leader:
        marker = staging / PROGRESS_FILE
        old = None
        if resume and marker.is_file():
            try:
                old = json.loads(marker.read_text()).get("key")
            except ValueError:
                old = None
        if resume and old is not None and old != key:
            raise ModelError(f"{staging} holds an interrupted run on other data or settings; run "
                             "'kgenrich train' without --resume to start again")
        if resume and old == key:
            if owned.kind_of(staging) != MODELS_KIND:
                owned.mark(staging, MODELS_KIND)  # an older kgenrich's interrupted run, recognised by its layout
            steps = TrainingProgress(staging, True).done_steps()
            notes.append(f"resumed an interrupted run: {len(steps)} finished step(s) kept, running fits continue "
                         "from their last checkpoint")
        else:
            if resume:
                notes.append(f"nothing to resume in {staging}; trained from the start")
            remove_models(staging, "an interrupted training run")
            owned.mark(staging, MODELS_KIND)
            marker.write_text(json.dumps({"key": key}))
    return distributed.broadcast(steps) if distributed.sharding_active() else steps


def swap_in(staging: Path, models_dir: Path) -> None:
    """Replace ``models_dir`` by the finished ``staging`` (``<models_dir>.partial``), less its resumption state."""
    for leftover in (PROGRESS_DIR, CHECKPOINTS_DIR, PROGRESS_FILE):  # resumption state, not part of the models
        path = staging / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    # swap in the complete directory only now, so a failed run leaves the old models usable;
    # each rename and removal is checked again (a user may have put something there meanwhile)
    backup = models_dir.with_name(models_dir.name + ".old")
    remove_models(backup, "a previous models directory")
    if models_dir.exists() or models_dir.is_symlink():
        owned.check(models_dir, (MODELS_KIND,), "a models directory", MODELS_ADVICE, legacy_models_layout)
        models_dir.rename(backup)
    staging.rename(models_dir)
    remove_models(backup, "a previous models directory")
