"""kgenrich sync: the whole flow, incremental, written safely.

tasks -> label groups -> records -> models (trained when missing or stale) ->
predictions for the gaps -> RDF -> SHACL gate -> staged -> swapped in.

Where things live:
- the prediction graph (``settings.predictions_graph``): what ADASilk reads;
- the provenance graph (``[sync] provenance_graph``, default ``{predictions}/provenance``):
  the run activities, model cards, counts and the per-artifact input
  fingerprints that make the next sync incremental.  Keeping the fingerprints
  in the store (not in a local file) means they always describe the graph that
  is live, whichever machine runs the next sync;
- staging graphs ``{predictions}/staging/{run}/...``: written, counted, then moved
  into place by one update request (queries/sync_swap.rq).  Any staging graph
  left by a killed run is dropped at the start of the next.

Curators' decisions (kgenrich/review/) feed back: accepted and corrected values sit in
the curated graph, which load_inputs reads as known values (the gap is closed); rejected
values are never proposed again for their artifact.  The review and curated graphs are
never written, dropped or moved here.

Incremental: an artifact whose fingerprint (values, texts, images, labels,
statement subjects) and the run fingerprint (models, tasks, groups, options)
are unchanged keeps its predictions exactly as they are in the live graph
(same IRIs, confidences and times); only the others are predicted again.  When
nothing changed, nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Protocol, Sequence

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, XSD

from . import sparql
from .config import Settings
from .config_graph import configuration_changes, trained_configuration
from .errors import KgenrichError, StoreError, ValidationFailed
from .predictions import (ECRM, KGS, PROV, Agent, Prediction, SelectionOptions, agent_iri, build_triples,
                          dedupe, inputs_used, now_literal, select_predictions, subject_for)
from .graphs import OwnGraphs
from .pipeline import load_inputs
from .records import ArtifactRecord, Task, TaskLabels
from .review.feedback import fold_rejections, rejected_values
from .store.base import Store, Triple
from . import validation

log = logging.getLogger(__name__)

TRAINING_STATE = "sync-training.json"


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
    validation_report: Optional[str] = None
    validation_engine: str = ""
    violations: int = 0
    predictions_graph: str = ""
    provenance_graph: str = ""
    run: str = ""
    # task -> confidence threshold applied, and with [sync] min_precision the models'
    # out-of-fold precision and coverage expected there (SelectionOptions.report)
    thresholds: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        gaps = ", ".join(f"{k} {v}" for k, v in self.gaps.items())
        what = "dry run, nothing written" if self.dry_run else ("graphs replaced" if self.wrote else "nothing to write")
        targets = "; ".join(
            f"{t} min_precision {v['min_precision']:g}: " + (
                f"confidence >= {v['threshold']:.3f} (expected precision {v['expected_precision']:.3f}, "
                f"coverage {v['expected_coverage']:.0%})" if v["reachable"] else
                f"not reached out of fold (best {v['expected_precision'] or 0:.3f}), nothing written")
            for t, v in self.thresholds.items() if "min_precision" in v)
        return (f"{self.artifacts} artifacts (gaps: {gaps}); {self.predictions} predictions: {self.written} written, "
                f"{self.withdrawn} withdrawn, {self.unchanged} unchanged; {self.repredicted_artifacts} artifacts "
                f"predicted{'; models trained (' + self.retrain_reason + ')' if self.trained else ''}; {what}; "
                f"{self.seconds:.1f} s" + (f"\n{targets}" if targets else ""))


# ------------------------------------------------------------------ models
class Trainer(Protocol):
    def exists(self, models_dir: Path) -> bool: ...
    def train(self, records, labels, settings, models_dir: Path, progress: bool): ...
    def load(self, models_dir: Path, settings): ...


class EnsembleTrainer:
    """The real models (kgenrich.training); tests pass a fake with the same two methods."""

    def exists(self, models_dir):
        from .training import ENSEMBLE_FILE

        return (Path(models_dir) / ENSEMBLE_FILE).is_file()

    def train(self, records, labels, settings, models_dir, progress):
        from .training import train_ensemble

        return train_ensemble(records, labels, settings, Path(models_dir), progress=progress)

    def load(self, models_dir, settings):
        from .training import Ensemble

        return Ensemble.load(Path(models_dir), settings)


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


def _training_fingerprints(records: Sequence[ArtifactRecord], fingerprints: Mapping[str, str]) -> dict[str, str]:
    return {r.iri: fingerprints[r.iri] for r in records if any(v is not None for v in r.labels.values())}


def _changed_share(old: Mapping[str, str], new: Mapping[str, str]) -> float:
    if not old:
        return 1.0 if new else 0.0
    changed = sum(1 for k in set(old) | set(new) if old.get(k) != new.get(k))
    return changed / len(old)


def run_fingerprint(model_fp: str, tasks: Sequence[Task], labels: Mapping[str, TaskLabels],
                    options: SelectionOptions, predictions_graph: str) -> str:
    """What every prediction depends on: models, tasks, group concepts, selection options."""
    return _hash({
        "model": model_fp,
        "tasks": [[t.name, t.property, t.subject_link, t.subject_class, t.artifact_class, t.min_confidence]
                  for t in tasks],
        "groups": {k: [[g.id, g.concept] for g in v.groups] for k, v in sorted(labels.items())},
        "top_k": options.top_k,
        "min_confidence": options.min_confidence,
        "graph": predictions_graph,
        "format": 1,
        **options.fingerprint(),
    })


# ------------------------------------------------------------------ graphs
def _count(store: Store, graph: URIRef) -> int:
    rows = store.select(sparql.prepare("sync_count_triples", graph=graph))
    return int(rows[0]["n"]) if rows and "n" in rows[0] else 0


def drop_staging(store: Store, graphs: OwnGraphs) -> int:
    """Drop every staging graph a previous (killed) run left behind."""
    stale = [g for g in store.graph_names() if str(g).startswith(graphs.staging_prefix)]
    for g in stale:
        store.drop_graph(g)
    return len(stale)


@dataclass
class LiveStatement:
    statement: str
    subject: str
    predicate: str
    object: str
    confidence: float
    time: Literal
    agent: str


def read_live(store: Store, graph: URIRef) -> list[LiveStatement]:
    # Pages keep answers under a store's row cap; a store without one is read in one
    # sorted pass, far cheaper than re-sorting the whole graph for every OFFSET.
    page = store.page_rows or 1 << 40
    out = []
    offset = 0
    while True:
        rows = store.select(sparql.prepare("sync_live_predictions", graph=graph, limit=page, offset=offset))
        for r in rows:
            try:
                conf = float(str(r["confidence"]))
            except ValueError:
                continue  # not ours to carry: it is predicted again
            out.append(LiveStatement(str(r["st"]), str(r["s"]), str(r["p"]), str(r["o"]), conf, r["time"],
                                     str(r["agent"])))
        if len(rows) < page:
            return out
        offset += page


@dataclass
class State:
    run_fingerprint: str = ""
    statements: int = -1
    fingerprints: dict[str, str] = field(default_factory=dict)  # artifact -> fingerprint
    history: list[Triple] = field(default_factory=list)  # earlier runs and model cards, kept


def read_state(store: Store, graphs: OwnGraphs) -> State:
    state = State()
    prefix = str(graphs.provenance)
    nodes: dict[str, dict[str, str]] = {}
    for s, p, o in store.graph_triples(graphs.provenance):
        ss = str(s)
        if ss == prefix + "/state":
            if p == KGS.runFingerprint:
                state.run_fingerprint = str(o)
            elif p == KGS.statements:
                state.statements = int(str(o))
        elif ss.startswith(prefix + "/input/"):
            nodes.setdefault(ss, {})[str(p)] = str(o)
        else:
            state.history.append((s, p, o))
    for props in nodes.values():
        artifact, fp = props.get(str(KGS.artifact)), props.get(str(KGS.fingerprint))
        if artifact and fp:
            state.fingerprints[artifact] = fp
    return state


def _input_node(graphs: OwnGraphs, artifact: str) -> URIRef:
    return URIRef(f"{graphs.provenance}/input/{uuid.uuid5(uuid.NAMESPACE_URL, artifact)}")


# ------------------------------------------------------------------ the flow
def _ensure_models(trainer: Trainer, records, labels, settings: Settings, retrain: bool, progress: bool,
                   fingerprints: Mapping[str, str], scratch_dir: Optional[Path] = None):
    """Load the models, or train them: when none exist, on --retrain, or when the data moved enough.

    With ``scratch_dir`` (a dry run) models that must be trained are trained there and the
    models directory is left exactly as it is.
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
        ensemble = trainer.train(records, labels, settings, target, progress)
        if scratch_dir is None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(_training_state(current, configuration))
        return ensemble, True, reason
    return trainer.load(models_dir, settings), False, ""


