import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from test_models_data import make_labels, make_records

import kgenrich
from kgenrich.config import Settings
from kgenrich.evaluation import evaluate_holdout, hide, holdout_split, markdown_table, score_ensemble, write_report
from kgenrich.metrics import scores
from kgenrich.models import register, unregister
from kgenrich.models.base import ModalityModel, encode_targets
from kgenrich.training import train_ensemble


def test_scores_match_sklearn():
    y_true = ["a", "a", "b", "c", "c", "c", "b", "a"]
    y_pred = ["a", "b", "b", "c", "a", "c", "b", "a"]
    s = scores(y_true, y_pred, ["a", "b", "c", "d"])
    assert s["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert s["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert s["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred)) == pytest.approx(6 / 8)
    assert s["support"] == 8
    assert s["confusion"] == confusion_matrix(y_true, y_pred, labels=["a", "b", "c", "d"]).tolist()
    assert s["confusion"][0] == [2, 1, 0, 0]
    # hand check of macro-F1: a: P=2/3 R=2/3; b: P=2/3 R=1; c: P=1 R=2/3
    f = [2 / 3, 2 * (2 / 3) / (2 / 3 + 1), 2 * (2 / 3) / (1 + 2 / 3)]
    assert s["macro_f1"] == pytest.approx(sum(f) / 3)
    assert scores([], [], ["a"])["support"] == 0


def imported_modules(module: str) -> set[str]:
    """Every kgenrich module a module imports, at module or function level."""
    path = Path(kgenrich.__file__).parent / (module.replace(".", "/") + ".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module or "")
            found.update(f"{node.module}.{a.name}" if node.module else a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kgenrich."):
            found.add(node.module.removeprefix("kgenrich."))
    return found


def test_metrics_sit_below_training_and_evaluation():
    """training scores with metrics, never through evaluation (which imports training)."""
    assert "evaluation" not in imported_modules("training")
    assert "metrics" in imported_modules("training") and "metrics" in imported_modules("evaluation")
    assert not {"training", "evaluation"} & imported_modules("metrics")


def test_hide_removes_only_the_task():
    r = make_records(1, missing=0.0)[0]
    h = hide(r, "material")
    assert h.labels["material"] is None and h.values["material"] == [] and h.is_gap("material")
    assert h.labels["place"] == r.labels["place"] and r.labels["material"] is not None  # original untouched


def test_holdout_is_seeded_and_disjoint():
    recs = make_records(100)
    labels = make_labels()
    tr, te = holdout_split(recs, labels, 0.2, 0)
    tr2, te2 = holdout_split(recs, labels, 0.2, 0)
    assert [r.iri for r in te] == [r.iri for r in te2] and len(te) == 20
    assert not {r.iri for r in tr} & {r.iri for r in te}


def test_evaluate_holdout_report_and_files(tmp_path):
    recs = make_records(120, seed=0, text=False)
    s = Settings(sections={"models": {"modalities": ["tabular"], "folds": 2, "n_jobs": 1,
                                      "tabular": {"num_boost_round": 30}, "fusion": {"num_boost_round": 30}}})
    report = evaluate_holdout(recs, make_labels(), s, test_size=0.25, seed=0, progress=False)
    place = report["tasks"]["place"]
    assert set(place) == {"tabular", "fusion"}
    for key in ("macro_f1", "micro_f1", "accuracy", "support", "confusion", "labels"):
        assert key in place["fusion"]
    assert place["fusion"]["support"] == sum(map(sum, place["fusion"]["confusion"]))
    assert place["tabular"]["macro_f1"] > 0.6
    md = markdown_table(report)
    assert "| place | fusion |" in md
    paths = write_report(report, tmp_path / "out")
    assert (tmp_path / "out" / "f1_by_modality.png").stat().st_size > 1000
    assert any(p.name.startswith("confusion_material") for p in paths)


class LabelCopier(ModalityModel):
    """Predicts each task's group by copying the record's own label (NaN where it has none):
    perfect when the value is visible, silent when it is hidden -- a leak detector."""

    name = "copier"
    modality = "copier"
    reads_labels = True

    def _fit(self, records, targets, progress):
        pass

    def _predict(self, records, progress):
        targets = encode_targets(records, self.groups)
        out = {}
        for task, ids in self.groups.items():
            p = np.full((len(records), len(ids)), np.nan)
            known = targets[task] >= 0
            p[known] = np.eye(len(ids))[targets[task][known]]
            out[task] = p
        return out

    def _save(self, directory):
        pass

    def _load(self, directory):
        pass


@pytest.fixture
def copier_ensemble(tmp_path):
    register("copier", LabelCopier)
    try:
        recs = make_records(90, seed=0, text=False)
        s = Settings(sections={"models": {"modalities": ["copier", "tabular"], "folds": 2, "n_jobs": 1,
                                          "tabular": {"num_boost_round": 20}, "fusion": {"num_boost_round": 20}}})
        ens = train_ensemble(recs[:60], make_labels(), s, tmp_path / "m", progress=False)
        yield ens, recs[60:]
    finally:
        unregister("copier")


def test_a_model_that_reads_labels_is_scored_on_hidden_values(copier_ensemble):
    ens, test = copier_ensemble
    assert ens.models["copier"].reads_labels and ens.models["tabular"].reads_labels
    report = score_ensemble(ens, test)
    for _task, entry in report["tasks"].items():
        # the scored value is hidden from the copier: it has nothing to copy
        assert entry["copier"]["coverage"] == 0.0 and entry["copier"]["support"] == 0
        assert entry["fusion"]["support"] > 0
    # counterfactual: declared label-free, it is predicted on the unhidden records and looks perfect
    ens.models["copier"].reads_labels = False
    leaked = score_ensemble(ens, test)
    for _task, entry in leaked["tasks"].items():
        assert entry["copier"]["coverage"] == 1.0 and entry["copier"]["accuracy"] == 1.0
