"""kgenrich sync: the whole flow, incremental, streamed in chunks, written safely.

tasks -> records (one paged pass: fingerprints, values) -> label groups -> models
(trained when missing or stale) -> for the changed artifacts, chunk by chunk:
records -> predictions -> N-Triples -> SHACL gate -> spool file -> one write.

Where things live:
- the prediction graph (``settings.predictions_graph``): what ADASilk reads;
- the provenance graph (``[sync] provenance_graph``, default ``{predictions}/provenance``):
  the run activities, model cards, counts and the per-artifact input
  fingerprints that make the next sync incremental.  Keeping the fingerprints
  in the store (not in a local file) means they always describe the graph that
  is live, whichever machine runs the next sync;
- spool files ``{models_dir}/../sync-staging/{run}/``: the run's new triples, chunk by
  chunk, validated before they are appended; removed after the write, and at the
  start of the next run when a killed run left them;
- staging graphs ``{predictions}/staging/{run}/...``, only where a write is too large for
  one request to a remote store (or a sharded run): they hold the reified statements,
  their PROV activities and kgenrich's marks, never a plain triple -- the plain triples
  and minted productions are derived in the one request that applies them
  (queries/sync_apply_staged.rq), so no consumer can take a staging graph for data.
  Any staging graph left by a killed run is dropped at the start of the next.

Memory is bounded by the chunk (``[sync] chunk_size`` artifacts): the first pass keeps
a fingerprint and the task values per artifact; records, predictions and triples exist
for one chunk at a time (training keeps the labelled records it trains on).

Incremental means proportional: an artifact whose fingerprint (values, texts, images,
labels, statement subjects) and the run fingerprint (models, tasks, groups, options) are
unchanged keeps its predictions exactly as they are in the live graph -- they are not
read, not rewritten.  For the changed and deleted artifacts, what the live graph holds
from their inputs is looked up and replaced in ONE write: one transaction on the
embedded store, one update request (or Graph Store PUT of a whole new graph) on a
remote store.  When nothing changed, the run ends after comparing fingerprints, without
loading the models.

Curators' decisions (kgenrich/review/) feed back: accepted and corrected values sit in
the curated graph, which the first pass reads as known values (the gap is closed); rejected
values are never proposed again for their artifact.  The review and curated graphs are
never written, dropped or moved here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, XSD

from . import owned, sparql, validation
from .config import Settings
from .config_graph import configuration_changes, trained_configuration
from .errors import KgenrichError, StoreError, ValidationFailed
from .graphs import OwnGraphs
from .labels import inactive_reason
from .pipeline import Inputs, complete, reread, scan_inputs
from .predictions import (
    KGS,
    PROV,
    Agent,
    Prediction,
    SelectionOptions,
    WriteVocabulary,
    agent_iri,
    agent_lines,
    dedupe,
    now_literal,
    prediction_lines,
    select_predictions,
)
from .profiles import Profile
from .records import ArtifactRecord, Task, TaskLabels
from .review.feedback import fold_rejections, rejected_values
from .store.base import Store
from .tasks import load_definitions

log = logging.getLogger(__name__)

TRAINING_STATE = "sync-training.json"
DEFAULT_CHUNK_SIZE = 2000  # artifacts per chunk: predictions, triples and validation of one chunk at a time
SPOOL_DIR = "sync-staging"


class SyncError(KgenrichError):
    """A sync could not complete; the live graphs are unchanged."""


# ------------------------------------------------------------------ report
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


class _Stages:
    """Seconds per stage and the peak memory when each stage ended, into the report."""

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


# ------------------------------------------------------------------ models
class Trainer(Protocol):
    def exists(self, models_dir: Path) -> bool: ...
    def train(self, records, labels, settings, models_dir: Path, progress: bool, profile: dict | None = None): ...
    def load(self, models_dir: Path, settings): ...


class EnsembleTrainer:
    """The real models (kgenrich.training); tests pass a fake with the same methods."""

    def exists(self, models_dir):
        from .training import ENSEMBLE_FILE

        return (Path(models_dir) / ENSEMBLE_FILE).is_file()

    def train(self, records, labels, settings, models_dir, progress, profile=None):
        from .training import train_ensemble

        return train_ensemble(records, labels, settings, Path(models_dir), progress=progress, profile=profile)

    def load(self, models_dir, settings):
        from .training import Ensemble

        return Ensemble.load(Path(models_dir), settings)

    def card(self, models_dir) -> dict:
        """The ensemble's card alone: enough to tell whether anything must be predicted."""
        from .models.base import read_card
        from .training import ENSEMBLE_FILE

        return read_card(Path(models_dir), ENSEMBLE_FILE)

    def read_decisions(self, models_dir) -> dict:
        """The fused decision rules alone (Ensemble.decisions), without loading any model."""
        from .calibration import load_calibration
        from .training import STACKER_DIR

        return load_calibration(Path(models_dir) / STACKER_DIR)

    def describe(self, card: dict, task: str) -> str:
        """The agent description of one task, from the card alone."""
        from .training import Ensemble

        view = Ensemble.__new__(Ensemble)
        view.card = card
        return view.describe(task)


class _LazyEnsemble:
    """A trained ensemble known by its card; the models load when something is predicted.

    A sync with nothing to predict (the common case) never imports torch or LightGBM.
    """

    def __init__(self, trainer, models_dir: Path, settings, card: dict):
        self._trainer, self._models_dir, self._settings = trainer, models_dir, settings
        self.card = card
        self._ensemble = None

    @property
    def groups(self) -> dict[str, list[str]]:
        return self.card["groups"]

    @property
    def decisions(self) -> dict:
        # The decision rules (offsets, precision curves) are part of what the run's fingerprint and
        # the selection read: without them the first sync after training saw "other options" and
        # re-predicted every artifact.  They are the calibration file, not the models.
        if self._ensemble is not None:
            return self._ensemble.decisions
        reader = getattr(self._trainer, "read_decisions", None)
        return reader(self._models_dir) if callable(reader) else {}

    def describe(self, task: str) -> str:
        return self._trainer.describe(self.card, task)

    def predict(self, records, progress: bool = False):
        if self._ensemble is None:
            self._ensemble = self._trainer.load(self._models_dir, self._settings)
        return self._ensemble.predict(records)


