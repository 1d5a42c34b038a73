"""Confidences that mean what they say: calibration, the macro-F1 decision rule, precision targets.

Everything here is fitted on **out-of-fold** probabilities (training.py's
cross-fit), never on the rows a model was trained on, and every choice is
itself made out of fold:

- **Calibration** per task: ``none``, ``temperature`` (one scale on the
  log-probabilities), ``bias_temperature`` (a scale and a bias per class:
  boosters trained with class weights over-predict rare groups, a prior shift
  one scale cannot undo) and ``isotonic`` (PAV per class, one-vs-rest, then
  renormalised, as scikit-learn's ``CalibratedClassifierCV`` does).  Each is
  fitted on all folds but one and applied to the held-out fold; the method
  with the lowest pooled log-loss of those held-out predictions is refitted on
  every row and kept (:func:`choose_calibrator`).
- **Decision rule** for macro-F1: per-group additive offsets on the calibrated
  log-probabilities, tuned by coordinate ascent.  Whether it helps is measured
  out of fold (tuned on all folds but one, scored on the one left out); in
  ``auto`` mode it is kept only when it does (:func:`choose_decision`).  The
  confidence written is still the calibrated probability of the chosen value.
- **Precision target**: the out-of-fold precision of the written predictions
  as a function of the confidence threshold (:func:`precision_curve`), from
  which ``[sync] min_precision`` becomes a threshold and an expected coverage
  (:func:`threshold_for_precision`).

Metrics live in metrics.py; training.py calls :func:`fit_task` and saves a
:class:`TaskCalibration` per task (fusion) and a calibrator per task and modality.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import CALIBRATION_METHODS, DECISION_RULES
from .errors import ModelError

EPS = 1e-6  # probabilities are clipped here before a log; one confident mistake must not be infinite
DECISION_MODES = ("auto", *DECISION_RULES)
CALIBRATION_FILE = "calibration.json"
OFFSET_GRID = np.round(np.arange(-3.0, 3.0001, 0.1), 6)  # log-probability offsets tried per group
CURVE_POINTS = 400  # points kept of a precision curve (coverage resolution 1/400)
STANDARD_TARGETS = (0.8, 0.9, 0.95)  # precision targets reported in the model card


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], EPS, 1.0)))) if len(y) else float("nan")


# ------------------------------------------------------------------ calibrators
class Calibrator:
    """Maps (n, k) probabilities to calibrated (n, k) probabilities; NaN rows stay NaN."""

    method = "none"

    def fit(self, p: np.ndarray, y: np.ndarray) -> Calibrator:
        return self

    def _apply(self, p: np.ndarray) -> np.ndarray:
        return p

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or not len(p):
            return p
        missing = np.isnan(p).any(axis=1)
        out = np.full_like(p, np.nan)
        if (~missing).any():
            out[~missing] = self._apply(p[~missing])
        return out

    def params(self) -> dict:
        return {}

    def to_json(self) -> dict:
        return {"method": self.method, **self.params()}

    @staticmethod
    def from_json(data: Mapping) -> Calibrator:
        method = data.get("method", "none")
        if method not in CALIBRATORS:
            raise ModelError(f"unknown calibration method '{method}' in a saved model (known: {', '.join(CALIBRATION_METHODS)})")
        return CALIBRATORS[method].from_params(data)

    @classmethod
    def from_params(cls, data: Mapping) -> Calibrator:
        return cls()


class Temperature(Calibrator):
    """softmax(log p / T): one scale for every group (Guo et al. 2017)."""

    method = "temperature"

    def __init__(self, log_scale: float = 0.0):
        self.log_scale = float(log_scale)

    def fit(self, p, y):
        from scipy.optimize import minimize_scalar

        lp = _log(p)
        rows = np.arange(len(y))

        def loss(a):
            z = lp * math.exp(a)
            z = z - z.max(axis=1, keepdims=True)
            return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, y]))

        self.log_scale = float(minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded").x)
        return self

    def _apply(self, p):
        return _softmax(_log(p) * math.exp(self.log_scale))

    def params(self):
        return {"temperature": round(math.exp(-self.log_scale), 6), "log_scale": self.log_scale}

    @classmethod
    def from_params(cls, data):
        return cls(data["log_scale"])


class BiasTemperature(Calibrator):
    """softmax(log p / T + b): a scale and a bias per group (bias-corrected temperature scaling,
    Alexandari et al. 2020); the bias undoes the prior shift of class-weighted training."""

    method = "bias_temperature"
    l2 = 1e-4  # a whisper of shrinkage keeps the bias finite for a group the fold never saw

    def __init__(self, log_scale: float = 0.0, bias: Sequence[float] | None = None):
        self.log_scale = float(log_scale)
        self.bias = np.asarray(bias if bias is not None else [], dtype=np.float64)

    def fit(self, p, y):
        from scipy.optimize import minimize

        lp = _log(p)
        n, k = lp.shape
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y] = 1.0

        def loss(w):
            s, b = math.exp(w[0]), w[1:]
            q = _softmax(lp * s + b)
            value = -np.mean(np.log(np.clip(q[np.arange(n), y], 1e-300, 1.0))) + self.l2 * float(b @ b)
            g = (q - onehot) / n
            return value, np.concatenate([[float(np.sum(g * lp)) * s], g.sum(axis=0) + 2 * self.l2 * b])

        w = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B").x
        self.log_scale, self.bias = float(w[0]), w[1:] - w[1:].mean()
        return self

    def _apply(self, p):
        return _softmax(_log(p) * math.exp(self.log_scale) + self.bias)

    def params(self):
        return {"temperature": round(math.exp(-self.log_scale), 6), "log_scale": self.log_scale,
                "bias": [float(b) for b in self.bias]}

    @classmethod
    def from_params(cls, data):
        return cls(data["log_scale"], data["bias"])


class Isotonic(Calibrator):
    """PAV per group (one-vs-rest, scikit-learn's IsotonicRegression), rows renormalised."""

    method = "isotonic"

    def __init__(self, knots: list | None = None):
        self.knots = knots or []  # per group: (x thresholds, y values) of the step function

    def fit(self, p, y):
        from sklearn.isotonic import IsotonicRegression

        self.knots = []
        for j in range(p.shape[1]):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, j], (y == j).astype(float))
            self.knots.append((iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()))
        return self

    def _apply(self, p):
        # np.interp clips outside the knots: IsotonicRegression's out_of_bounds="clip"
        q = np.column_stack([np.interp(p[:, j], xs, ys) for j, (xs, ys) in enumerate(self.knots)])
        q = np.clip(q, EPS, 1.0)
        return q / q.sum(axis=1, keepdims=True)

    def params(self):
        return {"knots": [[list(map(float, xs)), list(map(float, ys))] for xs, ys in self.knots]}

    @classmethod
    def from_params(cls, data):
        return cls([(xs, ys) for xs, ys in data["knots"]])


