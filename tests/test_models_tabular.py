import numpy as np
from test_models_data import groups_of, make_labels, make_records

from kgenrich.models import create
from kgenrich.models.base import ModalityModel
from kgenrich.models.tabular import Featurizer, TabularModel

PARAMS = {"n_jobs": 1, "num_boost_round": 40}


def accuracy(model, records, task):
    p = model.predict(records)[task]
    ids = np.array(model.groups[task])
    y = np.array([r.labels[task] for r in records])
    ok = y != None  # noqa: E711
    return (ids[p[ok].argmax(1)] == y[ok]).mean()


def test_tabular_learns_museum_and_cooccurring_groups(tmp_path):
    groups = groups_of(make_labels())
    train, test = make_records(150, seed=0, text=False), make_records(90, seed=5, text=False)
    model = create("tabular", groups, PARAMS).fit(train)
    assert isinstance(model, TabularModel)
    assert accuracy(model, test, "place") > 0.7  # museum decides place in the synthetic data
    assert accuracy(model, test, "time") > 0.6  # time follows material
    p = model.predict(test)
    assert all(np.allclose(v.sum(1), 1) for v in p.values())

    model.save(tmp_path / "tab")
    assert (tmp_path / "tab" / "tabular_0.txt").read_text().startswith("tree")  # LightGBM text format
    loaded = ModalityModel.load(tmp_path / "tab")
    q = loaded.predict(test)
    assert all(np.allclose(p[t], q[t]) for t in p)


def test_features_exclude_the_predicted_task_and_mark_other_values():
    groups = groups_of(make_labels())
    recs = make_records(6, seed=0, text=False, missing=0.0)
    recs[0].labels["place"] = None
    recs[0].values["place"] = ["http://ex.org/c/dropped"]  # a value whose group was not kept
    f = Featurizer(groups).fit(recs)
    assert f.names("material") == ["museum", "group:place", "group:time", "n_images", "n_texts"]
    X = f.transform(recs, "material")
    assert X[0, 1] == len(groups["place"])  # "other"
    recs[1].labels["place"] = None
    recs[1].values["place"] = []
    assert np.isnan(f.transform(recs, "material")[1, 1])  # unknown = missing
    recs[2].museum = "never-seen"
    assert np.isnan(f.transform(recs, "material")[2, 0])


def test_single_class_task_and_single_example_group():
    groups = {"material": ["a", "b", "c"], "place": ["ES", "FR"]}
    recs = make_records(20, seed=0, text=False, missing=0.0)
    for r in recs:
        r.labels = {"material": "a", "place": "ES"}
    recs[0].labels["place"] = "FR"  # a group with one example
    model = TabularModel(groups, PARAMS).fit(recs)
    p = model.predict(recs)
    assert model.models["material"].booster is None  # prior: only one class present
    assert p["material"].argmax(1).tolist() == [0] * 20
    assert np.allclose(p["place"].sum(1), 1)
