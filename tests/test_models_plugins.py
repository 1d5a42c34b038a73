"""Models from other distributions: entry points in the group ``kgenrich.models``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import kgenrich.models as models

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def test_pyproject_declares_the_builtin_models_as_entry_points():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][models.ENTRY_POINT_GROUP]
    builtin = {name: f"kgenrich.models.{target}" for name, target in models._REGISTRY.items()
               if name in models.BUILTIN}
    assert declared == builtin


def test_entry_points_are_read_only_for_names_not_built_in(monkeypatch):
    def no_metadata(**kwargs):
        raise RuntimeError("entry points read")

    monkeypatch.setattr(models, "_entry_points", None)
    monkeypatch.setattr(models.importlib.metadata, "entry_points", no_metadata)
    assert models.create("tabular", {"t": ["a", "b"]}).name == "tabular"  # no look-up for a built-in name
    with pytest.raises(RuntimeError, match="entry points read"):
        models.create("not-built-in", {"t": ["a", "b"]})
    with pytest.raises(RuntimeError, match="entry points read"):
        models.names()


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "kgenrich-museum-prior"
version = "0.0.1"

[project.entry-points."kgenrich.models"]
thirdparty = "kgenrich_museum_prior:MuseumPrior"
broken = "kgenrich_museum_prior_missing:Nothing"

[tool.setuptools]
py-modules = ["kgenrich_museum_prior"]
"""

PLUGIN_MODULE = '''
"""A modality from another distribution: per museum, how often each group occurred in training."""
import json

import numpy as np

from kgenrich.models.base import ModalityModel


class MuseumPrior(ModalityModel):
    modality = "museum-prior"
    reads_labels = False  # the museum only

    def _fit(self, records, targets, progress):
        self.counts = {}
        for task, ids in self.groups.items():
            per_museum = {}
            for record, y in zip(records, targets[task]):
                if y >= 0:
                    per_museum.setdefault(record.museum, [1.0] * len(ids))[y] += 1.0  # add-one smoothing
            self.counts[task] = per_museum

    def _predict(self, records, progress):
        return {task: np.array([per.get(r.museum, [1.0] * len(self.groups[task])) for r in records])
                for task, per in self.counts.items()}

    def _save(self, directory):
        (directory / "counts.json").write_text(json.dumps(self.counts))

    def _load(self, directory):
        self.counts = json.loads((directory / "counts.json").read_text())
'''

# Run in a fresh interpreter that sees the installed plugin: train, save, load and predict by name.
CLIENT = """
import json, sys
from pathlib import Path

import numpy as np

sys.path.insert(0, {tests!r})
from test_models_data import groups_of, make_labels, make_records

from kgenrich import models
from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.models.base import ModalityModel
from kgenrich.training import Ensemble, train_ensemble

work = Path({work!r})
out = {{"names": models.names()}}
groups = groups_of(make_labels())
train, test = make_records(60, seed=0, text=False), make_records(30, seed=5, text=False)
model = models.create("thirdparty", groups).fit(train)
p = model.predict(test)
model.save(work / "alone")
q = ModalityModel.load(work / "alone").predict(test)
out["class"] = type(model).__module__ + ":" + type(model).__name__
out["round_trip"] = all(np.array_equal(p[t], q[t]) for t in p)
truth = [r.labels["place"] for r in test]
out["place_accuracy"] = float(np.mean([groups["place"][row.argmax()] == y
                                       for row, y in zip(p["place"], truth) if y is not None]))
settings = Settings(sections={{"models": {{"modalities": ["tabular", "thirdparty"], "folds": 2, "n_jobs": 1,
                                           "tabular": {{"num_boost_round": 10}}, "fusion": {{"num_boost_round": 10}}}}}})
train_ensemble(train, make_labels(), settings, work / "ensemble", progress=False)
ensemble = Ensemble.load(work / "ensemble")
out["ensemble_modalities"] = ensemble.card["modalities"]
out["fusion_inputs"] = ensemble.fusion.modalities
fused = ensemble.predict(test)
out["fused_rows_sum_to_one"] = all(bool(np.allclose(v.sum(1), 1)) for v in fused.values())
try:
    models.create("broken", groups)
except ModelError as exc:
    out["broken"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_distribution_adds_a_modality_by_entry_point(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "kgenrich_museum_prior.py").write_text(PLUGIN_MODULE)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), str(src)],
                   check=True, capture_output=True, timeout=120)
    assert list(site.glob("kgenrich_museum_prior-0.0.1.dist-info/entry_points.txt"))
    (tmp_path / "work").mkdir()
    client = tmp_path / "client.py"
    client.write_text(CLIENT.format(tests=str(TESTS), work=str(tmp_path / "work")))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    run = subprocess.run([sys.executable, str(client)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"thirdparty", "broken", "image", "text", "tabular", "fusion"} <= set(out["names"])
    assert out["class"] == "kgenrich_museum_prior:MuseumPrior"
    assert out["round_trip"]
    assert out["place_accuracy"] > 0.7  # the museum decides the place in the synthetic data
    assert out["ensemble_modalities"] == ["tabular", "thirdparty"] == out["fusion_inputs"]
    assert out["fused_rows_sum_to_one"]
    # a broken entry point names itself and its distribution
    assert "'broken = kgenrich_museum_prior_missing:Nothing'" in out["broken"]
    assert "'kgenrich-museum-prior'" in out["broken"] and "ModuleNotFoundError" in out["broken"]
