"""Baselines: scikit-learn models fitted on the train + validation rows, scored once on test."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tabular_data as td
from sklearn.pipeline import Pipeline

from tuner.config.parse import load_config
from tuner.config.schema import DataConfig
from tuner.data.datasets import load_splits
from tuner.data.splits import Splits
from tuner.ml.metrics import compute, compute_all, metrics_for_task
from tuner.report import baselines as bl


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record what the baselines' pipelines are fitted on and asked to predict."""
    seen: dict[str, list[Any]] = {"fit": [], "predict": []}
    fit, predict, predict_proba = Pipeline.fit, Pipeline.predict, Pipeline.predict_proba

    def spy_fit(self: Pipeline, x: Any, y: Any = None, **params: Any) -> Pipeline:
        if "model" in self.named_steps:
            seen["fit"].append((x, np.asarray(y), params))
        return fit(self, x, y, **params)

    def spy(method: Any) -> Any:
        def call(self: Pipeline, x: Any, **params: Any) -> Any:
            out = method(self, x, **params)
            if "model" in self.named_steps:
                seen["predict"].append((x, out))
            return out

        return call

    monkeypatch.setattr(Pipeline, "fit", spy_fit)
    monkeypatch.setattr(Pipeline, "predict", spy(predict))
    monkeypatch.setattr(Pipeline, "predict_proba", spy(predict_proba))
    return seen


def _text(frame: pd.DataFrame) -> np.ndarray:
    return np.array(
        [[("-" if pd.isna(v) else str(v)) for v in row] for row in frame.itertuples(index=False)],
        dtype=object,
    )


def _rows(x: Any) -> np.ndarray:
    """Matrix rows, or a table's columns side by side as text (to compare row sets)."""
    if isinstance(x, pd.DataFrame):
        return _text(x)
    if isinstance(x, dict):
        columns = {k: np.asarray(v).reshape(-1) for k, v in x.items()}
        frame = pd.DataFrame(
            {
                k: v.astype(np.float64)
                if v.dtype.kind == "f"
                else pd.Series(v, dtype=object).replace("", np.nan)
                for k, v in columns.items()
            }
        )
        return _text(frame)
    return np.asarray(x, dtype=np.float64)


def _check_rows_and_scores(
    splits: Splits, metric: str, calls: dict[str, list[Any]]
) -> list[bl.Baseline]:
    result = bl.fit_baselines(splits, metric)
    assert [b.name for b in result][1] == "gradient boosting" and len(result) == 2
    n_fit = len(splits.y_train) + len(splits.y_val)
    assert len(calls["fit"]) == 2 and len(calls["predict"]) == 2
    for baseline, (x, y, _), (x_test, raw) in zip(
        result, calls["fit"], calls["predict"], strict=True
    ):
        # fitted on exactly the train + validation rows, in that order
        assert baseline.fit_rows == len(y) == len(x) == n_fit
        np.testing.assert_array_equal(y, np.concatenate([splits.y_train, splits.y_val]))
        expected = np.concatenate([_rows(splits.x_train), _rows(splits.x_val)])
        np.testing.assert_array_equal(_rows(x), expected)
        # scored once, on exactly the test rows
        assert baseline.test_rows == len(x_test) == len(splits.y_test)
        np.testing.assert_array_equal(_rows(x_test), _rows(splits.x_test))
        # outputs shaped like the MLP's, and the figures recomputed from them
        if splits.task == "binary":
            assert baseline.outputs.shape == (len(splits.y_test),)
            np.testing.assert_allclose(baseline.outputs, raw[:, 1])
        elif splits.task == "multiclass":
            assert baseline.outputs.shape == (len(splits.y_test), splits.n_classes)
            np.testing.assert_allclose(baseline.outputs.sum(axis=1), 1.0, rtol=1e-6)
        else:
            np.testing.assert_allclose(baseline.outputs, raw)
        assert baseline.metric == metric
        assert baseline.value == compute(metric, splits.y_test, baseline.outputs, splits.task)
        assert baseline.test_metrics == pytest.approx(
            compute_all(splits.y_test, baseline.outputs, splits.task), nan_ok=True
        )
        assert set(baseline.test_metrics) == set(metrics_for_task(splits.task))
        assert baseline.fit_seconds > 0 and "fitted on" in baseline.description
        assert set(baseline.to_dict()) >= {
            "name",
            "metric",
            "value",
            "test_metrics",
            "fit_seconds",
            "description",
        }
    return result


def test_iris_multiclass(calls: dict[str, list[Any]]) -> None:
    splits = load_splits(DataConfig("iris"))
    result = _check_rows_and_scores(splits, "accuracy", calls)
    assert result[0].name == "logistic regression"
    assert all(b.value > 0.8 for b in result), [b.value for b in result]


