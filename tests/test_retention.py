"""Saved trial models: only the best ``[search] keep_models`` trials keep theirs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tuner.artifacts import (
    artifact_store,
    drop_models,
    fetch_trial_model,
    ranked_trials,
    resolve_artifacts_dir,
)
from tuner.config.parse import config_from_dict, load_config
from tuner.errors import ConfigError
from tuner.run.runner import run_study


def _with_search(path: Path, line: str) -> Path:
    path.write_text(path.read_text().replace("[search]\n", f"[search]\n{line}\n"))
    return path


def _saved(store: str, name: str, tmp_path: Path) -> dict[int, bool]:
    """Completed trial number -> whether its model file is still in the artifact folder."""
    storage = optuna.storages.RDBStorage(store)
    study = optuna.load_study(study_name=name, storage=storage)
    folder = resolve_artifacts_dir(store)
    return {
        t.number: fetch_trial_model(storage, t, folder, tmp_path / "dl" / str(t.number)) is not None
        for t in study.get_trials(states=(TrialState.COMPLETE,))
    }


def test_only_the_best_trials_keep_their_models(make_study, store: str, tmp_path: Path) -> None:
    path = _with_search(make_study("keep", trials=4, epochs=1, pruner="none"), "keep_models = 2")
    run_study(path, storage=store)
    study = optuna.load_study(study_name="keep", storage=store)
    complete = sorted(
        study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: (-t.value, t.number)
    )  # accuracy: larger is better
    assert len(complete) >= 3, "enough trials for some to be dropped"
    saved = _saved(store, "keep", tmp_path)
    assert {n for n, ok in saved.items() if ok} == {t.number for t in complete[:2]}


def test_keep_models_zero_keeps_every_model(make_study, store: str, tmp_path: Path) -> None:
    path = _with_search(make_study("all", trials=3, epochs=1, pruner="none"), "keep_models = 0")
    run_study(path, storage=store)
    saved = _saved(store, "all", tmp_path)
    assert len(saved) == 3 and all(saved.values())


def test_keep_models_is_validated_and_stored_compactly(make_study) -> None:
    default = load_config(make_study("d"))
    assert default.search.keep_models == 10
    assert (
        "keep_models" not in default.to_dict()["search"]
    )  # studies stored before it compare equal
    two = load_config(_with_search(make_study("two"), "keep_models = 2"))
    assert two.to_dict()["search"]["keep_models"] == 2
    assert config_from_dict(two.to_dict()).search.keep_models == 2
    with pytest.raises(ConfigError, match="keep_models"):
        load_config(_with_search(make_study("bad"), "keep_models = -1"))


def test_dropping_models_looks_only_at_the_trials_it_is_given(
    make_study, store: str, tmp_path: Path
) -> None:
    path = _with_search(make_study("window", trials=4, epochs=1, pruner="none"), "keep_models = 0")
    run_study(path, storage=store)
    study = optuna.load_study(study_name="window", storage=store)
    ranked = ranked_trials(study)
    assert len(ranked) == 4
    values = {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert [values[n] for n in ranked] == sorted(values.values(), reverse=True)
    store_ = artifact_store(resolve_artifacts_dir(store))
    removed = drop_models(
        study,
        optuna.storages.RDBStorage(store),
        store_,
        keep={ranked[0]},
        among=[ranked[0], ranked[2]],
    )
    assert removed == 2  # model.keras and model.json of ranked[2] only
    saved = _saved(store, "window", tmp_path)
    assert {n for n, ok in saved.items() if ok} == {ranked[0], ranked[1], ranked[3]}
