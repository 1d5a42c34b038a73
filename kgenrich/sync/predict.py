"""The predict–validate–spool phase, chunk by chunk: records -> predictions -> N-Triples -> SHACL gate
-> spool file.  Memory is bounded by the chunk (``[sync] chunk_size`` artifacts): records, predictions
and triples exist for one chunk at a time.  Nothing reaches the store unless every chunk passed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from rdflib import Literal

from .. import validation
from ..errors import ValidationFailed
from ..pipeline import reread
from ..prediction_triples import ChunkTriples, agent_lines, prediction_lines
from ..predictions import Agent, Prediction, WriteVocabulary, dedupe, now_literal, select_predictions
from ..records import ArtifactRecord
from .context import SyncRun
from .diff import Diff
from .models import Models
from .report import report_dir
from .scan import Scan, chunks
from .spool import Spool, spool_root


def build_chunk(predictions: Sequence[Prediction], agents: Iterable[Agent], at_time: Literal,
                vocabulary: WriteVocabulary = WriteVocabulary()) -> ChunkTriples:
    """The N-Triples of one chunk of predictions (prediction_triples.prediction_lines; a seam for tests)."""
    return prediction_lines(predictions, agents, at_time, vocabulary)


def open_spool(run: SyncRun) -> Spool:
    """The run's spool: in a dry run's scratch directory, else in the spool root (one per shard)."""
    if run.dry_run:
        assert run.scratch_dir is not None  # run_sync makes one for every dry run
        return Spool(run.scratch_dir / "spool")
    name = run.run if run.shard is None else f"{run.run}-shard{run.shard[0]}"
    return Spool(spool_root(run.settings) / name)


def to_predict(run: SyncRun, scan: Scan, models: Models, diff: Diff) -> list[ArtifactRecord]:
    """The changed artifacts of this run's shard that have a gap of a predicted task."""
    return [r for r in scan.records if r.iri in diff.changed and run.in_shard(r.iri, scan.shared)
            and any(r.is_gap(t.name) for t in models.tasks)]


@dataclass
class Spooled:
    """The predict phase's result: the new statements, validated and on the spool."""

    statements: dict[str, float]  # statement IRI -> confidence
    triples: int  # triples validated (the agents' included)


def predict_validate_spool(run: SyncRun, scan: Scan, models: Models, records: Sequence[ArtifactRecord],
                           spool: Spool) -> Spooled:
    """Predict ``records`` chunk by chunk, validate each chunk and append it to the spool; raises
    ValidationFailed (after saving the validation report) when any chunk breaks a rule."""
    report, stage = run.report, run.stage
    expected = sum(sum(1 for t in models.tasks if r.is_gap(t.name)) for r in records) * models.options.top_k
    lines_of_agents = agent_lines(models.agents.values(), run.vocabulary)
    validator = validation.ChunkValidator(
        run.store, models.tasks, scan.inputs.labels, lines_of_agents, engine=run.sync.validation_engine,
        shacl_limit=run.sync.shacl_limit, expected_statements=expected, vocabulary=run.vocabulary)
    new: dict[str, float] = {}
    at_time = now_literal()
    spool.append("reified", lines_of_agents)
    # Validation runs beside the next chunk's reading, prediction and building (pyoxigraph
    # evaluates queries without holding the GIL), one chunk behind.  A chunk is spooled before
    # its check ends: nothing reaches the store unless every chunk passed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgenrich-validation") as checker:
        checking: Future | None = None
        for chunk in chunks(records, run.sync.chunk_size, scan.shared):
            report.chunks += 1
            built = _predict_chunk(run, scan, models, chunk, new, at_time)
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
    return Spooled(new, _validation_gate(run, validator.report()))


def _predict_chunk(run: SyncRun, scan: Scan, models: Models, chunk: list[ArtifactRecord],
                   seen: dict[str, float], at_time: Literal) -> ChunkTriples:
    """One chunk's records read whole, predicted, selected and built as N-Triples (statements already
    ``seen`` in an earlier chunk left out)."""
    with run.stage("extraction"):
        chunk_records = reread(run.store, run.settings, scan.inputs, chunk)
    with run.stage("prediction"):
        probabilities = models.ensemble.predict(chunk_records)
        chunk_predictions = select_predictions(chunk_records, probabilities, models.ensemble.groups, models.tasks,
                                               scan.inputs.labels, models.agents, models.options,
                                               rejected=scan.rejected, vocabulary=run.vocabulary)
    with run.stage("building"):
        unique = [p for p in dedupe(chunk_predictions) if str(p.statement) not in seen]
        return build_chunk(unique, models.agents.values(), at_time, run.vocabulary)


def _validation_gate(run: SyncRun, vreport: validation.ValidationReport) -> int:
    """Record the validation in the report (and its file, unless a dry run); raise on a violation.
    Returns the triples validated."""
    report = run.report
    report.validation_engine = vreport.engine
    violations = len(vreport.violations) + vreport.violations_omitted
    if run.dry_run:
        report.violations = violations
        if not vreport.conforms:
            raise ValidationFailed(f"{report.violations} SHACL violation(s) in the predictions (dry run, "
                                   f"nothing written)\n{vreport.text(limit=10)}")
    else:
        vreport.save(report_dir(run.settings) / f"validation-{run.run}.json")
        report.validation_report = vreport.path
        if not vreport.conforms:
            raise ValidationFailed(f"{violations} SHACL violation(s) "
                                   f"in the predictions; nothing written (report: {vreport.path})")
    return vreport.triples