def test_breast_cancer_binary(calls: dict[str, list[Any]]) -> None:
    splits = load_splits(DataConfig("breast_cancer"))
    result = _check_rows_and_scores(splits, "roc_auc", calls)
    assert result[0].name == "logistic regression"
    assert all(b.value > 0.95 for b in result), [b.value for b in result]
    assert all(b.outputs.min() >= 0.0 and b.outputs.max() <= 1.0 for b in result)


def test_diabetes_regression(calls: dict[str, list[Any]]) -> None:
    splits = load_splits(DataConfig("diabetes"))
    result = _check_rows_and_scores(splits, "rmse", calls)
    assert result[0].name == "ridge"
    predict_the_mean = float(np.sqrt(np.mean((splits.y_test - np.mean(splits.y_train)) ** 2)))
    assert all(b.value < predict_the_mean for b in result), (
        [b.value for b in result],
        predict_the_mean,
    )
    assert all(b.test_metrics["r2"] > 0.1 for b in result)


def test_csv_table_with_categories_and_missing_values(
    tmp_path: Path, calls: dict[str, list[Any]]
) -> None:
    csv = td.write(td.patients(rows=400), tmp_path / "data" / "p.csv")
    config = load_config(
        td.csv_study(
            tmp_path / "p.toml",
            f"data/{csv.name}",
            "stroke",
            data='ignore = ["id"]\ncategorical = ["smoker", "city"]',
        )
    )
    splits = load_splits(config.data)
    assert splits.table is not None and {c.name for c in splits.table.categorical} == {
        "smoker",
        "city",
    }
    assert np.isnan(splits.x_train["bmi"]).any() and (splits.x_train["city"] == "").any()
    result = _check_rows_and_scores(splits, "roc_auc", calls)
    assert all(b.value > 0.8 for b in result), [b.value for b in result]
    x_fit = calls["fit"][0][0]
    assert list(x_fit.columns) == list(splits.table.columns) and x_fit["city"].isna().any()
    assert "categorical" in result[1].description


def test_class_weight_becomes_sample_weights(calls: dict[str, list[Any]]) -> None:
    splits = dataclasses.replace(
        load_splits(DataConfig("breast_cancer")), class_weight={0: 1.0, 1: 4.0}
    )
    bl.fit_baselines(splits, "accuracy")
    y = np.concatenate([splits.y_train, splits.y_val])
    for _, _, params in calls["fit"]:
        np.testing.assert_array_equal(params["model__sample_weight"], np.where(y == 1, 4.0, 1.0))


def test_a_class_missing_from_training_still_gets_a_column() -> None:
    iris = load_splits(DataConfig("iris"))
    seen = lambda x, y: (x[y < 2], y[y < 2])  # noqa: E731
    splits = dataclasses.replace(
        iris,
        **dict(zip(("x_train", "y_train"), seen(iris.x_train, iris.y_train), strict=True)),
        **dict(zip(("x_val", "y_val"), seen(iris.x_val, iris.y_val), strict=True)),
    )
    for baseline in bl.fit_baselines(splits, "log_loss"):
        assert baseline.outputs.shape == (len(splits.y_test), 3)
        np.testing.assert_array_equal(baseline.outputs[:, 2], 0.0)
        assert baseline.value == compute("log_loss", splits.y_test, baseline.outputs, "multiclass")


def test_large_data_is_sampled_and_stops_early(
    monkeypatch: pytest.MonkeyPatch, calls: dict[str, list[Any]]
) -> None:
    monkeypatch.setattr(bl, "LINEAR_MAX_CELLS", 30 * 200)  # breast cancer has 30 features: 200 rows
    monkeypatch.setattr(bl, "BOOSTING_MAX_CELLS", 30 * 300)
    monkeypatch.setattr(bl, "LARGE_ROWS", 250)
    splits = load_splits(DataConfig("breast_cancer"))
    linear, boosting = bl.fit_baselines(splits, "accuracy")
    (_, y_linear, _), (_, y_boosting, _) = calls["fit"]
    assert linear.fit_rows == len(y_linear) == 200 and boosting.fit_rows == len(y_boosting) == 300
    n = len(splits.y_train) + len(splits.y_val)
    assert f"sample of 200 of the {n} train + validation rows" in linear.description
    assert (
        "early stopping" in boosting.description
        and f"sample of 300 of the {n}" in boosting.description
    )
    share = np.mean(np.concatenate([splits.y_train, splits.y_val]))
    assert abs(np.mean(y_linear) - share) < 0.01  # stratified
    assert len(calls["predict"][0][0]) == len(splits.y_test)  # still scored on every test row
