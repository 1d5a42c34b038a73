"""The models phase: reuse the trained models, or train them (none yet, --retrain, or the training
data moved more than ``[sync] retrain_share``), and what the run reads from them (agents, decision
rules, thresholds, the run fingerprint).

A trained ensemble that was not trained in this run is known by its card; its models load only
when something is predicted, so a sync with nothing to predict never imports torch or LightGBM.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import Settings
from ..config_graph import configuration_changes, trained_configuration
from ..graphs import OwnGraphs
from ..predictions import Agent, SelectionOptions, WriteVocabulary, agent_iri
from ..profiles import Profile
from ..records import ArtifactRecord
from ..task_types import Task, TaskLabels
from .fingerprints import changed_share, model_fingerprint, run_fingerprint, training_fingerprints
from .report import SyncError, SyncReport, inactive_tasks

log = logging.getLogger(__name__)

TRAINING_STATE = "sync-training.json"


class TrainedEnsemble(Protocol):
    """What sync reads from trained models (training.Ensemble; tests pass a fake)."""

    card: dict  # the ensemble's card: fingerprint, groups, modalities ...

    @property
    def groups(self) -> Mapping[str, list[str]]: ...  # task -> the group ids of the models' columns

    @property
    def decisions(self) -> Mapping[str, Any]: ...  # task -> calibration.TaskCalibration (decision rule, curves)

    def describe(self, task: str) -> str: ...

    def predict(self, records: Sequence[ArtifactRecord], progress: bool = False) -> Mapping[str, np.ndarray]: ...


class Trainer(Protocol):
    """How sync trains, loads and looks at models (EnsembleTrainer; tests pass a fake)."""

    def exists(self, models_dir: Path) -> bool: ...

    def train(self, records: Sequence[ArtifactRecord], labels: Mapping[str, TaskLabels], settings: Settings,
              models_dir: Path, progress: bool, profile: dict | None = None) -> TrainedEnsemble: ...

    def load(self, models_dir: Path, settings: Settings) -> TrainedEnsemble: ...

    def card(self, models_dir: Path) -> dict:
        """The ensemble's card alone, without loading a model."""
        ...

    def read_decisions(self, models_dir: Path) -> dict:
        """The fused decision rules alone (TrainedEnsemble.decisions), without loading a model."""
        ...

    def describe(self, card: dict, task: str) -> str:
        """The agent description of one task, from the card alone."""
        ...


class EnsembleTrainer:
    """The real models (kgenrich.training)."""

    def exists(self, models_dir: Path) -> bool:
        from ..training import ENSEMBLE_FILE

        return (Path(models_dir) / ENSEMBLE_FILE).is_file()

    def train(self, records: Sequence[ArtifactRecord], labels: Mapping[str, TaskLabels], settings: Settings,
              models_dir: Path, progress: bool, profile: dict | None = None) -> TrainedEnsemble:
        from ..training import train_ensemble

        ensemble = train_ensemble(records, dict(labels), settings, Path(models_dir), progress=progress, profile=profile)
        if ensemble is None:  # only a torchrun follower gets none back, and followers never sync
            raise SyncError("training gave no models back: this process is not the leader of its torchrun group")
        return ensemble

    def load(self, models_dir: Path, settings: Settings) -> TrainedEnsemble:
        from ..training import Ensemble

        return Ensemble.load(Path(models_dir), settings)

    def card(self, models_dir: Path) -> dict:
        from ..models.base import read_card
        from ..training import ENSEMBLE_FILE

        return read_card(Path(models_dir), ENSEMBLE_FILE)

    def read_decisions(self, models_dir: Path) -> dict:
        from ..calibration import load_calibration
        from ..training import STACKER_DIR

        return load_calibration(Path(models_dir) / STACKER_DIR)

    def describe(self, card: dict, task: str) -> str:
        from ..training import Ensemble

        view = Ensemble.__new__(Ensemble)
        view.card = card
        return view.describe(task)


class LazyEnsemble:
    """A trained ensemble known by its card; the models load when something is predicted."""

    def __init__(self, trainer: Trainer, models_dir: Path, settings: Settings, card: dict):
        self._trainer, self._models_dir, self._settings = trainer, models_dir, settings
        self.card = card
        self._ensemble: TrainedEnsemble | None = None

    @property
    def groups(self) -> dict[str, list[str]]:
        return self.card["groups"]

    @property
    def decisions(self) -> Mapping[str, Any]:
        # The decision rules (offsets, precision curves) are part of what the run's fingerprint and
        # the selection read: without them the first sync after training saw "other options" and
        # re-predicted every artifact.  They are the calibration file, not the models.
        if self._ensemble is not None:
            return self._ensemble.decisions
        return self._trainer.read_decisions(self._models_dir)

    def describe(self, task: str) -> str:
        return self._trainer.describe(self.card, task)

    def predict(self, records: Sequence[ArtifactRecord], progress: bool = False) -> Mapping[str, np.ndarray]:
        if self._ensemble is None:
            self._ensemble = self._trainer.load(self._models_dir, self._settings)
        return self._ensemble.predict(records)


