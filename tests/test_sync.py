"""kgenrich sync on the embedded store: end to end with a fake ensemble, incremental
runs, withdrawals, the kill-mid-write guarantee and the other-graphs fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import MINI, mini_settings
from rdflib import Literal, URIRef
from rdflib.namespace import XSD
from servers import FakeTrainer

from kgenrich import sparql
from kgenrich.errors import StoreError, ValidationFailed
from kgenrich.graphs import OwnGraphs
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync

E = "http://erlangen-crm.org/current/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
PRED = URIRef("http://data.silknow.org/predictions")
PROV_G = URIRef("http://data.silknow.org/predictions/provenance")


def graph_fingerprints(store, skip=()) -> dict[str, str]:
    """A hash of every named graph's sorted N-Triples (what 'byte-for-byte unchanged' means here)."""
    out = {}
    for g in store.graph_names():
        if str(g) in skip:
            continue
        lines = sorted(f"{sparql.serialize_term(s)} {sparql.serialize_term(p)} {sparql.serialize_term(o)} ."
                       for s, p, o in store.graph_triples(g))
        out[str(g)] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return out


@pytest.fixture
def setup(tmp_path):
    store = EmbeddedStore(None)
    store.load_file(MINI)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    return store, settings, FakeTrainer()


def statements(store):
    return store.select(sparql.prepare("examples/predictions_above_confidence",
                                       threshold=Literal("0", datatype=XSD.float)))


def live_statements(store):
    return {(str(s), str(o)) for s, p, o in store.graph_triples(PRED) if str(p).endswith("#subject")}


def test_first_sync_trains_writes_and_leaves_other_graphs_alone(setup):
    store, settings, trainer = setup
    before = graph_fingerprints(store)
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 1 and report.trained and report.wrote
    assert report.predictions > 0 and report.written == report.predictions
    assert report.validation_report and report.validation_engine == "shacl"
    after = graph_fingerprints(store, skip={str(PRED), str(PROV_G)})
    assert after == before  # every other graph unchanged
    names = {str(g) for g in store.graph_names()}
    assert str(PRED) in names and str(PROV_G) in names
    assert not any("/staging/" in n for n in names)
    # one prediction per gap of every task with a model (top-1)
    assert report.predictions == len(live_statements(store))


