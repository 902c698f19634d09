"""The fast training path (several steps per call, state built before ``fit``) learns exactly
what the plain path learns: same losses, same validation metric, epoch by epoch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from study_text import tiny_params

import tuner.ml.backend
import tuner.ml.model
import tuner.ml.training
from tuner.config.parse import load_config
from tuner.config.schema import DataConfig
from tuner.data.datasets import load_splits
from tuner.ml.backend import load_keras
from tuner.ml.model import ModelSpec, build_model
from tuner.ml.training import build_training_state, train

PARAMS = tiny_params(batch_size=16)


def _histories(splits, config, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    fast = train(PARAMS, splits, config, seed=3, max_epochs=3).history
    with monkeypatch.context() as mp:
        mp.setattr(tuner.ml.model, "STEPS_PER_EXECUTION", 1)
        mp.setattr(tuner.ml.training, "build_training_state", lambda *args: None)
        plain = train(PARAMS, splits, config, seed=3, max_epochs=3).history
    return fast, plain


@pytest.mark.parametrize(
    ("dataset", "metric"),
    [("digits", "accuracy"), ("breast_cancer", "roc_auc"), ("diabetes", "rmse")],
)
def test_fast_path_matches_the_plain_path(
    make_study, dataset: str, metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(make_study(dataset=dataset, objective=f'metric = "{metric}"', epochs=3))
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, patience=10))
    splits = load_splits(config.data)
    fast, plain = _histories(splits, config, monkeypatch)
    assert set(fast) == set(plain)
    for key in plain:
        np.testing.assert_allclose(fast[key], plain[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_fast_path_keeps_class_weights(make_study, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(make_study(dataset="breast_cancer", epochs=3))
    splits = dataclasses.replace(load_splits(config.data), class_weight={0: 3.0, 1: 0.5})
    fast, plain = _histories(splits, config, monkeypatch)
    np.testing.assert_allclose(fast["loss"], plain["loss"], rtol=1e-4, atol=1e-5)
    unweighted = train(PARAMS, load_splits(config.data), config, seed=3, max_epochs=3).history
    assert not np.allclose(fast["loss"], unweighted["loss"])  # the weights did reach fit


def test_fast_path_trains_a_csv_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tabular_data

    csv = tabular_data.write(
        tabular_data.patients(rows=300, positive_rate=0.2), tmp_path / "patients.csv"
    )
    study = tmp_path / "patients.toml"
    study.write_text(
        f'[data]\ndataset = "csv"\npath = "{csv}"\ntarget = "stroke"\nignore = ["id"]\n'
        'class_weight = "balanced"\n'
        '[objective]\ntask = "binary"\nmetric = "accuracy"\n[training]\nmax_epochs = 3\npatience '
        "= 10\n"
    )
    config = load_config(study)
    splits = load_splits(config.data)
    assert isinstance(splits.x_train, dict)
    fast, plain = _histories(splits, config, monkeypatch)
    np.testing.assert_allclose(fast["val_accuracy"], plain["val_accuracy"], atol=1e-6)
    np.testing.assert_allclose(fast["loss"], plain["loss"], rtol=1e-4, atol=1e-5)


def test_training_state_exists_before_fit() -> None:
    load_keras()
    splits = load_splits(DataConfig("iris"))
    model = build_model(PARAMS, ModelSpec.from_splits(splits))
    assert model.steps_per_execution == tuner.ml.model.STEPS_PER_EXECUTION
    assert not model.optimizer.built
    before = len([v for m in model.metrics for v in m.variables])
    build_training_state(model, splits.x_train, splits.y_train)
    assert model.optimizer.built and model.optimizer.variables
    assert len([v for m in model.metrics for v in m.variables]) > before  # the accuracy metric's


def test_training_leaves_no_gradient_registrations_behind(make_study) -> None:
    """TensorFlow's gradient registry must not keep each trial's traced graph alive."""
    registry = tuner.ml.backend._gradient_registry()
    if registry is None:
        pytest.skip("this TensorFlow keeps its gradient registry elsewhere")
    config = load_config(make_study(epochs=1))
    splits = load_splits(config.data)
    before = set(registry)
    with tuner.ml.backend.forget_traced_gradients():
        registry["CustomGradient-made-inside"] = {}
    train(PARAMS, splits, config, seed=0, max_epochs=1)
    assert not {k for k in set(registry) - before if k.startswith("CustomGradient")}
