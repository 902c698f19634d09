"""Packed trials through ``tuner run --pack K`` (JAX): the exact budget, pruning, refilled
slots, per-trial records, interrupts, the report's export, and the errors that refuse a pack.

Keras fixes its backend once per process and this one runs TensorFlow, so the runs happen in
fresh processes on JAX (see ``procs.start``) and this process reads the store.
"""

from __future__ import annotations

import importlib.util
import json
import signal
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from procs import finish, running_trial, start, trials, wait_for
from tabular_data import csv_study, patients, write

from tuner.cli import cli
from tuner.keys import (
    BEST_EPOCH,
    EPOCHS_RUN,
    FAIL_REASON,
    HISTORY,
    N_PARAMS,
    PACKED,
    TRAIN_SECONDS,
    TRIAL_SEED,
    VAL_METRICS,
    WORKER,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="needs JAX (pip install 'tuner[jax]')"
)
JAX = {"KERAS_BACKEND": "jax"}
#: Ten digits trials for nine epochs, then a report: the slow tier. The default tier runs
#: packs in the tests below.
SLOW_PACKED_RUN = pytest.mark.slow


def _jax(folder: Path) -> dict[str, str]:
    """JAX, and a folder for the packed trials' saved models (a pack refuses to run without)."""
    return {**JAX, "TUNER_ARTIFACTS": str(folder / "artifacts")}