# The calibrator of each method config.CALIBRATION_METHODS names (the one list of the names; "auto"
# tries them in that order, ties going to the earlier, simpler one)
CALIBRATORS: dict[str, type[Calibrator]] = {"none": Calibrator, "temperature": Temperature,
                                            "bias_temperature": BiasTemperature, "isotonic": Isotonic}
if set(CALIBRATORS) != set(CALIBRATION_METHODS):
    raise ImportError(f"calibration.CALIBRATORS ({', '.join(CALIBRATORS)}) must implement exactly "
                      f"config.CALIBRATION_METHODS ({', '.join(CALIBRATION_METHODS)})")


def make_calibrator(method: str) -> Calibrator:
    if method not in CALIBRATORS:
        raise ModelError(f"models.calibration: unknown method '{method}' (known: auto, {', '.join(CALIBRATION_METHODS)})")
    return CALIBRATORS[method]()


def cross_calibrate(method: str, p: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each fold calibrated by a calibrator fitted on the others."""
    out = np.array(p, dtype=np.float64, copy=True)
    for f in np.unique(fold):
        held = fold == f
        if held.all() or not held.any():
            continue
        out[held] = make_calibrator(method).fit(p[~held], y[~held])(p[held])
    return out


@dataclass
class CalibrationChoice:
    calibrator: Calibrator
    cv_probs: np.ndarray  # the chosen method's out-of-fold calibrated probabilities
    cv_log_loss: dict[str, float]  # method -> pooled out-of-fold log-loss

    def summary(self) -> dict:
        return {**self.calibrator.to_json(), "cv_log_loss": {m: round(v, 5) for m, v in self.cv_log_loss.items()}}


def choose_calibrator(p: np.ndarray, y: np.ndarray, fold: np.ndarray, method: str = "auto") -> CalibrationChoice:
    """The calibration method with the lowest out-of-fold log-loss (``auto``), or the one named.

    ``fold`` gives each row's fold; a method is scored on the rows of each fold
    by a calibrator fitted on the other folds, so the choice never rests on the
    rows a calibrator was fitted on.  The chosen method is then refitted on all rows.
    """
    p, y, fold = np.asarray(p, dtype=np.float64), np.asarray(y), np.asarray(fold)
    candidates = CALIBRATION_METHODS if method == "auto" else (method,)
    if method != "auto" and method not in CALIBRATORS:
        raise ModelError(f"models.calibration: unknown method '{method}' (known: auto, {', '.join(CALIBRATION_METHODS)})")
    if len(np.unique(fold)) < 2 or len(y) < 20:
        # too little to calibrate honestly: leave the probabilities as they are
        return CalibrationChoice(Calibrator(), p, {"none": _nll(p, y)})
    losses, probs = {}, {}
    for m in candidates:
        probs[m] = cross_calibrate(m, p, y, fold)
        losses[m] = _nll(probs[m], y)
    best = min(candidates, key=lambda m: (losses[m], candidates.index(m)))  # ties: the simpler method
    return CalibrationChoice(make_calibrator(best).fit(p, y), probs[best], losses)


# ------------------------------------------------------------------ decisions for macro-F1
def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the groups present in truth or prediction (scikit-learn's definition), fast."""
    if not len(y):
        return float("nan")
    cm = np.bincount(np.asarray(y) * k + np.asarray(pred), minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    present = denom > 0
    return float(np.mean(2 * tp[present] / denom[present]))


def decision_scores(p: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """log p + offsets: the decision rule chooses the group with the highest score."""
    scores = _log(np.asarray(p, dtype=np.float64))
    if offsets is not None and len(offsets):
        scores = scores + np.asarray(offsets, dtype=np.float64)[None, :]
    return scores


def decide(p: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """The chosen group per row: argmax of log p + offsets (argmax of p without offsets)."""
    if offsets is None or not len(offsets):
        return np.asarray(p).argmax(axis=1)
    return decision_scores(p, offsets).argmax(axis=1)


def tune_offsets(p: np.ndarray, y: np.ndarray, k: int, grid: np.ndarray = OFFSET_GRID, passes: int = 3) -> np.ndarray:
    """Per-group offsets on log p that maximise macro-F1 on (p, y), by coordinate ascent over ``grid``."""
    lp = _log(p)
    n = len(y)
    offsets = np.zeros(k)
    best = macro_f1(y, lp.argmax(axis=1), k)
    rows = np.arange(n)
    for _ in range(passes):
        improved = False
        for j in range(k):
            score = lp + offsets
            score[:, j] = -np.inf
            other = score.argmax(axis=1)
            other_score = score[rows, other]
            for c in grid:
                f = macro_f1(y, np.where(lp[:, j] + c > other_score, j, other), k)
                if f > best + 1e-9:
                    best, offsets[j], improved = f, c, True
        if not improved:
            break
    return offsets - offsets.mean()


@dataclass
class DecisionChoice:
    offsets: np.ndarray  # zeros when the rule is argmax
    rule: str  # "argmax" | "macro_f1"
    oof_pred: np.ndarray  # out-of-fold decisions of the chosen rule
    oof_macro_f1: dict[str, float]  # rule -> out-of-fold macro-F1

    def summary(self, groups: Sequence[str]) -> dict:
        return {"rule": self.rule, "offsets": {g: round(float(o), 4) for g, o in zip(groups, self.offsets)},
                "oof_macro_f1": {r: round(v, 5) for r, v in self.oof_macro_f1.items()}}


def choose_decision(p: np.ndarray, y: np.ndarray, fold: np.ndarray, mode: str = "auto") -> DecisionChoice:
    """The decision rule: argmax, or macro-F1 offsets (tuned on all rows), whichever ``mode`` says.

    ``auto`` keeps the offsets only when they raise macro-F1 out of fold: for
    each fold, offsets tuned on the other folds decide the fold's rows, and the
    pooled macro-F1 of those decisions is compared with argmax's on the same rows.
    """
    if mode not in DECISION_MODES:
        raise ModelError(f"models.decision must be one of {', '.join(DECISION_MODES)}, not '{mode}'")
    p, y, fold = np.asarray(p, dtype=np.float64), np.asarray(y), np.asarray(fold)
    k = p.shape[1]
    argmax = p.argmax(axis=1)
    scores = {"argmax": macro_f1(y, argmax, k)}
    if mode == "argmax" or len(np.unique(fold)) < 2 or len(y) < 20:
        return DecisionChoice(np.zeros(k), "argmax", argmax, scores)
    tuned = argmax.copy()
    for f in np.unique(fold):
        held = fold == f
        if held.all():
            continue
        tuned[held] = decide(p[held], tune_offsets(p[~held], y[~held], k))
    scores["macro_f1"] = macro_f1(y, tuned, k)
    if mode == "auto" and scores["macro_f1"] <= scores["argmax"]:
        return DecisionChoice(np.zeros(k), "argmax", argmax, scores)
    return DecisionChoice(tune_offsets(p, y, k), "macro_f1", tuned, scores)


# ------------------------------------------------------------------ precision targets
def precision_curve(confidence: np.ndarray, correct: np.ndarray, points: int = CURVE_POINTS) -> dict:
    """Precision and coverage of the predictions whose confidence is at least each threshold.

    ``threshold`` falls (from the most confident prediction to the least), coverage
    rises to 1; at most ``points`` thresholds are kept, evenly spaced in coverage,
    always on the boundary between two different confidences.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n = len(confidence)
    if not n:
        return {"threshold": [], "precision": [], "coverage": [], "rows": 0}
    order = np.argsort(-confidence, kind="stable")
    c, ok = confidence[order], correct[order]
    hits = np.cumsum(ok)
    # the last row of each run of equal confidences: a threshold keeps a run whole
    ends = np.flatnonzero(np.append(c[1:] != c[:-1], True))
    if len(ends) > points:
        wanted = np.linspace(0, n - 1, points).astype(int)
        ends = np.unique(ends[np.minimum(np.searchsorted(ends, wanted), len(ends) - 1)])
    return {"threshold": [round(float(c[i]), 6) for i in ends],
            "precision": [round(float(hits[i] / (i + 1)), 6) for i in ends],
            "coverage": [round(float((i + 1) / n), 6) for i in ends], "rows": int(n)}


def threshold_for_precision(curve: Mapping, target: float) -> dict:
    """The lowest confidence threshold whose out-of-fold precision reaches ``target``.

    Returns ``threshold`` (None when no threshold reaches the target: nothing
    should be written), and the ``precision`` and ``coverage`` expected there.
    """
    thresholds, precision, coverage = curve.get("threshold", []), curve.get("precision", []), curve.get("coverage", [])
    ok = [i for i, p in enumerate(precision) if p >= target - 1e-12]
    if not ok:
        best = max(precision) if precision else None
        return {"target": target, "threshold": None, "precision": best, "coverage": 0.0}
    i = max(ok, key=lambda j: coverage[j])
    return {"target": target, "threshold": thresholds[i], "precision": precision[i], "coverage": coverage[i]}


# ------------------------------------------------------------------ what is saved per task
@dataclass
class TaskCalibration:
    """Everything that turns one task's fused probabilities into written predictions."""

    calibrator: Calibrator = field(default_factory=Calibrator)
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve: dict = field(default_factory=dict)  # precision_curve of the out-of-fold written predictions

    def to_json(self) -> dict:
        return {"calibrator": self.calibrator.to_json(), "offsets": [float(o) for o in self.offsets],
                "precision_curve": self.curve}

    @classmethod
    def from_json(cls, data: Mapping) -> TaskCalibration:
        return cls(Calibrator.from_json(data.get("calibrator", {})), np.asarray(data.get("offsets", []), dtype=float),
                   dict(data.get("precision_curve", {})))

    def decide(self, p: np.ndarray) -> np.ndarray:
        return decide(p, self.offsets if len(self.offsets) == np.asarray(p).shape[-1] else None)

    def threshold(self, target: float) -> dict:
        if not self.curve.get("threshold"):
            raise ModelError("the trained models carry no out-of-fold precision curve (trained by an older "
                             "kgenrich); retrain them (kgenrich sync --retrain) to use min_precision")
        return threshold_for_precision(self.curve, target)


@dataclass
class TaskFit:
    """The result of :func:`fit_task`: what is saved, what the card says, the out-of-fold arrays."""

    saved: TaskCalibration
    summary: dict
    oof_probs: np.ndarray  # calibrated, out of fold
    oof_pred: np.ndarray  # decisions, out of fold


def fit_task(p: np.ndarray, y: np.ndarray, fold: np.ndarray, groups: Sequence[str], method: str = "auto",
             decision: str = "auto", targets: Iterable[float] = ()) -> TaskFit:
    """Calibration, decision rule and precision curve of one task's out-of-fold probabilities."""
    choice = choose_calibrator(p, y, fold, method)
    dec = choose_decision(choice.cv_probs, y, fold, decision)
    rows = np.arange(len(y))
    written = choice.cv_probs[rows, dec.oof_pred]
    curve = precision_curve(written, dec.oof_pred == y)
    saved = TaskCalibration(choice.calibrator, dec.offsets, curve)
    summary = {"calibration": choice.summary(), "decision": dec.summary(groups),
               "precision_targets": {f"{t:g}": threshold_for_precision(curve, t)
                                     for t in sorted(set(STANDARD_TARGETS) | set(targets))}}
    return TaskFit(saved, summary, choice.cv_probs, dec.oof_pred)


def save_calibration(directory: Path, entries: Mapping[str, TaskCalibration | Calibrator]) -> None:
    """``calibration.json`` beside a model: task -> TaskCalibration (fusion) or Calibrator (a modality)."""
    data = {t: (e.to_json() if isinstance(e, TaskCalibration) else {"calibrator": e.to_json()})
            for t, e in entries.items()}
    (Path(directory) / CALIBRATION_FILE).write_text(json.dumps({"tasks": data}, indent=1))


def load_calibration(directory: Path) -> dict[str, TaskCalibration]:
    """task -> TaskCalibration; empty when the model was saved without calibration (identity, argmax)."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {t: TaskCalibration.from_json(e) for t, e in data["tasks"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable calibration ({exc}); retrain") from None
