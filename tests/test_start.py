"""``[search] start``: known-good configurations tried first, checked against the space."""

from __future__ import annotations

import optuna
import pytest

from tuner.config.parse import config_from_dict, load_config
from tuner.errors import ConfigError
from tuner.run.runner import run_study

START = (
    '\nstart = [{ n_layers = 2, units = [16, 8], dropout = 0.1, activation = "tanh", '
    'learning_rate = 0.01, batch_size = 32, optimizer = "adam" }, { n_layers = 1, units = 12 }]'
)


def _study_with_start(make_study, start: str, trials: int = 3):
    path = make_study(trials=trials, epochs=1)
    path.write_text(path.read_text() + start + "\n")
    return path


def test_start_trials_run_first_and_are_not_queued_again_on_resume(make_study, store: str) -> None:
    path = _study_with_start(make_study, START, trials=3)
    run_study(path, storage=store)
    trials = optuna.load_study(study_name="tiny", storage=store).trials
    assert trials[0].params == {
        "n_layers": 2,
        "units_0": 16,
        "units_1": 8,
        "dropout": 0.1,
        "activation": "tanh",
        "learning_rate": 0.01,
        "batch_size": 32,
        "optimizer": "adam",
    }
    assert trials[1].params["n_layers"] == 1 and trials[1].params["units_0"] == 12
    run_study(path, storage=store, trials=5)
    study = optuna.load_study(study_name="tiny", storage=store)
    assert len(study.trials) == 5
    assert [
        t.params.get("units_0") == 16 and t.params.get("units_1") == 8 for t in study.trials
    ].count(True) == 1
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]


def test_one_width_applies_to_every_layer_and_the_config_round_trips(make_study) -> None:
    from tuner.config.start import start_params

    config = load_config(_study_with_start(make_study, START))
    assert start_params(config.search.start[1], config.space) == {"n_layers": 1, "units_0": 12}
    assert start_params((("units", 8),), config.space) == {"units_0": 8, "units_1": 8}
    assert config_from_dict(config.to_dict()).search.start == config.search.start


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (
            "start = [{ units = 1024 }]",
            (
                r"\[search\] start\[0\] units = 1024 is outside \[space\] units \[4, 16\]; change "
                r"the value or widen the space$"
            ),
        ),
        (
            'start = [{ activation = "selu" }]',
            (
                r"\[search\] start\[0\] activation = 'selu' is not one of the \[space\] "
                r"activation choices: relu, tanh$"
            ),
        ),
        (
            "start = [{ n_layers = 2, units = [8] }]",
            r"start\[0\] units lists 1 widths but n_layers = 2; give one width per layer$",
        ),
        ("start = [{ layers = 2 }]", r"start\[0\] has unknown field 'layers'"),
        (
            "start = [{ dropout = 0.9 }]",
            r"start\[0\] dropout = 0.9 is outside \[space\] dropout \[0.0, 0.2\]",
        ),
        (
            "start = [{ batch_size = 64 }]",
            r"start\[0\] batch_size = 64 is not one of the \[space\] batch_size choices: 32$",
        ),
    ],
)
def test_out_of_space_start_value_is_a_one_line_error(make_study, start: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(_study_with_start(make_study, "\n" + start))
    assert "\n" not in str(err.value)