# ------------------------------------------------------------------ fingerprints
def _hash(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def record_fingerprint(record: ArtifactRecord) -> str:
    """Everything a prediction of this artifact depends on, besides the models."""
    d = record.to_dict()
    d["texts"] = sorted(map(json.dumps, d["texts"]))
    d["images"] = sorted(d["images"])
    d["image_nodes"] = sorted(d["image_nodes"])
    d["values"] = {k: sorted(v) for k, v in d["values"].items()}
    return _hash(d)


def _training_fingerprints(records: Sequence[ArtifactRecord], fingerprints: Mapping[str, Any]) -> dict[str, str]:
    return {r.iri: _hex(fingerprints[r.iri]) for r in records if any(v is not None for v in r.labels.values())}


def _hex(fp: Any) -> str:
    return fp.hex() if isinstance(fp, bytes) else str(fp)


def _changed_share(old: Mapping[str, str], new: Mapping[str, str]) -> float:
    if not old:
        return 1.0 if new else 0.0
    changed = sum(1 for k in set(old) | set(new) if old.get(k) != new.get(k))
    return changed / len(old)


def run_fingerprint(model_fp: str, tasks: Sequence[Task], labels: Mapping[str, TaskLabels],
                    options: SelectionOptions, predictions_graph: str, profile: Profile | None = None) -> str:
    """What every prediction depends on: models, tasks, group concepts, selection options, the profile."""
    return _hash({
        "model": model_fp,
        "tasks": [[t.name, t.property, t.subject_link, t.subject_class, t.artifact_class, t.min_confidence]
                  + ([t.subject_inverse, t.group_class, t.begin_property, t.end_property]
                     if t.subject_inverse or t.grouping == "date" else [])
                  for t in tasks],
        "profile": profile.fingerprint() if profile is not None else None,
        "groups": {k: [[g.id, g.concept] for g in v.groups] for k, v in sorted(labels.items())},
        "top_k": options.top_k,
        "min_confidence": options.min_confidence,
        "graph": predictions_graph,
        "format": 1,
        **options.fingerprint(),
    })


def input_key(digest: str, tasks: Sequence[Task], settings: Settings, options: SelectionOptions, graphs: OwnGraphs,
              card: Mapping, profile: Profile | None = None) -> str:
    """Everything a run reads, when the store can digest its content (Store.content_digest): the same
    key as the last run's means the same predictions, without extracting anything."""
    return _hash({
        "store": digest,
        "tasks": [asdict(t) for t in tasks],
        "model": str(card.get("fingerprint", "")) or _hash(card),
        "top_k": options.top_k,
        "min_confidence": options.min_confidence,
        "min_precision": options.min_precision,
        "graphs": [str(graphs.predictions), str(graphs.provenance)],
        "literal_features": list(settings.literal_features),
        "images": [settings.images_root, settings.fetch_images],
        "profile": profile.fingerprint() if profile is not None else None,
        "format": 1,
    })


@dataclass
class _LastRun:
    input_key: str = ""
    statements: int = -1
    artifacts: int = 0
    gaps: dict[str, int] = field(default_factory=dict)


def _last_run(store: Store, graphs: OwnGraphs) -> _LastRun:
    last = _LastRun()
    for row in store.select(sparql.prepare("sync_last_run", graph=graphs.provenance, state=_state_node(graphs))):
        last.input_key = str(row.get("inputKey", last.input_key))
        try:
            last.statements = int(str(row["statements"])) if "statements" in row else last.statements
            last.artifacts = int(str(row["artifacts"])) if "artifacts" in row else last.artifacts
        except ValueError:
            return _LastRun()
        if "gaps" in row and "=" in str(row["gaps"]):
            task, _, n = str(row["gaps"]).partition("=")
            last.gaps[task] = int(n) if n.isdigit() else 0
    return last


def _model_card(trainer, models_dir: Path, settings: Settings) -> dict:
    card = getattr(trainer, "card", None)
    return card(models_dir) if card is not None else trainer.load(models_dir, settings).card


# ------------------------------------------------------------------ graphs
def _count(store: Store, graph: URIRef) -> int:
    rows = store.select(sparql.prepare("sync_count_triples", graph=graph))
    return int(rows[0]["n"]) if rows and "n" in rows[0] else 0


def _count_statements(store: Store, graph: URIRef) -> int:
    rows = store.select(sparql.prepare("sync_count_statements", graph=graph))
    return int(rows[0]["n"]) if rows and "n" in rows[0] else 0


def drop_staging(store: Store, graphs: OwnGraphs, keep_run: str = "") -> int:
    """Drop every staging graph a previous (killed) run left behind (except those of run ``keep_run``)."""
    keep = f"{graphs.staging_prefix}{keep_run}/" if keep_run else None
    stale = [g for g in store.graph_names() if str(g).startswith(graphs.staging_prefix)
             and not (keep and str(g).startswith(keep))]
    for g in stale:
        store.drop_graph(g)
    return len(stale)


def _spool_root(settings: Settings) -> Path:
    return Path(settings.models_dir).resolve().parent / SPOOL_DIR


SPOOL_KIND = "sync-spool"  # the marker kind of a run's spool directory (owned.py)
SPOOL_FILES = ("reified.nt", "derived.nt", "minted.nt", "provenance.nt", "state.nt", "withdrawn.nt", "graph.nt")


def _legacy_spool(directory: Path) -> bool:
    """A spool directory of a kgenrich older than the marker: a run's name, the spool files only."""
    return bool(re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{8}(-shard\d+)?", directory.name)) and all(
        entry.is_file() and not entry.is_symlink() and entry.name in SPOOL_FILES for entry in directory.iterdir())


def drop_spools(settings: Settings, keep_run: str = "") -> int:
    """Remove the spool directories of killed runs (except run ``keep_run``'s); only ours: anything
    else in the spool root stays where it is."""
    root = _spool_root(settings)
    if not root.is_dir() or root.is_symlink():
        return 0
    stale = [d for d in root.iterdir() if d.is_dir() and not (keep_run and d.name.startswith(keep_run))]
    return sum(owned.remove_if_ours(d, (SPOOL_KIND,), _legacy_spool) for d in stale)


def _staging_graphs(graphs: OwnGraphs, run: str, shard: str = "0") -> tuple[URIRef, URIRef, URIRef]:
    """A run's staging graphs (per shard): predictions, provenance additions, withdrawal marks."""
    base = f"{graphs.staging_prefix}{run}/{shard}"
    return URIRef(f"{base}/predictions"), URIRef(f"{base}/provenance"), URIRef(f"{base}/withdrawn")


# ------------------------------------------------------------------ state
@dataclass
class State:
    run_fingerprint: str = ""
    statements: int = -1
    fingerprints: dict[str, bytes] = field(default_factory=dict)  # artifact -> 16-byte digest


def _pages(store: Store, query: str, paged: str, key: str, **bindings) -> Iterator[dict]:
    """Rows of ``query`` (unordered, for a store that never cuts a result), or of its keyset-paged twin
    ``paged`` (``$after``/``$limit``, ordered by ``key``), one page at a time."""
    if store.page_rows is None:
        # One pass, unordered: sorting in the store costs more than reading the rows.
        yield from store.select(sparql.prepare(query, **bindings))
        return
    page = store.page_rows
    after = Literal("")
    while True:
        rows = store.select(sparql.prepare(paged, after=after, limit=page, **bindings))
        yield from rows
        if len(rows) < page or not rows:
            return
        after = Literal(str(rows[-1][key]))


def read_state(store: Store, graphs: OwnGraphs) -> State:
    """The provenance graph's state: run fingerprint, statement count, fingerprints (page by page, compact)."""
    state = State()
    rows = store.select(sparql.prepare("sync_state", graph=graphs.provenance, state=_state_node(graphs)))
    if rows:
        state.run_fingerprint = str(rows[0].get("fingerprint", ""))
        try:
            state.statements = int(str(rows[0]["statements"])) if "statements" in rows[0] else -1
        except ValueError:
            state.statements = -1
    for row in _pages(store, "sync_fingerprints", "sync_fingerprints_page", "node", graph=graphs.provenance):
        try:
            state.fingerprints[str(row["artifact"])] = bytes.fromhex(str(row["fingerprint"]))
        except ValueError:
            continue  # not a fingerprint we wrote: the artifact counts as changed
    return state


def _state_node(graphs: OwnGraphs) -> URIRef:
    return URIRef(f"{graphs.provenance}/state")


def _input_node(graphs: OwnGraphs, artifact: str) -> URIRef:
    return URIRef(f"{graphs.provenance}/input/{uuid.uuid5(uuid.NAMESPACE_URL, artifact)}")


# ------------------------------------------------------------------ the flow
def _ensure_models(trainer: Trainer, records, labels, settings: Settings, retrain: bool, progress: bool,
                   fingerprints: Mapping[str, Any], scratch_dir: Path | None = None, *,
                   training_records: Callable[[], list] | None = None, profile: Profile | None = None):
    """Load the models, or train them: when none exist, on --retrain, or when the data moved enough.

    ``records``: every artifact with its labels (values and labels are enough);
    ``training_records()``: the labelled records with everything the models read, asked for
    only when the models are trained (default: ``records``).  With ``scratch_dir`` (a dry
    run) models that must be trained are trained there and the models directory is left
    exactly as it is.  Returns (ensemble, trained, reason); an ensemble that was not trained
    here loads its models only when it first predicts.
    """
    models_dir = Path(settings.models_dir)
    share_limit = float(settings.section("sync").get("retrain_share", 0.1))
    current = _training_fingerprints(records, fingerprints)
    configuration = trained_configuration(labels)
    state_file = models_dir / TRAINING_STATE
    reason = ""
    if retrain:
        reason = "--retrain"
    elif not trainer.exists(models_dir):
        reason = "no trained models"
    else:
        try:
            old = json.loads(state_file.read_text()) if state_file.is_file() else None
        except ValueError:
            old = None
        # Format 2 keeps the tasks and groups the models were trained for beside the data fingerprints.
        old_configuration = None
        if isinstance(old, dict) and old.get("format") == 2:
            old, old_configuration = old.get("training"), old.get("configuration")
        changes = configuration_changes(old_configuration, configuration) if old_configuration is not None else []
        if changes:
            reason = "configuration changed: " + "; ".join(changes)
        elif old is None:
            # Models trained outside sync: take today's data and tasks as their baseline.
            if scratch_dir is None:
                state_file.write_text(_training_state(current, configuration))
        else:
            share = _changed_share(old, current)
            if share > share_limit:
                reason = f"training data changed by {share:.0%} (> retrain_share {share_limit:.0%})"
            elif old_configuration is None and scratch_dir is None:
                state_file.write_text(_training_state(old, configuration))  # from now on, changes are seen
    if reason:
        log.info("training models: %s", reason)
        target = models_dir if scratch_dir is None else Path(scratch_dir) / "models"
        ensemble = trainer.train(training_records() if training_records else records, labels, settings, target,
                                 progress, profile=profile.describe() if profile is not None else None)
        if scratch_dir is None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(_training_state(current, configuration))
        return ensemble, True, reason
    card = getattr(trainer, "card", None)
    if card is not None and hasattr(trainer, "describe"):
        return _LazyEnsemble(trainer, models_dir, settings, card(models_dir)), False, ""
    return trainer.load(models_dir, settings), False, ""


def _training_state(training: Mapping[str, str], configuration: Mapping) -> str:
    return json.dumps({"format": 2, "training": training, "configuration": configuration})


def _agents(ensemble, tasks: Sequence[Task], vocabulary: WriteVocabulary = WriteVocabulary()) -> dict[str, Agent]:
    fp = str(ensemble.card.get("fingerprint", "")) or _hash(ensemble.card)
    out = {}
    for task in tasks:
        if task.name in ensemble.groups:
            out[task.name] = Agent(str(agent_iri(task.name, fp, vocabulary.namespace)), task.name,
                                   ensemble.describe(task.name))
    return out


@dataclass
class _Scan:
    """What the first pass over the store keeps: little per artifact."""

    inputs: Inputs  # tasks, label groups; records with IRI, graph, museum and task values only
    fingerprints: dict[str, bytes]  # artifact -> 16-byte digest of everything its predictions read
    full: list[ArtifactRecord]  # whole records of the artifacts with task values, when asked for (training)
    shared: dict[str, list[str]]  # artifact -> the artifacts whose statements share a subject with it


def _scan(store: Store, settings: Settings, tasks: list[Task], keep_full: bool, progress: bool, timed,
          profile: Profile | None = None) -> _Scan:
    full: list[ArtifactRecord] = []
    fingerprints: dict[str, bytes] = {}
    interned: dict[str, str] = {}
    owner: dict[int, str] = {}  # hash of a statement subject -> the first artifact with it
    shared: dict[str, list[str]] = {}

    def keep(record: ArtifactRecord) -> ArtifactRecord:
        fingerprints[record.iri] = bytes.fromhex(record_fingerprint(record))
        if keep_full and any(record.values.values()):
            full.append(record)
        for subject in set(record.subjects.values()):
            if subject and subject != record.iri:
                first = owner.setdefault(hash(subject), record.iri)
                if first != record.iri:
                    # Two artifacts, one production: their predictions share statements and an
                    # activity, so they are predicted (and withdrawn) together.
                    shared.setdefault(first, [first]).append(record.iri)
                    shared[record.iri] = shared[first]
        values = {t: [interned.setdefault(v, v) for v in vs] for t, vs in record.values.items()}
        return ArtifactRecord(record.iri, interned.setdefault(record.graph, record.graph),
                              interned.setdefault(record.museum, record.museum), values=values)

    inputs = scan_inputs(store, settings, keep, tasks=tasks, profile=profile, progress=progress, timed=timed)
    return _Scan(inputs, fingerprints, full, shared)


def _chunks(records: Sequence[ArtifactRecord], size: int, shared: Mapping[str, list[str]]) -> Iterator[list[ArtifactRecord]]:
    """Chunks of about ``size`` artifacts; artifacts that share a statement subject stay in one chunk."""
    by_iri = {r.iri: r for r in records} if shared else {}
    done: set[str] = set()
    chunk: list[ArtifactRecord] = []
    for r in records:
        if r.iri in done:
            continue
        group = [by_iri[i] for i in shared.get(r.iri, [r.iri]) if i in by_iri and i not in done] if shared else [r]
        done.update(g.iri for g in group)
        chunk.extend(group)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _Old:
    """What the live prediction graph holds from the artifacts a run replaces."""

    statements: dict[str, float] = field(default_factory=dict)  # statement -> confidence (NaN: unreadable)
    subjects: set[str] = field(default_factory=set)  # statements, activities and statement subjects to remove


def _old_units(store: Store, graph: URIRef, artifacts: Sequence[str], confidence: URIRef) -> _Old:
    """The live graph's statements made from these artifacts' inputs (proportional to the artifacts)."""
    old = _Old()
    batch = 200
    for start in range(0, len(artifacts), batch):
        rows = store.select(sparql.prepare("sync_units_of_artifacts", graph=graph, confidence=confidence,
                                           artifacts=[URIRef(a) for a in artifacts[start:start + batch]]))
        for row in rows:
            # The artifact too: a link kgenrich minted from it to a subject (Linked Art's
            # P108i_was_produced_by a minted production) has it as subject.
            old.subjects.add(str(row["artifact"]))
            st = str(row["st"])
            old.statements[st] = _confidence(row.get("confidence"))
            old.subjects.update((st, str(row["activity"])))
            if isinstance(row.get("subject"), URIRef):
                old.subjects.add(str(row["subject"]))
    return old


def _all_statements(store: Store, graph: URIRef, confidence: URIRef) -> _Old:
    old = _Old()
    for row in _pages(store, "sync_statements", "sync_statements_page", "st", graph=graph, confidence=confidence):
        old.statements[str(row["st"])] = _confidence(row.get("confidence"))
    return old


def _confidence(term) -> float:
    try:
        return round(float(str(term)), 6)
    except (TypeError, ValueError):
        return float("nan")


class _Spool:
    """The run's new triples on disk, appended chunk by chunk (only validated chunks)."""

    def __init__(self, directory: Path):
        self.dir = directory
        owned.check(directory, (SPOOL_KIND,), "a sync spool directory",
                    f"move it out of {directory.parent}", _legacy_spool)
        owned.mark(directory, SPOOL_KIND)
        self.reified = self.dir / "reified.nt"
        self.derived = self.dir / "derived.nt"
        self.minted = self.dir / "minted.nt"
        self.provenance = self.dir / "provenance.nt"
        self.state = self.dir / "state.nt"
        self.withdrawn = self.dir / "withdrawn.nt"
        self.graph = self.dir / "graph.nt"
        for path in (self.reified, self.derived, self.minted):
            path.write_text("", encoding="utf-8")
        self.lines = {"reified": 0, "derived": 0, "minted": 0}

    def append(self, name: str, lines: Sequence[str]) -> None:
        if lines:
            with open(getattr(self, name), "a", encoding="utf-8") as fh:
                fh.writelines(lines)
            self.lines[name] = self.lines.get(name, 0) + len(lines)

    def whole_graph(self) -> Path:
        """reified + derived in one file: the triples as they read in the live graph."""
        with open(self.graph, "wb") as out:
            for part in (self.reified, self.derived):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        return self.graph

    def remove(self) -> None:
        owned.remove_if_ours(self.dir, (SPOOL_KIND,))


def _report_dir(settings: Settings) -> Path:
    return Path(settings.section("sync").get("report_dir") or Path(settings.models_dir).parent / "reports")


def run_sync(store: Store, settings: Settings, retrain: bool = False, progress: bool = True, *,
             dry_run: bool = False, trainer: Trainer | None = None, shard: tuple[int, int] | None = None,
             run_id: str | None = None, on_staged: Callable[[], None] | None = None) -> SyncReport:
    """Bring the prediction graph up to date with the store; see the module docstring.

    ``dry_run``: predict and validate, write nothing -- not to the store, not to the models
    directory (models that would be trained are trained in a temporary directory and
    discarded), not to the report directory.

    ``shard=(k, n)`` with ``run_id``: predict only shard k of n of the changed artifacts and
    stage it into the run's staging graphs without swapping (the models must exist); the
    process that coordinates the shards then calls :func:`swap_shards` once.
    ``on_staged``: called when everything is validated and staged, just before the write.
    """
    if shard is not None and (run_id is None or not 0 <= shard[0] < shard[1]):
        raise SyncError("a sharded sync needs a run id and a shard k of n with 0 <= k < n")
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="kgenrich-dry-run-") as scratch:
            return _run_sync(store, settings, retrain, progress, dry_run=True, trainer=trainer,
                             scratch_dir=Path(scratch), shard=shard, run_id=run_id, on_staged=on_staged)
    return _run_sync(store, settings, retrain, progress, dry_run=False, trainer=trainer, scratch_dir=None,
                     shard=shard, run_id=run_id, on_staged=on_staged)


