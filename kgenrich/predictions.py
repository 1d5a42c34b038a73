"""What is predicted: the write vocabulary, the deterministic IRIs of what is written, the
predictions and agents, and choosing them from probabilities (top-k above a threshold).

Every IRI is derived deterministically from what it names (uuid5 under a
kgenrich namespace), so the same prediction always gets the same statement
IRI, a re-run produces identical triples, and nothing is a blank node.  The
upstream defects this avoids: relative IRIs (every value here is an absolute
concept IRI of the task's groups), duplicated statements (one IRI per
subject/predicate/object, see :func:`dedupe`) and unvalidated output (see
validation.py).  The triples themselves are written by prediction_triples.py.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from .calibration import TaskCalibration, decision_scores
from .config import SyncSettings
from .errors import KgenrichError
from .labels import date_group_info
from .namespaces import ECRM, SILK, STATEMENT_NS
from .records import ArtifactRecord
from .sparql import iri_is_valid
from .task_types import Task, TaskLabels

_SILKNOW_BASE = STATEMENT_NS[: -len("statement/")]


@dataclass(frozen=True)
class WriteVocabulary:
    """How predictions are written into a collection's graph (its profile says, profiles.py): the
    property of a statement's confidence, of an agent's description, and the IRI space minted in.
    The defaults are SILKNOW's, which ADASilk reads."""

    confidence: str = str(SILK.L18)
    description: str = str(ECRM.P70_documents)
    namespace: str = _SILKNOW_BASE

    @classmethod
    def of(cls, profile) -> WriteVocabulary:
        """The vocabulary of a profiles.Profile (None: SILKNOW's)."""
        if profile is None:
            return cls()
        return cls(profile.confidence_property, profile.description_property, profile.mint_namespace)

    def fingerprint(self) -> list[str]:
        return [self.confidence, self.description, self.namespace]


SILKNOW_VOCABULARY = WriteVocabulary()

# A namespace of our own for uuid5: SILKNOW's pipeline minted uuid5 IRIs in the same
# http://data.silknow.org/statement/ space, and ours must never coincide with theirs.
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/kgenrich/predictions")


class PredictionError(KgenrichError):
    """Probabilities or settings that cannot be turned into predictions."""


def _uuid(*parts: str) -> str:
    # "\x1f" cannot occur in an IRI, so different part splits never collide.
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def statement_iri(subject: str, predicate: str, obj: str, namespace: str = _SILKNOW_BASE) -> URIRef:
    """Same subject, predicate and object -> same statement IRI."""
    return URIRef(f"{namespace}statement/" + _uuid("statement", subject, predicate, obj))


def activity_iri(subject: str, predicate: str, namespace: str = _SILKNOW_BASE) -> URIRef:
    # One activity per predicted (subject, property): the top-k statements of one gap share it.
    return URIRef(f"{namespace}activity/" + _uuid("activity", subject, predicate))


def minted_production_iri(artifact: str, subject_link: str, namespace: str = _SILKNOW_BASE) -> URIRef:
    """The production (or other statement subject) written for an artifact that has none
    (deterministic per artifact and link)."""
    return URIRef(f"{namespace}production/" + _uuid("production", artifact, subject_link))


def agent_iri(task: str, model_fingerprint: str, namespace: str = _SILKNOW_BASE) -> URIRef:
    # A retrained model is a different agent: its description (scores, data) differs.
    fp = "".join(ch for ch in model_fingerprint if ch.isalnum())[:16] or "unversioned"
    return URIRef(f"{namespace}actor/kgenrich/{task}/{fp}")


@dataclass(frozen=True)
class GroupNode:
    """A node kgenrich writes for a predicted group that has no IRI of its own in the collection: the
    time-span of a date group (kge:DateGrouping), with its bounds and an English label."""

    iri: str
    label: str
    begin_property: str
    begin: str  # xsd:dateTime text
    end_property: str
    end: str
    cls: str | None = None


def group_node(task: Task, group_id: str) -> GroupNode | None:
    """The node written for a predicted group of ``task`` (date groups only), or None."""
    if task.grouping != "date":
        return None
    label, iri, begin, end = date_group_info(group_id)
    return GroupNode(iri, label, str(task.begin_property), begin, str(task.end_property), end, task.group_class)


def now_literal() -> Literal:
    return Literal(datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   datatype=XSD.dateTime)


