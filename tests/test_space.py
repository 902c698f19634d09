"""The search space: one width per layer, every value within the file's ranges."""

from __future__ import annotations

import optuna

from tuner.config.schema import FloatRange, IntRange, SearchSpace
from tuner.ml.model import layer_widths
from tuner.search.space import suggest_params

SPACE = SearchSpace(
    n_layers=IntRange(1, 4),
    units=IntRange(8, 64, log=True),
    dropout=FloatRange(0.0, 0.3),
    activation=("relu", "selu", "leaky_relu"),
    learning_rate=FloatRange(1e-4, 1e-2, log=True),
    batch_size=(16, 32),
    optimizer=("adam", "sgd"),
)


def test_suggestions_stay_within_the_space_with_one_width_per_layer() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    depths = set()
    for _ in range(40):
        trial = study.ask()
        params = suggest_params(trial, SPACE)
        depths.add(params["n_layers"])
        widths = layer_widths(params)
        assert len(widths) == params["n_layers"]
        assert all(8 <= w <= 64 for w in widths)
        assert 0.0 <= params["dropout"] <= 0.3
        assert 1e-4 <= params["learning_rate"] <= 1e-2
        assert params["activation"] in SPACE.activation
        assert params["batch_size"] in SPACE.batch_size
        assert params["optimizer"] in SPACE.optimizer
        assert set(trial.params) == set(params)  # every parameter is recorded on the trial
        study.tell(trial, 0.0)
    assert depths == {1, 2, 3, 4}


def test_widths_vary_per_layer() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    different = 0
    for _ in range(20):
        params = suggest_params(study.ask(), SPACE)
        widths = layer_widths(params)
        different += len(set(widths)) > 1
    assert different > 0


def test_fixed_values_are_allowed() -> None:
    space = SearchSpace(
        n_layers=IntRange(2, 2), units=IntRange(32, 32), dropout=FloatRange(0.1, 0.1)
    )
    params = suggest_params(optuna.create_study().ask(), space)
    assert layer_widths(params) == [32, 32] and params["dropout"] == 0.1