def _in_shard(iri: str, shard: tuple[int, int] | None, shared: Mapping[str, list[str]]) -> bool:
    if shard is None:
        return True
    key = shared[iri][0] if iri in shared else iri  # a group of artifacts sharing a subject stays together
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % shard[1] == shard[0]


def _run_sync(store: Store, settings: Settings, retrain: bool, progress: bool, *, dry_run: bool,
              trainer: Trainer | None, scratch_dir: Path | None, shard: tuple[int, int] | None = None,
              run_id: str | None = None, on_staged: Callable[[], None] | None = None) -> SyncReport:
    t0 = time.perf_counter()
    started = now_literal()
    trainer = trainer or EnsembleTrainer()
    section = settings.section("sync")
    options = SelectionOptions.from_section(section)
    graphs = OwnGraphs.from_settings(settings)
    run = run_id or time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    report = SyncReport(predictions_graph=str(graphs.predictions), provenance_graph=str(graphs.provenance), run=run,
                        dry_run=dry_run)
    stage = _Stages(report)
    chunk_size = int(section.get("chunk_size", DEFAULT_CHUNK_SIZE))
    models_dir = Path(settings.models_dir)

    if not dry_run:
        report.staging_dropped = (drop_staging(store, graphs, keep_run=run if shard else "")
                                  + drop_spools(settings, keep_run=run if shard else ""))
    with stage("extraction"):
        definitions = load_definitions(store, settings)
        tasks, profile = definitions.tasks, definitions.profile
        vocabulary = WriteVocabulary.of(profile)
        confidence = URIRef(vocabulary.confidence)
    report.profile, report.profile_reason = profile.name, profile.reason
    digest = None
    if shard is None:
        with stage("fingerprints"):
            # Where the store can digest its content, an unchanged store is recognised without
            # extracting anything: one pass over the quads, no records, no models.
            # Every graph but those sync writes: a graph of ours that it reads (the configuration
            # graph, a review graph) must change the key too.
            digest = store.content_digest(lambda g: g in (str(graphs.predictions), str(graphs.provenance))
                                          or graphs.is_staging(g))
            if digest is not None and not retrain and trainer.exists(models_dir):
                key = input_key(digest, tasks, settings, options, graphs, _model_card(trainer, models_dir, settings),
                                profile)
                last = _last_run(store, graphs)
                if last.input_key == key and last.statements == _count_statements(store, graphs.predictions):
                    report.artifacts, report.gaps = last.artifacts, last.gaps
                    report.predictions = report.unchanged = last.statements
                    report.seconds = time.perf_counter() - t0
                    return report
    # One pass over the collection (pipeline.scan_inputs): fingerprints and task values per
    # artifact, then the label groups over those values.
    may_train = shard is None and (retrain or not trainer.exists(models_dir))
    scan = _scan(store, settings, tasks, keep_full=may_train, progress=progress, timed=stage, profile=profile)
    inputs = scan.inputs
    labels = inputs.labels
    records, fingerprints = inputs.records, scan.fingerprints
    report.artifacts = len(records)
    report.gaps = {t.name: sum(1 for r in records if r.is_gap(t.name)) for t in tasks}

    # Values curators rejected on the review page: never proposed again for that artifact, and a
    # new rejection changes that artifact's fingerprint (it is predicted again, and only it).
    rejected = rejected_values(store, graphs, tasks)
    fingerprints = fold_rejections(fingerprints, rejected)

    def training_records() -> list[ArtifactRecord]:
        # The labelled artifacts with everything the models read: kept from the first pass when
        # training was likely, else read again now.
        labelled = {r.iri for r in records if any(v is not None for v in r.labels.values())}
        full = [r for r in scan.full if r.iri in labelled]
        if len(full) < len(labelled):
            return reread(store, settings, inputs, [r for r in records if r.iri in labelled])
        return complete(store, inputs, full)

    with stage("training"):
        if shard is not None and not trainer.exists(models_dir):
            raise SyncError("a sharded sync needs trained models (run kgenrich train first)")
        ensemble, report.trained, report.retrain_reason = _ensure_models(
            trainer, records, labels, settings, retrain and shard is None, progress, fingerprints, scratch_dir,
            training_records=training_records, profile=profile)
        scan.full = []  # training is done with them
    agents = _agents(ensemble, tasks, vocabulary)
    predicted_tasks = [t for t in tasks if t.name in agents and t.name in labels]
    report.inactive = inactive_tasks(tasks, labels, [t.name for t in predicted_tasks])
    # the models' decision rules, and min_precision as thresholds from their out-of-fold precision
    options = options.for_models(getattr(ensemble, "decisions", {}), [t.name for t in predicted_tasks])
    report.thresholds = options.report(predicted_tasks)
    run_fp = run_fingerprint(str(ensemble.card.get("fingerprint", "")), predicted_tasks, labels, options,
                             str(graphs.predictions), profile)
    report.run_fingerprint = run_fp

    with stage("fingerprints"):
        state = read_state(store, graphs)
        live_count = _count_statements(store, graphs.predictions)
        # The stored fingerprints describe the live graph only if it still holds what that run wrote.
        same_run = state.run_fingerprint == run_fp and state.statements == live_count
        changed = {r.iri for r in records if not same_run or state.fingerprints.get(r.iri) != fingerprints[r.iri]}
        for iri in list(changed):
            changed.update(scan.shared.get(iri, ()))
        deleted = [a for a in state.fingerprints if a not in fingerprints]
    report.repredicted_artifacts = len(changed)
    report.deleted_artifacts = len(deleted)
    report.replaced_all = not same_run
    if same_run and not changed and not deleted:
        report.predictions = report.unchanged = live_count
        if digest is not None and not dry_run:
            # Something the predictions do not read changed (a label, a triple of no artifact):
            # the state now says so, and the next run is the quick one again.
            key = input_key(digest, tasks, settings, options, graphs, ensemble.card, profile)
            node = _state_node(graphs)
            store.update(sparql.join_updates([
                sparql.prepare("sync_delete_input_key", graph=graphs.provenance, state=node),
                sparql.prepare("insert_ntriples", graph=graphs.provenance, triples=sparql.RawTriples(
                    sparql.ntriples_line(node, KGS.inputKey, Literal(key)) + "\n"))]))
        report.seconds = time.perf_counter() - t0
        return report

    with stage("fingerprints"):
        if same_run:
            gone = sorted(a for a in changed | set(deleted) if _in_shard(a, shard, scan.shared))
            old = _old_units(store, graphs.predictions, gone, confidence)
        else:
            old = _all_statements(store, graphs.predictions, confidence) if shard is None else _Old()

    to_predict = [r for r in records if r.iri in changed and _in_shard(r.iri, shard, scan.shared)
                  and any(r.is_gap(t.name) for t in predicted_tasks)]
    expected = sum(sum(1 for t in predicted_tasks if r.is_gap(t.name)) for r in to_predict) * options.top_k
    lines_of_agents = agent_lines(agents.values(), vocabulary)
    validator = validation.ChunkValidator(
        store, predicted_tasks, labels, lines_of_agents, engine=section.get("validation_engine", "auto"),
        shacl_limit=int(section.get("shacl_limit", validation.DEFAULT_SHACL_LIMIT)), expected_statements=expected,
        vocabulary=vocabulary)
    spool_dir = (Path(scratch_dir) / "spool") if dry_run else _spool_root(settings) / (
        run if shard is None else f"{run}-shard{shard[0]}")
    spool = _Spool(spool_dir)
    new: dict[str, float] = {}
    at_time = now_literal()
    try:
        spool.append("reified", lines_of_agents)
        # Validation runs beside the next chunk's reading, prediction and building (pyoxigraph
        # evaluates queries without holding the GIL), one chunk behind.  A chunk is spooled before
        # its check ends: nothing reaches the store unless every chunk passed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgenrich-validation") as checker:
            checking = None
            for chunk in _chunks(to_predict, chunk_size, scan.shared):
                report.chunks += 1
                with stage("extraction"):
                    chunk_records = reread(store, settings, inputs, chunk)
                with stage("prediction"):
                    probabilities = ensemble.predict(chunk_records)
                    chunk_predictions = select_predictions(chunk_records, probabilities, ensemble.groups,
                                                           predicted_tasks, labels, agents, options,
                                                           rejected=rejected, vocabulary=vocabulary)
                with stage("building"):
                    unique = [p for p in dedupe(chunk_predictions) if str(p.statement) not in new]
                    built = build_chunk(unique, agents.values(), at_time, vocabulary)
                    new.update(built.statements)
                with stage("validation_wait"):
                    if checking is not None:
                        checking.result()
                    checking = checker.submit(validator.check, built.lines(), built.subjects, len(built.statements))
                with stage("staging"):
                    spool.append("reified", built.reified)
                    spool.append("derived", built.derived)
                    spool.append("minted", built.minted)
            with stage("validation_wait"):
                if checking is not None:
                    checking.result()
        # The checker's own seconds (they overlap the stages above, so the stages add up to more
        # than the run); validation_wait is what the run waited for it.
        report.stages["validation"] = round(validator.seconds, 3)
        report.peak_mb["validation"] = report.peak_mb.get("validation_wait", 0.0)
        vreport = validator.report()
        report.validation_engine = vreport.engine
        if dry_run:
            report.violations = len(vreport.violations) + vreport.violations_omitted
            if not vreport.conforms:
                raise ValidationFailed(f"{report.violations} SHACL violation(s) in the predictions (dry run, "
                                       f"nothing written)\n{vreport.text(limit=10)}")
        else:
            vreport.save(_report_dir(settings) / f"validation-{run}.json")
            report.validation_report = vreport.path
            if not vreport.conforms:
                raise ValidationFailed(f"{len(vreport.violations) + vreport.violations_omitted} SHACL violation(s) "
                                       f"in the predictions; nothing written (report: {vreport.path})")

        carried = 0 if not same_run else live_count - len(old.statements)
        same = sum(1 for k, c in new.items() if k in old.statements and old.statements[k] == c)
        report.predictions = carried + len(new)
        report.unchanged = carried + same
        report.written = len(new) - same
        report.withdrawn = sum(1 for k in old.statements if k not in new)
        if dry_run:
            report.triples = validator.report().triples
            report.seconds = time.perf_counter() - t0
            return report

        with stage("staging"):
            prov = _provenance_lines(graphs, run, agents, ensemble,
                                     {a: fingerprints[a] for a in changed if _in_shard(a, shard, scan.shared)},
                                     vocabulary)
            spool.provenance.write_text("".join(prov), encoding="utf-8")
            # The run and state nodes (a sharded run's are written by swap_shards).
            key = input_key(digest, tasks, settings, options, graphs, ensemble.card, profile) if digest else ""
            state_lines = [] if shard is not None else [
                sparql.ntriples_line(*t) + "\n"
                for t in _run_state_triples(graphs, run, started, report, run_fp, input_key=key)]
            spool.state.write_text("".join(state_lines), encoding="utf-8")
        plan = _WritePlan(graphs=graphs, run=run, spool=spool, replace_all=not same_run,
                          withdraw=sorted(old.subjects) if same_run else [],
                          inputs_gone=[_input_node(graphs, a) for a in sorted(changed | set(deleted))
                                       if a in state.fingerprints and _in_shard(a, shard, scan.shared)],
                          live_was_empty=live_count == 0 and _count(store, graphs.predictions) == 0,
                          had_state=bool(state.run_fingerprint or state.fingerprints),
                          atomic_first_write=bool(section.get("atomic_first_write", False)))
        if shard is not None:
            with stage("staging"):
                _stage(store, plan, shard=str(shard[0]))
                report.write = "staged"
            if on_staged:
                on_staged()
        else:
            if on_staged:
                on_staged()
            with stage("swap"):
                report.write = write_graphs(store, plan)
                report.wrote = True
                after = _count_statements(store, graphs.predictions)
                report.triples = _count(store, graphs.predictions)
            if after != report.predictions:
                raise StoreError(f"after the write {graphs.predictions} holds {after} statements instead of "
                                 f"{report.predictions}; the next sync rewrites it")
    finally:
        if not (shard is not None and report.write == "staged"):
            spool.remove()
    report.seconds = time.perf_counter() - t0
    return report


