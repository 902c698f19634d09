"""What ``tuner.ml.training.train`` does around ``fit``: the learning rate is lowered when the
validation metric stalls (Keras' ReduceLROnPlateau), and only when the study asks for it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuner.config.parse import load_config
from tuner.data.datasets import load_splits
from tuner.ml.training import train

# A rate so small that the validation accuracy cannot move: every epoch after the first is a
# plateau.
STALLED = {
    "n_layers": 1,
    "units_0": 8,
    "dropout": 0.0,
    "activation": "relu",
    "learning_rate": 1e-7,
    "batch_size": 32,
    "optimizer": "sgd",
}


def _config(make_study, **training):
    config = load_config(make_study(dataset="iris", epochs=5))
    return dataclasses.replace(
        config, training=dataclasses.replace(config.training, patience=10, **training)
    )


def test_learning_rate_drops_after_the_plateau(make_study) -> None:
    config = _config(make_study, reduce_lr_patience=1, reduce_lr_factor=0.5)
    result = train(STALLED, load_splits(config.data), config, seed=0)
    assert result.epochs_run == 5
    rates = result.history["learning_rate"]
    # Epoch 0 sets the best value, each later epoch fails to beat it and halves the rate.
    np.testing.assert_allclose(rates, [1e-7, 1e-7, 5e-8, 2.5e-8, 1.25e-8], rtol=1e-5)
    assert float(result.model.optimizer.learning_rate) == pytest.approx(6.25e-9, rel=1e-5)


def test_learning_rate_stays_when_reduction_is_off(make_study) -> None:
    config = _config(make_study, reduce_lr_patience=0)
    result = train(STALLED, load_splits(config.data), config, seed=0)
    assert result.epochs_run == 5
    assert "learning_rate" not in result.history
    assert float(result.model.optimizer.learning_rate) == pytest.approx(1e-7, rel=1e-5)
