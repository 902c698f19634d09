"""The baselines' verdict weighs the test split's noise: a lead whose paired bootstrap interval
contains 0 is a tie, a clear lead is still a win. Predictions are constructed, nothing trains."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.ml.metrics import compute
from tuner.report import baselines as bl
from tuner.report.intervals import paired_intervals, scorer

ROWS = 114


def _labels() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 2, ROWS)


def _baseline(name: str, y: np.ndarray, outputs: np.ndarray, metric: str) -> bl.Baseline:
    value = compute(metric, y, outputs, "binary")
    return bl.Baseline(name, metric, value, {}, 0.1, 300, len(y), "", outputs)


def _noisy(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """P(positive): the truth blurred by ``noise``."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, noise, len(y)), 0, 1)


def test_a_lead_within_the_noise_of_114_rows_is_a_tie() -> None:
    y = _labels()
    mlp = _noisy(y, 0.35, seed=2)
    close = mlp.copy()
    close[:3] = 1 - close[:3]  # three rows apart: a small lead either way
    others = [
        _baseline("logistic regression", y, close, "roc_auc"),
        _baseline("gradient boosting", y, _noisy(y, 0.6, seed=3), "roc_auc"),
    ]
    mlp_value = compute("roc_auc", y, mlp, "binary")
    intervals = bl.baseline_intervals(others, y, mlp, "roc_auc", "binary", None)
    lead = mlp_value - others[0].value
    assert lead != 0 and intervals.differences["logistic regression"].contains_zero()
    text = bl.verdict(others, "roc_auc", "maximize", mlp_value, intervals)
    assert text.startswith("the MLP and logistic regression are tied on test roc_auc: ")
    assert "within the noise of 114 test rows" in text and "beats" not in text
    # without intervals the same numbers still read as a win or a loss (the old wording)
    assert "tied" not in bl.verdict(others, "roc_auc", "maximize", mlp_value)


def test_a_clear_lead_is_a_win_and_summary_json_carries_the_intervals() -> None:
    y = _labels()
    mlp = _noisy(y, 0.05, seed=2)  # nearly perfect
    others = [
        _baseline("logistic regression", y, _noisy(y, 0.5, seed=3), "accuracy"),
        _baseline("gradient boosting", y, _noisy(y, 0.6, seed=4), "accuracy"),
    ]
    splits = type("S", (), {"y_test": y, "task": "binary"})()
    summary = {"test": {"metrics": {"accuracy": compute("accuracy", y, mlp, "binary")}}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tuner.report.baselines.fit_baselines", lambda *a, **k: others)
        bl.add_baselines(summary, splits, "accuracy", "maximize", test_outputs=mlp, seed=0)
    assert summary["baselines_verdict"].startswith("the MLP beats both baselines on test accuracy")
    interval = summary["test"]["interval"]
    assert interval["metric"] == "accuracy" and interval["resamples"] == 1000
    assert interval["low"] <= summary["test"]["metrics"]["accuracy"] <= interval["high"] <= 1
    for row in summary["baselines"]:
        low, high = row["difference"]["interval"]
        assert 0 < low <= row["difference"]["mlp_minus_baseline"] <= high
        assert row["difference"]["tied"] is False and row["interval"][0] <= row["value"]


def test_intervals_are_seeded_and_paired() -> None:
    y = _labels()
    mlp = _noisy(y, 0.3, seed=5)
    outputs = {"a": (mlp, scorer("accuracy", "binary")), "b": (mlp, scorer("accuracy", "binary"))}
    first = paired_intervals(y, outputs, "a", resamples=200)
    assert first == paired_intervals(y, outputs, "a", resamples=200)
    assert first.differences["b"].to_list() == [0.0, 0.0]  # the same model: no difference at all
    assert first.scores["a"].low < first.scores["a"].high