def build_chunk(predictions: Sequence[Prediction], agents: Iterable[Agent], at_time: Literal,
                vocabulary: WriteVocabulary = WriteVocabulary()):
    """The N-Triples of one chunk of predictions (predictions.prediction_lines; a seam for tests)."""
    return prediction_lines(predictions, agents, at_time, vocabulary)


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


def _provenance_lines(graphs: OwnGraphs, run: str, agents: Mapping[str, Agent], ensemble,
                      fingerprints: Mapping[str, bytes], vocabulary: WriteVocabulary = WriteVocabulary()) -> list[str]:
    """What a run adds to the provenance graph besides its run and state nodes: the agents' cards,
    the run's association with them, and the new input fingerprints."""
    triples = _agent_triples(graphs, run, agents, ensemble, vocabulary)
    for artifact, fp in fingerprints.items():
        node = _input_node(graphs, artifact)
        triples.append((node, KGS.artifact, URIRef(artifact)))
        triples.append((node, KGS.fingerprint, Literal(_hex(fp))))
    return [sparql.ntriples_line(s, p, o) + "\n" for s, p, o in triples]


def _run_node(graphs: OwnGraphs, run: str) -> URIRef:
    return URIRef(f"{graphs.provenance}/run/{run}")


def _agent_triples(graphs: OwnGraphs, run: str, agents: Mapping[str, Agent], ensemble,
                   vocabulary: WriteVocabulary = WriteVocabulary()) -> list:
    run_node = _run_node(graphs, run)
    card = json.dumps(getattr(ensemble, "card", {}), sort_keys=True, ensure_ascii=False, default=str)
    triples = []
    for agent in agents.values():
        a = URIRef(agent.iri)
        triples += [(run_node, PROV.wasAssociatedWith, a), (a, RDF.type, PROV.SoftwareAgent),
                    (a, URIRef(vocabulary.description), Literal(agent.description)),
                    (a, KGS.task, Literal(agent.task)), (a, KGS.modelCard, Literal(card))]
    return triples


