"""A trained ensemble as loaded from a models directory: the modality models, the stacker (fusion)
and the calibration fitted on their out-of-fold probabilities.

    ens = Ensemble.load(models_dir)
    probs = ens.predict(records)   # task -> (n, k), rows sum to 1, columns = ens.groups[task]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .calibration import TaskCalibration, load_calibration
from .models.base import ModalityModel, Stacker, read_card
from .models_dir import ENSEMBLE_FILE, STACKER_DIR
from .records import ArtifactRecord

if TYPE_CHECKING:
    from .config import Settings


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
        torchrun the ranks waiting in training.follow predict a shard each."""
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
