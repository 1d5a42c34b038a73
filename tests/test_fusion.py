"""Cross-fitting: fusion must be trained on out-of-fold modality probabilities; the stacker contract."""

import warnings

import numpy as np
import pytest
from test_models_data import groups_of, make_labels, make_records

from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.models import register, unregister
from kgenrich.models.base import ModalityModel, Stacker
from kgenrich.models.fusion import FusionModel
from kgenrich.models.tabular import TabularModel
from kgenrich.training import Ensemble, train_ensemble


class MemoModel(ModalityModel):
    """Memorises its training rows: perfect on them, uninformative (uniform) on anything else."""

    name = "memo"
    modality = "memo"

    def _fit(self, records, targets, progress):
        self.memory = {r.iri: {t: int(targets[t][i]) for t in self.tasks} for i, r in enumerate(records)}

    def _predict(self, records, progress):
        out = {}
        for t, ids in self.groups.items():
            p = np.full((len(records), len(ids)), 1.0 / len(ids))
            for i, r in enumerate(records):
                y = self.memory.get(r.iri, {}).get(t, -1)
                if y >= 0:
                    p[i] = 0.0
                    p[i, y] = 1.0
            out[t] = p
        return out

    def _save(self, directory):
        import json

        (directory / "memo.json").write_text(json.dumps(self.memory))

    def _load(self, directory):
        import json

        self.memory = json.loads((directory / "memo.json").read_text())


@pytest.fixture
def memo_registered():
    register("memo", MemoModel)
    yield
    unregister("memo")


def settings(modalities):
    return Settings(sections={"models": {"modalities": modalities, "folds": 3, "n_jobs": 1,
                                         "tabular": {"num_boost_round": 40}, "fusion": {"num_boost_round": 40}}})


def memo_as_fusion_sees_it(records, tmp_path, monkeypatch):
    """Train the ensemble; return the ensemble and memo's accuracy in fusion's training inputs."""
    labels = make_labels()
    seen = {}
    original = FusionModel.fit
    n_labelled = len([r for r in records if any(r.labels[t] for t in r.labels)])

    def spy(self, recs, inputs, progress=False):
        if len(recs) == n_labelled:  # the final fusion model (not the fusion-scoring folds)
            seen["inputs"], seen["records"] = inputs, list(recs)
        return original(self, recs, inputs, progress)

    monkeypatch.setattr(FusionModel, "fit", spy)
    ens = train_ensemble(records, labels, settings(["memo", "tabular"]), tmp_path / "m", progress=False)
    memo = seen["inputs"]["memo"]["material"]
    truth = [r.labels["material"] for r in seen["records"]]
    ids = ens.groups["material"]
    rows = [i for i, y in enumerate(truth) if y is not None]
    return ens, float(np.mean([ids[memo[i].argmax()] == truth[i] for i in rows]))


def fused_vs_tabular(ens, task="place"):
    fresh = make_records(90, seed=7, text=False)
    fused = ens.predict(fresh)[task]
    tab = ens.models["tabular"].predict(fresh)[task]
    y = np.array([r.labels[task] for r in fresh])
    ok = y != None  # noqa: E711
    ids = np.array(ens.groups[task])
    return (ids[fused[ok].argmax(1)] == y[ok]).mean(), (ids[tab[ok].argmax(1)] == y[ok]).mean()


def test_fusion_sees_out_of_fold_probabilities(memo_registered, tmp_path, monkeypatch):
    records = make_records(120, seed=1, text=False)
    ens, acc = memo_as_fusion_sees_it(records, tmp_path, monkeypatch)
    # in-sample the memoriser is perfect (1.0); out of fold it is a constant guess
    assert acc < 0.6
    assert ens.card["scores"]["memo"]["material"]["accuracy"] < 0.6
    # fusion therefore relies on tabular: on new artifacts it is at least as good
    fused, tab = fused_vs_tabular(ens)
    assert fused >= tab - 0.1


