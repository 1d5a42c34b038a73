"""The one writer of prediction triples: reified statements with confidence and PROV-O
provenance, as N-Triples lines (the live graph, and the marks of a staging graph).

The shape is the one SILKNOW's explorer ADASilk reads from
``<http://data.silknow.org/predictions>`` (see DESIGN.md, "Predictions")::

    <stmt> a rdf:Statement ; rdf:subject ?prod ; rdf:predicate ecrm:P126_employed ;
           rdf:object <concept> ; silk:L18 "0.87"^^xsd:float ; prov:wasGeneratedBy <activity> .
    <activity> a prov:Activity ; prov:atTime ... ; prov:used <artifact>, <image> ... ;
           prov:wasAssociatedWith <agent> .
    <agent> a prov:SoftwareAgent ; ecrm:P70_documents "..." .
    ?prod ecrm:P126_employed <concept> .

The IRIs and the vocabulary come from predictions.py; every IRI is checked as it is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD
from rdflib.term import Node

from .namespaces import ECRM, KGS, PROV
from .predictions import (
    SILKNOW_VOCABULARY,
    Agent,
    GroupNode,
    Prediction,
    PredictionError,
    WriteVocabulary,
    now_literal,
)
from .sparql import iri_is_valid, serialize_term

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
# Marks a minted subject in a staging graph: the write derives its class and link triples from
# these, so that a staging graph never holds a triple a consumer could take for museum data.
MINTED_CLASS = KGS.mintedClass
MINTED_LINK = KGS.mintedLink
MINTED_LINK_FROM = KGS.mintedLinkFrom  # a minted link written artifact -> subject
MINTED_FOR = KGS.mintedFor


def _confidence_text(p: float) -> str:
    if not math.isfinite(p) or p < -1e-6 or p > 1 + 1e-6:
        raise PredictionError(f"confidence {p!r} is not a probability")
    return f"{min(1.0, max(0.0, p)):.6f}"


def _check_iri(value: str, what: str) -> URIRef:
    # Relative IRIs were a defect of the upstream write-back: refuse anything that is not absolute.
    if not iri_is_valid(value) or ":" not in value:
        raise PredictionError(f"{what} is not an absolute IRI: {value!r}")
    return URIRef(value)


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

    documents = _iri(vocabulary.description, "description property")
    out = []
    for agent in agents:
        a = _iri(agent.iri, "agent")
        if not agent.description.strip():
            raise PredictionError(f"agent {agent.iri} has no description")
        out.append(f"{a} {_T_TYPE} {_T_SOFTWARE_AGENT} .\n")
        out.append(f"{a} {documents} {serialize_term(Literal(agent.description))} .\n")
    return out


def _node_lines(node: GroupNode, iri: Callable[[str, str], str]) -> tuple[list[str], list[str]]:
    """(the triples of a group's node, the marks that stand for them in a staging graph)."""

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


def build_triples(predictions: Iterable[Prediction], agents: Iterable[Agent],
                  at_time: Literal | None = None, vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[tuple[Node, Node, Node]]:
    """All triples of the predictions graph as rdflib terms, de-duplicated and sorted (stable output):
    the N-Triples of :func:`prediction_lines` and :func:`agent_lines` (the one writer), parsed."""
    agents = list(agents)
    chunk = prediction_lines(predictions, agents, at_time, vocabulary)
    graph = Graph()
    graph.parse(data="".join(agent_lines(agents, vocabulary) + chunk.lines()), format="nt")
    # Sorted on the strings: the same predictions always give the same list (and rdflib term
    # comparison is several times slower than comparing strings).
    return sorted(graph, key=lambda t: (str(t[0]), str(t[1]), str(t[2])))
