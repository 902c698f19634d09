"""The command line, end to end through click's CliRunner, and every bad input's message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_run_studies_show_end_to_end(make_study, store: str) -> None:
    path = make_study(trials=3, epochs=2)
    result = invoke("run", "--study", str(path), "--storage", store, "--quiet")
    assert result.exit_code == 0, result.output
    assert "Study 'tiny' in sqlite:///" in result.output
    assert "3 finished" in result.output and "3 trials run" in result.output
    assert "trial  value" in result.output  # the summary table
    assert len(optuna.load_study(study_name="tiny", storage=store).trials) == 3

    listed = invoke("studies", "--storage", store)
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if line.startswith("tiny"))
    assert row.split()[:2] == ["tiny", "maximize"]

    shown = invoke("show", "--study", str(path), "--storage", store)
    assert shown.exit_code == 0, shown.output
    best = optuna.load_study(study_name="tiny", storage=store).best_trial
    for needle in (
        "best trial",
        "epochs run",
        "model size",
        "seed",
        "param n_layers",
        "val accuracy",
    ):
        assert needle in shown.output
    assert f"{best.user_attrs['n_params']:,} parameters" in shown.output
    seed_line = next(line for line in shown.output.splitlines() if line.strip().startswith("seed "))
    assert seed_line.split() == ["seed", str(best.user_attrs["seed"])]


def test_resume_with_more_trials_adds_exactly_the_difference(make_study, store: str) -> None:
    path = make_study(trials=2, epochs=1)
    assert invoke("run", "--study", str(path), "--storage", store, "--quiet").exit_code == 0
    result = invoke("run", "--study", str(path), "--storage", store, "--trials", "4", "--quiet")
    assert (
        result.exit_code == 0 and "4 finished" in result.output and "2 trials run" in result.output
    )
    assert len(optuna.load_study(study_name="tiny", storage=store).trials) == 4


def test_default_store_is_created_under_storage(make_study, tmp_path: Path) -> None:
    result = invoke("run", "--study", str(make_study(trials=1, epochs=1)), "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "storage" / "tuner.db").is_file()
    assert "sqlite:///storage/tuner.db" in result.output


def test_storage_from_environment(
    make_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("TUNER_STORAGE", url)
    assert invoke("run", "--study", str(make_study(trials=1, epochs=1)), "--quiet").exit_code == 0
    assert optuna.get_all_study_names(url) == ["tiny"]


def test_optunas_own_cli_reads_the_store(make_study, store: str) -> None:
    assert (
        invoke(
            "run", "--study", str(make_study(trials=1, epochs=1)), "--storage", store, "--quiet"
        ).exit_code
        == 0
    )
    optuna_cli = shutil.which("optuna")
    assert optuna_cli, "optuna's console script is installed with the package"
    out = subprocess.run(
        [optuna_cli, "studies", "--storage", store, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"name": "tiny"' in out.stdout


def test_a_diverging_trial_is_reported_and_the_run_goes_on(make_study, store: str) -> None:
    path = make_study(dataset="diabetes", objective='metric = "rmse"', trials=1, epochs=1)
    path.write_text(
        path.read_text()
        .replace('optimizer = ["adam"]', 'optimizer = ["sgd"]')
        .replace(
            "learning_rate = { low = 1e-3, high = 3e-2, log = true }", "learning_rate = [5.0, 10.0]"
        )
    )
    result = invoke("run", "--study", str(path), "--storage", store)
    assert result.exit_code == 1
    assert "trial 0 failed: " in result.output and "trial 9 failed: " in result.output
    assert result.output.strip().endswith(
        "Error: 10 trials failed in this run (training diverged); "
        "narrow the learning-rate range or check the data"
    )
    assert "Traceback" not in result.output


def _store_state(url: str) -> int | None:
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        return None
    return sum(
        len(optuna.load_study(study_name=n, storage=url).trials)
        for n in optuna.get_all_study_names(url)
    )


BAD_RUNS = [
    (["--study", "nope"], 1, "Error: unknown study 'nope'."),
    (
        ["--study", "digits", "--trials", "0"],
        2,
        "Invalid value for '--trials': 0 is not in the range x>=1.",
    ),
    (
        ["--study", "digits", "--trials", "-3"],
        2,
        "Invalid value for '--trials': -3 is not in the range x>=1.",
    ),
    (
        ["--study", "digits", "--sampler", "bayes"],
        2,
        "Invalid value for '--sampler': 'bayes' is not one of 'tpe', 'random', 'cmaes', 'gp'.",
    ),
    (
        ["--study", "digits", "--pruner", "asha"],
        2,
        "Invalid value for '--pruner': 'asha' is not one of 'hyperband', 'median', 'sha', 'none'.",
    ),
    (
        ["--study", "digits", "--storage", "not a url"],
        1,
        "Error: malformed storage URL 'not a url'; expected e.g. sqlite:///storage/tuner.db or postgresql+psycopg://user@host/db",
    ),
    (
        ["--study", "digits", "--storage", "nosuchdb://x/y"],
        1,
        "Error: cannot open storage nosuchdb://x/y: ",
    ),
    (
        ["--study", "mnist", "--trials", "1"],
        1,
        (
            "Error: mnist is not cached and cannot be downloaded "
            "(TUNER_OFFLINE=1 forbids downloads); put mnist.npz"
        ),
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "message"), BAD_RUNS, ids=[" ".join(a[1:]) or a[0] for a, _, _ in BAD_RUNS]
)
def test_bad_run_inputs_fail_cleanly_and_leave_the_store_alone(
    make_study, store: str, args: list[str], code: int, message: str
) -> None:
    # a store that already holds one study must hold exactly the same afterwards
    assert (
        invoke(
            "run", "--study", str(make_study(trials=1, epochs=1)), "--storage", store, "--quiet"
        ).exit_code
        == 0
    )
    before = _store_state(store)
    full = ["run", *args] if "--storage" in args else ["run", *args, "--storage", store]
    result = invoke(*full)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _store_state(store) == before


def test_bad_study_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[data]\ndataset = "iris"\n[space]\nunits = [16, 4]\n')
    result = invoke("run", "--study", str(path))
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {path}: [space] units is inverted: low (16) > high (4); swap the bounds"
    )
    path.write_text('[data]\ndataset = "iris\n')
    result = invoke("run", "--study", str(path))
    assert result.exit_code == 1 and "malformed TOML" in result.output and "line 2" in result.output
    assert not (tmp_path / "storage" / "tuner.db").exists()  # nothing written anywhere


def test_debug_shows_the_traceback() -> None:
    result = invoke("run", "--study", "nope", "--debug")
    assert result.exit_code == 1
    from tuner.errors import StudyNotFoundError

    assert isinstance(result.exception, StudyNotFoundError)


def test_show_unknown_stored_study(store: str, make_study) -> None:
    assert (
        invoke(
            "run", "--study", str(make_study(trials=1, epochs=1)), "--storage", store, "--quiet"
        ).exit_code
        == 0
    )
    result = invoke("show", "--study", "other", "--storage", store)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no study 'other' in the store; stored studies: tiny"


def test_studies_on_an_empty_store(store: str) -> None:
    from tuner.storage import open_storage

    open_storage(store)  # an existing, empty store (read-only commands never create one)
    result = invoke("studies", "--storage", store)
    assert result.exit_code == 0 and "No studies in the store yet" in result.output


def test_console_script_runs_offline(tmp_path: Path) -> None:
    """The installed `tuner` entry point: a real process, no TensorFlow noise on stderr."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner",
            "run",
            "--study",
            "blobs_xor",
            "--trials",
            "1",
            "--epochs",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 finished" in proc.stdout
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
