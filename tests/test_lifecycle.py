"""One trial lifecycle for any pack size: every trial the loop asked for ends COMPLETE, PRUNED or
FAIL, or is queued again, whatever is raised; and ``pack = "auto"`` is settled before the store
is written."""

from __future__ import annotations

import signal
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState
from tabular_data import csv_study, iris_named, write

import tuner.run.prepare as prepare
import tuner.search.objective as objective_module
import tuner.search.packed as packed
from tuner.errors import ConfigError, Interrupted
from tuner.keys import FAIL_REASON
from tuner.run.prepare import prepare_study
from tuner.run.runner import run_study
from tuner.run.signals import SignalGuard
from tuner.run.trial_loop import run_trials
from tuner.search.objective import Ended, TrialPack
from tuner.storage import open_storage


def _states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials()]


def _new_study(store: str, name: str = "loop") -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    storage = open_storage(store)
    return optuna.create_study(study_name=name, storage=storage), storage


class _FakePack(TrialPack):
    """Three slots; each ``advance`` ends the trials ``plan`` names, with the outcome it names."""

    slots = 3

    def __init__(self, plan: list[dict[int, str]], *, raises: BaseException | None = None):
        self.plan, self.raises = plan, raises
        self.running: dict[int, optuna.Trial] = {}

    def trials(self) -> list[optuna.Trial]:
        return list(self.running.values())

    def free_slots(self) -> list[int]:
        return [slot for slot in range(self.slots) if slot not in self.running]

    def start(self, slot: int, trial: optuna.Trial) -> None:
        trial.suggest_float("x", 0.0, 1.0)
        self.running[slot] = trial

    def advance(self, interruptible) -> list[Ended]:
        with interruptible():
            if self.raises is not None:
                raise self.raises
        ended = []
        for slot, outcome in self.plan.pop(0).items():
            trial = self.running.pop(slot)
            if outcome == "error":
                ended.append(Ended(trial, TrialState.FAIL, error=RuntimeError("export failed")))
            else:
                ended.append(Ended(trial, TrialState.COMPLETE, 0.5))
        return ended


def _no_running_and_requeued(study: optuna.Study) -> None:
    trials = study.get_trials()
    assert TrialState.RUNNING not in _states(study)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    queued = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.params["x"] for t in queued) == sorted(
        t.params["x"] for t in failed if "queued again" in t.user_attrs[FAIL_REASON]
    )


def test_a_store_error_while_telling_ends_every_trial_asked(store: str, monkeypatch) -> None:
    study, storage = _new_study(store)
    real_tell = study.tell
    calls = []

    def tell(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise sqlalchemy.exc.OperationalError("UPDATE trials", {}, Exception("disk I/O error"))
        return real_tell(*args, **kwargs)

    monkeypatch.setattr(study, "tell", tell)
    pack = _FakePack([{0: "ok", 1: "ok"}])
    with SignalGuard() as guard, pytest.raises(sqlalchemy.exc.OperationalError):
        run_trials(study, pack, storage=storage, default_budget=10, guard=guard)
    states = _states(study)
    assert TrialState.RUNNING not in states
    by_number = {t.number: t for t in study.get_trials()}
    assert by_number[0].state == TrialState.COMPLETE
    assert by_number[1].state == TrialState.FAIL  # the one whose record failed
    assert "OperationalError" in by_number[1].user_attrs[FAIL_REASON]
    assert by_number[2].state == TrialState.FAIL  # still training: queued again
    assert "queued again" in by_number[2].user_attrs[FAIL_REASON]
    _no_running_and_requeued(study)


def test_an_error_of_one_slot_fails_it_and_queues_the_others(store: str) -> None:
    study, storage = _new_study(store)
    pack = _FakePack([{1: "ok"}, {0: "error"}])
    with SignalGuard() as guard, pytest.raises(RuntimeError, match="export failed"):
        run_trials(study, pack, storage=storage, default_budget=10, guard=guard)
    by_number = {t.number: t for t in study.get_trials()}
    assert by_number[1].state == TrialState.COMPLETE
    assert by_number[0].state == TrialState.FAIL
    assert by_number[0].user_attrs[FAIL_REASON] == "RuntimeError: export failed"
    assert by_number[2].state == by_number[3].state == TrialState.FAIL  # innocent: queued again
    _no_running_and_requeued(study)


def test_an_error_of_the_whole_pack_fails_every_trial_in_it(store: str) -> None:
    study, storage = _new_study(store)
    pack = _FakePack([], raises=MemoryError("out of memory on the device"))
    with SignalGuard() as guard, pytest.raises(MemoryError):
        run_trials(study, pack, storage=storage, default_budget=10, guard=guard)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert all("out of memory" in t.user_attrs[FAIL_REASON] for t in trials)


def test_an_interrupt_while_recording_queues_again_every_unfinished_trial(store: str) -> None:
    study, storage = _new_study(store)
    real_tell = study.tell
    calls = []

    def tell(*args, **kwargs):  # SIGINT lands while the second ended trial is recorded
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted(signal.SIGINT)
        return real_tell(*args, **kwargs)

    study.tell = tell
    pack = _FakePack([{0: "ok", 1: "ok", 2: "ok"}])
    with SignalGuard() as guard, pytest.raises(Interrupted):
        run_trials(study, pack, storage=storage, default_budget=10, guard=guard)
    by_number = {t.number: t for t in study.get_trials()}
    assert by_number[0].state == TrialState.COMPLETE
    for number in (1, 2):  # ended but not yet recorded: failed and queued again, not left
        assert by_number[number].state == TrialState.FAIL
        assert by_number[number].user_attrs[FAIL_REASON].startswith("interrupted by SIGINT")
    assert _states(study).count(TrialState.WAITING) == 2
    _no_running_and_requeued(study)


def test_a_failing_record_result_fails_the_trial_and_stops_the_run(
    make_study, store: str, monkeypatch
) -> None:
    def broken(trial, result, after_train=()):
        raise OSError("no space left on device")

    monkeypatch.setattr(objective_module, "record_result", broken)
    with pytest.raises(OSError, match="no space left"):
        run_study(make_study(epochs=1, trials=2), storage=store)
    trials = optuna.load_study(study_name="tiny", storage=store).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL]
    assert trials[0].user_attrs[FAIL_REASON] == "OSError: no space left on device"


