"""The report phase: what a sync did, in numbers and in words, and the seconds each stage took."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import KgenrichError
from ..labels import inactive_reason
from ..task_types import Task, TaskLabels


class SyncError(KgenrichError):
    """A sync could not complete; the live graphs are unchanged."""


@dataclass
class SyncReport:
    artifacts: int = 0
    gaps: dict[str, int] = field(default_factory=dict)
    predictions: int = 0  # statements in the prediction graph after the run
    written: int = 0  # statements new or changed by this run
    withdrawn: int = 0  # statements removed by this run
    unchanged: int = 0  # statements carried over as they were
    repredicted_artifacts: int = 0
    deleted_artifacts: int = 0
    trained: bool = False
    retrain_reason: str = ""
    wrote: bool = False  # whether the graphs were replaced
    dry_run: bool = False
    staging_dropped: int = 0
    triples: int = 0
    seconds: float = 0.0
    validation_report: str | None = None
    validation_engine: str = ""
    violations: int = 0
    predictions_graph: str = ""
    provenance_graph: str = ""
    run: str = ""
    run_fingerprint: str = ""  # models, tasks, groups and options the predictions depend on
    chunks: int = 0  # chunks of artifacts predicted, validated and spooled
    write: str = ""  # how the write went: bulk | load | update | put | staged; "" when nothing was written
    replaced_all: bool = False  # the whole prediction graph was replaced (models, tasks or options changed)
    # Seconds per stage (extraction, label_groups, training, fingerprints, prediction, building,
    # validation, staging, swap) and the process's peak memory (MB) when each stage last ended.
    # Validation runs beside the other stages: "validation" is its own time, "validation_wait"
    # what the run waited for it.
    stages: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    # task -> confidence threshold applied, and with [sync] min_precision the models'
    # out-of-fold precision and coverage expected there (SelectionOptions.report)
    thresholds: dict[str, dict] = field(default_factory=dict)
    profile: str = ""  # the collection profile used (profiles.py) ...
    profile_reason: str = ""  # ... and why
    # tasks not predicted, with the reason (no labelled artifact, fewer than two groups ...)
    inactive: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        gaps = ", ".join(f"{k} {v}" for k, v in self.gaps.items() if k not in self.inactive)
        inactive = "; ".join(f"{k}: {v}" for k, v in self.inactive.items())
        what = "dry run, nothing written" if self.dry_run else ("graphs replaced" if self.wrote else "nothing to write")
        targets = "; ".join(
            f"{t} min_precision {v['min_precision']:g}: " + (
                f"confidence >= {v['threshold']:.3f} (expected precision {v['expected_precision']:.3f}, "
                f"coverage {v['expected_coverage']:.0%})" if v["reachable"] else
                f"not reached out of fold (best {v['expected_precision'] or 0:.3f}), nothing written")
            for t, v in self.thresholds.items() if "min_precision" in v)
        profile = f"profile {self.profile} ({self.profile_reason})\n" if self.profile else ""
        return (f"{profile}{self.artifacts} artifacts (gaps: {gaps}); {self.predictions} predictions: "
                f"{self.written} written, "
                f"{self.withdrawn} withdrawn, {self.unchanged} unchanged; {self.repredicted_artifacts} artifacts "
                f"predicted{'; models trained (' + self.retrain_reason + ')' if self.trained else ''}; {what}; "
                f"{self.seconds:.1f} s" + (f"\ninactive tasks: {inactive}" if inactive else "")
                + (f"\n{targets}" if targets else ""))


class Stages:
    """Seconds per stage and the peak memory when each stage ended, into the report
    (``with stages("prediction"): ...``)."""

    def __init__(self, report: SyncReport):
        self.report = report

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.report.stages[name] = round(self.report.stages.get(name, 0.0) + time.perf_counter() - started, 3)
            # ru_maxrss is in kilobytes on Linux: the peak so far, so the stage where it rose shows.
            self.report.peak_mb[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def inactive_tasks(tasks: Sequence[Task], labels: Mapping[str, TaskLabels], predicted: Sequence[str]) -> dict[str, str]:
    """The tasks that are not predicted, each with the reason (in words for the sync report)."""
    out = {}
    for task in tasks:
        if task.name in predicted:
            continue
        tl = labels.get(task.name)
        out[task.name] = ((inactive_reason(tl) or "not predicted by the trained models (retrain: kgenrich sync "
                           "--retrain)") if tl is not None else "no label groups")
    return out


def report_dir(settings: Settings) -> Path:
    """Where the validation reports go: ``[sync] report_dir``, else reports/ beside the models directory."""
    return Path(settings.sync.report_dir or Path(settings.models_dir).parent / "reports")
