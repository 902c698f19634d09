"""The Optuna private names the tuner relies on (tuner/storage/optuna_compat.py) still exist and
still mean what the tuner takes them to mean: this fails first when an Optuna release changes
one of them."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from tuner.storage import open_storage
from tuner.storage import optuna_compat as compat

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


def test_counts_match_optunas_own(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.5})
    study.ask()  # the queued trial: running now
    study.enqueue_trial({"x": 0.1})
    study_id = storage.get_study_id_from_name("s")
    states = tuple(TrialState)
    counted = compat.count_trials(storage, study_id, states)
    assert counted == {s: storage.get_n_trials(study_id, s) for s in states}
    assert counted[TrialState.COMPLETE] == 3 and counted[TrialState.RUNNING] == 1
    assert compat.count_trials(storage, study_id + 1, states) == dict.fromkeys(states, 0)


def test_trial_ids_storages_and_later_trials(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    study_id = storage.get_study_id_from_name("s")
    trials = study.get_trials()
    ids = [compat.trial_id(t) for t in trials]
    assert ids == [storage.get_trial_id_from_study_id_trial_number(study_id, n) for n in range(4)]
    assert [t.number for t in compat.trials_after(storage, study_id, ids[1])] == [2, 3]
    assert compat.study_storage(study) is not None
    assert compat.relational_storage(compat.study_storage(study)) is storage
    assert compat.relational_storage(optuna.storages.InMemoryStorage()) is None


def test_heartbeats_and_stale_trials(store: str) -> None:
    storage = open_storage(store, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    beating, silent = study.ask(), study.ask()
    storage.record_heartbeat(compat.trial_id(beating))
    assert set(compat.running_heartbeats(storage, study_id)[0]) == {compat.trial_id(beating)}
    time.sleep(2.5)  # longer than the grace period: the heartbeat is stale now
    assert compat.stale_trial_ids(storage, study_id) == [compat.trial_id(beating)]
    assert compat.trial_id(silent) not in compat.running_heartbeats(storage, study_id)[0]