def _training_state(training: Mapping[str, str], configuration: Mapping) -> str:
    return json.dumps({"format": 2, "training": training, "configuration": configuration})


def _agents(ensemble, tasks: Sequence[Task]) -> dict[str, Agent]:
    fp = str(ensemble.card.get("fingerprint", "")) or _hash(ensemble.card)
    out = {}
    for task in tasks:
        if task.name in ensemble.groups:
            out[task.name] = Agent(str(agent_iri(task.name, fp)), task.name, ensemble.describe(task.name))
    return out


def _carry(live: list[LiveStatement], unchanged: Sequence[ArtifactRecord], tasks: Sequence[Task],
           agents: Mapping[str, Agent]) -> list[Prediction]:
    """Predictions of unchanged artifacts, rebuilt from the live graph exactly as they are."""
    units: dict[tuple[str, str], tuple[ArtifactRecord, Task, Optional[str], Optional[str]]] = {}
    for record in unchanged:
        for task in tasks:
            if task.name in agents and record.is_gap(task.name):
                subject, minted, minted_class = subject_for(record, task)
                units[(subject, task.property)] = (record, task, minted, minted_class)
    by_unit: dict[tuple[str, str], list[LiveStatement]] = {}
    for st in live:
        if (st.subject, st.predicate) in units:
            by_unit.setdefault((st.subject, st.predicate), []).append(st)
    out = []
    for key, statements in by_unit.items():
        record, task, minted, minted_class = units[key]
        statements.sort(key=lambda s: (-s.confidence, s.object))
        for rank, st in enumerate(statements, start=1):
            out.append(Prediction(record.iri, task.name, st.subject, st.predicate, st.object, "", st.confidence,
                                  rank, agents[task.name].iri, inputs_used(record), minted, minted_class,
                                  time=st.time))
    return out


