"""What every phase of one sync run shares: where it reads and writes, which run it is, how it is cut
(a dry run, a shard), the tasks and profile it predicts for, and the report it fills."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Literal, URIRef

from ..config import Settings, SyncSettings
from ..graphs import OwnGraphs
from ..predictions import SelectionOptions, WriteVocabulary, now_literal
from ..profiles import Profile
from ..store.base import Store
from ..task_types import Task
from .models import Trainer
from .report import Stages, SyncError, SyncReport


@dataclass
class SyncRun:
    """One run of sync: the same for every phase (the phases' results are their own dataclasses)."""

    store: Store
    settings: Settings  # what the readers and the trainer take whole (scan_inputs, load_definitions, train)
    sync: SyncSettings  # [sync], typed
    trainer: Trainer
    graphs: OwnGraphs
    run: str  # the run's id: its staging graphs, spool directory and provenance node
    report: SyncReport
    stage: Stages  # ``with run.stage("prediction"): ...`` times a stage into the report
    started: Literal  # the run's start, as the provenance graph records it
    started_clock: float  # time.perf_counter() at the start: the report's seconds
    options: SelectionOptions  # [sync] top_k / min_confidence / min_precision (before the models' rules)
    retrain: bool = False
    progress: bool = True
    dry_run: bool = False
    scratch_dir: Path | None = None  # a dry run's temporary directory (models trained there, its spool)
    shard: tuple[int, int] | None = None  # (k, n): this run predicts and stages shard k of n
    # filled by the first phase (sync.phases.read_definitions)
    tasks: list[Task] = field(default_factory=list)
    profile: Profile | None = None
    vocabulary: WriteVocabulary = WriteVocabulary()

    @property
    def models_dir(self) -> Path:
        return Path(self.settings.models_dir)

    @property
    def confidence(self) -> URIRef:
        """The property of a statement's confidence in this collection's vocabulary."""
        return URIRef(self.vocabulary.confidence)

    def in_shard(self, iri: str, shared: Mapping[str, list[str]]) -> bool:
        """Whether artifact ``iri`` belongs to this run's shard (every artifact when it is not sharded)."""
        return in_shard(iri, self.shard, shared)


def in_shard(iri: str, shard: tuple[int, int] | None, shared: Mapping[str, list[str]]) -> bool:
    """Whether artifact ``iri`` falls in shard k of n (by a hash of its IRI; a group of artifacts that
    share a statement subject stays together)."""
    if shard is None:
        return True
    key = shared[iri][0] if iri in shared else iri
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % shard[1] == shard[0]


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def start_run(store: Store, settings: Settings, trainer: Trainer, *, retrain: bool, progress: bool, dry_run: bool,
              scratch_dir: Path | None, shard: tuple[int, int] | None, run_id: str | None) -> SyncRun:
    """A run's context, its id and an empty report; refuses a shard without a run id or out of range."""
    if shard is not None and (run_id is None or not 0 <= shard[0] < shard[1]):
        raise SyncError("a sharded sync needs a run id and a shard k of n with 0 <= k < n")
    clock = time.perf_counter()
    started = now_literal()
    sync = settings.sync
    graphs = OwnGraphs.from_settings(settings)
    run = run_id or new_run_id()
    report = SyncReport(predictions_graph=str(graphs.predictions), provenance_graph=str(graphs.provenance), run=run,
                        dry_run=dry_run)
    return SyncRun(store, settings, sync, trainer, graphs, run, report, Stages(report), started, clock,
                   SelectionOptions.from_settings(sync), retrain=retrain, progress=progress, dry_run=dry_run,
                   scratch_dir=scratch_dir, shard=shard)
