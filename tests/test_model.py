"""The model: preprocessing inside it (raw inputs in), outputs and losses by task."""

from __future__ import annotations

import numpy as np
import pytest
from study_text import tiny_params

from tuner.config.schema import DataConfig
from tuner.data.datasets import load_splits
from tuner.ml.backend import load_keras
from tuner.ml.model import ModelSpec, build_model, count_params

PARAMS = tiny_params()


def test_normalisation_is_fitted_on_the_training_split_and_lives_in_the_model() -> None:
    keras = load_keras()
    s = load_splits(DataConfig("digits"))
    spec = ModelSpec.from_splits(s)
    model = build_model(PARAMS, spec)
    norm = model.get_layer("normalize")
    x = s.x_val[:5]
    expected = (x - s.x_train.mean(axis=0)) / np.sqrt(
        np.where(s.x_train.var(axis=0) < 1e-12, 1.0, s.x_train.var(axis=0))
    )
    np.testing.assert_allclose(np.asarray(norm(x)), expected, rtol=1e-4, atol=1e-4)
    # a pixel that is constant in training must not blow up when it varies later
    constant = np.where(s.x_train.var(axis=0) == 0)[0]
    assert constant.size > 0
    probe = s.x_val[:1].copy()
    probe[0, constant] = 16.0
    assert np.all(np.isfinite(np.asarray(norm(probe))))
    assert isinstance(model, keras.Model)


def test_raw_inputs_work_after_training() -> None:
    """Trained on raw 0..16 pixel values with no outside scaling, the model predicts raw rows
    well."""
    keras = load_keras()
    keras.utils.set_random_seed(0)
    s = load_splits(DataConfig("digits"))
    model = build_model(PARAMS, ModelSpec.from_splits(s))
    model.fit(s.x_train, s.y_train, epochs=3, batch_size=32, verbose=0)
    proba = model.predict(s.x_val, verbose=0)
    assert proba.shape == (len(s.x_val), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)
    assert (proba.argmax(axis=1) == s.y_val).mean() > 0.85


@pytest.mark.parametrize(
    ("dataset", "shape", "loss"),
    [
        ("breast_cancer", (1,), "BinaryCrossentropy"),
        ("iris", (3,), "SparseCategoricalCrossentropy"),
        ("diabetes", (1,), "MeanSquaredError"),
    ],
)
def test_output_and_loss_follow_the_task(dataset: str, shape: tuple[int, ...], loss: str) -> None:
    s = load_splits(DataConfig(dataset))
    spec = ModelSpec.from_splits(s)
    model = build_model(PARAMS, spec)
    assert model.output_shape[1:] == shape
    assert type(model.loss).__name__ == loss
    assert model.count_params() == count_params(PARAMS, s.n_features, shape[0])
    if dataset == "diabetes":
        # an untrained regression model already predicts in the target's units (around its mean)
        pred = model.predict(s.x_val, verbose=0).reshape(-1)
        assert abs(np.median(pred) - s.y_train.mean()) < 2 * s.y_train.std()
