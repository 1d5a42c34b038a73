"""``run_sync``: the phases of one sync, in order, with one exit."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import Settings
from ..store.base import Store
from .context import SyncRun, start_run
from .diff import Diff, diff_state, replaced_predictions
from .fastpath import FastPath, fast_path, keep_unchanged
from .models import EnsembleTrainer, Models, Trainer, ensure_models, prepare_models
from .predict import open_spool, predict_validate_spool, to_predict
from .report import SyncError, SyncReport
from .scan import Scan, read_definitions, scan_collection, training_records
from .spool import drop_spools
from .state import drop_staging
from .write import apply_write, count_changes, plan_write


def run_sync(store: Store, settings: Settings, retrain: bool = False, progress: bool = True, *,
             dry_run: bool = False, trainer: Trainer | None = None, shard: tuple[int, int] | None = None,
             run_id: str | None = None, on_staged: Callable[[], None] | None = None) -> SyncReport:
    """Bring the prediction graph up to date with the store (see the package docstring).

    ``dry_run``: predict and validate, write nothing -- not to the store, not to the models
    directory (models that would be trained are trained in a temporary directory and
    discarded), not to the report directory.

    ``shard=(k, n)`` with ``run_id``: predict only shard k of n of the changed artifacts and
    stage it into the run's staging graphs without swapping (the models must exist); the
    process that coordinates the shards then calls :func:`swap_shards` once.
    ``on_staged``: called when everything is validated and staged, just before the write.
    """
    with _scratch_dir(dry_run) as scratch_dir:
        run = start_run(store, settings, trainer or EnsembleTrainer(), retrain=retrain, progress=progress,
                        dry_run=dry_run, scratch_dir=scratch_dir, shard=shard, run_id=run_id)
        drop_leftovers(run)
        read_definitions(run)
        fast = fast_path(run)
        if not fast.unchanged:
            scan = scan_collection(run)
            models = train_or_load(run, scan)
            diff = diff_state(run, scan, models)
            if diff.nothing_changed:
                keep_unchanged(run, fast, models, diff)
            else:
                predict_and_write(run, fast, scan, models, diff, on_staged)
        run.report.seconds = time.perf_counter() - run.started_clock
    return run.report


@contextmanager
def _scratch_dir(dry_run: bool) -> Iterator[Path | None]:
    """A dry run's temporary directory (removed afterwards); None for a real run."""
    if not dry_run:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="kgenrich-dry-run-") as scratch:
        yield Path(scratch)


def drop_leftovers(run: SyncRun) -> None:
    """Drop what killed runs left: staging graphs and spool directories (a shard keeps its run's)."""
    if not run.dry_run:
        keep = run.run if run.shard is not None else ""
        run.report.staging_dropped = (drop_staging(run.store, run.graphs, keep_run=keep)
                                      + drop_spools(run.settings, keep_run=keep))


def train_or_load(run: SyncRun, scan: Scan) -> Models:
    """The models phase: trained when missing or stale (never in a shard), else known by their card."""
    labels = scan.inputs.labels
    with run.stage("training"):
        if run.shard is not None and not run.trainer.exists(run.models_dir):
            raise SyncError("a sharded sync needs trained models (run kgenrich train first)")
        ensemble, run.report.trained, run.report.retrain_reason = ensure_models(
            run.trainer, scan.records, labels, run.settings, run.retrain and run.shard is None, run.progress,
            scan.fingerprints, run.scratch_dir, training_records=lambda: training_records(run, scan),
            profile=run.profile)
        scan.full = []  # training is done with them
    return prepare_models(ensemble, run.tasks, labels, run.options, run.graphs, run.profile, run.vocabulary,
                          run.report)


def predict_and_write(run: SyncRun, fast: FastPath, scan: Scan, models: Models, diff: Diff,
                      on_staged: Callable[[], None] | None) -> None:
    """Predict, validate and spool the changed artifacts, then write (or stage) them; the spool is
    removed afterwards, whatever happens (a staged shard's stays for the swap)."""
    replaced = replaced_predictions(run, scan, diff)
    records = to_predict(run, scan, models, diff)
    spool = open_spool(run)
    try:
        spooled = predict_validate_spool(run, scan, models, records, spool)
        count_changes(run, diff, replaced, spooled)
        if not run.dry_run:
            apply_write(run, plan_write(run, fast, scan, models, diff, replaced, spool), on_staged)
    finally:
        if not (run.shard is not None and run.report.write == "staged"):
            spool.remove()