def _digits(make_study, name: str, *, epochs: int, trials: int, pruner: str) -> Path:
    path = make_study(name, dataset="digits", epochs=epochs, trials=trials, pruner=pruner)
    path.write_text(path.read_text().replace("patience = 2", "patience = 3"))
    return path


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One packed digits study (K=4, 10 trials, Hyperband), then a report of it."""
    from study_text import builtin_study_text

    folder = tmp_path_factory.mktemp("packed")
    path = folder / "packed.toml"
    text = builtin_study_text("packed", dataset="digits", epochs=9, trials=10, pruner="hyperband")
    path.write_text(text.replace("patience = 2", "patience = 3"))
    store = f"sqlite:///{folder / 'store.db'}"
    env = {**JAX, "TUNER_ARTIFACTS": str(folder / "artifacts")}
    run = start("run", "--study", str(path), "--storage", store, "--pack", "4", env=env)
    code, out, err = finish(run, timeout=400)
    report = start(
        "report", "--study", "packed", "--storage", store, "--out", str(folder / "report"), env=env
    )
    report_code, _, report_err = finish(report, timeout=400)
    return {
        "code": code,
        "out": out,
        "err": err,
        "trials": trials(store, "packed"),
        "report_code": report_code,
        "report_err": report_err,
        "summary": folder / "report" / "summary.json",
    }


@SLOW_PACKED_RUN
def test_a_packed_study_finishes_exactly_its_budget_with_pruned_trials(packed_run: dict) -> None:
    assert packed_run["code"] == 0, packed_run["err"][-2000:]
    done = packed_run["trials"]
    states = [t.state for t in done]
    assert len(done) == 10 and states.count(TrialState.RUNNING) == 0
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 10
    assert states.count(TrialState.PRUNED) >= 1 and states.count(TrialState.COMPLETE) >= 1
    assert "Traceback" not in packed_run["err"]


@SLOW_PACKED_RUN
def test_each_packed_trial_records_what_a_trial_trained_alone_records(packed_run: dict) -> None:
    for t in packed_run["trials"]:
        assert t.user_attrs[PACKED] == 4
        assert {TRIAL_SEED, N_PARAMS, EPOCHS_RUN, TRAIN_SECONDS} <= set(t.user_attrs)
        # One intermediate value per epoch run, the last one what Optuna pruned on.
        assert sorted(t.intermediate_values) == list(range(t.user_attrs[EPOCHS_RUN]))
        if t.state == TrialState.COMPLETE:
            assert {BEST_EPOCH, VAL_METRICS, HISTORY} <= set(t.user_attrs)
            history = t.user_attrs[HISTORY]
            assert len(history["val_accuracy"]) == t.user_attrs[EPOCHS_RUN]
            assert t.value == pytest.approx(t.user_attrs[VAL_METRICS]["accuracy"])
            assert t.value > 0.5  # digits, 9 epochs: far better than chance (0.1)


@SLOW_PACKED_RUN
def test_slots_are_refilled_when_their_trials_end(packed_run: dict) -> None:
    done = sorted(packed_run["trials"], key=lambda t: t.number)
    first_end = min(t.datetime_complete for t in done)
    # Four slots: trials 4.. start only when an earlier trial has ended and freed its slot.
    assert all(t.datetime_start >= first_end for t in done[4:])
    assert all(t.datetime_start < first_end for t in done[:4])


@SLOW_PACKED_RUN
def test_the_report_exports_a_sliced_model_that_reproduces_its_trial(packed_run: dict) -> None:
    assert packed_run["report_code"] == 0, packed_run["report_err"][-2000:]
    summary = json.loads(packed_run["summary"].read_text())
    best = max(
        (t for t in packed_run["trials"] if t.state == TrialState.COMPLETE), key=lambda t: t.value
    )
    check = summary["model"]["validation_check"]
    assert summary["model"]["trial"] == best.number
    assert summary["model"]["source"] == "artifact"  # the sliced model the packed run saved
    assert check["recorded"] == pytest.approx(best.value)
    assert abs(check["reproduced"] - best.value) <= 1e-4


def test_sigint_requeues_every_trial_in_the_pack(make_study, store: str, tmp_path: Path) -> None:
    path = _digits(make_study, "sig", epochs=30, trials=50, pruner="none")
    path.write_text(path.read_text().replace("patience = 3", "patience = 30"))
    proc = start("run", "--study", str(path), "--storage", store, "--pack", "3", env=_jax(tmp_path))
    try:
        wait_for(lambda: running_trial(store, "sig"), timeout=240, what="a trial in training")
        wait_for(
            lambda: [t for t in trials(store, "sig") if t.intermediate_values],
            timeout=300,
            what="an epoch reported",
        )
    except AssertionError:
        proc.kill()
        raise
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc, timeout=300)
    assert code == 130, err[-2000:]
    assert "Traceback" not in err
    done = trials(store, "sig")
    failed = [t for t in done if t.state == TrialState.FAIL]
    waiting = [t for t in done if t.state == TrialState.WAITING]
    assert [t for t in done if t.state == TrialState.RUNNING] == []
    assert len(failed) == 3 and len(waiting) == 3  # the whole pack, each queued again once
    assert all(t.user_attrs[FAIL_REASON].startswith("interrupted by SIGINT") for t in failed)
    assert sorted(json.dumps(t.params, sort_keys=True) for t in failed) == sorted(
        json.dumps(t.params, sort_keys=True) for t in waiting
    )


@pytest.mark.slow  # ten failing trials; test_packed_engine checks a diverging slot directly
def test_a_diverging_slot_fails_alone_and_the_run_goes_on(
    make_study, store: str, tmp_path: Path
) -> None:
    path = make_study("wild", dataset="diabetes", objective='metric = "rmse"', trials=3, epochs=2)
    path.write_text(
        path.read_text()
        .replace('optimizer = ["adam"]', 'optimizer = ["sgd"]')
        .replace(
            "learning_rate = { low = 1e-3, high = 3e-2, log = true }", "learning_rate = [5.0, 10.0]"
        )
    )
    proc = start("run", "--study", str(path), "--storage", store, "--pack", "2", env=_jax(tmp_path))
    code, _, err = finish(proc, timeout=300)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("Error: 10 trials failed in this run")
    done = trials(store, "wild")
    assert len(done) == 10 and all(t.state == TrialState.FAIL for t in done)
    assert all("became" in t.user_attrs[FAIL_REASON] for t in done)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pack", "4", "--backend", "tensorflow"], "runs only on the JAX backend"),
        (["--pack", "0"], '"auto" or a number of trials from 1 to'),
        (["--pack", "many"], '"auto" or a number of trials from 1 to'),
    ],
)
def test_a_pack_that_cannot_run_is_refused_in_one_line(
    make_study, store: str, args: list[str], message: str
) -> None:
    path = make_study(dataset="iris", epochs=1)
    result = CliRunner().invoke(
        cli, ["run", "--study", str(path), "--storage", store, "--trials", "1", *args]
    )
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.output
    with pytest.raises(KeyError):  # nothing written to the store
        optuna.load_study(study_name="tiny", storage=store)


def test_a_csv_table_cannot_be_packed(tmp_path: Path, store: str) -> None:
    csv = write(patients(rows=60), tmp_path / "patients.csv")
    study = csv_study(tmp_path / "table.toml", str(csv), "stroke", data='ignore = ["id"]', epochs=1)
    study.write_text(
        study.read_text().replace("[training]", '[training]\npack = 2\nbackend = "jax"')
    )
    proc = start("run", "--study", str(study), "--storage", store, env=JAX)
    code, _, err = finish(proc, timeout=300)
    assert code == 1, err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(
            "packed trials need a matrix dataset, not a CSV table; set [training] pack = 1 "
            "(or --pack 1)"
        )
    )


@pytest.mark.slow  # two JAX workers; test_lifecycle checks the packed loop, test_workers local ones
def test_each_local_worker_runs_a_pack_of_its_own(make_study, store: str, tmp_path: Path) -> None:
    path = _digits(make_study, "two", epochs=3, trials=6, pruner="none")
    workers = ["--workers", "2", "--pack", "2"]
    proc = start("run", "--study", str(path), "--storage", store, *workers, env=_jax(tmp_path))
    code, _, err = finish(proc, timeout=400)
    assert code == 0, err[-2000:]
    done = trials(store, "two")
    assert [t.state for t in done] == [TrialState.COMPLETE] * 6
    assert {t.user_attrs[PACKED] for t in done} == {2}
    assert len({t.user_attrs[WORKER] for t in done}) == 2  # both workers trained trials