def _training_state(training: Mapping[str, str], configuration: Mapping) -> str:
    return json.dumps({"format": 2, "training": training, "configuration": configuration})


def _retrain_reason(state_file: Path, current: Mapping[str, str], configuration: Mapping, share_limit: float,
                    dry_run: bool) -> str:
    """Why models that exist must be trained again ("" when they need not); takes today's data as the
    baseline of models trained outside sync (not in a dry run)."""
    try:
        saved = json.loads(state_file.read_text()) if state_file.is_file() else None
    except ValueError:
        saved = None
    # Format 2 keeps the tasks and groups the models were trained for beside the data fingerprints.
    old, old_configuration = saved, None
    if isinstance(saved, dict) and saved.get("format") == 2:
        old, old_configuration = saved.get("training"), saved.get("configuration")
    changes = configuration_changes(old_configuration, configuration) if old_configuration is not None else []
    if changes:
        return "configuration changed: " + "; ".join(changes)
    if old is None:
        # Models trained outside sync: take today's data and tasks as their baseline.
        if not dry_run:
            state_file.write_text(_training_state(current, configuration))
        return ""
    share = changed_share(old, current)
    if share > share_limit:
        return f"training data changed by {share:.0%} (> retrain_share {share_limit:.0%})"
    if old_configuration is None and not dry_run:
        state_file.write_text(_training_state(old, configuration))  # from now on, changes are seen
    return ""


def ensure_models(trainer: Trainer, records: Sequence[ArtifactRecord], labels: Mapping[str, TaskLabels],
                  settings: Settings, retrain: bool, progress: bool, fingerprints: Mapping[str, Any],
                  scratch_dir: Path | None = None, *, training_records: Callable[[], list] | None = None,
                  profile: Profile | None = None) -> tuple[TrainedEnsemble, bool, str]:
    """Load the models, or train them: when none exist, on --retrain, or when the data moved enough.

    ``records``: every artifact with its labels (values and labels are enough);
    ``training_records()``: the labelled records with everything the models read, asked for
    only when the models are trained (default: ``records``).  With ``scratch_dir`` (a dry
    run) models that must be trained are trained there and the models directory is left
    exactly as it is.  Returns (ensemble, trained, reason); an ensemble that was not trained
    here loads its models only when it first predicts.
    """
    models_dir = Path(settings.models_dir)
    current = training_fingerprints(records, fingerprints)
    configuration = trained_configuration(labels)
    state_file = models_dir / TRAINING_STATE
    if retrain:
        reason = "--retrain"
    elif not trainer.exists(models_dir):
        reason = "no trained models"
    else:
        reason = _retrain_reason(state_file, current, configuration, settings.sync.retrain_share,
                                 dry_run=scratch_dir is not None)
    if not reason:
        return LazyEnsemble(trainer, models_dir, settings, trainer.card(models_dir)), False, ""
    log.info("training models: %s", reason)
    target = models_dir if scratch_dir is None else Path(scratch_dir) / "models"
    ensemble = trainer.train(training_records() if training_records else records, labels, settings, target,
                             progress, profile=profile.describe() if profile is not None else None)
    if scratch_dir is None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(_training_state(current, configuration))
    return ensemble, True, reason


def agents_of(ensemble: TrainedEnsemble, tasks: Sequence[Task],
              vocabulary: WriteVocabulary = WriteVocabulary()) -> dict[str, Agent]:
    """The software agent of every task the models predict."""
    fp = model_fingerprint(ensemble.card)
    out = {}
    for task in tasks:
        if task.name in ensemble.groups:
            out[task.name] = Agent(str(agent_iri(task.name, fp, vocabulary.namespace)), task.name,
                                   ensemble.describe(task.name))
    return out


@dataclass
class Models:
    """The models phase's result: the ensemble and what the run predicts with it."""

    ensemble: TrainedEnsemble
    agents: dict[str, Agent]  # task -> its software agent
    tasks: list[Task]  # the tasks predicted (the models know them and they have label groups)
    options: SelectionOptions  # with the models' decision rules and min_precision thresholds
    run_fingerprint: str  # models, tasks, groups and options: what every prediction depends on


def prepare_models(ensemble: TrainedEnsemble, tasks: Sequence[Task], labels: Mapping[str, TaskLabels],
                   options: SelectionOptions, graphs: OwnGraphs, profile: Profile | None, vocabulary: WriteVocabulary,
                   report: SyncReport) -> Models:
    """The agents, predicted tasks, decision rules and run fingerprint of ``ensemble`` (into the report too)."""
    agents = agents_of(ensemble, tasks, vocabulary)
    predicted = [t for t in tasks if t.name in agents and t.name in labels]
    report.inactive = inactive_tasks(tasks, labels, [t.name for t in predicted])
    # the models' decision rules, and min_precision as thresholds from their out-of-fold precision
    options = options.for_models(ensemble.decisions, [t.name for t in predicted])
    report.thresholds = options.report(predicted)
    fingerprint = run_fingerprint(str(ensemble.card.get("fingerprint", "")), predicted, labels, options,
                                  str(graphs.predictions), profile)
    report.run_fingerprint = fingerprint
    return Models(ensemble, agents, predicted, options, fingerprint)
