"""``[training] monitor``: what early stopping and the learning-rate reduction watch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuner.config.parse import load_config
from tuner.data.datasets import load_splits
from tuner.errors import ConfigError
from tuner.ml.training import AUTO_LOSS_ROWS, train, watched

PARAMS = {
    "n_layers": 1,
    "units_0": 8,
    "dropout": 0.0,
    "activation": "relu",
    "learning_rate": 0.01,
    "batch_size": 32,
    "optimizer": "adam",
}


def _config(make_study, monitor: str):
    path = make_study(epochs=6)
    path.write_text(
        path.read_text().replace("patience = 2", f'patience = 2\nmonitor = "{monitor}"')
    )
    return load_config(path)


@pytest.mark.parametrize("monitor", ["loss", "metric"])
def test_the_restored_epoch_is_the_watched_one_and_the_value_is_the_metric(
    make_study, monitor: str
) -> None:
    config = _config(make_study, monitor)
    splits = load_splits(config.data)
    result = train(PARAMS, splits, config, seed=3)
    history = result.history
    if monitor == "loss":
        assert result.best_epoch == int(np.argmin(history["val_loss"]))
    else:
        assert result.best_epoch == int(np.argmax(history["val_accuracy"]))
    assert (
        result.best_value == history["val_accuracy"][result.best_epoch]
    )  # the study metric, always
    assert result.val_metrics["accuracy"] == pytest.approx(
        result.best_value
    )  # those weights were restored


def test_auto_watches_the_loss_on_small_validation_splits_only(make_study) -> None:
    config = _config(make_study, "auto")
    assert watched(config, AUTO_LOSS_ROWS - 1) == ("val_loss", "min")
    assert watched(config, AUTO_LOSS_ROWS) == ("val_accuracy", "max")
    metric = dataclasses.replace(
        config, training=dataclasses.replace(config.training, monitor="metric")
    )
    assert watched(metric, 10) == ("val_accuracy", "max")


def test_unknown_monitor_is_a_one_line_error(make_study) -> None:
    with pytest.raises(
        ConfigError,
        match=(
            r"\[training\] monitor has unknown value 'accuracy'; choose from: auto, loss, metric$"
        ),
    ):
        _config(make_study, "accuracy")
