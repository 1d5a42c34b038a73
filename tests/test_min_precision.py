"""[sync] min_precision and the decision rule in sync, on a real embedded store (a generated collection
of 150 artifacts) with the fake ensemble carrying a decision rule and an out-of-fold precision curve."""

from __future__ import annotations

import numpy as np
import pytest
from servers import FakeTrainer

from kgenrich.calibration import TaskCalibration
from kgenrich.config import SyncSettings, load_settings
from kgenrich.errors import ConfigError
from kgenrich.predictions import PredictionError, SelectionOptions
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync

PRED = "http://data.silknow.org/predictions"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
P126 = "http://erlangen-crm.org/current/P126_employed"
# out of fold: above 0.9 precision 0.97 on 10% of the gaps, above 0.6 precision 0.92 on half, 0.7 on all
CURVE = {"threshold": [0.9, 0.6, 0.3], "precision": [0.97, 0.92, 0.7], "coverage": [0.1, 0.5, 1.0], "rows": 100}
TASKS = ("material", "technique", "place", "time", "depiction")


def written(store) -> list[tuple[str, str, float]]:
    """(predicate, object, confidence) of every statement in the prediction graph."""
    rows = store.select(
        f"SELECT ?p ?o ?c WHERE {{ GRAPH <{PRED}> {{ ?st a <{RDF}Statement> ; <{RDF}predicate> ?p ; "
        f"<{RDF}object> ?o ; <http://data.silknow.org/ontology/L18> ?c }} }}")
    return [(str(r["p"]), str(r["o"]), float(str(r["c"]))) for r in rows]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from kgenrich.demo.generator import generate

    return generate(tmp_path_factory.mktemp("collection"), size=150, seed=1, progress=False)


@pytest.fixture
def mini(generated, tmp_path):
    from kgenrich.demo.run import demo_task_definitions
    from kgenrich.namespaces import CONFIG_GRAPH

    store = EmbeddedStore(None)
    for path in generated.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
    settings = load_settings(environ={}, cwd=tmp_path)
    settings.models_dir = str(tmp_path / "models")
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports"), "validation_engine": "sparql"}}
    return store, settings


def test_min_precision_becomes_the_threshold_where_out_of_fold_precision_reaches_it(mini):
    store, settings = mini
    trainer = FakeTrainer(decisions={t: TaskCalibration(curve=CURVE) for t in TASKS})
    free = run_sync(store, settings, progress=False, trainer=trainer)
    before = written(store)
    material = [c for p, _, c in before if p == P126]
    assert any(c < 0.6 for c in material) and any(c >= 0.6 for c in material)  # the cut must bite
    assert all("min_precision" not in v for v in free.thresholds.values())

    settings.sections["sync"]["min_precision"] = {"material": 0.9}
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.thresholds["material"] == {"threshold": 0.6, "min_precision": 0.9, "expected_precision": 0.92,
                                             "expected_coverage": 0.5, "reachable": True}
    assert report.thresholds["place"] == {"threshold": 0.0}  # no target for place
    assert report.repredicted_artifacts > 0  # a new target re-predicts
    after = written(store)
    assert sorted(c for p, _, c in after if p == P126) == sorted(c for c in material if c >= 0.6)
    assert sorted(x for x in after if x[0] != P126) == sorted(x for x in before if x[0] != P126)
    assert "material min_precision 0.9: confidence >= 0.600 (expected precision 0.920, coverage 50%)" \
        in report.summary()
    assert report.to_dict()["thresholds"]["material"]["expected_coverage"] == 0.5

    # a target the models never reach out of fold: nothing is written for any task, and the report says so
    settings.sections["sync"]["min_precision"] = 0.99
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert written(store) == [] and report.predictions == 0
    assert report.thresholds["material"]["reachable"] is False and report.thresholds["material"]["threshold"] is None
    assert "not reached out of fold (best 0.970), nothing written" in report.summary()


def test_min_precision_needs_models_with_a_precision_curve(mini):
    store, settings = mini
    settings.sections["sync"]["min_precision"] = 0.9
    with pytest.raises(PredictionError, match="no out-of-fold precision curve for task .*retrain"):
        run_sync(store, settings, progress=False, trainer=FakeTrainer())  # models without calibration


def test_min_confidence_stays_and_the_stricter_threshold_wins(mini):
    store, settings = mini
    trainer = FakeTrainer(decisions={t: TaskCalibration(curve=CURVE) for t in TASKS})
    settings.sections["sync"].update(min_precision=0.9, min_confidence={"material": 0.8})
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.thresholds["material"]["threshold"] == 0.8 and report.thresholds["place"]["threshold"] == 0.6
    assert all(c >= 0.8 for p, _, c in written(store) if p == P126)


def test_the_decision_rule_chooses_the_value_and_the_probability_is_written(mini):
    from kgenrich.pipeline import load_inputs

    store, settings = mini
    plain = FakeTrainer()
    run_sync(store, settings, progress=False, trainer=plain)
    groups = plain._ensemble.groups["material"]
    gaps = [r for r in load_inputs(store, settings, progress=False).records if r.is_gap("material")]
    probs = plain._ensemble.predict(gaps)["material"]  # the fake's probabilities depend on the artifact only
    assert not (probs.argmax(1) == len(groups) - 1).all()
    # offsets that favour the last group by far: every gap gets it, written with that group's own probability
    offsets = np.zeros(len(groups))
    offsets[-1] = 50.0
    trainer = FakeTrainer(decisions={"material": TaskCalibration(offsets=offsets)})
    report = run_sync(store, settings, progress=False, trainer=trainer, retrain=True)
    assert report.repredicted_artifacts > 0  # new offsets change the run fingerprint
    material = [(o, c) for p, o, c in written(store) if p == P126]
    assert len({o for o, _ in material}) == 1 and len(material) == len(gaps)
    assert sorted(c for _, c in material) == pytest.approx(sorted(probs[:, -1]), abs=1e-6)


def test_settings_check_min_precision(tmp_path):
    assert SelectionOptions.from_settings(SyncSettings(min_precision=0.9)).precision_target("material") == 0.9
    per_task = SelectionOptions.from_settings(SyncSettings(min_precision={"material": 0.95}))
    assert per_task.precision_target("material") == 0.95 and per_task.precision_target("place") is None
    (tmp_path / "kgenrich.toml").write_text("[sync]\nmin_precision = 0\n")
    with pytest.raises(ConfigError, match=r"min_precision.*number in \(0, 1\]"):
        load_settings(environ={}, cwd=tmp_path)


def test_the_config_file_refuses_a_bad_min_precision(tmp_path):
    (tmp_path / "kgenrich.toml").write_text("[sync]\nmin_precision = 1.5\n")
    with pytest.raises(ConfigError, match="min_precision"):
        load_settings(environ={}, cwd=tmp_path)
    (tmp_path / "kgenrich.toml").write_text("[sync]\nmin_precission = 0.9\n")
    with pytest.raises(ConfigError, match="did you mean 'min_precision'"):
        load_settings(environ={}, cwd=tmp_path)
    (tmp_path / "kgenrich.toml").write_text("[sync]\nmin_precision = {material = 0.9}\n[models]\ncalibration = "
                                            "\"isotonic\"\ndecision = \"argmax\"\n")
    s = load_settings(environ={}, cwd=tmp_path)
    assert s.section("sync")["min_precision"] == {"material": 0.9} and s.section("models")["decision"] == "argmax"
