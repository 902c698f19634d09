"""Plots of the test split, each from scikit-learn's displays: the confusion matrix
(classification), ROC and precision-recall curves (binary), predicted against true values
(regression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tuner.report.param_axes import pyplot
from tuner.report.plot_files import Plot, save_plot


def confusion_matrix_plot(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], out: Path
) -> Plot:
    def draw() -> tuple[Any, Any]:
        import plotly.express as px
        from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

        plt = pyplot()
        labels = list(range(len(class_names)))
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        fig = px.imshow(
            cm,
            x=class_names,
            y=class_names,
            text_auto=True,
            color_continuous_scale="Blues",
            labels={"x": "predicted", "y": "true", "color": "rows"},
        )
        size = max(4.5, 0.55 * len(class_names) + 2)
        mpl_fig, ax = plt.subplots(figsize=(size, size))
        ConfusionMatrixDisplay(cm, display_labels=class_names).plot(
            ax=ax,
            cmap="Blues",
            colorbar=False,
            xticks_rotation=45 if len(class_names) > 4 else "horizontal",
        )
        return fig, mpl_fig

    return save_plot(out, "confusion_matrix", "Confusion matrix (test split)", draw)


def _roc_figures(y_true: np.ndarray, p_positive: np.ndarray, positive: str) -> tuple[Any, Any]:
    import plotly.graph_objects as go
    from sklearn import metrics as skm

    plt = pyplot()
    fpr, tpr, _ = skm.roc_curve(y_true, p_positive)
    auc = skm.roc_auc_score(y_true, p_positive)
    fig = go.Figure(
        [
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC = {auc:.4f})"),
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line={"dash": "dash", "color": "grey"},
                name="chance",
            ),
        ]
    )
    fig.update_layout(xaxis_title="false positive rate", yaxis_title="true positive rate")
    mpl_fig, ax = plt.subplots(figsize=(5, 5))
    skm.RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=auc, name=f"positive class '{positive}'").plot(
        ax=ax, plot_chance_level=True
    )
    return fig, mpl_fig


def _mark_threshold(
    fig: Any, ax: Any, y_true: np.ndarray, p_positive: np.ndarray, threshold: float
) -> None:
    """Mark where the model's labels sit on the PR curve: P(positive) >= threshold."""
    import plotly.graph_objects as go
    from sklearn import metrics as skm

    chosen = np.asarray(p_positive) >= threshold
    at_p = skm.precision_score(y_true, chosen, zero_division=0)
    at_r = skm.recall_score(y_true, chosen, zero_division=0)
    label = f"threshold {threshold:.3g}: precision {at_p:.3f}, recall {at_r:.3f}"
    fig.add_trace(
        go.Scatter(
            x=[at_r],
            y=[at_p],
            mode="markers",
            marker={"size": 11, "symbol": "x"},
            name=label,
        )
    )
    ax.plot([at_r], [at_p], "x", markersize=10, color="black", label=label)
    ax.legend(loc="best")


def _pr_figures(
    y_true: np.ndarray, p_positive: np.ndarray, positive: str, threshold: float | None
) -> tuple[Any, Any]:
    import plotly.graph_objects as go
    from sklearn import metrics as skm

    plt = pyplot()
    precision, recall, _ = skm.precision_recall_curve(y_true, p_positive)
    ap = skm.average_precision_score(y_true, p_positive)
    fig = go.Figure(
        [
            go.Scatter(
                x=recall,
                y=precision,
                mode="lines",
                line={"shape": "hv"},
                name=f"PR (AP = {ap:.4f})",
            )
        ]
    )
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    mpl_fig, ax = plt.subplots(figsize=(5, 5))
    skm.PrecisionRecallDisplay(
        precision=precision,
        recall=recall,
        average_precision=ap,
        name=f"positive class '{positive}'",
        prevalence_pos_label=float(np.mean(y_true)),
    ).plot(ax=ax, plot_chance_level=True)
    if threshold is not None:
        _mark_threshold(fig, ax, y_true, p_positive, threshold)
    return fig, mpl_fig


def roc_pr_plots(
    y_true: np.ndarray,
    p_positive: np.ndarray,
    out: Path,
    *,
    positive: str,
    threshold: float | None = None,
) -> list[Plot]:
    """ROC and precision-recall curves; the PR curve marks the decision ``threshold`` (if given)."""
    return [
        save_plot(
            out,
            "roc_curve",
            "ROC curve (test split)",
            lambda: _roc_figures(y_true, p_positive, positive),
        ),
        save_plot(
            out,
            "precision_recall_curve",
            "Precision-recall curve (test split)",
            lambda: _pr_figures(y_true, p_positive, positive, threshold),
        ),
    ]


def regression_scatter(y_true: np.ndarray, y_pred: np.ndarray, out: Path) -> Plot:
    def draw() -> tuple[Any, Any]:
        import plotly.graph_objects as go
        from sklearn.metrics import PredictionErrorDisplay

        plt = pyplot()
        lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        fig = go.Figure(
            [
                go.Scatter(x=y_pred, y=y_true, mode="markers", name="test rows", opacity=0.7),
                go.Scatter(
                    x=[lo, hi],
                    y=[lo, hi],
                    mode="lines",
                    line={"dash": "dash", "color": "grey"},
                    name="perfect prediction",
                ),
            ]
        )
        fig.update_layout(xaxis_title="predicted", yaxis_title="true")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        PredictionErrorDisplay.from_predictions(
            y_true, y_pred, kind="actual_vs_predicted", ax=ax, subsample=None
        )
        return fig, mpl_fig

    return save_plot(out, "predicted_vs_true", "Predicted against true values (test split)", draw)
