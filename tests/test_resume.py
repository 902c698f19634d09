"""Resuming a study: changed settings are refused by name, or recorded with --accept-changes;
the settings are stored once, compactly, with the metric's name; old studies still resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli import cli
from tuner.cli.output import fmt
from tuner.config.parse import load_config, resolve_study
from tuner.config.stored import config_at_trial, settings_changes, stored_config
from tuner.errors import ConfigError
from tuner.keys import BUDGET_ATTR, CHANGES_ATTR, CONFIG_ATTR, RUN_ATTR, RUN_CONFIG_ATTR
from tuner.run.runner import create_or_load_study, join_study, prepare_study, run_study
from tuner.storage import open_storage


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _run(path: Path, store: str, *flags: str):
    """``tuner run --study PATH --storage STORE [flags] --quiet``."""
    return invoke("run", "--study", str(path), "--storage", store, *flags, "--quiet")


def _study(store: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=store)


def test_changed_settings_are_refused_by_name_then_recorded_with_accept_changes(
    make_study, store: str
) -> None:
    path = make_study(trials=2, epochs=1)
    assert _run(path, store).exit_code == 0
    before = dict(_study(store).user_attrs)

    # A flag: 1 -> 2 epochs.
    result = _run(path, store, "--trials", "3", "--epochs", "2")
    assert result.exit_code == 1
    assert result.output == (
        "Error: study 'tiny' was run with other settings: training.max_epochs 1 -> 2; use a new "
        "[study] name, "
        "or pass --accept-changes to record the change (the 2 earlier trials ran under the old "
        "settings)\n"
    )
    # The study file: a wider units range and a narrower dropout range, each field named.
    path.write_text(
        path.read_text()
        .replace("high = 16, log = true", "high = 32, log = true")
        .replace("dropout = [0.0, 0.2]", "dropout = [0.0, 0.1]")
    )
    result = _run(path, store, "--trials", "3")
    assert result.exit_code == 1
    assert (
        "was run with other settings: space.units.high 16 -> 32, space.dropout.high 0.2 -> 0.1; "
        "use a new [study] name" in result.output
    )
    # Another list of choices cannot be recorded at all: Optuna would refuse to draw from it.
    choices = path.read_text().replace('["relu", "tanh"]', '["relu"]')
    path.write_text(choices)
    result = _run(path, store, "--trials", "3", "--accept-changes")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: study 'tiny' cannot change its lists of choices: space.activation [relu, tanh] "
        "-> [relu] (also changed: space.units.high 16 -> 32, space.dropout.high 0.2 -> 0.1); "
    )
    path.write_text(choices.replace('["relu"]', '["relu", "tanh"]'))
    study = _study(store)
    assert len(study.trials) == 2 and study.user_attrs == before  # nothing written

    # --accept-changes: runs, and records what changed from which trial on.
    result = _run(path, store, "--trials", "3", "--epochs", "2", "--accept-changes")
    assert result.exit_code == 0, result.output
    study = _study(store)
    assert len(study.trials) == 3
    assert study.user_attrs[CHANGES_ATTR] == [
        {
            "from_trial": 2,
            "changes": [
                ["space.units.high", 16, 32],
                ["space.dropout.high", 0.2, 0.1],
                ["training.max_epochs", 1, 2],
            ],
        }
    ]
    assert study.trials[2].params["dropout"] <= 0.1
    current = stored_config(study.user_attrs, "tiny")
    assert current.training.max_epochs == 2 and current.space.units.high == 32
    old = config_at_trial(study.user_attrs, "tiny", 1)
    assert (
        old.training.max_epochs == 1
        and old.space.units.high == 16
        and old.space.dropout.high == 0.2
    )
    assert config_at_trial(study.user_attrs, "tiny", 2) == current

    # The same settings again resume silently; show names the change and the metric.
    again = _run(path, store, "--trials", "3", "--epochs", "2")
    assert again.exit_code == 0, again.output
    shown = invoke("show", "--study", "tiny", "--storage", store)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[2] == (
        "Settings changed from trial 2 on (--accept-changes): space.units.high 16 -> 32, "
        "space.dropout.high 0.2 -> 0.1, training.max_epochs 1 -> 2; earlier trials ran under "
        "the old values"
    )
    best = study.best_trial
    assert any(line.split() == ["accuracy", fmt(best.value)] for line in lines), shown.output
    assert not any(line.split()[:1] == ["value"] for line in lines)


def test_other_data_is_refused_even_with_accept_changes(make_study, store: str) -> None:
    path = make_study(trials=1, epochs=1)
    create_or_load_study(load_config(path), open_storage(store))
    path.write_text(
        path.read_text()
        .replace('dataset = "iris"', 'dataset = "wine"')
        .replace("max_epochs = 1", "max_epochs = 2")
    )
    result = _run(path, store, "--accept-changes")
    assert result.exit_code == 1
    assert result.output == (
        "Error: study 'tiny' in the store was created with a different [data]: data.dataset iris "
        "-> wine "
        "(also changed: training.max_epochs 1 -> 2); its trials and new ones would not be "
        "comparable, so "
        "--accept-changes cannot record this: restore the original settings or use a new [study] "
        "name\n"
    )
    assert CHANGES_ATTR not in _study(store).user_attrs


def test_budget_time_limit_and_start_entries_may_change(make_study, store: str) -> None:
    path = make_study(trials=1, epochs=1)
    prepare_study(path, storage=store)
    path.write_text(path.read_text() + "\nstart = [{ n_layers = 1 }]\n")
    prepared = prepare_study(path, storage=store, trials=4, timeout=60)
    attrs = prepared.study.user_attrs
    assert attrs[RUN_ATTR] == {"trials": 4, "timeout": 60} and attrs[BUDGET_ATTR] == 4
    assert CHANGES_ATTR not in attrs
    assert stored_config(attrs, "tiny").search.timeout == 60


def test_metric_names_are_set_for_the_dashboard(make_study, store: str) -> None:
    one = make_study("one", trials=1)
    two = make_study(
        "two",
        dataset="breast_cancer",
        objective='size_objective = "n_params"',
        pruner="none",
        trials=1,
    )
    for path in (one, two):
        create_or_load_study(load_config(path), open_storage(store))
    assert optuna.load_study(study_name="one", storage=store).metric_names == ["accuracy"]
    assert optuna.load_study(study_name="two", storage=store).metric_names == [
        "accuracy",
        "n_params",
    ]


def test_stored_settings_are_compact(store: str) -> None:
    prepare_study("digits", storage=store)
    attrs = _study(store, "digits").user_attrs
    assert RUN_CONFIG_ATTR not in attrs
    for key, value in attrs.items():
        assert len(json.dumps(value)) < 700 and len(str(value)) < 700, key  # was 2 x 842
    assert stored_config(attrs, "digits") == dataclasses.replace(
        load_config(resolve_study("digits")),
        description="",
        search=dataclasses.replace(load_config(resolve_study("digits")).search, start=()),
    )


def _old_layout_study(path: Path, store: str, *, run_epochs: int) -> optuna.Study:
    """A study as earlier versions stored it: the creation config, and the latest run's."""
    config = load_config(path)
    study = optuna.create_study(study_name=config.name, storage=store, direction="maximize")
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    latest = dataclasses.replace(
        config, training=dataclasses.replace(config.training, max_epochs=run_epochs)
    )
    study.set_user_attr(RUN_CONFIG_ATTR, latest.to_dict())
    study.set_user_attr(BUDGET_ATTR, 1)
    return study


def test_a_study_stored_the_old_way_is_checked_against_its_latest_run_and_resumes(
    make_study, store: str
) -> None:
    path = make_study(trials=1, epochs=1)
    _old_layout_study(path, store, run_epochs=2)
    with pytest.raises(ConfigError, match=r"training.max_epochs 2 -> 1"):
        prepare_study(path, storage=store)
    assert RUN_ATTR not in _study(store).user_attrs
    # A worker joining it reads the latest run's settings, as before.
    joined = join_study("tiny", storage=store)
    assert joined.n_finished == 1
    assert len(_study(store).trials[0].intermediate_values) <= 2
    result = run_study(path, storage=store, trials=1, max_epochs=2)
    attrs = _study(store).user_attrs
    assert result.trials_run == 0 and attrs[RUN_ATTR]["trials"] == 1
    assert _study(store).metric_names == ["accuracy"]
    assert stored_config(attrs, "tiny").training.max_epochs == 2
    assert settings_changes(attrs) == []
