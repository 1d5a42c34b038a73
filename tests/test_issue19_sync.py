"""Issue 19, defect 6: the first sync after the demo re-predicted every artifact.

The demo trains in its sync; the next sync knows the models by their card only (no model is
loaded when nothing must be predicted) and did not see their decision rule (the macro-F1
offsets of the calibration), so its run fingerprint differed from the training run's:
``replaced_all`` and 600/600 artifacts predicted again after one rejection.  The regression
test runs the real ensemble (tabular + fusion, small) the way the demo does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kgenrich.calibration import load_calibration
from kgenrich.config import load_settings
from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.review import decisions as D
from kgenrich.review.reading import Reader
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync
from kgenrich.training import STACKER_DIR

TOML = """
seed = 1
[models]
modalities = ["tabular"]
folds = 2
n_jobs = 1
decision = "macro_f1"
[models.tabular]
num_boost_round = 20
[models.fusion]
num_boost_round = 30
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("issue19-sync")
    generated = generate(work / "data", size=150, seed=3, progress=False)
    store = EmbeddedStore(work / "store")
    for path in generated.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
    (work / "kgenrich.toml").write_text(TOML)
    settings = load_settings(environ={}, cwd=work)
    settings.store = str(work / "store")
    settings.models_dir = str(work / "models")
    settings.sections["sync"] = {"report_dir": str(work / "reports")}
    first = run_sync(store, settings, retrain=True, progress=False)  # as `kgenrich demo` does
    yield store, settings, first
    store.close()


def test_first_sync_after_training_is_incremental(trained):
    store, settings, first = trained
    assert first.trained and first.replaced_all
    # The precondition of the defect: the models' decision rule moves some group (non-zero offsets).
    rules = load_calibration(Path(settings.models_dir) / STACKER_DIR)
    assert any(any(abs(o) > 0 for o in r.offsets) for r in rules.values())

    reader = Reader(store, settings)
    c = reader.collection()
    item = reader.queue(limit=1)["items"][0]
    D.decide(store, reader.graphs, c.tasks, c.groups, c.classes, D.Reviewer("alice"), item["statement"], "rejected",
               confidence=c.confidence)

    second = run_sync(store, settings, progress=False)
    assert not second.trained
    assert not second.replaced_all, "the first sync after training replaced the whole prediction graph"
    assert second.repredicted_artifacts == 1
    assert second.run_fingerprint == first.run_fingerprint
    third = run_sync(store, settings, progress=False)
    assert not third.wrote and third.written == 0
