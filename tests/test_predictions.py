"""Probabilities -> reified statements: shape, determinism, gaps only, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, XSD

from kgenrich.config import SyncSettings, load_settings
from kgenrich.errors import ConfigError
from kgenrich.namespaces import ECRM, PROV, SILK
from kgenrich.prediction_triples import build_triples
from kgenrich.predictions import (
    Agent,
    PredictionError,
    SelectionOptions,
    agent_iri,
    dedupe,
    minted_production_iri,
    select_predictions,
    statement_iri,
)
from kgenrich.records import ArtifactRecord
from kgenrich.task_types import Group, Task, TaskLabels

E = "http://erlangen-crm.org/current/"
MATERIAL = Task("material", "https://w3id.org/kgenrich/task/material", "material", E + "E22_Man-Made_Object",
                E + "P126_employed", "collection", subject_link=E + "P108_has_produced",
                subject_class=E + "E12_Production")
DEPICTION = Task("depiction", "https://w3id.org/kgenrich/task/depiction", "depiction", E + "E22_Man-Made_Object",
                 E + "P65_shows_visual_item", "collection", min_confidence=0.5)
TASKS = [MATERIAL, DEPICTION]
LABELS = {t.name: TaskLabels(t, [Group(f"g{i}", f"g{i}", f"http://example.org/{t.name}/c{i}") for i in range(3)], [], 0)
          for t in TASKS}
GROUPS = {t.name: ["g0", "g1", "g2"] for t in TASKS}
AGENTS = {t.name: Agent(str(agent_iri(t.name, "fp123")), t.name, f"model for {t.name}") for t in TASKS}


def records():
    return [
        ArtifactRecord("http://example.org/obj/1", "g", "m", image_nodes=["http://example.org/img/1"],
                       subjects={"material": "http://example.org/prod/1"}),
        ArtifactRecord("http://example.org/obj/2", "g", "m", values={"material": ["http://example.org/x"]},
                       subjects={"material": "http://example.org/prod/2"}),
        ArtifactRecord("http://example.org/obj/3", "g", "m"),  # no production node
    ]


PROBS = {"material": np.array([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05], [0.3, 0.3, 0.4]]),
         "depiction": np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.4, 0.35, 0.25]])}


def test_top1_for_gaps_only_with_threshold():
    preds = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    got = {(p.artifact.rsplit("/", 1)[1], p.task, p.group) for p in preds}
    # obj/2 has a material value: no material prediction; depiction of obj/3 is below its 0.5 threshold.
    assert got == {("1", "material", "g1"), ("3", "material", "g2"), ("1", "depiction", "g0"),
                   ("2", "depiction", "g2")}


def test_top_k_and_global_min_confidence(tmp_path):
    opts = SelectionOptions.from_settings(SyncSettings(top_k=2, min_confidence={"material": 0.25}))
    preds = select_predictions(records(), PROBS, GROUPS, [MATERIAL], LABELS, AGENTS, opts)
    got = sorted((p.artifact[-1], p.group, p.rank) for p in preds)
    assert got == [("1", "g1", 1), ("3", "g0", 2), ("3", "g2", 1)]
    # a bad value is refused where the settings are read (config.py), before any option is made
    for bad, message in (("top_k = 0", "whole number"), ("min_confidence = 2", r"number in \[0, 1\]")):
        (tmp_path / "kgenrich.toml").write_text(f"[sync]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(environ={}, cwd=tmp_path)


def test_statement_shape_and_provenance():
    preds = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    triples = set(build_triples(preds, AGENTS.values()))
    p = next(p for p in preds if p.artifact.endswith("/1") and p.task == "material")
    st, act = p.statement, p.activity
    assert (st, RDF.type, RDF.Statement) in triples
    assert (st, RDF.subject, URIRef("http://example.org/prod/1")) in triples
    assert (st, RDF.predicate, ECRM.P126_employed) in triples
    assert (st, RDF.object, URIRef("http://example.org/material/c1")) in triples
    assert (st, SILK.L18, Literal("0.700000", datatype=XSD.float)) in triples
    assert (st, PROV.wasGeneratedBy, act) in triples
    assert (act, PROV.used, URIRef("http://example.org/obj/1")) in triples
    assert (act, PROV.used, URIRef("http://example.org/img/1")) in triples
    assert (act, PROV.wasAssociatedWith, URIRef(p.agent)) in triples
    assert (URIRef(p.agent), RDF.type, PROV.SoftwareAgent) in triples
    assert (URIRef(p.agent), ECRM.P70_documents, Literal("model for material")) in triples
    assert (URIRef("http://example.org/prod/1"), ECRM.P126_employed, URIRef("http://example.org/material/c1")) in triples
    # depiction: the artifact is the subject
    d = next(p for p in preds if p.task == "depiction" and p.artifact.endswith("/1"))
    assert d.subject == "http://example.org/obj/1"
    assert not any(isinstance(t, BNode) for tr in triples for t in tr)


def test_minted_production_when_none_exists():
    preds = select_predictions(records(), PROBS, GROUPS, [MATERIAL], LABELS, AGENTS)
    p = next(p for p in preds if p.artifact.endswith("/3"))
    prod = minted_production_iri("http://example.org/obj/3", E + "P108_has_produced")
    assert p.subject == str(prod)
    triples = set(build_triples(preds, AGENTS.values()))
    assert (prod, RDF.type, ECRM.E12_Production) in triples
    assert (prod, ECRM.P108_has_produced, URIRef("http://example.org/obj/3")) in triples


def test_deterministic_iris_and_no_duplicates():
    a = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    b = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    assert [p.statement for p in a] == [p.statement for p in b]
    assert statement_iri("s", "p", "o") == statement_iri("s", "p", "o") != statement_iri("s", "p", "o2")
    assert str(a[0].statement).startswith("http://data.silknow.org/statement/")
    assert len(dedupe(a + b)) == len(a)
    t1 = build_triples(a, AGENTS.values(), at_time=Literal("2024-01-01T00:00:00Z", datatype=XSD.dateTime))
    t2 = build_triples(b + a, AGENTS.values(), at_time=Literal("2024-01-01T00:00:00Z", datatype=XSD.dateTime))
    assert t1 == t2


def test_bad_input_is_refused():
    with pytest.raises(PredictionError, match="shape"):
        select_predictions(records(), {"material": np.ones((2, 3))}, GROUPS, [MATERIAL], LABELS, AGENTS)
    with pytest.raises(PredictionError, match="NaN"):
        select_predictions(records(), {"material": np.full((3, 3), np.nan)}, GROUPS, [MATERIAL], LABELS, AGENTS)
    bad = {"material": TaskLabels(MATERIAL, [Group("g0", "g0", "relative/concept"), Group("g1", "g1", "x:y"),
                                             Group("g2", "g2", "x:z")], [], 0)}
    preds = select_predictions(records()[:1], {"material": np.array([[0.9, 0.05, 0.05]])}, GROUPS, [MATERIAL],
                               bad, AGENTS)
    with pytest.raises(PredictionError, match="absolute IRI"):
        build_triples(preds, AGENTS.values())


def test_groups_unknown_to_the_labels_are_never_chosen():
    labels = {"material": TaskLabels(MATERIAL, LABELS["material"].groups[:2], [], 0)}
    preds = select_predictions(records(), PROBS, GROUPS, [MATERIAL], labels, AGENTS)
    assert all(p.group in ("g0", "g1") for p in preds)