def test_second_sync_writes_nothing(setup):
    store, settings, trainer = setup
    first = run_sync(store, settings, progress=False, trainer=trainer)
    snapshot = graph_fingerprints(store)
    second = run_sync(store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 1
    assert not second.wrote and second.written == 0 and second.withdrawn == 0
    assert second.unchanged == first.predictions and second.repredicted_artifacts == 0
    assert graph_fingerprints(store) == snapshot


def _material_prediction(store):
    row = store.select(
        "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> PREFIX prov: <http://www.w3.org/ns/prov#> "
        "SELECT ?st ?obj WHERE { GRAPH <http://data.silknow.org/predictions> { ?st rdf:predicate "
        "<http://erlangen-crm.org/current/P126_employed> ; prov:wasGeneratedBy/prov:used ?obj . "
        "FILTER(CONTAINS(STR(?obj), '/object/')) } } LIMIT 1")
    assert row, "the mini collection should have a material gap"
    return row[0]["st"], row[0]["obj"]


def test_gained_value_withdraws_the_prediction(setup):
    store, settings, trainer = setup
    run_sync(store, settings, progress=False, trainer=trainer)
    st, obj = _material_prediction(store)
    museum = store.select(sparql.bind("SELECT ?g WHERE { GRAPH ?g { $obj a ?c } }", {"obj": obj}))[0]["g"]
    # a curator asserts the material (through a new production of the artifact)
    store.load_bytes(
        f"<https://w3id.org/kgenrich/test/production/new> <{RDF_TYPE}> <{E}E12_Production> .\n"
        f"<https://w3id.org/kgenrich/test/production/new> <{E}P108_has_produced> <{obj}> .\n"
        f"<https://w3id.org/kgenrich/test/production/new> <{E}P126_employed> "
        f"<https://w3id.org/kgenrich/test/vocabulary/silk> .\n".encode(), "ntriples", graph=museum)
    before_other = graph_fingerprints(store, skip={str(PRED), str(PROV_G)})
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.wrote and report.withdrawn >= 1 and report.repredicted_artifacts == 1
    assert str(st) not in {s for s, _ in live_statements(store)}
    assert graph_fingerprints(store, skip={str(PRED), str(PROV_G)}) == before_other


def test_deleted_artifact_loses_its_predictions(setup):
    store, settings, trainer = setup
    run_sync(store, settings, progress=False, trainer=trainer)
    st, obj = _material_prediction(store)
    museum = store.select(sparql.bind("SELECT ?g WHERE { GRAPH ?g { $obj a ?c } }", {"obj": obj}))[0]["g"]
    # the curator deletes it from its museum graph only
    store.update(sparql.bind("DELETE WHERE { GRAPH $g { $obj ?p ?o } } ; DELETE WHERE { GRAPH $g { ?s ?p $obj } }",
                             {"g": museum, "obj": obj}))
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.deleted_artifacts == 1 and report.withdrawn >= 1
    used = {str(o) for s, p, o in store.graph_triples(PRED) if str(p).endswith("#used")}
    assert str(obj) not in used
    assert str(obj) not in {str(o) for _, _, o in store.graph_triples(PROV_G)}


class DiesAtWrite(EmbeddedStore):
    """A store that is 'killed' when the run's one write arrives (everything staged by then)."""

    def update_with_data(self, operations, data):
        raise StoreError("simulated crash at the write")


def test_killed_before_the_write_leaves_old_predictions_and_next_run_cleans_up(setup, tmp_path):
    store, settings, trainer = setup
    run_sync(store, settings, progress=False, trainer=trainer)
    old = graph_fingerprints(store)
    # new models -> every prediction would change
    dying = DiesAtWrite(None)
    for g in store.graph_names():
        dying.replace_graph(g, list(store.graph_triples(g)))
    spools = tmp_path / "sync-staging"
    seen = []
    with pytest.raises(StoreError, match="simulated"):
        run_sync(dying, settings, progress=False, trainer=FakeTrainer(version="2"), retrain=True,
                 on_staged=lambda: seen.extend(p.name for p in spools.glob("*/*.nt") if p.stat().st_size))
    assert {"reified.nt", "derived.nt", "provenance.nt"} <= set(seen)
    assert graph_fingerprints(dying) == old  # nothing of the new run is visible
    # the next run (the store works again) writes the new predictions and cleans up
    healthy = EmbeddedStore(None)
    for g in dying.graph_names():
        healthy.replace_graph(g, list(dying.graph_triples(g)))
    report = run_sync(healthy, settings, progress=False, trainer=FakeTrainer(version="2"), retrain=True)
    assert report.wrote and report.replaced_all
    assert not [g for g in healthy.graph_names() if "/staging/" in str(g)]
    assert not any(spools.iterdir())


def test_validation_failure_writes_nothing(setup, monkeypatch):
    store, settings, trainer = setup
    run_sync(store, settings, progress=False, trainer=trainer)
    snapshot = graph_fingerprints(store)
    import kgenrich.sync.predict as sync_module  # where the chunks are built
    real = sync_module.build_chunk

    def broken(*a, **k):  # drop every confidence
        chunk = real(*a, **k)
        chunk.reified = [line for line in chunk.reified if "L18" not in line]
        return chunk

    monkeypatch.setattr(sync_module, "build_chunk", broken)
    with pytest.raises(ValidationFailed) as err:  # new models: everything is predicted again
        run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"), retrain=True)
    assert err.value.exit_code == 3
    assert graph_fingerprints(store) == snapshot
    reports = list(Path(settings.sections["sync"]["report_dir"]).glob("validation-*.json"))
    assert any(not json.loads(p.read_text())["conforms"] for p in reports)


def test_retrain_share_and_dry_run(setup):
    store, settings, trainer = setup
    settings.sections["sync"]["retrain_share"] = 0.0
    run_sync(store, settings, progress=False, trainer=trainer)
    dry = run_sync(store, settings, progress=False, trainer=trainer, dry_run=True)
    assert trainer.trained == 1 and not dry.wrote
    # change a labelled artifact: more than 0 % of the training data -> retrain
    store.update("INSERT DATA { GRAPH <https://w3id.org/kgenrich/test/graph/museum-a> { "
                 "<https://w3id.org/kgenrich/test/object/a1> <http://erlangen-crm.org/current/P3_has_note> \"new\"@en } }")
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 2 and report.trained and "training data changed" in report.retrain_reason


def test_graphs_from_settings_refuses_bad_iris():
    s = mini_settings()
    s.predictions_graph = "not an iri"
    with pytest.raises(Exception, match="absolute IRI"):
        OwnGraphs.from_settings(s)


def test_example_queries(setup):
    from rdflib import Literal
    from rdflib.namespace import XSD

    store, settings, trainer = setup
    report = run_sync(store, settings, progress=False, trainer=trainer)
    rows = store.select(sparql.prepare("examples/predictions_above_confidence",
                                       threshold=Literal("0", datatype=XSD.float)))
    assert len(rows) == report.predictions
    confidences = [float(r["confidence"]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)
    high = store.select(sparql.prepare("examples/predictions_above_confidence",
                                       threshold=Literal("0.5", datatype=XSD.float)))
    assert len(high) == sum(1 for c in confidences if c >= 0.5)

    _, obj = _material_prediction(store)
    material = store.select(sparql.prepare("examples/predicted_material", artifact=obj))
    assert len(material) == 1 and "Fake test model for material" in str(material[0]["explanation"])

    side = store.select(sparql.load("examples/asserted_or_predicted"))
    sources = {str(r["source"]) for r in side}
    assert sources == {"asserted", "predicted"}
    predicted = [r for r in side if str(r["source"]) == "predicted"]
    assert len(predicted) == report.predictions
    # an artifact never shows a predicted value for a property it has an asserted one for
    asserted = {(r["artifact"], r["property"]) for r in side if str(r["source"]) == "asserted"}
    assert not any((r["artifact"], r["property"]) in asserted for r in predicted)
