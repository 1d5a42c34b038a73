"""The real Tate collection in Linked Art (../shared/data/tate/), a slice of it: the linked-art profile is
chosen by itself, says which tasks have labels, and every object missing a type or a century gets a
validated, provenance-annotated prediction.  Skipped when the shared data is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import URIRef
from rdflib.namespace import RDF
from tate import GRAPH, TATE_NQ, tate_slice

from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore

CRM = "http://www.cidoc-crm.org/cidoc-crm/"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tate_dir(tmp_path_factory) -> Path:
    if not TATE_NQ.is_file():
        pytest.skip(f"the Tate data is not at {TATE_NQ} (only beside the project checkout on CI and dev machines)")
    work = tmp_path_factory.mktemp("tate")
    data, objects = tate_slice(every=100)
    (work / "slice.nq").write_bytes(data)
    (work / "objects.json").write_text(json.dumps(objects))
    # Default settings, except small models and minimum supports that fit a slice of ~700 objects
    # (the profile's tasks are overridden by a task file, property by property).
    (work / "small.ttl").write_text("""@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix latask: <https://w3id.org/kgenrich/task/linked-art/> .
latask:type kge:minSupport 10 . latask:century kge:minSupport 10 . latask:depiction kge:minSupport 10 .
""", encoding="utf-8")
    (work / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR}", "small.ttl"]\nmodels_dir = "models"\n'
        '[models]\nmodalities = ["words", "tabular"]\nfolds = 2\nn_jobs = 1\n'
        '[models.tabular]\nnum_boost_round = 50\n[sync]\nreport_dir = "reports"\n', encoding="utf-8")
    return work


def cli(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgenrich", "--store", str(work / "store"), *args], cwd=work,
                          capture_output=True, text=True, timeout=900)


def test_tate_slice_profile_tasks_and_predictions(tate_dir):
    loaded = cli(tate_dir, "load", str(tate_dir / "slice.nq"))
    assert loaded.returncode == 0, loaded.stderr
    listed = cli(tate_dir, "tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["profile"]["name"] == "linked-art" and doc["profile"]["reason"].startswith("auto: ")
    status = {t["name"]: t for t in doc["tasks"]}
    assert status["type"]["active"] and status["century"]["active"]
    for name in ("material", "technique", "place"):
        assert not status[name]["active"] and status[name]["inactive_reason"]

    synced = cli(tate_dir, "sync", "--json", "--quiet")
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["profile"] == "linked-art"
    assert {"material", "technique", "place"} <= set(report["inactive"])
    assert report["gaps"]["type"] >= 1 and report["gaps"]["century"] >= 1

    store = EmbeddedStore(tate_dir / "store", read_only=True)
    try:
        museum = list(store.graph_triples(URIRef(GRAPH)))
        predictions = list(store.graph_triples(URIRef("http://data.silknow.org/predictions")))
    finally:
        store.close()
    objects = json.loads((tate_dir / "objects.json").read_text())
    p2, p4, p108i = (URIRef(CRM + n) for n in ("P2_has_type", "P4_has_time-span", "P108i_was_produced_by"))
    types_of_work = {s for s, p, o in museum if p == p2 and str(o) == "http://vocab.getty.edu/aat/300435443"}
    typed = {str(s) for s, p, o in museum if p == p2 and o in types_of_work}
    production = {str(s): str(o) for s, p, o in museum if p == p108i}
    dated = {str(s) for s, p, o in museum if p == p4}
    predicate_of = {st: str(o) for st, p, o in predictions if p == RDF.predicate}
    stated = {(str(o), predicate_of[st]) for st, p, o in predictions if p == RDF.subject}
    missing_type = [o for o in objects if o not in typed]
    missing_date = [o for o in objects if production.get(o) not in dated]
    assert missing_type or missing_date
    # every object missing a type or a century has a prediction for it
    assert all((o, str(p2)) in stated for o in missing_type)
    assert all((production[o], str(p4)) in stated for o in missing_date)
    assert cli(tate_dir, "validate").returncode == 0