def _run_state_triples(graphs: OwnGraphs, run: str, started: Literal, report: SyncReport, run_fp: str,
                       statements: bool = True, input_key: str = "") -> list:
    """The run's activity with its counts, and the state node (the statement count unless ``statements``
    is False: then the request that writes it counts the live graph itself)."""
    run_node = _run_node(graphs, run)
    state_node = _state_node(graphs)
    triples = [(run_node, RDF.type, PROV.Activity), (run_node, RDF.type, KGS.SyncRun),
               (run_node, PROV.startedAtTime, started), (run_node, PROV.endedAtTime, now_literal()),
               (run_node, PROV.generated, graphs.predictions)]
    for name, value in (("artifacts", report.artifacts), ("predictions", report.predictions),
                        ("written", report.written), ("withdrawn", report.withdrawn),
                        ("unchanged", report.unchanged), ("repredictedArtifacts", report.repredicted_artifacts)):
        triples.append((run_node, KGS[name], Literal(int(value), datatype=XSD.integer)))
    for task, n in report.gaps.items():
        triples.append((run_node, KGS.gaps, Literal(f"{task}={n}")))
    if report.profile:
        # which collection profile read the inputs and wrote the predictions, and why (profiles.py)
        triples += [(run_node, KGS.profile, Literal(report.profile)),
                    (run_node, KGS.profileReason, Literal(report.profile_reason))]
    for task, why in sorted(report.inactive.items()):
        triples.append((run_node, KGS.inactiveTask, Literal(f"{task}: {why}")))
    triples += [(state_node, RDF.type, KGS.SyncState), (state_node, KGS.runFingerprint, Literal(run_fp)),
                (state_node, PROV.wasGeneratedBy, run_node)]
    if statements:
        triples.append((state_node, KGS.statements, Literal(report.predictions, datatype=XSD.integer)))
    if input_key:
        triples.append((state_node, KGS.inputKey, Literal(input_key)))
    return triples


