"""Calibration inside the ensemble (training.py) and the graph signal the tabular model gained:
concrete concepts and their broader concepts (labels.value_ancestors, models/tabular.py)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from test_models_data import make_labels, make_records

from kgenrich.config import CALIBRATION_METHODS as METHODS
from kgenrich.config import Settings
from kgenrich.demo.run import ensemble_evaluation
from kgenrich.evaluation import hide
from kgenrich.labels import value_ancestors
from kgenrich.models.tabular import Featurizer, TabularModel
from kgenrich.records import ArtifactRecord
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.training import Ensemble, train_ensemble


def settings(**models) -> Settings:
    return Settings(sections={"models": {"modalities": ["tabular"], "folds": 3, "n_jobs": 1,
                                         "tabular": {"num_boost_round": 60}, **models}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "models"
    ens = train_ensemble(make_records(240, seed=1, text=False), make_labels(), settings(), path, progress=False)
    return ens, path


def test_the_card_carries_calibration_and_calibration_scores(trained):
    ens, path = trained
    card = json.loads((path / "ensemble.json").read_text())
    for task in ens.groups:
        summary = card["calibration"][task]
        assert summary["calibration"]["method"] in METHODS
        assert set(summary["calibration"]["cv_log_loss"]) == set(METHODS)
        assert summary["decision"]["rule"] in ("argmax", "macro_f1")
        assert {"0.8", "0.9", "0.95"} <= set(summary["precision_targets"])
        for modality in ("tabular", "fusion"):
            s = card["scores"][modality][task]
            assert 0 <= s["ece"] <= 1 and 0 <= s["brier"] <= 2 and s["log_loss"] > 0
            assert set(s["uncalibrated"]) == {"ece", "brier", "log_loss"}
        assert card["modality_calibration"]["tabular"][task] in METHODS
    assert (path / "fusion" / "calibration.json").is_file() and (path / "tabular" / "calibration.json").is_file()
    # the demo's summary reads the card: the same keys as `evaluate --json`
    assert "ece" in ensemble_evaluation(card)["tasks"]["material"]["fusion"]
    assert "calibrated probability" in ens.describe("material")


def test_predictions_are_calibrated_and_the_same_after_loading(trained):
    ens, path = trained
    fresh = make_records(40, seed=9, text=False)
    raw = ens.predict(fresh, calibrated=False)
    cal = ens.predict(fresh)
    again = Ensemble.load(path)
    for task in ens.groups:
        assert np.allclose(cal[task].sum(1), 1)
        assert np.allclose(cal[task], ens.calibrate({task: raw[task]})[task])
        assert np.allclose(again.predict(fresh)[task], cal[task])
        assert (again.decide(task, cal[task]) == ens.decide(task, cal[task])).all()
    shown = ens.modality_probs(fresh, calibrated=True)["tabular"]
    plain = ens.modality_probs(fresh)["tabular"]
    assert all(np.allclose(shown[t].sum(1), 1) for t in shown)
    changed = [t for t in shown if ens.card["modality_calibration"]["tabular"][t] != "none"]
    assert all(not np.allclose(shown[t], plain[t]) for t in changed)


def test_calibration_and_decision_can_be_fixed_in_the_settings(tmp_path):
    records = make_records(150, seed=2, text=False)
    ens = train_ensemble(records, make_labels(), settings(calibration="temperature", decision="argmax"),
                         tmp_path / "m", progress=False)
    for task in ens.groups:
        assert ens.card["calibration"][task]["calibration"]["method"] == "temperature"
        assert ens.card["calibration"][task]["decision"]["rule"] == "argmax"
        assert not ens.decisions[task].offsets.any()


# ------------------------------------------------------------------ concepts and their ancestors
THESAURUS = """
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix gn: <http://www.geonames.org/ontology#> .
@prefix time: <http://www.w3.org/2006/time#> .
<http://ex.org/c/silk> skos:broader <http://ex.org/c/animal> .
<http://ex.org/c/animal> skos:broader <http://ex.org/c/fibre> .
<http://ex.org/c/fibre> skos:broader "not an IRI" .
<http://ex.org/p/lyon> gn:parentADM1 <http://ex.org/p/rhone> .
<http://ex.org/p/rhone> gn:parentCountry <http://ex.org/p/france> .
<http://ex.org/t/louis-xv> time:intervalIn <http://ex.org/t/c18> .
<http://ex.org/c/loop-a> skos:broader <http://ex.org/c/loop-b> .
<http://ex.org/c/loop-b> skos:broader <http://ex.org/c/loop-a> .
"""


def test_value_ancestors_climb_every_hierarchy_and_survive_a_cycle():
    store = EmbeddedStore(None)
    store.load_bytes(THESAURUS.encode(), "turtle")
    found = value_ancestors(store, ["http://ex.org/c/silk", "http://ex.org/p/lyon", "http://ex.org/t/louis-xv",
                                    "http://ex.org/c/loop-a", "http://ex.org/c/nothing-above"])
    assert found == {
        "http://ex.org/c/silk": ["http://ex.org/c/animal", "http://ex.org/c/fibre"],
        "http://ex.org/p/lyon": ["http://ex.org/p/france", "http://ex.org/p/rhone"],
        "http://ex.org/t/louis-xv": ["http://ex.org/t/c18"],
        "http://ex.org/c/loop-a": ["http://ex.org/c/loop-b"],
    }


def city_records(n: int, seed: int, informative: bool) -> list[ArtifactRecord]:
    """Every artifact is French; its city decides the century when ``informative``, else not."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        city = rng.randrange(8)
        century = ("c17" if city < 4 else "c18") if informative else rng.choice(["c17", "c18"])
        if rng.random() < 0.1:
            century = rng.choice(["c17", "c18"])
        out.append(ArtifactRecord(
            iri=f"http://ex.org/obj/{i}", graph="http://ex.org/graph/m", museum="m",
            labels={"place": "FR", "time": century, "material": None},
            values={"place": [f"http://ex.org/p/city{city}"], "time": [f"http://ex.org/t/{century}"], "material": []},
            ancestors={"place": ["http://ex.org/p/france"] + ([f"http://ex.org/p/region{city // 2}"])}))
    return out


