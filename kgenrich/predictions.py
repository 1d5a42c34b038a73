"""Probabilities -> RDF: reified statements with confidence and PROV-O provenance.

The shape is the one SILKNOW's explorer ADASilk reads from
``<http://data.silknow.org/predictions>`` (see DESIGN.md, "Predictions")::

    <stmt> a rdf:Statement ; rdf:subject ?prod ; rdf:predicate ecrm:P126_employed ;
           rdf:object <concept> ; silk:L18 "0.87"^^xsd:float ; prov:wasGeneratedBy <activity> .
    <activity> a prov:Activity ; prov:atTime ... ; prov:used <artifact>, <image> ... ;
           prov:wasAssociatedWith <agent> .
    <agent> a prov:SoftwareAgent ; ecrm:P70_documents "..." .
    ?prod ecrm:P126_employed <concept> .

Every IRI is derived deterministically from what it names (uuid5 under a
kgenrich namespace), so the same prediction always gets the same statement
IRI, a re-run produces identical triples, and nothing is a blank node.  The
upstream defects this module avoids: relative IRIs (every value here is an
absolute concept IRI of the task's groups), duplicated statements (one IRI per
subject/predicate/object, triples de-duplicated) and unvalidated output (see
validation.py).
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
from rdflib.namespace import RDF, XSD

from .calibration import TaskCalibration, decision_scores
from .config import SyncSettings
from .errors import KgenrichError
from .labels import date_group_info
from .namespaces import ECRM, KGS, PROV, SILK, STATEMENT_NS
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


def confidence_literal(p: float) -> Literal:
    """silk:L18 value: xsd:float with six decimals, as SILKNOW wrote it."""
    return Literal(_confidence_text(p), datatype=XSD.float)


def _confidence_text(p: float) -> str:
    if not math.isfinite(p) or p < -1e-6 or p > 1 + 1e-6:
        raise PredictionError(f"confidence {p!r} is not a probability")
    return f"{min(1.0, max(0.0, p)):.6f}"


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


def _check_iri(value: str, what: str) -> URIRef:
    # Relative IRIs were a defect of the upstream write-back: refuse anything that is not absolute.
    if not iri_is_valid(value) or ":" not in value:
        raise PredictionError(f"{what} is not an absolute IRI: {value!r}")
    return URIRef(value)


def build_triples(predictions: Iterable[Prediction], agents: Iterable[Agent],
                  at_time: Literal | None = None, vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[tuple]:
    """All triples of the predictions graph as rdflib terms, de-duplicated and sorted (stable output):
    the N-Triples of :func:`prediction_lines` and :func:`agent_lines` (the one writer), parsed."""
    from rdflib import Graph

    agents = list(agents)
    chunk = prediction_lines(predictions, agents, at_time, vocabulary)
    graph = Graph()
    graph.parse(data="".join(agent_lines(agents, vocabulary) + chunk.lines()), format="nt")
    # Sorted on the strings: the same predictions always give the same list (and rdflib term
    # comparison is several times slower than comparing strings).
    return sorted(graph, key=lambda t: (str(t[0]), str(t[1]), str(t[2])))


def dedupe(predictions: Iterable[Prediction]) -> list[Prediction]:
    """One prediction per statement IRI (the most confident wins), in a stable order."""
    best: dict[URIRef, Prediction] = {}
    for p in predictions:
        key = p.statement
        if key not in best or p.confidence > best[key].confidence:
            best[key] = p
    return sorted(best.values(), key=lambda p: (p.artifact, p.task, p.rank, p.object))


# ------------------------------------------------------------------ N-Triples, chunk by chunk
_RDF_NS = str(RDF)
_T_TYPE = f"<{_RDF_NS}type>"
_T_STATEMENT = f"<{_RDF_NS}Statement>"
_T_SUBJECT = f"<{_RDF_NS}subject>"
_T_PREDICATE = f"<{_RDF_NS}predicate>"
_T_OBJECT = f"<{_RDF_NS}object>"
_T_GENERATED = f"<{PROV.wasGeneratedBy}>"
_T_ACTIVITY = f"<{PROV.Activity}>"
_T_AT_TIME = f"<{PROV.atTime}>"
_T_ASSOCIATED = f"<{PROV.wasAssociatedWith}>"
_T_USED = f"<{PROV.used}>"
_T_SOFTWARE_AGENT = f"<{PROV.SoftwareAgent}>"
_T_FLOAT = f"<{XSD.float}>"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_T_DATETIME = f"<{XSD.dateTime}>"
# Marks a minted subject in a staging graph: the write derives its class and link triples from
# these, so that a staging graph never holds a triple a consumer could take for museum data.
MINTED_CLASS = KGS.mintedClass
MINTED_LINK = KGS.mintedLink
MINTED_LINK_FROM = KGS.mintedLinkFrom  # a minted link written artifact -> subject
MINTED_FOR = KGS.mintedFor
# Marks of a date group's time-span node in a staging graph (the write derives its triples).
_SPAN_MARKS = (KGS.spanClass, KGS.spanLabel, KGS.spanBeginProperty, KGS.spanBegin, KGS.spanEndProperty,
               KGS.spanEnd)


def _iri(value: str, what: str) -> str:
    _check_iri(value, what)
    return f"<{value}>"


def _literal(text: str, datatype: str) -> str:
    return f'"{text}"^^{datatype}'


@dataclass
class ChunkTriples:
    """One chunk of the prediction graph as N-Triples lines (each ends with a newline).

    ``reified``: the statements and their activities -- what a SPARQL consumer reads as a
    prediction, never as an asserted fact.  ``derived``: the plain triple of every statement
    and the class and link of every minted subject: the data-like part, derivable from
    ``reified`` plus ``minted`` (which says, per minted subject, its class, link and artifact).
    ``statements``: (statement IRI, confidence) of each statement in the chunk.
    """

    reified: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)
    statements: list[tuple[str, float]] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        """The chunk as it reads in the live prediction graph."""
        return self.reified + self.derived


def agent_lines(agents: Iterable[Agent], vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[str]:
    """The N-Triples of the software agents (one description each)."""
    from .sparql import serialize_term

    documents = _iri(vocabulary.description, "description property")
    out = []
    for agent in agents:
        a = _iri(agent.iri, "agent")
        if not agent.description.strip():
            raise PredictionError(f"agent {agent.iri} has no description")
        out.append(f"{a} {_T_TYPE} {_T_SOFTWARE_AGENT} .\n")
        out.append(f"{a} {documents} {serialize_term(Literal(agent.description))} .\n")
    return out


def _node_lines(node: GroupNode, iri) -> tuple[list[str], list[str]]:
    """(the triples of a group's node, the marks that stand for them in a staging graph)."""
    from .sparql import serialize_term

    subject = iri(node.iri, "group node")
    begin = serialize_term(Literal(node.begin, datatype=XSD.dateTime))
    end = serialize_term(Literal(node.end, datatype=XSD.dateTime))
    label = serialize_term(Literal(node.label, lang="en"))
    begin_p, end_p = iri(node.begin_property, "begin property"), iri(node.end_property, "end property")
    data = [f"{subject} {begin_p} {begin} .\n", f"{subject} {end_p} {end} .\n",
            f"{subject} <{RDFS_LABEL}> {label} .\n"]
    marks = [f"{subject} <{KGS.spanLabel}> {label} .\n", f"{subject} <{KGS.spanBeginProperty}> {begin_p} .\n",
             f"{subject} <{KGS.spanBegin}> {begin} .\n", f"{subject} <{KGS.spanEndProperty}> {end_p} .\n",
             f"{subject} <{KGS.spanEnd}> {end} .\n"]
    if node.cls:
        cls = iri(node.cls, "class")
        data.append(f"{subject} {_T_TYPE} {cls} .\n")
        marks.append(f"{subject} <{KGS.spanClass}> {cls} .\n")
    return data, marks


def prediction_lines(predictions: Iterable[Prediction], agents: Iterable[Agent],
                     at_time: Literal | None = None, vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> ChunkTriples:
    """The triples of the prediction graph for ``predictions`` (without the agents'), as N-Triples
    lines, de-duplicated, in a stable order; several times faster than rdflib terms.

    Checked as they are written: absolute IRIs everywhere, known agents, probabilities.
    """
    from .sparql import serialize_term

    at_time = at_time or now_literal()
    confidence_property = _iri(vocabulary.confidence, "confidence property")
    default_time = serialize_term(at_time)
    known_agents = {a.iri for a in agents}
    out = ChunkTriples()
    reified: dict[str, None] = {}
    derived: dict[str, None] = {}
    minted: dict[str, None] = {}
    minted_terms: dict[tuple[str, str], tuple[str, str, bool]] = {}
    nodes: dict[str, GroupNode] = {}
    checked: dict[str, str] = {}  # IRIs repeat (predicates, concepts, a production's tasks): check each once

    def iri(value: str, what: str) -> str:
        term = checked.get(value)
        if term is None:
            term = checked[value] = _iri(value, what)
        return term

    for p in predictions:
        if p.agent not in known_agents:
            raise PredictionError(f"prediction for {p.artifact} names an unknown agent {p.agent}")
        subject = iri(p.subject, "statement subject")
        predicate = iri(p.predicate, "predicate")
        obj = iri(p.object, f"predicted value of {p.task} for {p.artifact}")
        st = f"<{p.statement}>"
        act = f"<{p.activity}>"
        confidence = _confidence_text(p.confidence)
        time_term = serialize_term(p.time) if p.time is not None else default_time
        for line in (f"{st} {_T_TYPE} {_T_STATEMENT} .\n",
                     f"{st} {_T_SUBJECT} {subject} .\n",
                     f"{st} {_T_PREDICATE} {predicate} .\n",
                     f"{st} {_T_OBJECT} {obj} .\n",
                     f"{st} {confidence_property} {_literal(confidence, _T_FLOAT)} .\n",
                     f"{st} {_T_GENERATED} {act} .\n",
                     f"{act} {_T_TYPE} {_T_ACTIVITY} .\n",
                     f"{act} {_T_AT_TIME} {time_term} .\n",
                     f"{act} {_T_ASSOCIATED} <{p.agent}> .\n"):
            reified[line] = None
        for u in p.used:
            reified[f"{act} {_T_USED} {iri(u, 'prov:used input')} .\n"] = None
        derived[f"{subject} {predicate} {obj} .\n"] = None
        if p.object_node is not None:
            nodes[p.object_node.iri] = p.object_node
        if p.minted_subject:
            cls = iri(p.minted_class or str(ECRM.E12_Production), "class")
            link = iri(p.minted_subject, "subject link")
            artifact = iri(p.artifact, "artifact")
            minted_terms[(subject, link)] = (cls, artifact, p.minted_inverse)
            derived[f"{subject} {_T_TYPE} {cls} .\n"] = None
            derived[f"{artifact} {link} {subject} .\n" if p.minted_inverse else f"{subject} {link} {artifact} .\n"] = None
        out.statements.append((str(p.statement), float(confidence)))
        out.subjects.add(p.subject)
    for (subject, link), (cls, artifact, inverse) in minted_terms.items():
        minted[f"{subject} <{MINTED_CLASS}> {cls} .\n"] = None
        minted[f"{subject} <{MINTED_LINK_FROM if inverse else MINTED_LINK}> {link} .\n"] = None
        minted[f"{subject} <{MINTED_FOR}> {artifact} .\n"] = None
    for node in nodes.values():
        data, marks = _node_lines(node, iri)
        for line in data:
            derived[line] = None
        for line in marks:
            minted[line] = None
    out.reified, out.derived, out.minted = list(reified), list(derived), list(minted)
    return out