# ------------------------------------------------------------------ the write
@dataclass
class _WritePlan:
    graphs: OwnGraphs
    run: str
    spool: _Spool
    replace_all: bool  # the whole prediction graph is replaced (else: only what `withdraw` names goes)
    withdraw: list[str]  # live-graph subjects whose triples go (statements, activities, statement subjects)
    inputs_gone: list[URIRef]  # provenance input nodes that go (re-predicted and deleted artifacts)
    live_was_empty: bool = False
    had_state: bool = True
    atomic_first_write: bool = False  # [sync] atomic_first_write: a first write in one transaction too

    def prediction_operations(self) -> list[str]:
        """The deletions in the prediction graph, as update operations."""
        if self.replace_all:
            return [] if self.live_was_empty else [sparql.prepare("drop_graph", graph=self.graphs.predictions)]
        if self.withdraw:
            return [sparql.prepare("sync_delete_subjects", graph=self.graphs.predictions,
                                   subjects=[URIRef(s) for s in self.withdraw])]
        return []

    def provenance_operations(self) -> list[str]:
        """The deletions in the provenance graph: the input nodes that go, the old state node."""
        g = self.graphs
        if not self.had_state:
            return []
        if self.replace_all:
            ops = [sparql.prepare("sync_delete_inputs", graph=g.provenance)]
        elif self.inputs_gone:
            ops = [sparql.prepare("sync_delete_subjects", graph=g.provenance, subjects=self.inputs_gone)]
        else:
            ops = []
        return ops + [sparql.prepare("sync_delete_subjects", graph=g.provenance, subjects=[_state_node(g)])]


