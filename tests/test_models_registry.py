"""Every registered model -- built in, registered or found through an entry point -- runs
through its contract on a tiny configuration: fit, predict, save, load, the same predictions.

A model without an entry in CONFIGS fails here: a new modality cannot be added untested.
"""

import numpy as np
import pytest
import torch
from test_models_data import groups_of, make_labels, make_records

from kgenrich import models
from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.evaluation import hide
from kgenrich.models.base import ModalityModel, Stacker, encode_targets

torch.set_num_threads(1)
TORCH = {"epochs": 1, "threads": 1, "device": "cpu"}
# name -> tiny parameters (seconds on one CPU thread)
CONFIGS = {
    "image": {**TORCH, "backbone": "resnet18", "weights": "none", "size": 32, "freeze_backbone": True,
              "num_workers": 0},
    "text": {**TORCH, "model": "use"},
    "words": {"min_df": 1, "max_iter": 50},
    "tabular": {"n_jobs": 1, "num_boost_round": 5},
    "fusion": {"n_jobs": 1, "num_boost_round": 5, "early_stopping_rounds": 0},
}
GROUPS = groups_of(make_labels())


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    images = tmp_path_factory.mktemp("img")
    recs = make_records(40, seed=0, image_dir=images)
    recs[0].images, recs[0].texts = [], []  # an artifact without image or text
    return recs[:30], recs[30:]


def stacker_inputs(recs, seed):
    """Two modalities that lean towards the truth; the second misses a third of the records."""
    rng = np.random.default_rng(seed)
    targets = encode_targets(recs, GROUPS)
    inputs = {"a": {}, "b": {}}
    for task, ids in GROUPS.items():
        for m in inputs:
            p = rng.dirichlet(np.ones(len(ids)), len(recs))
            known = targets[task] >= 0
            p[known, targets[task][known]] += 1.0
            inputs[m][task] = p / p.sum(1, keepdims=True)
        inputs["b"][task][::3] = np.nan
    return inputs


def same(p, q):
    return set(p) == set(q) and all(np.allclose(p[t], q[t], atol=1e-6, equal_nan=True) for t in p)


@pytest.mark.parametrize("name", models.names())
def test_every_registered_model_runs_its_contract(name, records, tmp_path):
    if name not in CONFIGS:
        pytest.fail(f"model '{name}' is registered but has no tiny configuration in {__name__}.CONFIGS")
    train, test = records
    model = models.create(name, GROUPS, CONFIGS[name], Settings())
    assert isinstance(model, (ModalityModel, Stacker)) and model.name == name
    if isinstance(model, Stacker):
        test_inputs = stacker_inputs(test, 1)
        p = model.fit(train, stacker_inputs(train, 0)).predict(test, test_inputs)
        loaded = Stacker.load(model.save(tmp_path / name))
        q = loaded.predict(test, test_inputs)
    else:
        p = model.fit(train).predict(test)
        loaded = ModalityModel.load(model.save(tmp_path / name))
        q = loaded.predict(test)
    assert type(loaded) is type(model) and loaded.name == name and loaded.groups == GROUPS
    for task, ids in GROUPS.items():
        assert p[task].shape == (len(test), len(ids))
        rows = ~np.isnan(p[task]).any(axis=1)  # a NaN row: the record lacks the modality
        assert np.allclose(p[task][rows].sum(1), 1.0)
        if isinstance(model, Stacker):
            assert rows.all()  # the stacker answers for every record
    assert same(p, q)


def label_free_modalities() -> list[str]:
    """The registered modality models that declare reads_labels = False."""
    out = []
    for name in models.names():
        try:
            cls = models.get_model_class(name)
        except ModelError:  # a broken entry point: the contract test above reports it
            continue
        if isinstance(cls, type) and issubclass(cls, ModalityModel) and not cls.reads_labels:
            out.append(name)
    return out


