"""What a new user trips over: slow commands that load what they do not need, lost id columns,
stray writes, silent acceptance, noisy libraries and unclear hints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import tabular_data as td
from click.testing import CliRunner

from tuner.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _modules_after(args: list[str], cwd: Path) -> dict:
    """Run ``tuner ARGS`` in a fresh process; its output, exit code and heavy modules loaded."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tuner.cli import cli\n"
        f"r = CliRunner().invoke(cli, {args!r})\n"
        "print(json.dumps({'code': r.exit_code, 'output': r.output, 'loaded': sorted(m for m in "
        "('tensorflow', 'keras', 'jax', 'torch', 'sklearn') if m in sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def table_study(tmp_path_factory: pytest.TempPathFactory):
    """A CSV study with an id column, one trial trained, its model saved beside the store."""
    from tuner.run.runner import run_study

    folder = tmp_path_factory.mktemp("table")
    td.write(td.patients(120), folder / "p.csv")
    study = td.csv_study(folder / "p.toml", "p.csv", "stroke", name="p")
    url = f"sqlite:///{folder / 'store.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        mp.delenv("TUNER_ARTIFACTS", raising=False)
        run_study(str(study), storage=url, trials=1)
    return folder, url


def test_predict_carries_the_id_column_and_kept_columns_first(table_study, tmp_path) -> None:
    folder, url = table_study
    rows = td.patients(6, seed=3).drop(columns=["stroke"])
    rows.to_csv(tmp_path / "new.csv", index=False)
    args = ["predict", "--study", "p", "--storage", url, "--input", str(tmp_path / "new.csv")]
    result = invoke(*args, "--output", "out.csv")
    assert result.exit_code == 0, result.output
    out = pd.read_csv("out.csv")
    assert list(out.columns) == ["id", "prediction", "probability_0", "probability_1"]
    assert list(out["id"]) == list(rows["id"])
    result = invoke(*args, "--keep", "city", "--output", "kept.csv")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv("kept.csv").columns)[:3] == ["id", "city", "prediction"]
    result = invoke(*args, "--keep", "town", "--output", "no.csv")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: --keep town: input {tmp_path / 'new.csv'} has no column 'town'; its columns "
        "are: id, age, bmi, smoker, city\n"
    )
    assert not Path("no.csv").exists()


def test_predict_refuses_bad_arguments_before_loading_keras(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "taken.csv").write_text("mine")
    (tmp_path / "m.keras").write_bytes(b"PK")
    taken = _modules_after(
        ["predict", "--model", "m.keras", "--input", "in.csv", "--output", "taken.csv"], tmp_path
    )
    assert taken["code"] == 1 and not {"tensorflow", "keras"} & set(taken["loaded"])
    assert taken["output"] == (
        "Error: output file taken.csv already exists; pass --overwrite to replace it\n"
    )
    neither = _modules_after(["predict", "--input", "in.csv"], tmp_path)
    assert neither["code"] == 1 and not {"tensorflow", "keras"} & set(neither["loaded"])
    assert neither["output"].startswith("Error: no model given: give --model PATH")
    (tmp_path / "ragged.csv").write_text("1,2\n1,2,3\n")
    ragged = _modules_after(["predict", "--model", "m.keras", "--input", "ragged.csv"], tmp_path)
    assert ragged["code"] == 1 and not {"tensorflow", "keras"} & set(ragged["loaded"])
    assert ragged["output"].startswith("Error: input ragged.csv does not parse as CSV: ")


def test_studies_and_show_load_no_keras_backend_nor_scikit_learn(table_study) -> None:
    folder, url = table_study
    listed = _modules_after(["studies", "--storage", url], folder)
    assert listed["code"] == 0 and listed["output"].splitlines()[0].split()[0] == "study"
    assert listed["loaded"] == []
    shown = _modules_after(["show", "--study", "p", "--storage", url], folder)
    assert shown["code"] == 0 and shown["output"].startswith("Study 'p' in ")
    assert shown["loaded"] == []


# --------------------------------------------------------------------------- stray writes


@pytest.mark.parametrize(
    ("var", "value"), [("TUNER_HEARTBEAT_INTERVAL", "abc"), ("TUNER_GRACE_PERIOD", "-1")]
)
def test_a_bad_heartbeat_setting_leaves_no_store(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    result = invoke("run", "--study", "iris", "--storage", "sqlite:///fresh.db", "--quiet")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: ${var} must be a positive whole number of seconds, got {value!r}\n"
    )
    assert not Path("fresh.db").exists() and not Path("artifacts").exists()