def _fits(store: Store, operations: Sequence[str], files: Sequence[Path]) -> bool:
    """Whether operations plus the files' triples fit in one update request of the store."""
    if store.max_update_bytes is None:
        return True
    size = sum(len(op.encode("utf-8")) for op in operations) + sum(Path(f).stat().st_size for f in files)
    if size > store.max_update_bytes:
        return False
    limit = store.max_update_triples
    if limit is None:
        return True
    lines = 0
    for path in files:
        with open(path, "rb") as fh:
            lines += sum(1 for _ in fh)
    return lines <= limit


def write_graphs(store: Store, plan: _WritePlan) -> str:
    """Apply a run's spooled changes to the live graphs, in one step readers see whole where the store can.

    - a first write into an empty prediction graph: in pieces, the state node last;
    - one update request (on the embedded store: one transaction) when the change fits
      :attr:`Store.max_update_bytes`;
    - a whole new prediction graph on a store with the Graph Store Protocol: one PUT, then
      the provenance (the prediction graph goes first: if the run stops in between, the old
      provenance does not describe the live graph, and the next sync redoes the work);
    - otherwise staged (staging graphs hold no plain triple) and swapped in one request.

    Returns the way it went: bulk | load | update | put | staged.
    """
    g, spool = plan.graphs, plan.spool
    pred_ops, prov_ops = plan.prediction_operations(), plan.provenance_operations()
    prov_files = [spool.provenance, spool.state]
    first = plan.replace_all and plan.live_was_empty and not pred_ops + prov_ops
    if first and not plan.atomic_first_write:
        # A first write into an empty prediction graph has no old predictions to keep: it goes in
        # pieces (pyoxigraph's bulk loader on the embedded store, Graph Store POSTs or INSERT DATA
        # requests of batch_bytes on a remote one) -- several times faster than one transaction,
        # whose cost grows faster than the graph -- and the state node, written last in a request
        # of its own, says it is complete.  A run killed before that leaves no state: the next
        # sync replaces what it wrote.
        for graph, path in ((g.predictions, spool.reified), (g.predictions, spool.derived),
                            (g.provenance, spool.provenance)):
            store.add_ntriples(graph, path)
        store.update_with_data([], [(g.provenance, spool.state)])
        return "bulk"
    graph_file = spool.whole_graph()
    if _fits(store, pred_ops + prov_ops, [graph_file, *prov_files]):
        store.update_with_data(pred_ops + prov_ops, [(g.predictions, graph_file)]
                               + [(g.provenance, f) for f in prov_files])
        return "load" if not pred_ops + prov_ops and store.max_update_bytes is None else "update"
    if plan.replace_all and store.put_ntriples(g.predictions, graph_file):
        if _fits(store, prov_ops, prov_files):
            store.update_with_data(prov_ops, [(g.provenance, f) for f in prov_files])
        else:
            _stage(store, plan, shard="0", predictions=False)
            store.update(_swap_request(g, plan.run, ["0"], plan.replace_all, predictions=False), idempotent=False)
        return "put"
    _stage(store, plan, shard="0")
    store.update(_swap_request(g, plan.run, ["0"], plan.replace_all), idempotent=False)
    return "staged"


