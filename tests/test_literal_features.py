"""Configured literal features reach the tabular model: SPARQL extraction, features, save/load."""

import numpy as np
import pytest
from helpers import MINI, SILKNOW_PROFILE, mini_settings
from rdflib import URIRef

from kgenrich.config import load_settings
from kgenrich.errors import ConfigError
from kgenrich.models.tabular import Featurizer, TabularModel
from kgenrich.pipeline import load_inputs
from kgenrich.records import ArtifactRecord
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.tasks import load_tasks

WIDTH = "https://w3id.org/kgenrich/test/width"
MARK = "https://w3id.org/kgenrich/test/mark"


def test_literals_are_extracted_for_configured_properties():
    store = EmbeddedStore()
    store.load_file(MINI)
    store.load_bytes(f"""
<https://w3id.org/kgenrich/test/object/a1> <{WIDTH}> "52.5" ; <{MARK}> "CE-01" .
<https://w3id.org/kgenrich/test/object/b1> <{WIDTH}> "48" .
""".encode(), "turtle", graph=URIRef("https://w3id.org/kgenrich/test/graph/museum-a"))
    settings = mini_settings(literal_features=[WIDTH, MARK])
    inputs = load_inputs(store, settings, tasks=load_tasks(store, settings), profile=SILKNOW_PROFILE, progress=False)
    records = {r.iri.rsplit("/", 1)[-1]: r for r in inputs.records}
    assert records["a1"].literals == {WIDTH: ["52.5"], MARK: ["CE-01"]}
    # b1 lives in museum-b: a literal asserted in another graph is not this museum's statement.
    assert records["b1"].literals == {WIDTH: [], MARK: []}
    assert "literals" in records["a1"].to_dict()


def _record(i, museum, width, mark, label):
    return ArtifactRecord(iri=f"http://x/{i}", graph=f"http://x/{museum}", museum=museum,
                          labels={"technique": label, "material": None},
                          values={"technique": [label]}, literals={WIDTH: [width], MARK: [mark]})


def test_featurizer_numbers_categories_and_round_trip():
    groups = {"technique": ["damask", "velvet"], "material": ["silk", "linen"]}
    records = [_record(i, "m", str(40 + i), "CE" if i % 2 else "VA", "damask") for i in range(6)]
    records.append(_record(9, "m", "n/a", "XX", "velvet"))
    featurizer = Featurizer(groups).fit(records)
    # "n/a" makes the width non-numeric: it becomes a category.
    assert featurizer.literals[WIDTH]["kind"] == "category"
    numeric = Featurizer(groups).fit(records[:6])
    assert numeric.literals[WIDTH] == {"kind": "number"}
    X = numeric.transform(records, "technique")
    names = numeric.names("technique")
    assert X[0, names.index(f"literal:{WIDTH}")] == 40.0
    assert np.isnan(X[6, names.index(f"literal:{WIDTH}")])  # unparseable at prediction: missing
    mark_col = names.index(f"literal:{MARK}")
    assert mark_col in numeric.categorical("technique")
    assert X[6, mark_col] == len(numeric.literals[MARK]["values"])  # unseen category: "other"
    again = Featurizer.from_json(groups, numeric.to_json())
    assert np.array_equal(again.transform(records, "technique"), X, equal_nan=True)


def test_tabular_model_learns_from_a_literal(tmp_path):
    groups = {"technique": ["damask", "velvet"]}
    records = [ArtifactRecord(iri=f"http://x/{i}", graph="http://x/m", museum="m",
                              labels={"technique": "damask" if i % 2 else "velvet"},
                              values={"technique": ["v"]}, literals={WIDTH: [str(10 if i % 2 else 90)]})
               for i in range(40)]
    model = TabularModel(groups, {"n_jobs": 1, "num_boost_round": 30, "min_data_in_leaf": 2}).fit(records)
    probe = [ArtifactRecord(iri="http://x/p1", graph="http://x/m", museum="m", literals={WIDTH: ["12"]}),
             ArtifactRecord(iri="http://x/p2", graph="http://x/m", museum="m", literals={WIDTH: ["88"]})]
    p = model.predict(probe)["technique"]
    assert p[0].argmax() == 0 and p[1].argmax() == 1  # only the width tells them apart
    model.save(tmp_path / "tab")
    loaded = TabularModel.load(tmp_path / "tab")
    assert np.allclose(loaded.predict(probe)["technique"], p)


def test_literal_features_must_be_iris(tmp_path):
    (tmp_path / "kgenrich.toml").write_text('literal_features = ["not an iri"]\n')
    with pytest.raises(ConfigError, match="literal_features"):
        load_settings(environ={}, cwd=tmp_path)