def _provenance_triples(graphs: OwnGraphs, run: str, started: Literal, report: SyncReport, agents: Mapping[str, Agent],
                        ensemble, run_fp: str, fingerprints: Mapping[str, str], state: State) -> list[Triple]:
    p = str(graphs.provenance)
    triples: set[Triple] = set(state.history)
    run_node = URIRef(f"{p}/run/{run}")
    state_node = URIRef(f"{p}/state")
    add = triples.add
    add((run_node, RDF.type, PROV.Activity))
    add((run_node, RDF.type, KGS.SyncRun))
    add((run_node, PROV.startedAtTime, started))
    add((run_node, PROV.endedAtTime, now_literal()))
    add((run_node, PROV.generated, graphs.predictions))
    for name, value in (("artifacts", report.artifacts), ("predictions", report.predictions),
                        ("written", report.written), ("withdrawn", report.withdrawn),
                        ("unchanged", report.unchanged), ("repredictedArtifacts", report.repredicted_artifacts)):
        add((run_node, KGS[name], Literal(int(value), datatype=XSD.integer)))
    for task, n in report.gaps.items():
        add((run_node, KGS.gaps, Literal(f"{task}={n}")))
    card = json.dumps(getattr(ensemble, "card", {}), sort_keys=True, ensure_ascii=False, default=str)
    for agent in agents.values():
        a = URIRef(agent.iri)
        add((run_node, PROV.wasAssociatedWith, a))
        add((a, RDF.type, PROV.SoftwareAgent))
        add((a, ECRM.P70_documents, Literal(agent.description)))
        add((a, KGS.task, Literal(agent.task)))
        add((a, KGS.modelCard, Literal(card)))
    add((state_node, RDF.type, KGS.SyncState))
    add((state_node, KGS.runFingerprint, Literal(run_fp)))
    add((state_node, KGS.statements, Literal(report.predictions, datatype=XSD.integer)))
    add((state_node, PROV.wasGeneratedBy, run_node))
    for artifact, fp in fingerprints.items():
        node = _input_node(graphs, artifact)
        add((node, KGS.artifact, URIRef(artifact)))
        add((node, KGS.fingerprint, Literal(fp)))
    return sorted(triples)