def test_the_check_detects_in_sample_training(memo_registered, tmp_path, monkeypatch):
    """Counterfactual: with 'folds' that validate on their own training rows the same
    check sees a perfect memoriser, and fusion, fooled, falls behind tabular on new data."""
    import kgenrich.training as training

    def in_sample_folds(records, groups, k, seed):
        idx = np.arange(len(records))
        return [(idx, idx)] * k

    monkeypatch.setattr(training, "make_folds", in_sample_folds)
    records = make_records(120, seed=1, text=False)
    ens, acc = memo_as_fusion_sees_it(records, tmp_path, monkeypatch)
    assert acc > 0.95
    fused, tab = fused_vs_tabular(ens)
    # fusion boosts from the product of experts, in which the (now uniform) memoriser
    # weighs nothing, so the harm is smaller than with raw probabilities alone -- but real
    assert fused < tab - 0.02


def test_fusion_handles_missing_modalities_and_normalises():
    records = make_records(60, seed=2, text=False)
    groups = groups_of(make_labels())
    n = len(records)
    rng = np.random.default_rng(0)
    inputs = {"a": {t: rng.dirichlet(np.ones(len(g)), n) for t, g in groups.items()},
              "b": {t: np.full((n, len(g)), np.nan) for t, g in groups.items()}}
    inputs["b"]["material"][: n // 2] = 1.0 / 3
    fusion = FusionModel(groups, {"n_jobs": 1, "num_boost_round": 10}).fit(records, inputs)
    X = fusion.features(records, inputs, "material")
    # columns: a probs (3) + flag, b probs (3) + flag, tabular features
    assert X[0, 3] == 0 and X[0, 7] == 0 and X[-1, 7] == 1 and np.isnan(X[-1, 4:7]).all()
    out = fusion.predict(records, inputs)
    for t, p in out.items():
        assert p.shape == (n, len(groups[t]))
        assert np.allclose(p.sum(1), 1.0)


def test_fusion_combines_complementary_modalities():
    """Two modalities that each know half of the truth (and guess uniformly elsewhere):
    fusion on both must beat each alone by far; and with the booster switched off (a tiny
    learning rate) fusion is exactly the product of experts it starts from."""
    from kgenrich.models.base import encode_targets

    records = make_records(240, seed=3, text=False)
    groups = groups_of(make_labels())
    n = len(records)
    targets = encode_targets(records, groups)
    rng = np.random.default_rng(1)
    half = rng.random(n) < 0.5
    inputs = {"a": {}, "b": {}}
    for t, ids in groups.items():
        k = len(ids)
        onehot = np.full((n, k), 0.1 / k)
        onehot[np.arange(n), np.maximum(targets[t], 0)] += 0.9
        uniform = np.full((n, k), 1.0 / k)
        inputs["a"][t] = np.where(half[:, None], onehot, uniform)
        inputs["b"][t] = np.where(half[:, None], uniform, onehot)
    train, test = np.arange(n) < 160, np.arange(n) >= 160
    sub = lambda rows: {m: {t: p[rows] for t, p in pm.items()} for m, pm in inputs.items()}  # noqa: E731
    fusion = FusionModel(groups, {"n_jobs": 1}).fit([r for r, ok in zip(records, train) if ok], sub(train))
    fused = fusion.predict([r for r, ok in zip(records, test) if ok], sub(test))
    task = "material"
    y = targets[task][test]
    ok = y >= 0
    acc = lambda p: float((p[ok].argmax(1) == y[ok]).mean())  # noqa: E731
    single = max(acc(sub(test)[m][task]) for m in ("a", "b"))
    assert acc(fused[task]) > 0.95 > single + 0.2
    off = FusionModel(groups, {"n_jobs": 1, "learning_rate": 1e-9, "early_stopping_rounds": 0,
                               "num_boost_round": 1, "poe_init": 1.0}).fit(records, inputs)
    p = off.predict(records, inputs)[task]
    poe = inputs["a"][task] * inputs["b"][task]
    assert np.allclose(p, poe / poe.sum(1, keepdims=True), atol=1e-3)


class MeanStacker(Stacker):
    """The mean of the modalities present for a record (uniform where none is)."""

    name = "mean"

    def _fit(self, records, inputs, targets, progress):
        self.info["inputs"] = sorted(inputs)

    def _predict(self, records, inputs, progress):
        out = {}
        for task, ids in self.groups.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a record no modality covers: all NaN
                mean = np.nanmean(np.stack([inputs[m][task] for m in sorted(inputs)]), axis=0)
            out[task] = np.where(np.isnan(mean), 1.0 / len(ids), mean)
        return out

    def _save(self, directory):
        pass

    def _load(self, directory):
        pass


def test_a_stacker_registered_by_name_replaces_fusion(tmp_path):
    register("mean", MeanStacker)
    try:
        s = Settings(sections={"models": {"modalities": ["tabular"], "stacker": "mean", "folds": 2, "n_jobs": 1,
                                          "tabular": {"num_boost_round": 20}}})
        records = make_records(60, seed=1, text=False)
        train_ensemble(records, make_labels(), s, tmp_path / "m", progress=False)
        ens = Ensemble.load(tmp_path / "m")  # by the name in fusion/model.json
        assert isinstance(ens.fusion, MeanStacker) and ens.fusion.name == "mean"
        assert ens.fusion.info["inputs"] == ["tabular"] and "fusion" in ens.card["scores"]
        fresh = make_records(20, seed=9, text=False)
        tab = ens.models["tabular"].predict(fresh)
        fused = ens.predict(fresh, calibrated=False)  # the stacker's own output
        assert all(np.allclose(fused[t], tab[t]) for t in tab)  # the mean of one modality is that modality
    finally:
        unregister("mean")


def test_stackers_and_modalities_are_not_interchangeable(tmp_path):
    assert issubclass(FusionModel, Stacker) and not issubclass(FusionModel, ModalityModel)
    records = make_records(30, seed=1, text=False)
    base = {"folds": 2, "n_jobs": 1, "tabular": {"num_boost_round": 5}}
    with pytest.raises(ModelError, match="'fusion' is a FusionModel, not a modality model.*models.stacker"):
        train_ensemble(records, make_labels(), Settings(sections={"models": {**base, "modalities": ["fusion"]}}),
                       tmp_path / "a", progress=False)
    with pytest.raises(ModelError, match="'tabular' is a TabularModel, not a stacker"):
        train_ensemble(records, make_labels(), Settings(sections={"models": {**base, "modalities": ["tabular"],
                                                                             "stacker": "tabular"}}),
                       tmp_path / "b", progress=False)
    groups = groups_of(make_labels())
    TabularModel(groups, {"n_jobs": 1, "num_boost_round": 5}).fit(records).save(tmp_path / "tab")
    with pytest.raises(ModelError, match="is a TabularModel, not a Stacker"):
        Stacker.load(tmp_path / "tab")


def test_the_contract_is_abstract_and_the_stacker_output_checked():
    class NoPredict(ModalityModel):
        def _fit(self, records, targets, progress):
            pass

        def _save(self, directory):
            pass

        def _load(self, directory):
            pass

    with pytest.raises(TypeError, match="abstract method.*_predict"):
        NoPredict({"t": ["a", "b"]})

    class Doubling(MeanStacker):
        def _predict(self, records, inputs, progress):
            return {t: 2 * p for t, p in super()._predict(records, inputs, progress).items()}

    records = make_records(10, seed=1, text=False)
    groups = groups_of(make_labels())
    inputs = {"a": {t: np.full((10, len(g)), 1.0 / len(g)) for t, g in groups.items()}}
    stacker = Doubling(groups).fit(records, inputs)
    with pytest.raises(ModelError, match="not probability distributions"):
        stacker.predict(records, inputs)
    with pytest.raises(ModelError, match="10 rows of a probabilities for task material, 9 records"):
        stacker.predict(records[:9], inputs)