def test_an_interrupt_inside_record_result_queues_the_trial_again(
    make_study, store: str, monkeypatch
) -> None:
    def interrupted(trial, result, after_train=()):
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(objective_module, "record_result", interrupted)
    with pytest.raises(Interrupted):
        run_study(make_study(epochs=1, trials=2), storage=store)
    trials = optuna.load_study(study_name="tiny", storage=store).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs[FAIL_REASON].startswith("interrupted by SIGTERM")
    assert trials[1].params == trials[0].params


def test_a_signal_that_a_library_turned_into_its_own_error_still_interrupts(store: str) -> None:
    """SIGTERM lands inside a store's commit, which raises an error of its own: the run is still
    interrupted (exit 143, not a store error) and the trial failed and queued again."""
    study, storage = _new_study(store)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        try:
            signal.raise_signal(signal.SIGTERM)
        except Interrupted as exc:
            raise optuna.exceptions.StorageInternalError("commit failed") from exc
        raise AssertionError("the signal raises inside the objective")

    with SignalGuard() as guard, pytest.raises(Interrupted) as caught:
        run_trials(study, objective, storage=storage, default_budget=3, guard=guard)
    assert caught.value.signal_name == "SIGTERM"
    assert _states(study) == [TrialState.FAIL, TrialState.WAITING]
    trials = study.get_trials()
    assert trials[0].user_attrs[FAIL_REASON].startswith("interrupted by SIGTERM")
    assert trials[1].params == trials[0].params


# --------------------------------------------------------------------------- pack = "auto"


@pytest.fixture
def fake_gpu(monkeypatch) -> list[str]:
    """JAX with one GPU, as the packing decision sees it; logs when the store is opened."""
    monkeypatch.setattr(packed, "active_backend", lambda: "jax")
    monkeypatch.setattr(packed, "gpu_count", lambda: 1)
    events: list[str] = []
    real_pack, real_open = prepare.resolve_pack, prepare.open_storage

    def resolve(*args, **kwargs):
        slots = real_pack(*args, **kwargs)
        events.append(f"pack {slots}")
        return slots

    def open_store(*args, **kwargs):
        events.append("store")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(prepare, "resolve_pack", resolve)
    monkeypatch.setattr(prepare, "open_storage", open_store)
    return events


def test_auto_pack_packs_a_packable_study_on_a_gpu(make_study, store: str, fake_gpu) -> None:
    prepared = prepare_study(make_study(), storage=store)
    assert prepared.slots == packed.AUTO_PACK and fake_gpu == [f"pack {packed.AUTO_PACK}", "store"]


@pytest.mark.parametrize("kind", ["kfold", "csv", "two objectives"])
def test_auto_pack_is_one_where_the_study_cannot_be_packed(
    make_study, store: str, fake_gpu, tmp_path: Path, kind: str
) -> None:
    if kind == "kfold":
        path = make_study(data_extra='validation = "kfold"\nfolds = 3')
    elif kind == "csv":
        write(iris_named(), tmp_path / "iris.csv")
        path = csv_study(tmp_path / "table.toml", "iris.csv", "species")
    else:
        path = make_study(objective='size_objective = "n_params"', pruner="none")
    prepared = prepare_study(path, storage=store)
    assert prepared.slots == 1
    assert fake_gpu == ["pack 1", "store"]  # decided before the store was opened


def test_auto_pack_is_one_without_a_folder_for_packed_models(
    make_study, store: str, fake_gpu, monkeypatch
) -> None:
    monkeypatch.setenv("TUNER_ARTIFACTS", "off")
    assert prepare_study(make_study(), storage=store).slots == 1


def test_a_pack_without_a_folder_for_its_models_is_refused_before_writing(
    make_study, store: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(prepare, "resolve_backend", lambda *args: "jax")
    monkeypatch.setattr(prepare, "use_backend", lambda backend: None)
    monkeypatch.setenv("TUNER_ARTIFACTS", "off")
    with pytest.raises(ConfigError, match=r"needs a folder for their saved models.*pack = 1$"):
        prepare_study(make_study(), storage=store, pack=4)
    assert not (tmp_path / "store.db").exists()


# --------------------------------------------------------------------------- packed trials' models


def test_a_packed_trial_without_its_saved_model_is_refused_not_retrained(
    make_study, store: str, tmp_path: Path, monkeypatch
) -> None:
    from tuner.errors import ReportError
    from tuner.keys import PACKED
    from tuner.report.build import build_report
    from tuner.report.leaderboard import study_extras

    monkeypatch.setenv("TUNER_ARTIFACTS", "off")

    def as_if_packed(trial: optuna.Trial, result) -> None:
        trial.set_user_attr(PACKED, 4)

    run_study(make_study(epochs=1, trials=1), storage=store, after_train=[as_if_packed])
    with pytest.raises(ReportError, match=r"trial 0 was trained packed .* saved weights only"):
        build_report("tiny", storage=store, out=tmp_path / "report")
    study = optuna.load_study(study_name="tiny", storage=store)
    note = study_extras(study, keep_models=3)["saved_models"]["note"]
    assert "trained packed cannot be reported" in note