def test_an_unwritable_artifact_folder_is_refused_before_the_study_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path("blocker").write_text("a file, not a folder")
    monkeypatch.setenv("TUNER_ARTIFACTS", "blocker/models")
    result = invoke("run", "--study", "iris", "--storage", "sqlite:///fresh.db", "--quiet")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot write trial models to blocker/models (")
    assert not Path("fresh.db").exists()  # no study with 0 trials left behind


def test_a_failed_report_leaves_no_reports_folder(table_study) -> None:
    _, url = table_study  # its CSV is not in this folder: the report fails reading it
    result = invoke("report", "--study", "p", "--storage", url)
    assert result.exit_code == 1
    assert result.output.startswith("Error: CSV file ") and "p.csv does not exist" in result.output
    assert not Path("reports").exists()


# --------------------------------------------------------------------------- silent acceptance


def _init(csv_text: str, target: str):
    Path("t.csv").write_text(csv_text)
    return invoke("init", "--csv", "t.csv", "--target", target)


def test_init_refuses_a_header_naming_a_column_twice() -> None:
    result = _init("a,a,y\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(40)), "y")
    assert result.exit_code == 1
    assert result.output == (
        "Error: CSV file t.csv names the column 'a' more than once in its header; give each "
        "column a name of its own\n"
    )
    assert not Path("studies").exists()


def test_a_text_cell_in_a_column_of_numbers_is_named() -> None:
    rows = [f"{i * 0.5},{i % 7},{i % 2}" for i in range(60)]
    rows[17] = "oops,3,1"
    result = _init("x,z,y\n" + "\n".join(rows) + "\n", "y")
    assert result.exit_code == 0, result.output
    assert (
        "Warning: column 'x' holds numbers but 'oops' on line 19 (1 row of text in all), so it "
        "is ignored; fix those cells or leave them empty to use it as numbers\n"
    ) in result.output


def test_an_identifier_is_refused_as_a_target() -> None:
    result = _init("Id,x\n" + "".join(f"{i},{i * 0.3 % 1:.2f}\n" for i in range(60)), "Id")
    assert result.exit_code == 1
    assert result.output == (
        "Error: target column 'Id' in t.csv holds a different integer in every row, like an "
        "identifier: a model cannot learn to predict it; choose the column that holds what to "
        "predict\n"
    )
    assert not Path("studies").exists()


def test_show_counts_waiting_trials(store: str) -> None:
    import optuna

    study = optuna.create_study(study_name="w", storage=store, direction="maximize")
    study.tell(study.ask(), 0.5)
    study.enqueue_trial({"x": 1.0})
    result = invoke("show", "--study", "w", "--storage", store)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "Trials: 1 complete, 0 pruned, 0 failed, 0 running, 1 waiting"
    )


def test_library_warnings_stay_off_the_terminal_unless_asked(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    import tuner.studies

    def noisy(storage):
        warnings.warn_explicit(
            "Some regimes for parameter `x` have less than 2 trials", UserWarning, "optuna.py", 1
        )
        warnings.warn_explicit("column 'a' ignored", UserWarning, tuner.studies.__file__, 1)
        return []

    monkeypatch.setattr(tuner.studies, "study_overviews", noisy)

    def shown(*flags: str) -> str:
        with warnings.catch_warnings(record=True) as seen:  # where a test runner sends them
            warnings.simplefilter("always")
            result = invoke("studies", "--storage", store, *flags)
        assert result.exit_code == 0
        return result.output + "".join(str(w.message) for w in seen)

    quiet = shown()
    assert "regimes" not in quiet  # a library's: dropped
    assert "Warning: column 'a' ignored" in quiet  # tuner's own: one line
    assert "Some regimes for parameter `x` have less than 2 trials" in shown("--debug")


def test_a_folder_given_as_study_is_named_a_folder(make_study) -> None:
    Path("studies").mkdir()
    Path("studies/mine.toml").write_text(Path(make_study("mine")).read_text())
    result = invoke("run", "--study", "studies/", "--quiet")
    assert result.exit_code == 1
    assert result.output == (
        "Error: studies/ is a folder (it holds: mine.toml); --study takes a study file "
        "(path/to/NAME.toml) or a study name\n"
    )


def test_where_mnist_is_not_cached_the_error_and_readme_say_what_to_do() -> None:
    result = invoke("run", "--study", "mnist", "--trials", "1", "--quiet")
    assert result.exit_code == 1
    assert result.output.startswith("Error: mnist is not cached and cannot be downloaded")
    assert not Path("storage").exists()
    readme = (ROOT / "README.md").read_text()
    assert "tuner run --study fashion_mnist --trials 50" in readme.split("## Quick start")[0]