def write_graphs(store: Store, graphs: OwnGraphs, run: str, triples: Sequence[Triple],
                 prov_triples: Sequence[Triple]) -> None:
    """Stage both graphs, check they are complete, then swap them in with one update request."""
    staged, staged_prov = graphs.staging(run)
    store.stage_graph(staged, triples)
    store.stage_graph(staged_prov, prov_triples)
    # A short write (a batch lost on a remote store) must never become visible.
    for graph, expected in ((staged, len(triples)), (staged_prov, len(prov_triples))):
        got = _count(store, graph)
        if got != expected:
            raise StoreError(f"staging graph {graph} holds {got} triples, {expected} were written; nothing replaced")
    # The one step that makes a sync visible.  The prediction graph goes first: on a
    # store that applies the operations one by one and stops between them, the
    # provenance graph still holds the previous fingerprints, and the next sync only
    # redoes work.  swap_graphs never repeats the request (see Store.swap_graphs).
    store.swap_graphs({graphs.predictions: staged, graphs.provenance: staged_prov})
    got = _count(store, graphs.predictions)
    if got != len(triples):
        raise StoreError(f"after the swap {graphs.predictions} holds {got} triples instead of {len(triples)}")


def _report_dir(settings: Settings) -> Path:
    return Path(settings.section("sync").get("report_dir") or Path(settings.models_dir).parent / "reports")


def run_sync(store: Store, settings: Settings, retrain: bool = False, progress: bool = True, *,
             dry_run: bool = False, trainer: Trainer | None = None) -> SyncReport:
    """Bring the prediction graph up to date with the store; see the module docstring.

    ``dry_run``: predict and validate, write nothing -- not to the store, not to the models
    directory (models that would be trained are trained in a temporary directory and
    discarded), not to the report directory.
    """
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="kgenrich-dry-run-") as scratch:
            return _run_sync(store, settings, retrain, progress, dry_run=True, trainer=trainer,
                             scratch_dir=Path(scratch))
    return _run_sync(store, settings, retrain, progress, dry_run=False, trainer=trainer, scratch_dir=None)


