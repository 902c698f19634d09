"""Study files: the schema, every built-in file, and one clear error per kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.config.parse import (
    available_studies,
    config_from_dict,
    load_config,
    resolve_study,
    with_overrides,
)
from tuner.config.schema import FloatRange, IntRange
from tuner.errors import ConfigError, StudyNotFoundError

BUILT_INS = [
    "blobs_xor",
    "breast_cancer",
    "diabetes",
    "digits",
    "fashion_mnist",
    "iris",
    "mnist",
    "wine",
]


def test_every_built_in_study_loads_and_is_found_by_name() -> None:
    assert set(BUILT_INS) <= set(available_studies())
    for name in BUILT_INS:
        cfg = load_config(resolve_study(name))
        assert cfg.name == name
        assert cfg.data.dataset == name
        assert cfg.space.n_layers.low >= 1


def test_digits_file_matches_the_schema() -> None:
    cfg = load_config(resolve_study("digits"))
    assert cfg.objective.task == "multiclass"
    assert cfg.objective.metric == "accuracy"
    assert cfg.objective.direction == "maximize"
    assert cfg.space.units == IntRange(16, 256, log=True)
    assert cfg.space.learning_rate == FloatRange(1e-4, 3e-2, log=True)
    assert cfg.search.sampler == "tpe" and cfg.search.pruner == "hyperband"


def test_defaults_fill_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text('[data]\ndataset = "diabetes"\n')
    cfg = load_config(path)
    assert cfg.name == "mini"  # from the file name
    assert cfg.objective.task == "regression"
    assert cfg.objective.metric == "rmse" and cfg.objective.direction == "minimize"
    assert cfg.search.trials == 20


def test_round_trip_through_the_stored_dict(make_study) -> None:
    cfg = load_config(make_study())
    again = config_from_dict(cfg.to_dict())
    assert again == cfg


def test_overrides_are_validated_like_the_file(make_study) -> None:
    cfg = load_config(make_study())
    new = with_overrides(cfg, trials=7, max_epochs=4, sampler="random", seed=3)
    assert (new.search.trials, new.training.max_epochs, new.search.sampler, new.search.seed) == (
        7,
        4,
        "random",
        3,
    )
    with pytest.raises(ConfigError, match=r"\[search\] trials must be >= 1, got 0"):
        with_overrides(cfg, trials=0)


def test_study_in_working_directory_wins_over_built_in(tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "digits.toml").write_text(
        '[study]\nname = "my_digits"\n[data]\ndataset = "digits"\n'
    )
    assert load_config(resolve_study("digits")).name == "my_digits"


def test_unknown_study_lists_the_available_ones() -> None:
    with pytest.raises(StudyNotFoundError) as err:
        resolve_study("digitz")
    message = str(err.value)
    assert message.startswith("unknown study 'digitz'. Did you mean 'digits'? Available: ")
    assert "mnist" in message and "iris" in message


def test_missing_path_is_reported() -> None:
    with pytest.raises(StudyNotFoundError, match=r"study file nowhere/x.toml does not exist"):
        resolve_study("nowhere/x.toml")


BAD = [
    ("malformed", "[data\ndataset = 'iris'\n", r"malformed TOML: .*\(at line 1, column 6\)"),
    (
        "unknown_field",
        "[data]\ndataset = 'iris'\n[space]\nunit = [1, 2]\n",
        r"\[space\] has unknown field 'unit'; did you mean 'units'\?",
    ),
    (
        "unknown_table",
        "[data]\ndataset = 'iris'\n[serach]\n",
        r"\[top level\] has unknown field 'serach'; did you mean 'search'\?",
    ),
    (
        "inverted",
        "[data]\ndataset = 'iris'\n[space]\nunits = [300, 16]\n",
        r"\[space\] units is inverted: low \(300\) > high \(16\); swap the bounds",
    ),
    (
        "empty_range",
        "[data]\ndataset = 'iris'\n[space]\ndropout = []\n",
        r"\[space\] dropout is an empty range; write \[low, high\]",
    ),
    (
        "empty_choices",
        "[data]\ndataset = 'iris'\n[space]\nactivation = []\n",
        r"\[space\] activation is an empty list; give at least one choice",
    ),
    (
        "log_zero",
        (
            "[data]\ndataset = 'iris'\n[space]\n"
            "learning_rate = { low = 0.0, high = 0.1, log = true }\n"
        ),
        r"must lie within|log scale",
    ),
    (
        "activation",
        "[data]\ndataset = 'iris'\n[space]\nactivation = ['relu', 'relux']\n",
        r"\[space\] activation has unknown value 'relux'; choose from: relu, elu",
    ),
    (
        "optimizer",
        "[data]\ndataset = 'iris'\n[space]\noptimizer = ['adamm']\n",
        r"\[space\] optimizer has unknown value 'adamm'; choose from: adam",
    ),
    (
        "sampler",
        "[data]\ndataset = 'iris'\n[search]\nsampler = 'bayes'\n",
        r"\[search\] sampler has unknown value 'bayes'; choose from: tpe, random, cmaes, gp",
    ),
    (
        "pruner",
        "[data]\ndataset = 'iris'\n[search]\npruner = 'asha'\n",
        r"\[search\] pruner has unknown value 'asha'; choose from: hyperband, median, sha, none",
    ),
    (
        "metric",
        "[data]\ndataset = 'iris'\n[objective]\nmetric = 'acc'\n",
        r"\[objective\] metric has unknown value 'acc'",
    ),
    (
        "metric_task",
        "[data]\ndataset = 'diabetes'\n[objective]\nmetric = 'accuracy'\n",
        (
            r"\[objective\] metric 'accuracy' does not fit a regression task; "
            r"choose from: mae, rmse, r2"
        ),
    ),
    (
        "task_dataset",
        "[data]\ndataset = 'iris'\n[objective]\ntask = 'regression'\n",
        r"task 'regression' does not fit dataset 'iris', which is multiclass",
    ),
    (
        "direction",
        "[data]\ndataset = 'iris'\n[objective]\nmetric = 'accuracy'\ndirection = 'minimize'\n",
        r"direction 'minimize' is wrong for metric 'accuracy', which is to maximize",
    ),
    (
        "dataset",
        "[data]\ndataset = 'imagenet'\n",
        r"\[data\] dataset has unknown value 'imagenet'; choose from: blobs_xor",
    ),
    ("no_dataset", "[study]\nname = 'x'\n", r"\[data\] dataset is missing; choose from: "),
    (
        "trials",
        "[data]\ndataset = 'iris'\n[search]\ntrials = 0\n",
        r"\[search\] trials must be >= 1, got 0",
    ),
    (
        "type",
        "[data]\ndataset = 'iris'\n[training]\nmax_epochs = 'ten'\n",
        r"\[training\] max_epochs must be an integer, got 'ten'",
    ),
    (
        "lr_patience",
        "[data]\ndataset = 'iris'\n[training]\nreduce_lr_patience = -1\n",
        r"\[training\] reduce_lr_patience must be >= 0, got -1",
    ),
    (
        "lr_factor",
        "[data]\ndataset = 'iris'\n[training]\nreduce_lr_factor = 1.5\n",
        r"\[training\] reduce_lr_factor must be <= 1.0, got 1.5",
    ),
    (
        "lr_factor_one",
        "[data]\ndataset = 'iris'\n[training]\nreduce_lr_factor = 1\n",
        r"reduce_lr_factor must be < 1 .*set reduce_lr_patience = 0",
    ),
    (
        "fractions",
        "[data]\ndataset = 'iris'\nvalidation_fraction = 0.5\ntest_fraction = 0.5\n",
        r"must leave data to train on",
    ),
]


@pytest.mark.parametrize(("name", "text", "pattern"), BAD, ids=[b[0] for b in BAD])
def test_bad_study_files_name_file_field_and_fix(
    tmp_path: Path, name: str, text: str, pattern: str
) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
