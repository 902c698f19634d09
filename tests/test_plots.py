"""Report plots are readable: grid slice plot, parallel coordinates without "None", pruned trials in
the history, one metric per training-curve panel.

A made-up study (known pruned trials, one-layer trials without ``units_1``/``units_2``) tests the
study figures; a tiny breast_cancer study trained for real (objective ``pr_auc``, while Keras
tracks train accuracy) tests the training curves and writes every study plot.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from conftest import run_tiny_study
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from PIL import Image

from tuner.keys import BEST_EPOCH, HISTORY
from tuner.report import study_figures
from tuner.report.param_axes import ABSENT, ParamAxis, tick_label
from tuner.report.plots import as_plotly, study_plots, training_curves, training_figures

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "gelu")


def _trial(rng: np.random.Generator, n_layers: int, *, pruned: bool) -> optuna.trial.FrozenTrial:
    """A trial of the usual space; a pruned one reported three epochs and stopped."""
    units = IntDistribution(16, 256, log=True)
    distributions = {
        "n_layers": IntDistribution(1, 3),
        **{f"units_{i}": units for i in range(n_layers)},
        "dropout": FloatDistribution(0.0, 0.4),
        "activation": CategoricalDistribution(ACTIVATIONS),
        "learning_rate": FloatDistribution(1e-4, 3e-2, log=True),
        "batch_size": CategoricalDistribution((64, 128)),
        "optimizer": CategoricalDistribution(("adam", "rmsprop")),
    }
    params = {
        "n_layers": n_layers,
        **{f"units_{i}": int(rng.integers(16, 257)) for i in range(n_layers)},
        "dropout": float(rng.uniform(0, 0.4)),
        "activation": ACTIVATIONS[int(rng.integers(4))],
        "learning_rate": float(10 ** rng.uniform(-4, -1.6)),
        "batch_size": int(rng.choice([64, 128])),
        "optimizer": str(rng.choice(["adam", "rmsprop"])),
    }
    curve = {epoch: float(0.5 + 0.1 * epoch + rng.uniform(0, 0.05)) for epoch in range(3)}
    if pruned:
        return create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=distributions,
            intermediate_values=curve,
        )
    return create_trial(
        value=curve[2] + 0.1, params=params, distributions=distributions, intermediate_values=curve
    )


@pytest.fixture
def study() -> optuna.Study:
    """Thirteen finished trials (4 pruned, one far worse than the rest) and a failed one;
    layers 1-3, so some widths are absent."""
    rng = np.random.default_rng(0)
    made = optuna.create_study(direction="maximize")
    for i in range(12):
        made.add_trial(_trial(rng, n_layers=1 + i % 3, pruned=i % 4 == 3))
    made.add_trial(
        create_trial(
            state=TrialState.PRUNED, params={}, distributions={}, intermediate_values={0: 0.01}
        )
    )
    made.add_trial(create_trial(state=TrialState.FAIL))
    return made


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)))


def test_the_importances_png_and_html_share_one_fanova_run(
    study: optuna.Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = optuna.importance.FanovaImportanceEvaluator.evaluate
    answers: list[dict[str, float]] = []

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        answers.append(real(self, *args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(optuna.importance.FanovaImportanceEvaluator, "evaluate", counted)
    plots = {p.name: p for p in study_plots(study, tmp_path, metric="accuracy")}
    assert plots["param_importances"].skipped is None
    assert (tmp_path / plots["param_importances"].png).is_file()
    assert len(answers) == 1  # the PNG and the HTML show the same, computed once


# --------------------------------------------------------------------------- slice


def test_slice_is_a_grid_of_panels_with_a_sane_shape(study: optuna.Study, tmp_path: Path) -> None:
    plots = {p.name: p for p in study_plots(study, tmp_path, metric="accuracy")}
    assert plots["slice"].skipped is None
    with Image.open(tmp_path / plots["slice"].png) as image:
        width, height = image.size
    assert (
        width / height <= 2.5 and height / width <= 2.5
    )  # 9 parameters: a 3 x 3 grid, not a strip
    assert min(width, height) >= 600


def test_slice_panels_log_learning_rate_and_rotated_categories(study: optuna.Study) -> None:
    fig = study_figures.slice_figures(study, "validation accuracy")
    panels = {
        ax.get_xlabel().split(" (")[0]: ax
        for ax in fig.axes
        if ax.get_visible() and ax.get_xlabel()
    }
    assert len(panels) == 9 and len({round(ax.get_position().x0, 2) for ax in panels.values()}) == 3
    assert panels["learning_rate"].get_xscale() == "log"
    assert panels["dropout"].get_xscale() == "linear"
    activation = [t for t in panels["activation"].get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in activation] == list(ACTIVATIONS) and all(
        t.get_rotation() > 0 for t in activation
    )
    assert (
        "6 of 9 trials have it"
        in [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel().startswith("units_1")][0]
    )


# --------------------------------------------------------------------------- parallel coordinate


def test_parallel_coordinate_marks_absent_widths_and_never_says_none(study: optuna.Study) -> None:
    fig = study_figures.parallel_figures(study, "validation accuracy")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels()]
    assert (
        "None" not in texts and texts.count(ABSENT) == 2
    )  # units_1 and units_2; units_0 is always there
    column = {t.get_text(): i for i, t in enumerate(ax.get_xticklabels())}
    absent_at = {round(t.get_position()[0]) for t in ax.texts if t.get_text() == ABSENT}
    assert column["units_2"] in absent_at and column["units_0"] not in absent_at
    trials = [line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) == len(column)]
    one_layer = [t for t in study_figures._complete(study) if t.params["n_layers"] == 1]
    crossing = [y for y in trials if y[column["units_1"]] == study_figures.ABSENT_AT]
    assert one_layer and len(crossing) >= len(one_layer)  # every one-layer trial, at "absent"
    assert all(y[column["units_0"]] != study_figures.ABSENT_AT for y in trials)


def test_parallel_coordinate_labels_of_neighbouring_axes_do_not_overlap(
    study: optuna.Study,
) -> None:
    fig = study_figures.parallel_figures(study, "validation accuracy")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = [(round(t.get_position()[0]), t.get_window_extent(renderer)) for t in ax.texts]
    assert len({column for column, _ in boxes}) == 10
    for i, (column, box) in enumerate(boxes):
        for other_column, other in boxes[i + 1 :]:
            assert column == other_column or not box.overlaps(other), (column, other_column)
    names = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(names, names[1:], strict=False))


# --------------------------------------------------------------------------- history


def test_history_shows_pruned_trials_and_the_best_so_far(study: optuna.Study) -> None:
    fig = study_figures.history_figures(study, "validation accuracy")
    plotly_fig = as_plotly(fig)  # the interactive HTML
    ax = fig.axes[0]
    assert (
        sum(len(c.get_offsets()) for c in ax.collections) == _finished(study) == 13
    )  # the failed trial is not drawn
    assert sum(len(t.x) for t in plotly_fig.data if t.mode == "markers") == _finished(study)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("pruned (last") for label in labels) and any(
        "below the axis" in label for label in labels
    )
    (best_line,) = [line for line in ax.get_lines() if line.get_label().startswith("best so far")]
    best = best_line.get_ydata()
    assert np.all(np.diff(best) >= 0) and best[-1] == pytest.approx(study.best_value)
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    assert legend.y1 <= ax.get_window_extent().y0  # below the axes, not beside them


def test_history_minimize_puts_far_worse_pruned_trials_above() -> None:
    made = optuna.create_study(direction="minimize")
    for value in (0.5, 0.4, 0.45):
        made.add_trial(create_trial(value=value, intermediate_values={0: value}))
    made.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={0: 9.0, 1: 8.0}))
    fig = study_figures.history_figures(made, "validation loss")
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low < 0.4 and high < 8.0
    (clipped,) = [c for c in ax.collections if c.get_label().startswith("pruned, value above")]
    assert clipped.get_offsets()[0][1] == pytest.approx(high)


def test_history_of_a_study_without_finished_trials_is_skipped(tmp_path: Path) -> None:
    empty = optuna.create_study()
    plots = {p.name: p for p in study_plots(empty, tmp_path, metric="accuracy")}
    assert plots["optimization_history"].skipped and not plots["optimization_history"].files


# --------------------------------------------------------------------------- axes


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5e-4, "5e-4"),
        (0.0025, "2.5e-3"),
        (0.01, "0.01"),
        (0.25, "0.25"),
        (128.0, "128"),
        (0.0, "0"),
    ],
)
def test_tick_labels_are_short(value: float, text: str) -> None:
    assert tick_label(value) == text


def test_axis_covers_every_trials_range_and_choices() -> None:
    axis = ParamAxis.of(
        "units", [IntDistribution(16, 64, log=True), IntDistribution(8, 256, log=True)]
    )
    assert (axis.low, axis.high, axis.log, axis.integer) == (8, 256, True, True)
    assert axis.scaled(8) == 0 and axis.scaled(256) == 1 and axis.scaled(64) == pytest.approx(0.6)
    merged = ParamAxis.of(
        "act",
        [
            CategoricalDistribution(("relu", "tanh")),
            CategoricalDistribution(("relu", "a_very_long_activation")),
        ],
    )
    assert merged.labels == ["relu", "tanh", "a_very_long…"]


# --------------------------------------------------------------------------- a real study


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("plots")
    _, url = run_tiny_study(
        folder,
        "plots_bc",
        dataset="breast_cancer",
        trials=2,
        epochs=3,
        objective='metric = "pr_auc"',
    )
    return SimpleNamespace(
        folder=folder, study=optuna.load_study(study_name="plots_bc", storage=url)
    )


def test_training_curves_put_loss_and_each_metric_on_its_own_axes(trained: SimpleNamespace) -> None:
    trial = trained.study.best_trial
    history = trial.user_attrs[HISTORY]
    assert {"loss", "val_loss", "accuracy", "val_pr_auc"} <= set(history)
    fig = training_figures(trial, metric="pr_auc")
    plotly_fig = as_plotly(fig)  # the interactive HTML shows the same curves
    panels = [
        {
            line.get_label()
            for line in ax.get_lines()
            if not line.get_label().startswith(("best epoch", "_"))
        }
        for ax in fig.axes
        if ax.get_visible()
    ]
    assert {"train loss", "validation loss"} in panels
    assert {"validation pr_auc"} in panels and {
        "train accuracy"
    } in panels  # different metrics, different scales
    pr_auc_axes = [
        ax
        for ax in fig.axes
        if any(line.get_label() == "validation pr_auc" for line in ax.get_lines())
    ]
    assert pr_auc_axes[0].get_ylabel() == "pr_auc (objective)"
    if trial.user_attrs.get(BEST_EPOCH) is not None:
        assert all(
            any(line.get_label().startswith("best epoch") for line in ax.get_lines())
            for ax in fig.axes
            if ax.get_visible()
        )
    for ax in fig.axes:
        box = ax.get_position()
        assert (
            not ax.get_visible()
            or 0.6 <= (box.width * fig.get_figwidth()) / (box.height * fig.get_figheight()) <= 2.0
        )
    assert {t.name for t in plotly_fig.data} >= {
        "train loss",
        "validation loss",
        "train accuracy",
        "validation pr_auc",
    }


def test_every_study_plot_of_a_real_study_is_drawn(
    trained: SimpleNamespace, tmp_path: Path
) -> None:
    plots = [
        *study_plots(trained.study, tmp_path, metric="pr_auc"),
        training_curves(trained.study.best_trial, tmp_path, metric="pr_auc"),
    ]
    skipped = {p.name: p.skipped for p in plots if p.skipped}
    assert set(skipped) <= {"param_importances"}, (
        skipped
    )  # two trials may not vary enough for fANOVA
    for plot in plots:
        for name in plot.files:
            assert (tmp_path / name).stat().st_size > 0
    with Image.open(tmp_path / "plots" / "training_curves.png") as image:
        assert min(image.size) >= 350