def _run_sync(store: Store, settings: Settings, retrain: bool, progress: bool, *, dry_run: bool,
              trainer: Trainer | None, scratch_dir: Optional[Path]) -> SyncReport:
    t0 = time.perf_counter()
    started = now_literal()
    trainer = trainer or EnsembleTrainer()
    section = settings.section("sync")
    options = SelectionOptions.from_section(section)
    graphs = OwnGraphs.from_settings(settings)
    run = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    report = SyncReport(predictions_graph=str(graphs.predictions), provenance_graph=str(graphs.provenance), run=run,
                        dry_run=dry_run)

    if not dry_run:
        report.staging_dropped = drop_staging(store, graphs)
    inputs = load_inputs(store, settings, progress=progress)
    tasks, labels, records = inputs.tasks, inputs.labels, inputs.records
    report.artifacts = len(records)
    report.gaps = {t.name: sum(1 for r in records if r.is_gap(t.name)) for t in tasks}

    # Values curators rejected on the review page: never proposed again for that artifact.
    rejected = rejected_values(store, graphs, tasks)
    fingerprints = fold_rejections({r.iri: record_fingerprint(r) for r in records}, rejected)
    ensemble, report.trained, report.retrain_reason = _ensure_models(trainer, records, labels, settings,
                                                                     retrain, progress, fingerprints, scratch_dir)
    agents = _agents(ensemble, tasks)
    predicted_tasks = [t for t in tasks if t.name in agents and t.name in labels]
    # the models' decision rules, and min_precision as thresholds from their out-of-fold precision
    options = options.for_models(getattr(ensemble, "decisions", {}), [t.name for t in predicted_tasks])
    report.thresholds = options.report(predicted_tasks)
    run_fp = run_fingerprint(str(ensemble.card.get("fingerprint", "")), predicted_tasks, labels, options,
                             str(graphs.predictions))

    state = read_state(store, graphs)
    rows = store.select(sparql.prepare("sync_count_statements", graph=graphs.predictions))
    live_count = int(rows[0]["n"]) if rows and "n" in rows[0] else 0
    # The stored fingerprints describe the live graph only if it still holds what that run wrote.
    same_run = state.run_fingerprint == run_fp and state.statements == live_count
    changed = [r for r in records if not same_run or state.fingerprints.get(r.iri) != fingerprints[r.iri]]
    deleted = [a for a in state.fingerprints if a not in fingerprints]
    report.repredicted_artifacts = len(changed)
    report.deleted_artifacts = len(deleted)
    if same_run and not changed and not deleted:
        report.predictions = report.unchanged = live_count
        report.seconds = time.perf_counter() - t0
        return report
    live = read_live(store, graphs.predictions)

    changed_iris = {r.iri for r in changed}
    unchanged = [r for r in records if r.iri not in changed_iris]
    # Carried over only when the live graph is the one the stored fingerprints describe.
    carried = _carry(live, unchanged, predicted_tasks, agents) if same_run else []
    to_predict = [r for r in changed if any(r.is_gap(t.name) for t in predicted_tasks)]
    new: list[Prediction] = []
    if to_predict:
        probabilities = ensemble.predict(to_predict)
        new = select_predictions(to_predict, probabilities, ensemble.groups, predicted_tasks, labels, agents, options,
                                 rejected=rejected)
    predictions = dedupe(carried + new)
    triples = build_triples(predictions, agents.values())

    old = {s.statement: (s.confidence, s.time) for s in live}
    new_keys = {str(p.statement): round(p.confidence, 6) for p in predictions}
    report.predictions = len(new_keys)
    report.unchanged = sum(1 for k, c in new_keys.items() if k in old and round(old[k][0], 6) == c)
    report.written = len(new_keys) - report.unchanged
    report.withdrawn = sum(1 for k in old if k not in new_keys)
    report.triples = len(triples)

    vreport = validation.validate_in_store(
        store, triples, predicted_tasks, labels, engine=section.get("validation_engine", "auto"),
        shacl_limit=int(section.get("shacl_limit", validation.DEFAULT_SHACL_LIMIT)))
    report.validation_engine = vreport.engine
    if dry_run:
        report.violations = len(vreport.violations)
        if not vreport.conforms:
            raise ValidationFailed(f"{len(vreport.violations)} SHACL violation(s) in the predictions (dry run, "
                                   f"nothing written)\n{vreport.text(limit=10)}")
    else:
        vreport.save(_report_dir(settings) / f"validation-{run}.json")
        report.validation_report = vreport.path
        if not vreport.conforms:
            raise ValidationFailed(f"{len(vreport.violations)} SHACL violation(s) in the predictions; nothing "
                                   f"written (report: {vreport.path})")
    if dry_run:
        report.seconds = time.perf_counter() - t0
        return report

    prov_triples = _provenance_triples(graphs, run, started, report, agents, ensemble, run_fp, fingerprints, state)
    write_graphs(store, graphs, run, triples, prov_triples)
    report.wrote = True
    report.seconds = time.perf_counter() - t0
    return report
