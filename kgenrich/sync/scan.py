"""The scan phase: the run's definitions (tasks, profile), then one paged pass over the collection that
keeps little per artifact -- a fingerprint and the task values -- and the label groups over those
values (pipeline.scan_inputs); curators' rejections join the fingerprints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..pipeline import Inputs, complete, reread, scan_inputs
from ..predictions import WriteVocabulary
from ..records import ArtifactRecord
from ..review.feedback import fold_rejections, rejected_values
from ..tasks import load_definitions
from .context import SyncRun
from .fingerprints import record_fingerprint


def read_definitions(run: SyncRun) -> None:
    """The enabled tasks and the collection profile (into ``run``: every later phase reads them)."""
    with run.stage("extraction"):
        definitions = load_definitions(run.store, run.settings)
        profile = definitions.profile
        assert profile is not None  # load_definitions resolves the profile when none is given
        run.tasks, run.profile = definitions.tasks, profile
        run.vocabulary = WriteVocabulary.of(profile)
    run.report.profile, run.report.profile_reason = profile.name, profile.reason


@dataclass
class Scan:
    """What the first pass over the store keeps: little per artifact."""

    inputs: Inputs  # tasks, label groups; records with IRI, graph, museum and task values only
    fingerprints: dict[str, Any]  # artifact -> 16-byte digest of everything its predictions read (and rejections)
    full: list[ArtifactRecord]  # whole records of the artifacts with task values, when asked for (training)
    shared: dict[str, list[str]]  # artifact -> the artifacts whose statements share a subject with it
    # (artifact, task) -> the values curators rejected: never proposed again for that artifact
    rejected: Mapping[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def records(self) -> list[ArtifactRecord]:
        return self.inputs.records


def scan_collection(run: SyncRun) -> Scan:
    """One pass over the collection: fingerprints and task values per artifact, the label groups, the
    rejected values; the whole records too where the models are likely to be trained."""
    keep_full = run.shard is None and (run.retrain or not run.trainer.exists(run.models_dir))
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

    inputs = scan_inputs(run.store, run.settings, keep, tasks=run.tasks, profile=run.profile, progress=run.progress,
                         timed=run.stage)
    records = inputs.records
    run.report.artifacts = len(records)
    run.report.gaps = {t.name: sum(1 for r in records if r.is_gap(t.name)) for t in run.tasks}
    # Values curators rejected on the review page: never proposed again for that artifact, and a
    # new rejection changes that artifact's fingerprint (it is predicted again, and only it).
    rejected = rejected_values(run.store, run.graphs, run.tasks)
    return Scan(inputs, fold_rejections(fingerprints, rejected), full, shared, rejected)


def training_records(run: SyncRun, scan: Scan) -> list[ArtifactRecord]:
    """The labelled artifacts with everything the models read: kept from the first pass when training
    was likely, else read again now."""
    records = scan.records
    labelled = {r.iri for r in records if any(v is not None for v in r.labels.values())}
    full = [r for r in scan.full if r.iri in labelled]
    if len(full) < len(labelled):
        return reread(run.store, run.settings, scan.inputs, [r for r in records if r.iri in labelled])
    return complete(run.store, scan.inputs, full)


def chunks(records: Sequence[ArtifactRecord], size: int, shared: Mapping[str, list[str]]) -> Iterator[list[ArtifactRecord]]:
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
