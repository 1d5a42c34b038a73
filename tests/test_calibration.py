"""Calibration, the macro-F1 decision rule, precision targets and the calibration metrics (calibration.py,
metrics.py), on real LightGBM models and toy problems whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgenrich.calibration import (
    BiasTemperature,
    Calibrator,
    Isotonic,
    TaskCalibration,
    Temperature,
    choose_calibrator,
    choose_decision,
    fit_task,
    load_calibration,
    macro_f1,
    precision_curve,
    save_calibration,
    threshold_for_precision,
    tune_offsets,
)
from kgenrich.metrics import brier, ece, log_loss, reliability


def folds_of(n: int, k: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def noisy_problem(n: int, seed: int, k: int = 3):
    """Three overlapping classes in 4 dimensions, plus 20% of labels drawn at random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, 4)) + np.eye(k, 4)[y] * 1.2
    flip = rng.random(n) < 0.2
    y = np.where(flip, rng.integers(0, k, n), y)
    return X, y


def overfit_lightgbm(X, y, k):
    """Deliberately over-confident: deep trees, no regularisation, many rounds on noisy labels."""
    import lightgbm as lgb

    params = {"objective": "multiclass", "num_class": k, "num_leaves": 63, "min_data_in_leaf": 1, "lambda_l2": 0.0,
              "learning_rate": 0.3, "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True,
              "min_sum_hessian_in_leaf": 0.0}
    return lgb.train(params, lgb.Dataset(X, y, params={"verbose": -1}), num_boost_round=150)


def test_calibration_lowers_ece_of_an_overconfident_model():
    k = 3
    X, y = noisy_problem(1500, seed=1)
    fold = folds_of(len(y))
    oof = np.zeros((len(y), k))
    for f in range(5):
        oof[fold == f] = overfit_lightgbm(X[fold != f], y[fold != f], k).predict(X[fold == f])
    Xt, yt = noisy_problem(3000, seed=2)
    raw = overfit_lightgbm(X, y, k).predict(Xt)
    assert ece(raw, yt) > 0.15  # the model claims far more than it knows

    choice = choose_calibrator(oof, y, fold)
    assert choice.calibrator.method != "none"
    assert set(choice.cv_log_loss) == {"none", "temperature", "bias_temperature", "isotonic"}
    assert choice.cv_log_loss[choice.calibrator.method] == min(choice.cv_log_loss.values())
    calibrated = choice.calibrator(raw)
    assert ece(calibrated, yt) < 0.05
    assert ece(calibrated, yt) < ece(raw, yt) / 3
    assert brier(calibrated, yt) < brier(raw, yt)
    assert log_loss(calibrated, yt) < log_loss(raw, yt)
    assert np.allclose(calibrated.sum(1), 1)
    # what a calibrator does, it does after a save and a load too
    again = Calibrator.from_json(json.loads(json.dumps(choice.calibrator.to_json())))
    assert np.allclose(again(raw), calibrated)


def test_a_prior_shift_needs_the_bias_not_just_a_temperature():
    # a model trained with balanced weights over-predicts the rare group: the same posteriors,
    # shifted towards group 2 by a constant in log space
    rng = np.random.default_rng(3)
    n, k = 6000, 3
    logits = rng.normal(size=(n, k)) * 1.5 + np.log([0.8, 0.15, 0.05])
    truth = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in truth])
    shifted = np.exp(logits - np.log([0.8, 0.15, 0.05]))
    shifted /= shifted.sum(1, keepdims=True)
    choice = choose_calibrator(shifted, y, folds_of(n))
    assert choice.cv_log_loss["bias_temperature"] < choice.cv_log_loss["temperature"] - 0.05
    assert choice.calibrator.method in ("bias_temperature", "isotonic")
    assert ece(choice.cv_probs, y) < 0.03 < ece(shifted, y)


@pytest.mark.parametrize("calibrator", [Calibrator(), Temperature(0.7), BiasTemperature(-0.2, [0.5, -0.1, -0.4]),
                                        Isotonic([([0.0, 1.0], [0.1, 0.9]), ([0.2, 0.6], [0.0, 1.0]),
                                                  ([0.0, 1.0], [0.3, 0.3])])])
def test_calibrators_keep_missing_rows_missing_and_rows_distributions(calibrator):
    p = np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, 0.1, 0.8]])
    q = calibrator(p)
    assert np.isnan(q[1]).all()
    assert np.allclose(q[[0, 2]].sum(1), 1) and (q[[0, 2]] > 0).all()
    assert np.allclose(Calibrator.from_json(calibrator.to_json())(p), q, equal_nan=True)


def test_isotonic_is_scikit_learns_pav():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1], 400)
    y = (rng.random(400) < p[:, 1] ** 2).astype(int)
    ours = Isotonic().fit(p, y)
    fresh = rng.dirichlet([1, 1], 50)
    theirs = [IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, j], y == j).predict(fresh[:, j])
              for j in range(2)]
    expected = np.clip(np.column_stack(theirs), 1e-6, 1)
    assert np.allclose(ours(fresh), expected / expected.sum(1, keepdims=True))