GROUPS = {"time": ["c17", "c18"], "place": ["FR", "IT"]}


def test_concepts_and_ancestors_become_columns():
    records = city_records(200, seed=0, informative=True)
    f = Featurizer(GROUPS).fit(records)
    names = f.names("time")
    assert names[:4] == ["museum", "group:place", "n_images", "n_texts"]
    # france is on every place: no column; the regions and cities are
    assert "concept:place" in names and "ancestor:place:http://ex.org/p/region0" in names
    assert "ancestor:place:http://ex.org/p/france" not in names
    X = f.transform(records, "time")
    col = names.index("ancestor:place:http://ex.org/p/region0")
    assert set(X[:, col]) == {0.0, 1.0}
    assert f.concept_columns("time") == list(range(4, len(names)))
    assert names.index("concept:place") in f.categorical("time")
    hidden = hide(records[0], "place")
    assert hidden.ancestors == {} and records[0].ancestors  # the hidden value's ancestors go with it
    assert np.isnan(f.transform([hidden], "time")[0, 4:]).all()
    assert Featurizer.from_json(GROUPS, json.loads(json.dumps(f.to_json()))).names("time") == names


@pytest.mark.parametrize("informative", [True, False])
def test_auto_keeps_concept_columns_only_when_they_help(informative, tmp_path):
    train, test = city_records(600, seed=1, informative=informative), city_records(300, seed=2,
                                                                                  informative=informative)
    model = TabularModel(GROUPS, {"n_jobs": 1, "seed": 0}).fit(train)
    assert model.info["concept_features"]["time"] is informative
    p = model.predict(test)["time"]
    y = np.array([GROUPS["time"].index(r.labels["time"]) for r in test])
    accuracy = (p.argmax(1) == y).mean()
    assert accuracy > 0.85 if informative else accuracy < 0.65
    model.save(tmp_path / "tab")
    again = TabularModel.load(tmp_path / "tab")
    assert np.allclose(again.predict(test)["time"], p)
    never = TabularModel(GROUPS, {"n_jobs": 1, "seed": 0, "concepts": False}).fit(train)
    assert never.featurizer.concept_columns("time") == []
