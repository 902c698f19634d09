"""Greedy ensembles: Caruana selection on validation predictions, one averaged Keras model that
saves and loads in safe mode with no code of this package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tabular_data as td
from study_text import builtin_study_text

from tuner.artifacts import load_model, save_model
from tuner.config.parse import load_config
from tuner.data.datasets import load_splits
from tuner.errors import ReportError
from tuner.ml import metrics as metrics_mod
from tuner.ml.model import ModelSpec, build_model
from tuner.ml.training import predict, train
from tuner.report.ensemble import average_model, select_ensemble

#: Three different small MLPs, so their predictions differ.
PARAMS = (
    {
        "n_layers": 1,
        "units_0": 8,
        "dropout": 0.0,
        "activation": "relu",
        "learning_rate": 3e-2,
        "batch_size": 32,
        "optimizer": "adam",
    },
    {
        "n_layers": 2,
        "units_0": 16,
        "units_1": 8,
        "dropout": 0.0,
        "activation": "tanh",
        "learning_rate": 1e-2,
        "batch_size": 32,
        "optimizer": "adam",
    },
    {
        "n_layers": 1,
        "units_0": 4,
        "dropout": 0.0,
        "activation": "tanh",
        "learning_rate": 5e-3,
        "batch_size": 32,
        "optimizer": "adam",
    },
)


def _train_members(folder: Path, study: Path, metric: str) -> SimpleNamespace:
    """Three trained models on the study's data, and their validation outputs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        config = load_config(study)
        splits = load_splits(config.data)
        models = [train(params, splits, config, seed=i).model for i, params in enumerate(PARAMS)]
    outputs = [predict(m, splits.x_val) for m in models]
    selection = select_ensemble(outputs, splits.y_val, metric=metric, task=splits.task, size=10)
    return SimpleNamespace(
        splits=splits, models=models, outputs=outputs, selection=selection, metric=metric
    )


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("iris")
    study = folder / "iris.toml"
    study.write_text(builtin_study_text("iris", dataset="iris", epochs=3))
    return _train_members(folder, study, "log_loss")


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("diabetes")
    study = folder / "diabetes.toml"
    study.write_text(builtin_study_text("diabetes", dataset="diabetes", epochs=3))
    return _train_members(folder, study, "rmse")


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("patients")
    td.write(td.patients(rows=300), folder / "data" / "patients.csv")
    study = td.csv_study(
        folder / "patients.toml", "data/patients.csv", "stroke", data='ignore = ["id"]', epochs=3
    )
    return _train_members(folder, study, "log_loss")


def _weighted_average(outputs: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    return sum(w * out.astype(np.float64) for w, out in zip(weights, outputs, strict=True))


def _ensemble_of(case: SimpleNamespace):
    sel = case.selection
    return average_model(
        [case.models[i] for i in sel.members],
        sel.member_weights,
        trial_numbers=[10 + i for i in sel.members],
    )


# --------------------------------------------------------------------------- selection alone


def test_selection_averages_complementary_models_and_keeps_the_best_prefix() -> None:
    y = np.zeros(4)
    high, low = np.ones(4), -np.ones(4)  # equally wrong alone, exact together
    sel = select_ensemble([high, low], y, metric="rmse", task="regression", size=20, patience=3)
    assert sel.best_single == 0 and sel.single_value == pytest.approx(
        1.0
    )  # a tie goes to the lowest index
    assert sel.order[:2] == (0, 1) and sel.values[1] == pytest.approx(0.0)
    assert sel.order[2] == 0  # both make it 1/3 worse again: the lowest index wins
    assert sel.n_kept == 2 and sel.value == pytest.approx(0.0)
    assert sel.weights == (0.5, 0.5) and sel.members == (0, 1)
    assert sel.stopped_early and len(sel.order) == 2 + 3  # three additions without improvement


def test_selection_goes_on_through_a_step_without_gain() -> None:
    y = np.zeros(3)
    sel = select_ensemble(
        [np.full(3, 3.0), np.full(3, -1.0)], y, metric="mae", task="regression", size=4
    )
    # Alone: 3 and 1. Either second model keeps 1 (tie: index 0); then -1 twice brings 1/3, then 0.
    assert sel.best_single == 1 and sel.order == (1, 0, 1, 1)
    np.testing.assert_allclose(sel.values, [1.0, 1.0, 1 / 3, 0.0], atol=1e-12)
    assert sel.n_kept == 4 and sel.weights == (0.25, 0.75)
    assert not sel.stopped_early


def test_identical_candidates_give_the_single_best() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 1, 2])
    sel = select_ensemble([p, p.copy(), p.copy()], y, metric="log_loss", task="multiclass")
    assert sel.direction == "minimize" and sel.best_single == 0
    assert sel.weights == (1.0, 0.0, 0.0) and sel.value == sel.single_value


def test_bad_selection_input_is_refused() -> None:
    y = np.array([0, 1])
    with pytest.raises(
        ReportError, match=r"model 1 have shape \(3,\), those of model 0 have \(2,\)"
    ):
        select_ensemble(
            [np.array([0.2, 0.8]), np.array([0.1, 0.2, 0.3])], y, metric="accuracy", task="binary"
        )
    with pytest.raises(ReportError, match=r"metric 'rmse' does not apply to task 'binary'"):
        select_ensemble([np.array([0.2, 0.8])], y, metric="rmse", task="binary")
    with pytest.raises(ReportError, match="at least one model"):
        select_ensemble([], y, metric="accuracy", task="binary")


# --------------------------------------------------------------------------- real models


