import json

import numpy as np
import pytest
import torch
from test_models_data import make_labels, make_records

from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.task_types import Group, Task, TaskLabels
from kgenrich.training import Ensemble, demo_model_settings, model_config, model_params, train_ensemble

torch.set_num_threads(1)
TINY = {"folds": 2, "n_jobs": 1, "threads": 1, "device": "cpu",
        "image": {"backbone": "resnet18", "weights": "none", "size": 32, "freeze_backbone": True, "epochs": 3,
                  "num_workers": 0},
        "text": {"model": "e5", "epochs": 5}, "tabular": {"num_boost_round": 20}, "fusion": {"num_boost_round": 20}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    (d / "img").mkdir()
    recs = make_records(60, seed=0, image_dir=d / "img")
    recs[1].images, recs[1].texts = [], []  # an artifact without image or text
    labels = make_labels()
    labels["single"] = TaskLabels(task=Task("single", "http://ex.org/t/s", "s", "c", "p", "collection"),
                                  groups=[Group("only", "only", "http://ex.org/c/only")], dropped=[], unmapped=0)
    ens = train_ensemble(recs, labels, Settings(sections={"models": TINY}), d / "models", progress=False)
    return ens, recs, d / "models"


def test_ensemble_predicts_normalised_probabilities(trained):
    ens, recs, _ = trained
    assert set(ens.groups) == {"material", "place", "time"}  # the one-group task is skipped ...
    assert any("task single" in n and "at least two" in n for n in ens.card["notes"])  # ... with a note
    p = ens.predict(recs)
    for t, ids in ens.groups.items():
        assert p[t].shape == (len(recs), len(ids))
        assert np.allclose(p[t].sum(1), 1.0)
        assert not np.isnan(p[t]).any()  # also for the artifact with neither image nor text
    assert ens.card["modalities"] == ["image", "tabular", "text", "words"]  # the default modalities
    assert set(ens.card["scores"]) == {"image", "text", "tabular", "words", "fusion"}
    assert len(ens.card["fingerprint"]) == 64 and ens.card["created"]
    text = ens.describe("material")
    assert "resnet18" in text and "e5" in text and "macro-F1" in text and "fingerprint" in text


def test_save_load_round_trip_and_cards(trained):
    ens, recs, d = trained
    again = Ensemble.load(d)
    p, q = ens.predict(recs), again.predict(recs)
    assert all(np.allclose(p[t], q[t]) for t in p)
    for m in ("image", "text", "tabular", "fusion"):
        card = json.loads((d / m / "model.json").read_text())
        assert card["format_version"] == 1 and "torch" in card["versions"] and card["groups"]


def test_incompatible_or_missing_models_dir(trained, tmp_path):
    _, _, d = trained
    with pytest.raises(ModelError, match="no trained models"):
        Ensemble.load(tmp_path / "nothing")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(d, copy)
    card = json.loads((copy / "ensemble.json").read_text())
    card["format_version"] = 99
    (copy / "ensemble.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="format version 99.*retrain"):
        Ensemble.load(copy)


def test_too_little_data_is_a_clear_error(tmp_path):
    labels = make_labels()
    with pytest.raises(ModelError, match="labelled artifacts"):
        train_ensemble(make_records(3), labels, Settings(sections={"models": TINY}), tmp_path / "m", progress=False)
    one = {"x": TaskLabels(task=Task("x", "i", "x", "c", "p", "collection"), groups=[Group("a", "a", "c")],
                           dropped=[], unmapped=0)}
    with pytest.raises(ModelError, match="at least two"):
        train_ensemble(make_records(10), one, Settings(), tmp_path / "m", progress=False)


def test_config_defaults_and_demo_preset():
    cfg = model_config(Settings())
    # pretrained defaults, decided at fit time by what is available (tests/test_models_pretrained.py)
    assert cfg["image"]["backbone"] == "auto" and cfg["image"]["weights"] == "auto" and cfg["folds"] == 3
    assert model_params(cfg, "text")["model"] == "auto"
    assert model_params(cfg, "text")["model_id"] == "FacebookAI/xlm-roberta-base"
    cfg = model_config(Settings(sections={"models": {"text": {"model_id": "/x"}, "focal_gamma": 1.0}}))
    assert model_params(cfg, "text")["model_id"] == "/x" and model_params(cfg, "image")["focal_gamma"] == 1.0
    s = Settings(device="cpu", sections={"models": demo_model_settings()})
    p = model_params(model_config(s), "image", s)
    assert p["backbone"] == "efficientnet_lite0" and p["freeze_backbone"] and p["device"] == "cpu"
    with pytest.raises(ModelError, match="folds"):
        model_config(Settings(sections={"models": {"folds": 1}}))