@pytest.mark.parametrize("name", label_free_modalities())
def test_a_model_declared_label_free_ignores_the_hidden_value(name, records):
    """Evaluation predicts a model with reads_labels = False once, on records whose values are
    not hidden: that is only honest if hiding a value changes nothing for it."""
    if name not in CONFIGS:
        pytest.fail(f"model '{name}' has no tiny configuration in {__name__}.CONFIGS")
    train, test = records
    model = models.create(name, GROUPS, CONFIGS[name], Settings()).fit(train)
    p = model.predict(test)
    for task in GROUPS:
        assert same(p, model.predict([hide(r, task) for r in test]))


def test_words_keeps_text_fields_apart_and_learns_from_them(tmp_path):
    """The words model reads each of the profile's text inputs as its own field: a word that decides the
    label in one field and is noise in another is learnt where it matters."""
    from kgenrich.models.words import WordsModel
    from kgenrich.records import ArtifactRecord

    rng = np.random.default_rng(0)
    recs = []
    for i in range(120):
        painting = i % 2 == 0
        title = f"{'paper' if rng.random() < 0.5 else 'canvas'} view {i}"  # noise in the title
        medium = "oil on canvas" if painting else "etching on paper"
        r = ArtifactRecord(iri=f"http://example.org/{i}", graph="g", museum="g",
                           texts=[(title, ""), (medium, "")], text_fields={"title": [title], "medium": [medium]},
                           labels={"type": "painting" if painting else "print"})
        recs.append(r)
    groups = {"type": ["painting", "print"]}
    model = WordsModel(groups, {"min_df": 1}).fit(recs[:80])
    p = model.predict(recs[80:])["type"]
    truth = np.array([0 if r.labels["type"] == "painting" else 1 for r in recs[80:]])
    assert (p.argmax(1) == truth).mean() == 1.0
    assert set(model.vectorizers) == {"medium", "title"}
    model.save(tmp_path / "words")
    again = WordsModel.load(tmp_path / "words")
    assert np.allclose(again.predict(recs[80:])["type"], p)
    # a record without any text has no words prediction (a NaN row, "missing" for the fusion)
    empty = ArtifactRecord(iri="http://example.org/x", graph="g", museum="g")
    assert np.isnan(again.predict([empty])["type"]).all()


def test_words_reads_feature_inputs_as_words(tmp_path):
    """Categorical feature values (a creator's IRI) and numbers (by their decile among the training
    artifacts) are words of a field of their own: a label that only the creator or only the height
    tells is learnt, saved and read back; without ``features`` it is not."""
    from kgenrich.models.words import FEATURES, WordsModel
    from kgenrich.records import ArtifactRecord

    rng = np.random.default_rng(1)
    recs = []
    for i in range(300):
        kind = i % 3  # 0: by creator A, 1: tall, 2: neither
        creator = "http://example.org/person/A" if kind == 0 else f"http://example.org/person/{rng.integers(5)}"
        height = float(rng.uniform(200, 300) if kind == 1 else rng.uniform(1, 100))
        title = f"view {rng.integers(1000)}"  # texts say nothing
        recs.append(ArtifactRecord(iri=f"http://example.org/{i}", graph="g", museum="g", texts=[(title, "")],
                                   text_fields={"title": [title]},
                                   literals={"creator": [creator], "height": [f"{height:.1f}"]},
                                   labels={"type": ["a", "tall", "other"][kind]}))
    groups = {"type": ["a", "other", "tall"]}
    truth = np.array([groups["type"].index(r.labels["type"]) for r in recs[200:]])
    model = WordsModel(groups, {"min_df": 1}).fit(recs[:200])
    assert FEATURES in model.vectorizers and set(model.numbers) == {"height"}
    p = model.predict(recs[200:])["type"]
    assert (p.argmax(1) == truth).mean() > 0.95
    model.save(tmp_path / "words")
    again = WordsModel.load(tmp_path / "words")
    assert np.allclose(again.predict(recs[200:])["type"], p)
    plain = WordsModel(groups, {"min_df": 1, "features": False}).fit(recs[:200])
    assert (plain.predict(recs[200:])["type"].argmax(1) == truth).mean() < 0.7
