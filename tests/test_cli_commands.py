"""train, evaluate, sync, validate as a user runs them: real processes on a small generated collection.

The collection is the demo generator's (150 artifacts, images and texts); the
models are the tabular one and the fusion only, so the commands take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.store.embedded import EmbeddedStore

KGENRICH = [sys.executable, "-m", "kgenrich"]

TOML = """
seed = 1
[models]
modalities = ["tabular"]
folds = 2
n_jobs = 1
[models.tabular]
num_boost_round = 20
[models.fusion]
num_boost_round = 30
"""


def run(args, cwd, env=None, timeout=600):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    environment.update(env or {})
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=environment, capture_output=True, text=True,
                            timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """A store with the generated collection and demo-scaled task supports; a kgenrich.toml beside it."""
    work = tmp_path_factory.mktemp("cli")
    generated = generate(work / "data", size=150, seed=1, progress=False)
    store = EmbeddedStore(work / ".kgenrich" / "store")
    for path in generated.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
    store.close()
    (work / "kgenrich.toml").write_text(TOML)
    return work


def test_train_prints_the_card_and_writes_the_models(collection):
    out = run(["train", "--json"], collection)
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    assert card["modalities"] == ["tabular"] and card["training_data"]["folds"] == 2
    assert set(card["groups"]) >= {"material", "technique"}
    assert (collection / ".kgenrich" / "models" / "ensemble.json").is_file()
    table = run(["train", "--quiet"], collection)
    assert table.returncode == 0 and "out-of-fold macro-F1" in table.stdout


def test_evaluate_reports_per_task_and_writes_files(collection, tmp_path):
    out = run(["evaluate", "--json", "--out", str(tmp_path / "report"), "--test-size", "0.3"], collection)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    material = report["tasks"]["material"]
    assert {"tabular", "fusion"} <= set(material)
    assert material["fusion"]["support"] > 0 and 0 <= material["fusion"]["macro_f1"] <= 1
    for modality in ("tabular", "fusion"):  # calibration beside macro-F1, calibrated and before
        entry = material[modality]
        assert 0 <= entry["ece"] <= 1 and 0 <= entry["brier"] <= 2 and entry["log_loss"] > 0
        assert {"ece", "brier", "log_loss"} <= set(entry["uncalibrated"])
    assert "0.9" in material["fusion"]["min_precision"]
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "f1_by_modality.png").is_file()
    assert "| ECE | Brier | log-loss |" in (tmp_path / "report" / "report.md").read_text()
    png = (tmp_path / "report" / "reliability_material.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    graph = run(["evaluate", "--json", "--test-graph", "http://nowhere.example/graph"], collection)
    assert graph.returncode != 0 and graph.stderr.startswith("error: no artifact in http://nowhere.example/graph")


def test_sync_dry_run_writes_nothing_then_sync_and_validate(collection, tmp_path):
    models = collection / ".kgenrich" / "models"
    before = sorted((p.relative_to(models), p.stat().st_mtime_ns) for p in models.rglob("*") if p.is_file())
    dry = run(["sync", "--dry-run", "--retrain", "--json"], collection)
    assert dry.returncode == 0, dry.stderr
    dry_report = json.loads(dry.stdout)
    assert dry_report["dry_run"] and not dry_report["wrote"] and dry_report["trained"]
    after = sorted((p.relative_to(models), p.stat().st_mtime_ns) for p in models.rglob("*") if p.is_file())
    assert after == before, "a dry run changed the models directory"
    assert not (collection / ".kgenrich" / "reports").exists()
    count = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://data.silknow.org/predictions> { ?s ?p ?o } }"
    assert run(["query", "--format", "csv", count], collection).stdout.splitlines()[1] == "0"

    synced = run(["sync", "--json"], collection)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["wrote"] and report["predictions"] == dry_report["predictions"] > 0

    valid = run(["validate", "--json"], collection)
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["conforms"] and json.loads(valid.stdout)["statements"] == report["predictions"]

    # a file with a broken statement: exit status 3 and the rule named
    broken = tmp_path / "broken.nt"
    broken.write_text("<http://data.silknow.org/statement/x> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                      "<http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement> .\n")
    bad = run(["validate", str(broken)], collection)
    assert bad.returncode == 3 and "statement-subject" in bad.stdout
    assert run(["validate", "--graph", "bad iri"], collection).stderr.startswith("error: ")