@dataclass(frozen=True)
class Prediction:
    """One predicted value for one gap."""

    artifact: str
    task: str
    subject: str  # the production (or the minted one), or the artifact for depiction
    predicate: str
    object: str  # the group's representative concept
    group: str
    confidence: float
    rank: int  # 1 = top-1
    agent: str
    used: tuple[str, ...]  # prov:used: the artifact (which also stands for its texts) and its images
    minted_subject: str | None = None  # subject_link when the subject was minted here
    minted_class: str | None = None  # and the class the minted subject gets
    time: Literal | None = None  # prov:atTime; None = now at build time
    minted_inverse: bool = False  # the minted link is written artifact -> subject (Linked Art)
    namespace: str = _SILKNOW_BASE  # the IRI space statements and activities are minted in
    object_node: GroupNode | None = None  # the node written for the object (a date group's time-span)

    @property
    def statement(self) -> URIRef:
        return statement_iri(self.subject, self.predicate, self.object, self.namespace)

    @property
    def activity(self) -> URIRef:
        return activity_iri(self.subject, self.predicate, self.namespace)


@dataclass
class Agent:
    iri: str
    task: str
    description: str


@dataclass
class SelectionOptions:
    """How probabilities become predictions ([sync] top_k / min_confidence / min_precision)."""

    top_k: int = 1
    # A number for every task, or {task: number}; the task definition's kge:minConfidence
    # is the floor either way.
    min_confidence: float | Mapping[str, float] = 0.0
    # A precision target for every task, or {task: target}: the threshold is the lowest
    # confidence at which the models' out-of-fold precision reaches it (``for_models``).
    min_precision: float | Mapping[str, float] | None = None
    # Filled by ``for_models`` from the trained models: task -> threshold_for_precision(...)
    precision_thresholds: Mapping[str, dict] = field(default_factory=dict)
    # task -> the task's decision rule (``offsets`` on the log-probabilities, calibration.TaskCalibration)
    decisions: Mapping[str, TaskCalibration] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, sync: SyncSettings) -> SelectionOptions:
        """The options of ``[sync]`` (config.py has checked them)."""
        return cls(top_k=sync.top_k, min_confidence=sync.min_confidence, min_precision=sync.min_precision)

    def precision_target(self, task: str) -> float | None:
        mp = self.min_precision
        value = mp.get(task) if isinstance(mp, Mapping) else mp
        return None if value is None else float(value)

    def for_models(self, decisions: Mapping[str, TaskCalibration], tasks: Iterable[str]) -> SelectionOptions:
        """These options with the models' decision rules, and ``min_precision`` resolved into
        thresholds from their out-of-fold precision curves, for the predicted ``tasks``."""
        resolved = {}
        for task in tasks:
            target = self.precision_target(task)
            if target is None:
                continue
            if task not in decisions:
                raise PredictionError(f"[sync] min_precision: the trained models have no out-of-fold precision "
                                      f"curve for task {task}; retrain them (kgenrich sync --retrain)")
            resolved[task] = decisions[task].threshold(target)
        return dataclasses.replace(self, precision_thresholds=resolved, decisions=dict(decisions))

    def threshold(self, task: Task) -> float:
        mc = self.min_confidence
        value = mc.get(task.name, 0.0) if isinstance(mc, Mapping) else mc
        value = max(float(value), float(task.min_confidence or 0.0))
        if task.name in self.precision_thresholds:
            reached = self.precision_thresholds[task.name]["threshold"]
            # a target no threshold reaches out of fold: write nothing for the task
            value = max(value, math.inf if reached is None else float(reached))
        return value

    def report(self, tasks: Sequence[Task]) -> dict:
        """Per task: the confidence threshold applied and, for a precision target, what the models
        expect there (out-of-fold precision and the share of gaps that get a prediction)."""
        out = {}
        for task in tasks:
            entry: dict[str, Any] = {"threshold": self.threshold(task)}
            if task.name in self.precision_thresholds:
                found = self.precision_thresholds[task.name]
                entry.update(min_precision=found["target"], expected_precision=found["precision"],
                             expected_coverage=found["coverage"], reachable=found["threshold"] is not None)
            if math.isinf(entry["threshold"]):
                entry["threshold"] = None
            out[task.name] = entry
        return out

    def fingerprint(self) -> dict:
        """What predictions depend on beyond top_k and min_confidence (empty when nothing is set)."""
        out: dict[str, Any] = {}
        if self.min_precision is not None:
            out["min_precision"] = self.min_precision
            out["precision_thresholds"] = {t: v["threshold"] for t, v in sorted(self.precision_thresholds.items())}
        offsets = {t: [round(float(o), 6) for o in d.offsets] for t, d in sorted(self.decisions.items())}
        if any(any(o) for o in offsets.values()):
            out["offsets"] = offsets
        return out


def subject_for(record: ArtifactRecord, task: Task,
                namespace: str = _SILKNOW_BASE) -> tuple[str, str | None, str | None]:
    """(statement subject, subject_link if minted, class if minted) for one artifact and task."""
    if not task.subject_link:
        return record.iri, None, None
    subject = record.subjects.get(task.name)
    if subject:
        return subject, None, None
    cls = task.subject_class or str(ECRM.E12_Production)
    link_key = ("^" if task.subject_inverse else "") + task.subject_link
    return str(minted_production_iri(record.iri, link_key, namespace)), task.subject_link, cls


