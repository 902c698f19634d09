"""`tuner recover`: trials a gone worker left RUNNING are failed and queued again."""

from __future__ import annotations

import re

import click
import optuna
from click.testing import CliRunner
from optuna.trial import TrialState

from tuner.cli import cli
from tuner.keys import FAIL_REASON, TRIAL_SEED
from tuner.run.recover import RECOVERED_REASON, recover_study
from tuner.storage import open_storage


def _left_running(store: str, name: str = "left", n: int = 2) -> list[int]:
    """``n`` RUNNING trials with drawn parameters, as a run without heartbeats leaves them."""
    study = optuna.create_study(study_name=name, storage=optuna.storages.RDBStorage(store))
    numbers = []
    for i in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("activation", ["relu", "tanh"])
        trial.set_user_attr(TRIAL_SEED, 100 + i)
        numbers.append(trial.number)
    study.tell(study.ask(), 0.5)  # one completed trial beside them
    return numbers


def test_studies_flags_running_trials_without_a_heartbeat(store: str) -> None:
    _left_running(store)
    result = CliRunner().invoke(cli, ["studies", "--storage", store])
    assert result.exit_code == 0, result.output
    header, _, row = result.output.strip().splitlines()
    assert header.split()[:6] == ["study", "direction", "complete", "pruned", "failed", "running"]
    assert row.split()[:7] == ["left", "minimize", "1", "0", "0", "2", "(2"]
    assert "(2 stale?)" in row


def test_recover_fails_and_requeues_each_running_trial_once(store: str) -> None:
    numbers = _left_running(store)
    before = {t.number: t for t in optuna.load_study(study_name="left", storage=store).get_trials()}
    result = CliRunner().invoke(cli, ["recover", "--study", "left", "--storage", store])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Study 'left': 2 running trial(s) failed (their worker is gone) and queued again "
        "with the same parameters: 0, 1. Resume with: tuner worker --study left --storage "
        f"{store}"
    )
    after = optuna.load_study(study_name="left", storage=store).get_trials()
    failed = [t for t in after if t.state == TrialState.FAIL]
    waiting = [t for t in after if t.state == TrialState.WAITING]
    assert [t.number for t in failed] == numbers
    assert all(t.user_attrs[FAIL_REASON] == RECOVERED_REASON for t in failed)
    assert [t.system_attrs["retry_history"] for t in waiting] == [[n] for n in numbers]
    for t in waiting:
        source = before[t.system_attrs["failed_trial"]]
        assert (
            t.params == source.params and t.user_attrs[TRIAL_SEED] == source.user_attrs[TRIAL_SEED]
        )
        assert FAIL_REASON not in t.user_attrs
    assert not any(t.state == TrialState.RUNNING for t in after)
    # Nothing left to do: a second call changes nothing.
    again = CliRunner().invoke(cli, ["recover", "--study", "left", "--storage", store])
    assert again.exit_code == 0
    assert again.output.strip() == "Study 'left' has no running trials; nothing to recover."
    assert len(optuna.load_study(study_name="left", storage=store).get_trials()) == len(after)


def test_recover_refuses_trials_with_a_fresh_heartbeat_unless_forced(store: str) -> None:
    numbers = _left_running(store)
    storage = open_storage(store, heartbeat_interval=60)
    study_id = storage.get_study_id_from_name("left")
    storage.record_heartbeat(
        storage.get_trial_id_from_study_id_trial_number(study_id, numbers[1])
    )  # its worker is alive
    result = CliRunner().invoke(cli, ["recover", "--study", "left", "--storage", store])
    assert result.exit_code == 1
    assert re.fullmatch(
        r"Error: study 'left' has 1 running trial\(s\) with a fresh heartbeat \(1\): their "
        r"workers look alive; without a new heartbeat they count as stale in (\d+) s, after "
        r"which tuner recover \(or any worker of the study\) takes them back; stop them first, "
        r"or pass --force",
        result.output.strip(),
    )
    assert 60 <= int(re.search(r"stale in (\d+) s", result.output)[1]) <= 120  # grace: 2 x 60
    states = [t.state for t in optuna.load_study(study_name="left", storage=store).get_trials()]
    assert states.count(TrialState.RUNNING) == 2, "nothing changed"
    forced = recover_study("left", store, force=True)
    assert forced.requeued == numbers and forced.skipped == []
    states = [t.state for t in optuna.load_study(study_name="left", storage=store).get_trials()]
    assert states.count(TrialState.RUNNING) == 0 and states.count(TrialState.WAITING) == 2


def test_recover_names_the_stored_studies_for_an_unknown_one(store: str) -> None:
    _left_running(store)
    result = CliRunner().invoke(cli, ["recover", "--study", "nope", "--storage", store])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no study 'nope' in the store; stored studies: left"


def test_the_resume_hint_carries_the_study_file_and_the_store(
    store: str, make_study, tmp_path
) -> None:
    path = make_study(name="left")
    _left_running(store)
    result = CliRunner().invoke(cli, ["recover", "--study", str(path), "--storage", store])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(
        f"Resume with: tuner run --study {path} --storage {store}"
    )
    hidden = "postgresql://u:secret@localhost:1/db"
    from tuner.cli.commands.stored import _resume_command, recover

    with click.Context(recover):  # a password is masked (and the URL quoted for the shell)
        assert _resume_command("left", "left", hidden) == (
            "tuner worker --study left --storage 'postgresql://u:***@localhost:1/db'"
        )
