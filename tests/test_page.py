"""The report page from its template, on made-up summaries (nothing trains): wide plots across
the page, the test interval, the fold scheme of a cross-validated study instead of split sizes."""

from __future__ import annotations

from typing import Any

from tuner.report.page import WIDE_PLOTS, render_index
from tuner.report.render import Plot


def _summary(**changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "study": "demo<1>",
        "storage": "sqlite:///s.db",
        "dataset": "digits",
        "task": "multiclass",
        "metric": "accuracy",
        "directions": ["maximize"],
        "best_trial": 3,
        "best_params": {"n_layers": 2, "learning_rate": 0.003},
        "best_trial_attrs": {"seed": 12345, "epochs_run": 4},
        "counts": {"COMPLETE": 5, "PRUNED": 1, "FAIL": 0},
        "splits": {"train": 1077, "validation": 360, "test": 360},
        "created": "2026-01-01T00:00:00+00:00",
        "test": {
            "n_rows": 360,
            "metrics": {"accuracy": 0.925, "log_loss": 0.38},
            "interval": {
                "metric": "accuracy",
                "low": 0.8944,
                "high": 0.95,
                "level": 0.95,
                "method": "percentile bootstrap over the test rows",
                "resamples": 1000,
                "seed": 0,
            },
        },
        "model": {
            "file": "model.keras",
            "n_params": 1234,
            "bytes": 5678,
            "source": "artifact",
            "provenance": "saved when the trial ran",
            "validation_check": {
                "recorded": 0.925,
                "reproduced": 0.925,
                "tolerance": 1e-4,
                "difference": 0.0,
            },
        },
        "baselines": [
            {
                "name": "gradient boosting",
                "value": 0.9611,
                "interval": [0.94, 0.98],
                "difference": {"mlp_minus_baseline": -0.036, "interval": [-0.06, -0.01]},
                "test_metrics": {"accuracy": 0.9611, "log_loss": 0.08},
                "fit_seconds": 7.4,
                "description": "HistGradientBoostingClassifier",
            }
        ],
        "baselines_verdict": "gradient boosting is better than the MLP by 3.6 points",
    }
    summary.update(changes)
    return summary


PLOTS = [
    Plot("slice", "Slice plot", ["plots/slice.html", "plots/slice.png"]),
    Plot("confusion_matrix", "Confusion", ["plots/confusion_matrix.html", "plots/cm.png"]),
    Plot("pareto_front", "Pareto front", skipped="a single objective"),
]


def test_wide_plots_span_the_page_and_small_ones_share_a_row() -> None:
    page = render_index(_summary(), PLOTS, "Total params: 1,234")
    assert "slice" in WIDE_PLOTS and "confusion_matrix" not in WIDE_PLOTS
    assert "<figure class='wide'><a href='plots/slice.html'><img src='plots/slice.png'" in page
    assert "<figure><a href='plots/confusion_matrix.html'>" in page
    assert "not drawn (a single objective)" in page
    assert "figure.wide { grid-column: 1 / -1; }" in page
    assert "Study 'demo&lt;1&gt;'" in page  # escaped


def test_the_page_gives_the_test_interval_and_the_paired_differences() -> None:
    page = render_index(_summary(), PLOTS, "")
    assert '<th>test accuracy, 95 % interval, low</th><td class="num">0.8944</td>' in page
    assert "<th>gradient boosting</th>" in page and "-0.0600" in page and "MLP minus it" in page
    assert "Split sizes: train 1,077, validation 360, test 360." in page


def test_a_cross_validated_report_names_its_folds_and_no_holdout_split() -> None:
    check = {
        "kind": "folds",
        "folds": 4,
        "cv_mean": 0.95,
        "cv_std": 0.01,
        "statement": "cross-validated accuracy 0.95 ± 0.01 over 4 folds",
        "tolerance": 1e-4,
        "difference": 0.0,
    }
    summary = _summary(
        cross_validation={"folds": 4, "rows": 240, "rows_per_fold": [60, 60, 60, 60]},
    )
    summary["model"]["validation_check"] = check
    page = render_index(summary, PLOTS, "")
    assert (
        "Cross-validation: 4 folds over the 240 non-test rows (60, 60, 60, 60 rows per fold)"
        in page
    )
    assert "mean over 4 folds (out of fold)" in page
    assert "Split sizes" not in page and "validation 360" not in page
