"""What a run writes into the provenance graph: its activity with the counts, the state node (run
fingerprint, statement count, input key), the agents' model cards and the artifacts' new input
fingerprints -- what makes the next sync incremental."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, XSD

from .. import sparql
from ..graphs import OwnGraphs
from ..namespaces import KGS, PROV
from ..predictions import Agent, WriteVocabulary, now_literal
from .fingerprints import as_hex
from .models import TrainedEnsemble
from .report import SyncReport
from .state import input_node, run_node, state_node

Triple = tuple[URIRef, URIRef, Any]


def provenance_lines(graphs: OwnGraphs, run: str, agents: Mapping[str, Agent], ensemble: TrainedEnsemble,
                     fingerprints: Mapping[str, Any], vocabulary: WriteVocabulary = WriteVocabulary()) -> list[str]:
    """What a run adds to the provenance graph besides its run and state nodes: the agents' cards,
    the run's association with them, and the new input fingerprints."""
    triples = agent_triples(graphs, run, agents, ensemble, vocabulary)
    for artifact, fp in fingerprints.items():
        node = input_node(graphs, artifact)
        triples.append((node, KGS.artifact, URIRef(artifact)))
        triples.append((node, KGS.fingerprint, Literal(as_hex(fp))))
    return [sparql.ntriples_line(s, p, o) + "\n" for s, p, o in triples]


def agent_triples(graphs: OwnGraphs, run: str, agents: Mapping[str, Agent], ensemble: TrainedEnsemble,
                  vocabulary: WriteVocabulary = WriteVocabulary()) -> list[Triple]:
    """The agents with their descriptions and model card, associated with the run."""
    node = run_node(graphs, run)
    card = json.dumps(ensemble.card, sort_keys=True, ensure_ascii=False, default=str)
    triples: list[Triple] = []
    for agent in agents.values():
        a = URIRef(agent.iri)
        triples += [(node, PROV.wasAssociatedWith, a), (a, RDF.type, PROV.SoftwareAgent),
                    (a, URIRef(vocabulary.description), Literal(agent.description)),
                    (a, KGS.task, Literal(agent.task)), (a, KGS.modelCard, Literal(card))]
    return triples


def run_state_triples(graphs: OwnGraphs, run: str, started: Literal, report: SyncReport, run_fp: str,
                      statements: bool = True, input_key: str = "") -> list[Triple]:
    """The run's activity with its counts, and the state node (the statement count unless ``statements``
    is False: then the request that writes it counts the live graph itself)."""
    node = run_node(graphs, run)
    state = state_node(graphs)
    triples: list[Triple] = [
        (node, RDF.type, PROV.Activity), (node, RDF.type, KGS.SyncRun), (node, PROV.startedAtTime, started),
        (node, PROV.endedAtTime, now_literal()), (node, PROV.generated, graphs.predictions)]
    for name, value in (("artifacts", report.artifacts), ("predictions", report.predictions),
                        ("written", report.written), ("withdrawn", report.withdrawn),
                        ("unchanged", report.unchanged), ("repredictedArtifacts", report.repredicted_artifacts)):
        triples.append((node, KGS[name], Literal(int(value), datatype=XSD.integer)))
    for task, n in report.gaps.items():
        triples.append((node, KGS.gaps, Literal(f"{task}={n}")))
    if report.profile:
        # which collection profile read the inputs and wrote the predictions, and why (profiles.py)
        triples += [(node, KGS.profile, Literal(report.profile)),
                    (node, KGS.profileReason, Literal(report.profile_reason))]
    for task, why in sorted(report.inactive.items()):
        triples.append((node, KGS.inactiveTask, Literal(f"{task}: {why}")))
    triples += [(state, RDF.type, KGS.SyncState), (state, KGS.runFingerprint, Literal(run_fp)),
                (state, PROV.wasGeneratedBy, node)]
    if statements:
        triples.append((state, KGS.statements, Literal(report.predictions, datatype=XSD.integer)))
    if input_key:
        triples.append((state, KGS.inputKey, Literal(input_key)))
    return triples