def imbalanced_problem(n: int, seed: int):
    """85 / 10 / 5 per cent, overlapping: the exact posterior is known and calibrated."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.85, 0.10, 0.05])
    means = np.array([0.0, 1.0, 2.0])
    y = rng.choice(3, size=n, p=prior)
    x = rng.normal(means[y], 1.0)
    like = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2) * prior
    return like / like.sum(1, keepdims=True), y


def test_the_decision_rule_raises_macro_f1_on_an_imbalanced_problem():
    p, y = imbalanced_problem(4000, seed=0)
    choice = choose_decision(p, y, folds_of(len(y)))
    assert choice.rule == "macro_f1"  # it helped out of fold, so it is on
    assert choice.oof_macro_f1["macro_f1"] > choice.oof_macro_f1["argmax"] + 0.03
    assert choice.offsets[2] > choice.offsets[0]  # the rare group is favoured
    fresh, truth = imbalanced_problem(20000, seed=1)
    with_rule = macro_f1(truth, (np.log(fresh) + choice.offsets).argmax(1), 3)
    argmax = macro_f1(truth, fresh.argmax(1), 3)
    assert with_rule > argmax + 0.03
    # argmax never says the middle group (always outweighed by one neighbour or the other); the
    # rule says it about as often as it occurs (10%)
    assert (fresh.argmax(1) == 1).mean() < 0.01
    assert 0.07 < ((np.log(fresh) + choice.offsets).argmax(1) == 1).mean() < 0.13


def test_the_decision_rule_stays_off_when_asked_or_when_it_does_not_help():
    p, y = imbalanced_problem(3000, seed=2)
    off = choose_decision(p, y, folds_of(len(y)), mode="argmax")
    assert off.rule == "argmax" and not off.offsets.any() and (off.oof_pred == p.argmax(1)).all()
    # perfectly separated groups: argmax is already right everywhere, offsets cannot help
    y = np.arange(300) % 3
    p = np.eye(3)[y] * 0.9 + 0.1 / 3
    auto = choose_decision(p, y, folds_of(len(y)))
    assert auto.rule == "argmax" and not auto.offsets.any()


def test_tune_offsets_finds_a_better_cut_than_argmax():
    # group 1 is right exactly when its probability is above 0.3: argmax (0.5) misses most of it
    p1 = np.concatenate([np.linspace(0.01, 0.2, 30), np.linspace(0.35, 0.6, 30)])
    p = np.column_stack([1 - p1, p1])
    y = (p1 > 0.3).astype(int)
    offsets = tune_offsets(p, y, 2)
    assert macro_f1(y, (np.log(p) + offsets).argmax(1), 2) == 1.0 > macro_f1(y, p.argmax(1), 2)


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 3, 200)  # group 3 is never predicted
    assert macro_f1(y, pred, 4) == pytest.approx(f1_score(y, pred, average="macro"))


def test_precision_curve_and_threshold_by_hand():
    conf = np.array([0.9, 0.8, 0.8, 0.7, 0.6])
    correct = np.array([True, True, False, True, False])
    curve = precision_curve(conf, correct)
    assert curve["threshold"] == [0.9, 0.8, 0.7, 0.6]  # the two 0.8 rows are kept or cut together
    assert curve["precision"] == pytest.approx([1.0, 2 / 3, 3 / 4, 3 / 5], abs=1e-6)
    assert curve["coverage"] == [0.2, 0.6, 0.8, 1.0]
    found = threshold_for_precision(curve, 0.7)
    assert found["threshold"] == 0.7 and found["coverage"] == 0.8 and found["precision"] == 0.75
    assert threshold_for_precision(curve, 0.95)["threshold"] == 0.9
    assert threshold_for_precision(curve, 0.5)["threshold"] == 0.6
    unreachable = threshold_for_precision(curve, 1.01)
    assert unreachable["threshold"] is None and unreachable["coverage"] == 0.0 and unreachable["precision"] == 1.0


def test_precision_curve_keeps_a_bounded_number_of_points():
    rng = np.random.default_rng(0)
    conf = rng.random(10000)
    curve = precision_curve(conf, rng.random(10000) < conf, points=100)
    assert len(curve["threshold"]) <= 100 and curve["coverage"][-1] == 1.0
    assert curve["threshold"] == sorted(curve["threshold"], reverse=True)


def test_calibration_metrics_by_hand():
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    y = np.array([0, 1, 1, 1])
    # bins of 1/15: 0.9 -> 13, 0.6 -> 9, 0.7 -> 10, 0.8 -> 12; each alone: |acc - conf|
    assert ece(p, y) == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
    assert ece(np.array([[0.55, 0.45], [0.58, 0.42]]), np.array([0, 1])) == pytest.approx(abs(0.5 - 0.565))
    assert brier(p, y) == pytest.approx(np.mean([0.02, 0.72, 0.18, 0.08]))
    assert log_loss(p, y) == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.7, 0.8])))
    # the chosen value need not be the top-1: ECE of the written confidence
    assert ece(p, y, chosen=np.array([1, 1, 1, 1])) == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
    r = reliability(p, y)
    assert r["bins"] == 15 and sum(r["count"]) == 4 and r["count"][13] == 1 and r["accuracy"][13] == 1.0
    assert r["confidence"][0] is None  # an empty bin


def test_task_calibration_is_saved_and_loaded(tmp_path):
    p, y = imbalanced_problem(2000, seed=3)
    fit = fit_task(p, y, folds_of(len(y)), ["a", "b", "c"], targets=[0.9])
    assert set(fit.summary) == {"calibration", "decision", "precision_targets"}
    assert set(fit.summary["precision_targets"]) == {"0.8", "0.9", "0.95"}
    save_calibration(tmp_path, {"material": fit.saved, "place": TaskCalibration(Temperature(0.5))})
    loaded = load_calibration(tmp_path)
    assert np.allclose(loaded["material"].calibrator(p), fit.saved.calibrator(p))
    assert (loaded["material"].decide(p) == fit.saved.decide(p)).all()
    assert loaded["material"].threshold(0.9) == fit.summary["precision_targets"]["0.9"]
    assert loaded["place"].curve == {} and not len(loaded["place"].offsets)
    assert load_calibration(tmp_path / "nowhere") == {}
