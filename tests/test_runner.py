"""Running studies for real: exact budgets, resume, pruning, divergence, reproducibility."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from tuner.config.parse import load_config, with_overrides
from tuner.data.datasets import load_splits
from tuner.errors import ConfigError, TunerError
from tuner.keys import (
    BEST_EPOCH,
    EPOCHS_RUN,
    FAIL_REASON,
    HISTORY,
    N_PARAMS,
    TRAIN_SECONDS,
    TRIAL_SEED,
    VAL_METRICS,
)
from tuner.ml.training import train
from tuner.run.runner import run_study

DIGITS_SMALL = "n_samples = 600"


def _trials(store: str, name: str = "tiny") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=store).trials


def test_run_then_resume_reaches_exactly_the_budget(make_study, store: str) -> None:
    path = make_study(trials=3, epochs=1)
    first = run_study(path, storage=store)
    assert first.n_finished == 3 and first.trials_run == 3
    trials = _trials(store)
    assert len(trials) == 3
    for t in trials:
        assert {
            "n_layers",
            "units_0",
            "dropout",
            "activation",
            "learning_rate",
            "batch_size",
            "optimizer",
        } <= set(t.params)
        assert len([k for k in t.params if k.startswith("units_")]) == t.params["n_layers"]
        assert t.intermediate_values, "the validation metric is reported every epoch"
        assert {TRIAL_SEED, N_PARAMS, EPOCHS_RUN, TRAIN_SECONDS} <= set(t.user_attrs)
    second = run_study(path, storage=store, trials=5)
    assert second.n_finished == 5 and second.trials_run == 2
    again = run_study(path, storage=store, trials=5)
    assert again.trials_run == 0 and len(_trials(store)) == 5


def test_completed_trials_record_consistent_metrics(make_study, store: str) -> None:
    run_study(make_study(trials=2, epochs=3), storage=store)
    for t in _trials(store):
        if t.state != TrialState.COMPLETE:
            continue
        attrs = t.user_attrs
        assert attrs[VAL_METRICS]["accuracy"] == pytest.approx(
            t.value
        )  # best-epoch weights restored
        assert t.value == max(t.intermediate_values.values())
        assert attrs[EPOCHS_RUN] == len(t.intermediate_values) == len(attrs[HISTORY]["loss"])
        assert 0 <= attrs[BEST_EPOCH] < attrs[EPOCHS_RUN]
        assert attrs[N_PARAMS] > 0


@pytest.mark.slow  # nine digits trials; test_kfold and test_packed prune in the default tier
def test_a_study_built_to_prune_prunes(make_study, store: str) -> None:
    # Learning rates from hopeless to good, and a median pruner that acts from the 3rd trial on.
    path = make_study(
        dataset="digits",
        data_extra=DIGITS_SMALL,
        space_extra="",
        epochs=4,
        trials=9,
        sampler="random",
        pruner="median",
    )
    text = path.read_text().replace(
        "learning_rate = { low = 1e-3, high = 3e-2, log = true }",
        "learning_rate = { low = 1e-6, high = 3e-2, log = true }",
    )
    path.write_text(text)
    result = run_study(path, storage=store)
    assert result.n_finished == 9
    pruned = [t for t in _trials(store) if t.state == TrialState.PRUNED]
    assert pruned, "a study built to prune should prune at least one trial"
    for t in pruned:
        assert len(t.intermediate_values) < 4
        assert t.user_attrs[EPOCHS_RUN] == len(t.intermediate_values)


def test_diverging_trials_fail_with_a_reason_and_the_study_goes_on(make_study, store: str) -> None:
    path = make_study(dataset="diabetes", objective='metric = "rmse"', trials=2, epochs=2)
    text = path.read_text()
    text = text.replace('optimizer = ["adam"]', 'optimizer = ["sgd"]').replace(
        "learning_rate = { low = 1e-3, high = 3e-2, log = true }", "learning_rate = [5.0, 10.0]"
    )
    path.write_text(text)
    with pytest.raises(TunerError, match=r"^3 trials failed in this run \(training diverged\)"):
        run_study(path, storage=store, max_failures=3)
    trials = _trials(store)
    assert [t.state for t in trials] == [
        TrialState.FAIL
    ] * 3  # it kept going after the first failure
    assert all(
        "non-finite" in t.user_attrs[FAIL_REASON] or "nan" in t.user_attrs[FAIL_REASON]
        for t in trials
    )


@pytest.mark.parametrize(
    ("sampler", "pruner"), [("tpe", "hyperband"), ("random", "sha"), ("cmaes", "none")]
)
def test_samplers_and_pruners(make_study, store: str, sampler: str, pruner: str) -> None:
    """Each sampler, and each pruner, runs a study to its budget (one study per pair)."""
    path = make_study(trials=2, epochs=2)
    assert run_study(path, storage=store, sampler=sampler, pruner=pruner).n_finished == 2


def test_gp_sampler_needs_torch_or_works(make_study, store: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(
            ConfigError,
            match=r"sampler 'gp' needs PyTorch; install it with: pip install 'tuner\[gp\]'",
        ):
            run_study(make_study(trials=1, epochs=1), storage=store, sampler="gp")
        assert optuna.get_all_study_names(store) == []  # refused before the study was created
    else:
        assert (
            run_study(make_study(trials=2, epochs=1), storage=store, sampler="gp").n_finished == 2
        )


def test_same_seed_same_search(make_study, tmp_path) -> None:
    path = make_study(trials=2, epochs=1)
    a = run_study(path, storage=f"sqlite:///{tmp_path / 'a.db'}", seed=5)
    b = run_study(path, storage=f"sqlite:///{tmp_path / 'b.db'}", seed=5)
    params_a = [
        t.params
        for t in optuna.load_study(
            study_name="tiny", storage=f"sqlite:///{tmp_path / 'a.db'}"
        ).trials
    ]
    params_b = [
        t.params
        for t in optuna.load_study(
            study_name="tiny", storage=f"sqlite:///{tmp_path / 'b.db'}"
        ).trials
    ]
    assert params_a == params_b
    assert a.best_value == pytest.approx(b.best_value, abs=1e-6)


def test_best_trial_retrains_to_its_recorded_value_from_its_seed(make_study, store: str) -> None:
    path = make_study(dataset="digits", data_extra=DIGITS_SMALL, trials=1, epochs=3, pruner="none")
    result = run_study(path, storage=store)
    best = optuna.load_study(study_name="tiny", storage=store).best_trial
    config = load_config(path)
    again = train(
        best.params,
        load_splits(config.data),
        with_overrides(config, max_epochs=3),
        seed=best.user_attrs[TRIAL_SEED],
    )
    # 120 validation rows: allow one row of difference for floating-point reordering across runs
    assert again.best_value == pytest.approx(result.best_value, abs=1 / 120 + 1e-9)


def test_resuming_with_other_data_is_refused_and_changes_nothing(make_study, store: str) -> None:
    path = make_study(trials=1, epochs=1)
    run_study(path, storage=store)
    path.write_text(path.read_text().replace('dataset = "iris"', 'dataset = "wine"'))
    with pytest.raises(
        ConfigError, match=r"study 'tiny' in the store was created with a different \[data\]"
    ):
        run_study(path, storage=store, trials=3)
    assert len(_trials(store)) == 1