def inputs_used(record: ArtifactRecord) -> tuple[str, ...]:
    # The artifact stands for itself and its texts (texts are literals on it); images are nodes.
    used = [record.iri] + [i for i in record.image_nodes if iri_is_valid(i) and ":" in i]
    return tuple(dict.fromkeys(used))


def select_predictions(
    records: Sequence[ArtifactRecord],
    probabilities: Mapping[str, np.ndarray],
    model_groups: Mapping[str, Sequence[str]],
    tasks: Sequence[Task],
    labels: Mapping[str, TaskLabels],
    agents: Mapping[str, Agent],
    options: SelectionOptions | None = None,
    rejected: Mapping[tuple[str, str], Iterable[str]] | None = None,
    vocabulary: WriteVocabulary = SILKNOW_VOCABULARY,
) -> list[Prediction]:
    """The predictions for every gap of ``records``: top-1 (or top-k) above the threshold.

    The order of the groups is the task's decision rule in ``options.decisions``
    (per-group offsets on the log-probabilities), or the probabilities' own.

    ``probabilities[task]`` has one row per record (in order) and one column per
    ``model_groups[task]`` entry.  Columns whose group is no longer a label group
    of the task are never chosen: their concept would not be a valid value.
    ``rejected[(artifact, task)]``: values a curator rejected for that artifact (the review
    page); a group whose concept (or a member) was rejected is never proposed for it again,
    and the next best group is, if it passes the threshold.
    """
    rejected = rejected or {}
    options = options or SelectionOptions()
    out: list[Prediction] = []
    for task in tasks:
        if task.name not in probabilities or task.name not in labels:
            continue
        probs = np.asarray(probabilities[task.name], dtype=float)
        columns = list(model_groups.get(task.name, []))
        if probs.ndim != 2 or probs.shape != (len(records), len(columns)):
            raise PredictionError(
                f"task {task.name}: probabilities of shape {probs.shape} for {len(records)} artifacts "
                f"and {len(columns)} groups")
        if not np.all(np.isfinite(probs)):
            raise PredictionError(f"task {task.name}: probabilities contain NaN or infinity")
        concepts = {g.id: g.concept for g in labels[task.name].groups}
        valid = np.array([gid in concepts for gid in columns], dtype=bool)
        if not valid.any():
            continue
        agent = agents[task.name]
        threshold = options.threshold(task)
        masked = np.where(valid[None, :], probs, -1.0)
        # The task's decision rule (offsets on the log-probabilities, tuned for macro-F1) orders
        # the groups; the confidence written stays the probability.  Stable sort on the negated
        # scores: ties go to the earlier group, reproducibly.
        offsets = np.asarray(getattr(options.decisions.get(task.name), "offsets", []), dtype=float)
        score = decision_scores(probs, offsets if offsets.shape == (len(columns),) else None)
        score = np.where(valid[None, :], score, -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")[:, : options.top_k]
        groups = {g.id: g for g in labels[task.name].groups}
        nodes = {gid: group_node(task, gid) for gid in groups}
        for i, record in enumerate(records):
            if not record.is_gap(task.name):
                continue
            subject, minted, minted_class = subject_for(record, task, vocabulary.namespace)
            used = inputs_used(record)
            row_order = order[i]
            refused = set(rejected.get((record.iri, task.name), ()))
            if refused:
                # a value a curator rejected for this artifact is never proposed again: the next best is
                keep = np.array([not (gid in groups and (groups[gid].concept in refused
                                                         or refused.intersection(groups[gid].members)))
                                 for gid in columns], dtype=bool)
                row = np.where(keep, masked[i], -1.0)
                row_order = np.argsort(-np.where(keep, score[i], -np.inf), kind="stable")[: options.top_k]
            else:
                row = masked[i]
            for rank, j in enumerate(row_order, start=1):
                p = float(row[j])
                if p < 0 or p < threshold or (rank > 1 and p <= 0):
                    break
                gid = columns[j]
                out.append(Prediction(record.iri, task.name, subject, task.property, concepts[gid], gid,
                                      p, rank, agent.iri, used, minted, minted_class,
                                      minted_inverse=bool(minted and task.subject_inverse),
                                      namespace=vocabulary.namespace, object_node=nodes.get(gid)))
    return out


def dedupe(predictions: Iterable[Prediction]) -> list[Prediction]:
    """One prediction per statement IRI (the most confident wins), in a stable order."""
    best: dict[URIRef, Prediction] = {}
    for p in predictions:
        key = p.statement
        if key not in best or p.confidence > best[key].confidence:
            best[key] = p
    return sorted(best.values(), key=lambda p: (p.artifact, p.task, p.rank, p.object))