def _stage(store: Store, plan: _WritePlan, shard: str, predictions: bool = True) -> None:
    """Write a run's (or a shard's) spool into its staging graphs and check they are complete."""
    g, spool = plan.graphs, plan.spool
    staged, staged_prov, staged_marks = _staging_graphs(g, plan.run, shard)
    marks = [f"<{s}> <{RDF.type}> <{KGS.Withdrawn}> .\n" for s in (plan.withdraw if predictions else [])]
    marks += [f"<{n}> <{RDF.type}> <{KGS.Withdrawn}> .\n" for n in plan.inputs_gone]
    spool.withdrawn.write_text("".join(marks), encoding="utf-8")
    writes = [(staged_prov, [spool.provenance, spool.state]), (staged_marks, [spool.withdrawn])]
    if predictions:
        writes.insert(0, (staged, [spool.reified, spool.minted]))
    for graph, paths in writes:
        store.drop_graph(graph)
        expected = set()
        for path in paths:
            if path.stat().st_size:
                store.add_ntriples(graph, path)
                with open(path, encoding="utf-8") as fh:
                    expected.update(hashlib.blake2b(line.encode(), digest_size=8).digest() for line in fh)
        # A short write (a batch lost on a remote store) must never become visible.
        got = _count(store, graph)
        if got != len(expected):
            raise StoreError(f"staging graph {graph} holds {got} triples, {len(expected)} were written; "
                             "nothing replaced")


def _swap_request(graphs: OwnGraphs, run: str, shards: Sequence[str], replace_all: bool, predictions: bool = True,
                  extra: Sequence[str] = ()) -> str:
    """One update request that applies the staging graphs of every shard of a run to the live graphs
    (deriving the plain triples), then drops them.  ``extra``: operations run after the apply."""
    ops = []
    if predictions and replace_all:
        ops.append(sparql.prepare("drop_graph", graph=graphs.predictions))
    if replace_all:
        ops.append(sparql.prepare("sync_delete_inputs", graph=graphs.provenance))
    ops.append(sparql.prepare("sync_delete_subjects", graph=graphs.provenance, subjects=[_state_node(graphs)]))
    for k in shards:
        _, _, marks = _staging_graphs(graphs, run, k)
        if predictions and not replace_all:
            ops.append(sparql.prepare("sync_delete_marked", graph=graphs.predictions, marks=marks))
        if not replace_all:
            ops.append(sparql.prepare("sync_delete_marked", graph=graphs.provenance, marks=marks))
    for k in shards:
        staged, staged_prov, _ = _staging_graphs(graphs, run, k)
        if predictions:
            ops.append(sparql.prepare("sync_apply_staged", staged=staged, target=graphs.predictions))
        ops.append(sparql.prepare("sync_apply_staged", staged=staged_prov, target=graphs.provenance))
    ops.extend(extra)
    for k in shards:
        for graph in _staging_graphs(graphs, run, k):
            ops.append(sparql.prepare("drop_graph", graph=graph))
    return sparql.join_updates(ops)


def swap_shards(store: Store, settings: Settings, run: str, reports: Sequence[SyncReport]) -> SyncReport:
    """Apply every shard of a sharded run (``run_sync(shard=(k, n), run_id=run)``, all staged) in ONE update.

    The shards' reports give the counts; the request itself counts the live statements for
    the state node.  Returns the combined report.
    """
    graphs = OwnGraphs.from_settings(settings)
    if not reports or any(r.write != "staged" or r.run != run for r in reports):
        raise SyncError(f"every shard of run {run} must be staged before the swap")
    if len({r.replaced_all for r in reports}) != 1:
        raise SyncError("the shards disagree on whether the whole prediction graph is replaced; run them again")
    started = time.perf_counter()
    first = reports[0]
    merged = SyncReport(**{**first.to_dict(), "stages": {}, "peak_mb": {}})
    for name in ("written", "withdrawn", "repredicted_artifacts", "chunks"):
        setattr(merged, name, sum(getattr(r, name) for r in reports))
    merged.deleted_artifacts = first.deleted_artifacts
    if len({r.run_fingerprint for r in reports}) != 1:
        raise SyncError("the shards ran with different models, tasks or options; run them again")
    state = _run_state_triples(graphs, run, now_literal(), merged, first.run_fingerprint, statements=False)
    extra = [sparql.prepare("insert_ntriples", graph=graphs.provenance,
                            triples=sparql.RawTriples("".join(sparql.ntriples_line(*t) + "\n" for t in state))),
             sparql.prepare("sync_state_count", provenance=graphs.provenance, graph=graphs.predictions,
                            state=_state_node(graphs))]
    shards = sorted({str(k) for k in range(len(reports))})
    store.update(_swap_request(graphs, run, shards, first.replaced_all, extra=extra), idempotent=False)
    merged.predictions = _count_statements(store, graphs.predictions)
    merged.unchanged = merged.predictions - merged.written
    merged.triples = _count(store, graphs.predictions)
    merged.wrote, merged.write = True, "staged"
    merged.stages = {"swap": round(time.perf_counter() - started, 3)}
    return merged