def _check_selection(case: SimpleNamespace) -> None:
    sel = case.selection
    better = (
        (lambda a, b: a <= b + 1e-9)
        if sel.direction == "minimize"
        else (lambda a, b: a >= b - 1e-9)
    )
    singles = [
        metrics_mod.compute(case.metric, case.splits.y_val, out, case.splits.task)
        for out in case.outputs
    ]
    assert sel.single_value == pytest.approx(singles[sel.best_single])
    assert all(better(sel.single_value, s) for s in singles)
    assert better(sel.value, sel.single_value)
    assert sum(sel.weights) == pytest.approx(1.0) and all(w >= 0 for w in sel.weights)
    counts = np.bincount(sel.order[: sel.n_kept], minlength=len(case.models))
    np.testing.assert_allclose(sel.weights, counts / sel.n_kept)
    ensemble_out = _weighted_average(case.outputs, sel.weights).astype(np.float32)
    assert metrics_mod.compute(
        case.metric, case.splits.y_val, ensemble_out, case.splits.task
    ) == pytest.approx(sel.value, abs=1e-6)


def _check_saved_model(case: SimpleNamespace, tmp_path: Path) -> np.ndarray:
    """Save the averaged model, load it in safe mode with no custom objects, compare outputs."""
    import keras

    model = _ensemble_of(case)
    expected = _weighted_average(case.outputs, case.selection.weights)
    np.testing.assert_allclose(predict(model, case.splits.x_val), expected, atol=1e-5)
    path = tmp_path / "ensemble.keras"
    model.save(path)
    assert keras.saving.get_custom_objects() == {}
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    out = predict(loaded, case.splits.x_val)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert metrics_mod.compute(
        case.metric, case.splits.y_val, out, case.splits.task
    ) == pytest.approx(case.selection.value, abs=1e-4)
    return out


def test_iris_selection_is_never_worse_than_the_single_best(iris: SimpleNamespace) -> None:
    _check_selection(iris)


def test_iris_average_model_saves_and_reproduces_the_selection(
    iris: SimpleNamespace, tmp_path: Path
) -> None:
    _check_saved_model(iris, tmp_path)
    names = {layer.name for layer in _ensemble_of(iris).layers}
    assert {f"trial_{10 + i}" for i in iris.selection.members} <= names
    assert all(m.name == "mlp" for m in iris.models)  # the members themselves are unchanged


def test_average_of_every_model_with_given_weights_saves_and_loads(
    iris: SimpleNamespace, tmp_path: Path
) -> None:
    import keras

    weights = (0.2, 0.3, 0.5)
    expected = _weighted_average(iris.outputs, weights)
    model = average_model(iris.models, weights, trial_numbers=[7, 3, 12])
    np.testing.assert_allclose(predict(model, iris.splits.x_val), expected, atol=1e-5)
    model.save(tmp_path / "three.keras")
    loaded = keras.saving.load_model(tmp_path / "three.keras", compile=False, safe_mode=True)
    assert {"trial_7", "trial_3", "trial_12"} <= {layer.name for layer in loaded.layers}
    np.testing.assert_allclose(predict(loaded, iris.splits.x_val), expected, atol=1e-5)
    scaled = average_model(iris.models, (1.0, 1.5, 2.5))  # weights are scaled to sum to 1
    np.testing.assert_allclose(predict(scaled, iris.splits.x_val), expected, atol=1e-5)


def test_members_with_other_inputs_are_refused(iris: SimpleNamespace) -> None:
    spec = ModelSpec(3, "multiclass", 3, np.zeros(3), np.ones(3))
    other = build_model(PARAMS[0], spec, compile=False)
    with pytest.raises(ReportError, match="ensemble member trial_1 takes inputs"):
        average_model([iris.models[0], other], (0.5, 0.5))
    with pytest.raises(ReportError, match="one weight and one name per model"):
        average_model(iris.models, (1.0,))
    with pytest.raises(ReportError, match="must be unique"):
        average_model(iris.models[:2], (0.5, 0.5), trial_numbers=[4, 4])


def test_regression_selection_and_model(diabetes: SimpleNamespace, tmp_path: Path) -> None:
    assert diabetes.selection.direction == "minimize"
    _check_selection(diabetes)
    _check_saved_model(diabetes, tmp_path)


LOAD_ALONE = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    import tensorflow as tf

    assert keras.saving.get_custom_objects() == {}
    model = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True)
    columns = np.load(sys.argv[2])
    out = model({k: tf.constant(columns[k]) for k in columns.files}, training=False)
    np.save(sys.argv[3], np.asarray(out))
    assert not any(name.startswith("tuner") for name in sys.modules)
    """
)


def test_table_ensemble_loads_in_a_process_without_the_package(
    patients: SimpleNamespace, tmp_path: Path
) -> None:
    _check_selection(patients)
    _check_saved_model(patients, tmp_path)
    weights = (0.5, 0.25, 0.25)
    members = []  # as a report finds them: saved trial models, loaded back in safe mode
    for i, member in enumerate(patients.models):
        save_model(member, tmp_path / f"member_{i}.keras")
        members.append(load_model(tmp_path / f"member_{i}.keras"))
    model = average_model(members, weights, trial_numbers=[0, 1, 2])
    assert isinstance(model.input, dict) and set(model.input) == set(patients.splits.x_val)
    path = tmp_path / "table.keras"
    model.save(path)
    columns = {
        k: v.astype(str) if v.dtype == object else v for k, v in patients.splits.x_val.items()
    }
    np.savez(tmp_path / "columns.npz", **columns)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_ALONE,
            str(path),
            str(tmp_path / "columns.npz"),
            str(tmp_path / "out.npy"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), _weighted_average(patients.outputs, weights), atol=1e-5
    )
